"""Period aggregations in SQL: one INSERT ... SELECT ... ON CONFLICT DO UPDATE per table and kind.

For each database (from `DatabaseSizeStat`) and each instance (from `InstanceSizeStat`) and each
period: avg / max / min size, sample count, change of the average against the previous period
(bytes and percent; 0 when the previous period has no samples) and a trend. The previous period
is read from the raw daily rows in the same statement (a window over the periods), so a period
can be (re)computed alone, in any order. Rows whose values did not change are not rewritten, and
RETURNING tells which instances got new or changed rows.
Works on SQLite (>= 3.35 for RETURNING) and PostgreSQL alike.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from django.db import connection, transaction
from django.utils import timezone

from capacity.periods import (
    PERIOD_TYPES,
    add_periods,
    known_periods_sql,
    last_complete_period,
    period_end,
    period_sql,
)
from capacity.periods import period_start as start_of

#: |change percent| below this is "stable" (sizes wobble by a few pages from day to day).
TREND_STABLE_PERCENT = 0.1
#: Up to this many periods in the scanned range, the period of a row is a CASE over constants.
CASE_PERIODS = 6


@dataclass(frozen=True)
class Target:
    name: str
    source: str
    target: str
    keys: tuple[str, ...]
    partition: str


TARGETS = (
    Target(
        "databases",
        "capacity_databasesizestat",
        "capacity_databasesizeaggregation",
        ("database_id", "instance_id"),
        "database_id",
    ),
    Target(
        "instance",
        "capacity_instancesizestat",
        "capacity_instancesizeaggregation",
        ("instance_id",),
        "instance_id",
    ),
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
WITH per AS ({per}), chained AS (
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
FROM final WHERE NOT EXISTS (
    SELECT 1 FROM {target} AS t
    WHERE t.{partition} = final.{partition} AND t.period_type = %s AND t.period_start = final.period_start
      AND {unchanged}
)
ON CONFLICT ({conflict}, period_type, period_start) DO UPDATE SET {updates}, calculated_at = excluded.calculated_at
WHERE {changed}
RETURNING instance_id
"""

# Grouping per period; for daily rows (one per day already) the rows themselves, no sort needed.
GROUPED = """
    SELECT {keys}, {start} AS period_start, CAST(ROUND(AVG(size_bytes)) AS BIGINT) AS avg_b,
           MAX(size_bytes) AS max_b, MIN(size_bytes) AS min_b, COUNT(*) AS n
    FROM {source}
    WHERE collected_date >= %s AND collected_date <= %s{instance_filter}
    GROUP BY {keys}, {start}
"""
UNGROUPED = """
    SELECT {keys}, collected_date AS period_start, size_bytes AS avg_b,
           size_bytes AS max_b, size_bytes AS min_b, 1 AS n
    FROM {source}
    WHERE collected_date >= %s AND collected_date <= %s{instance_filter}
"""
# What the final SELECT yields, column by column, to compare with a stored row.
FINAL_VALUES = {
    "avg_size_bytes": "avg_b",
    "max_size_bytes": "max_b",
    "min_size_bytes": "min_b",
    "sample_count": "n",
    "change_bytes": "change_b",
    "change_percent": "change_p",
}


def build_sql(vendor: str, kind: str, target: Target, *, start: str, instances: int) -> str:
    exprs = period_sql(vendor, kind)
    placeholders = ", ".join(["%s"] * instances)
    instance_filter = f" AND instance_id IN ({placeholders})" if instances else ""
    per = (UNGROUPED if exprs.one_row_per_period else GROUPED).format(
        keys=", ".join(target.keys), start=start, source=target.source, instance_filter=instance_filter
    )
    return SQL.format(
        per=per,
        keys=", ".join(target.keys),
        previous=exprs.previous.format(col="period_start"),
        end=exprs.end.format(col="period_start"),
        target=target.target,
        partition=target.partition,
        conflict=target.partition,
        unchanged=" AND ".join(f"t.{col} = final.{expr}" for col, expr in FINAL_VALUES.items()),
        values=", ".join(VALUE_COLUMNS),
        updates=", ".join(f"{c} = excluded.{c}" for c in VALUE_COLUMNS),
        changed=" OR ".join(f"{target.target}.{c} <> excluded.{c}" for c in VALUE_COLUMNS),
    )


def start_expression(vendor: str, kind: str, scan_from: date, last: date) -> str:
    """The period of a row: a CASE over the few known periods, or the backend's date function."""
    starts = [scan_from]
    while starts[-1] < last and len(starts) <= CASE_PERIODS:
        starts.append(add_periods(kind, starts[-1], 1))
    if starts[-1] == last:
        return known_periods_sql(vendor, starts, "collected_date")
    return period_sql(vendor, kind).start.format(col="collected_date")


def aggregate(
    kind: str, first: date, last: date | None = None, *, instance_ids: list[int] | None = None
) -> dict[str, Counter[int]]:
    """(Re)compute the periods of `kind` from the one containing `first` to the one containing
    `last`, for all (or the given) instances and their databases; returns, per table, how many
    rows were written for each instance."""
    first, last = start_of(kind, first), start_of(kind, last or first)
    ops, vendor = connection.ops, connection.vendor
    scan_from = add_periods(kind, first, -1)
    ids = list(instance_ids or [])
    head = [ops.adapt_datefield_value(scan_from), ops.adapt_datefield_value(period_end(kind, last)), *ids]
    tail = [
        ops.adapt_datefield_value(first),
        str(kind),
        TREND_STABLE_PERCENT,
        TREND_STABLE_PERCENT,
        ops.adapt_datetimefield_value(timezone.now()),
        str(kind),
    ]
    start = start_expression(vendor, kind, scan_from, last)
    written: dict[str, Counter[int]] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for target in TARGETS:
            cursor.execute(build_sql(vendor, kind, target, start=start, instances=len(ids)), head + tail)
            written[target.name] = Counter(row[0] for row in cursor.fetchall())
    return written


def plan_periods(period: str | None, day: date | None, today: date) -> list[tuple[str, date]]:
    """Which (kind, period start) a run covers: the last complete period of each kind unless a
    period and/or a date are named (a named date selects the period containing it)."""
    kinds = [period] if period else [str(k) for k in PERIOD_TYPES]
    if day is None:
        return [(k, last_complete_period(k, today)) for k in kinds]
    return [(k, start_of(k, day)) for k in kinds]


def aggregate_periods(periods: list[tuple[str, date]], instance_ids: list[int]) -> dict[int, dict[str, dict]]:
    """All the planned periods in one transaction; per instance and kind, the rows written."""
    result: dict[int, dict[str, dict]] = {pk: {} for pk in instance_ids}
    with transaction.atomic():
        for kind, start in periods:
            written = aggregate(kind, start, instance_ids=instance_ids)
            for pk in instance_ids:
                result[pk][kind] = {
                    "period_start": start.isoformat(),
                    "databases": written["databases"][pk],
                    "instance": written["instance"][pk],
                }
    return result
