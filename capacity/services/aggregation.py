"""Period aggregations in SQL: one INSERT ... SELECT ... ON CONFLICT DO UPDATE per table and kind.

For each database (from `DatabaseSizeStat`) and each instance (from `InstanceSizeStat`) and each
period: avg / max / min size, sample count, change of the average against the previous period
(bytes and percent; 0 when the previous period has no samples) and a trend. The previous period
is read from the raw daily rows in the same statement (a window over the periods), so a period
can be (re)computed alone, in any order. Rows whose values did not change are not rewritten.
Works on SQLite (>= 3.25 for window functions, 3.24 for upserts) and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import connection, transaction
from django.utils import timezone

from capacity.periods import PERIOD_TYPES, add_periods, last_complete_period, period_end, period_sql
from capacity.periods import period_start as start_of

#: |change percent| below this is "stable" (sizes wobble by a few pages from day to day).
TREND_STABLE_PERCENT = 0.1


@dataclass(frozen=True)
class Target:
    source: str
    target: str
    keys: tuple[str, ...]
    partition: str


DATABASE_TARGET = Target(
    "capacity_databasesizestat",
    "capacity_databasesizeaggregation",
    ("database_id", "instance_id"),
    "database_id",
)
INSTANCE_TARGET = Target(
    "capacity_instancesizestat", "capacity_instancesizeaggregation", ("instance_id",), "instance_id"
)

VALUE_COLUMNS = [
    "period_end",
    "avg_size_bytes",
    "max_size_bytes",
    "min_size_bytes",
    "sample_count",
    "change_bytes",
    "change_percent",
    "trend",
]

SQL = """
INSERT INTO {target} ({keys}, period_type, period_start, {values}, calculated_at)
WITH per AS (
    SELECT {keys}, {start} AS period_start, CAST(ROUND(AVG(size_bytes)) AS BIGINT) AS avg_b,
           MAX(size_bytes) AS max_b, MIN(size_bytes) AS min_b, COUNT(*) AS n
    FROM {source}
    WHERE collected_date >= %s AND collected_date <= %s{instance_filter}
    GROUP BY {keys}, {start}
), chained AS (
    SELECT per.*, LAG(period_start) OVER w AS prev_start, LAG(avg_b) OVER w AS prev_avg
    FROM per WINDOW w AS (PARTITION BY {partition} ORDER BY period_start)
), final AS (
    SELECT chained.*,
        CASE WHEN prev_start = {previous} THEN avg_b - prev_avg ELSE 0 END AS change_b,
        CASE WHEN prev_start = {previous} AND prev_avg <> 0
             THEN ROUND((avg_b - prev_avg) * 100.0 / prev_avg, 2) ELSE 0 END AS change_p
    FROM chained WHERE period_start >= %s
)
SELECT {keys}, %s, period_start, {end}, avg_b, max_b, min_b, n, change_b, change_p,
       CASE WHEN change_p >= %s THEN 'growing' WHEN change_p <= -%s THEN 'shrinking' ELSE 'stable' END,
       %s
FROM final WHERE 1 = 1
ON CONFLICT ({conflict}, period_type, period_start) DO UPDATE SET {updates}, calculated_at = excluded.calculated_at
WHERE {changed}
"""


def build_sql(vendor: str, kind: str, target: Target, *, filtered: bool) -> str:
    exprs = period_sql(vendor, kind)
    return SQL.format(
        keys=", ".join(target.keys),
        start=exprs.start.format(col="collected_date"),
        previous=exprs.previous.format(col="period_start"),
        end=exprs.end.format(col="period_start"),
        source=target.source,
        target=target.target,
        partition=target.partition,
        conflict=target.partition,
        instance_filter=" AND instance_id = %s" if filtered else "",
        values=", ".join(VALUE_COLUMNS),
        updates=", ".join(f"{c} = excluded.{c}" for c in VALUE_COLUMNS),
        changed=" OR ".join(f"{target.target}.{c} <> excluded.{c}" for c in VALUE_COLUMNS),
    )


def aggregate(
    kind: str, first: date, last: date | None = None, *, instance_id: int | None = None
) -> dict[str, int]:
    """(Re)compute the periods of `kind` from the one containing `first` to the one containing
    `last`, for every database and instance (or one instance); returns rows written per table."""
    first, last = start_of(kind, first), start_of(kind, last or first)
    ops = connection.ops
    scan_from = ops.adapt_datefield_value(add_periods(kind, first, -1))
    scan_to = ops.adapt_datefield_value(period_end(kind, last))
    head = [scan_from, scan_to] + ([instance_id] if instance_id is not None else [])
    tail = [
        ops.adapt_datefield_value(first),
        str(kind),
        TREND_STABLE_PERCENT,
        TREND_STABLE_PERCENT,
        ops.adapt_datetimefield_value(timezone.now()),
    ]
    written: dict[str, int] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for name, target in (("databases", DATABASE_TARGET), ("instance", INSTANCE_TARGET)):
            cursor.execute(
                build_sql(connection.vendor, kind, target, filtered=instance_id is not None), head + tail
            )
            written[name] = max(cursor.rowcount, 0)
    return written


def plan_periods(period: str | None, day: date | None, today: date) -> list[tuple[str, date]]:
    """Which (kind, period start) a run covers: the last complete period of each kind unless a
    period and/or a date are named (a named date selects the period containing it)."""
    kinds = [period] if period else [str(k) for k in PERIOD_TYPES]
    if day is None:
        return [(k, last_complete_period(k, today)) for k in kinds]
    return [(k, start_of(k, day)) for k in kinds]
