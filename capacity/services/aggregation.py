"""Period aggregations in SQL: one INSERT ... SELECT ... ON CONFLICT DO UPDATE per table and kind.

For each database (from `DatabaseSizeStat`) and each instance (from `InstanceSizeStat`) and each
period: avg / max / min size, sample count, change of the average against the previous period
(bytes and percent; 0 when the previous period has no samples) and a trend. The previous period
is read from the raw daily rows in the same statement, so a period can be (re)computed alone, in
any order; the one exception, on request only, is the nightly run's single period (below).
Three shapes of the same computation:

- one period: the period and its predecessor, each a plain GROUP BY over a date range,
  joined: as cheap as a raw GROUP BY over those rows can be. The incremental nightly run, which
  knows the predecessor's aggregate is current, reads that stored row instead of its days;
- a range of periods (backfills, `--full`): days are the rows themselves, each with the previous
  day's row (on PostgreSQL the previous row of a LAG() over the (key, day) index order, on
  SQLite a lookup through that index); weeks, months and quarters are rows
  grouped by their period start (a CASE over constants for a few periods, the backend's date
  functions otherwise), the previous period via LAG();
- named (key, period) pairs (late rows found by `capacity.services.incremental`): a GROUP BY
  per pair over its own index range.

Rows whose values did not change are filtered out before the upsert (no rewrite, no row lock),
rows are written in key order (the unique index grows at its end), and RETURNING tells which
instances got new or changed rows. A range with no row yet is written by a plain INSERT (the
anti-join and ON CONFLICT cost as much as the rows themselves). SQLite >= 3.35 and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from capacity.periods import (
    PERIOD_TYPES,
    add_periods,
    date_literal,
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
    grouped_keys: str  # the keys when grouping by `partition` alone


TARGETS = (
    Target(
        "databases",
        "capacity_databasesizestat",
        "capacity_databasesizeaggregation",
        ("database_id", "instance_id"),
        "database_id",
        "database_id, MAX(instance_id) AS instance_id",  # a database belongs to one instance
    ),
    Target(
        "instance",
        "capacity_instancesizestat",
        "capacity_instancesizeaggregation",
        ("instance_id",),
        "instance_id",
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
# What `final` yields for the stored columns (period_end and trend follow from the others).
FINAL_VALUES = {
    "avg_size_bytes": "avg_b",
    "max_size_bytes": "max_b",
    "min_size_bytes": "min_b",
    "sample_count": "n",
    "change_bytes": "change_b",
    "change_percent": "change_p",
}
STATS = "CAST(ROUND(AVG(size_bytes)) AS BIGINT) AS avg_b, MAX(size_bytes) AS max_b, MIN(size_bytes) AS min_b, COUNT(*) AS n"
RANGE = "collected_date >= %s AND collected_date <= %s{instance_filter}"

# Each body defines `final`: keys, period_start, avg_b, max_b, min_b, n, change_b, change_p.
ONE_PERIOD = """
WITH cur AS (
    SELECT {grouped_keys}, {stats} FROM {source} WHERE {range} GROUP BY {partition}
), prev AS (
    SELECT {partition}, CAST(ROUND(AVG(size_bytes)) AS BIGINT) AS avg_b
    FROM {source} WHERE {range} GROUP BY {partition}
), final AS (
    SELECT cur.*, {period_start} AS period_start,
        CASE WHEN prev.avg_b IS NULL THEN 0 ELSE cur.avg_b - prev.avg_b END AS change_b,
        CASE WHEN prev.avg_b IS NULL OR prev.avg_b = 0 THEN 0
             ELSE ROUND((cur.avg_b - prev.avg_b) * 100.0 / prev.avg_b, 2) END AS change_p
    FROM cur LEFT JOIN prev ON prev.{partition} = cur.{partition}
)"""
# The nightly run's variant: the previous period's average is its stored aggregate (one index
# probe per key) instead of a second GROUP BY over its rows, which for a quarter doubled the read.
# Only for a caller that knows the previous period's aggregates are current (see `aggregate`).
ONE_PERIOD_STORED_PREVIOUS = """
WITH cur AS (
    SELECT {grouped_keys}, {stats} FROM {source} WHERE {range} GROUP BY {partition}
), final AS (
    SELECT cur.*, {period_start} AS period_start,
        CASE WHEN prev.avg_size_bytes IS NULL THEN 0 ELSE cur.avg_b - prev.avg_size_bytes END AS change_b,
        CASE WHEN prev.avg_size_bytes IS NULL OR prev.avg_size_bytes = 0 THEN 0
             ELSE ROUND((cur.avg_b - prev.avg_size_bytes) * 100.0 / prev.avg_size_bytes, 2) END AS change_p
    FROM cur LEFT JOIN {target} prev ON prev.{partition} = cur.{partition}
        AND prev.period_type = %s AND prev.period_start = %s
)"""
MANY_PERIODS = """
WITH per AS ({per}), chained AS (
    SELECT per.*,
        CASE WHEN LAG(period_start) OVER w = {previous} THEN LAG(avg_b) OVER w END AS prev_avg
    FROM per WINDOW w AS (PARTITION BY {partition} ORDER BY period_start)
), final AS (
    SELECT chained.*,
        CASE WHEN prev_avg IS NULL THEN 0 ELSE avg_b - prev_avg END AS change_b,
        CASE WHEN prev_avg IS NULL OR prev_avg = 0 THEN 0
             ELSE ROUND((avg_b - prev_avg) * 100.0 / prev_avg, 2) END AS change_p
    FROM chained WHERE period_start >= %s
)"""
# Per period (weeks, months, quarters): rows grouped by their period start.
GROUPED = (
    "SELECT {keys}, {start} AS period_start, {stats} FROM {source} WHERE {range} GROUP BY {keys}, {start}"
)
# Daily rows are one per key and day already (unique constraint): each row is its period, and the
# previous period is the previous day's row, found through that unique index (SQLite; see DAILY_WINDOW).
DAILY = """
WITH final AS (
    SELECT {keys}, s.collected_date AS period_start, s.size_bytes AS avg_b, s.size_bytes AS max_b,
        s.size_bytes AS min_b, 1 AS n,
        CASE WHEN p.size_bytes IS NULL THEN 0 ELSE s.size_bytes - p.size_bytes END AS change_b,
        CASE WHEN p.size_bytes IS NULL OR p.size_bytes = 0 THEN 0
             ELSE ROUND((s.size_bytes - p.size_bytes) * 100.0 / p.size_bytes, 2) END AS change_p
    FROM {source} s LEFT JOIN {source} p ON p.{partition} = s.{partition} AND p.collected_date = {previous}
    WHERE s.collected_date >= %s AND s.collected_date <= %s{instance_filter}
)"""

# Named periods (key, start, end, previous start, previous end) given as constants: each one a
# GROUP BY over its own rows through the (key, collected_date) unique index, so a few late rows
# cost a few index ranges whatever the size of the history.
DIRTY = """
WITH dirty(k, ps, pe, qs, qe) AS (VALUES {rows}), cur AS (
    SELECT {grouped_keys}, dirty.ps AS period_start, {stats}
    FROM dirty JOIN {source} s ON s.{partition} = dirty.k AND s.collected_date >= dirty.ps AND s.collected_date <= dirty.pe
    GROUP BY s.{partition}, dirty.ps
), prev AS (
    SELECT dirty.k, dirty.ps, CAST(ROUND(AVG(size_bytes)) AS BIGINT) AS avg_b
    FROM dirty JOIN {source} s ON s.{partition} = dirty.k AND s.collected_date >= dirty.qs AND s.collected_date <= dirty.qe
    GROUP BY dirty.k, dirty.ps
), final AS (
    SELECT cur.*,
        CASE WHEN prev.avg_b IS NULL THEN 0 ELSE cur.avg_b - prev.avg_b END AS change_b,
        CASE WHEN prev.avg_b IS NULL OR prev.avg_b = 0 THEN 0
             ELSE ROUND((cur.avg_b - prev.avg_b) * 100.0 / prev.avg_b, 2) END AS change_p
    FROM cur LEFT JOIN prev ON prev.k = cur.{partition} AND prev.ps = cur.period_start
)"""
#: Named periods per DIRTY statement (their constants are inlined: no parameter limit).
DIRTY_CHUNK = 2000
UPSERT = """
INSERT INTO {target} ({keys}, period_type, period_start, {values}, calculated_at)
{body}
SELECT {keys}, %s, period_start, {end}, avg_b, max_b, min_b, n, change_b, change_p,
       CASE WHEN change_p >= %s THEN 'growing' WHEN change_p <= -%s THEN 'shrinking' ELSE 'stable' END,
       %s
FROM final WHERE NOT EXISTS (
    SELECT 1 FROM {target} AS t
    WHERE t.{partition} = final.{partition} AND t.period_type = %s AND t.period_start = final.period_start
      AND {unchanged}
)
ORDER BY {partition}, period_start
ON CONFLICT ({partition}, period_type, period_start) DO UPDATE SET {updates}, calculated_at = excluded.calculated_at
WHERE {changed}
RETURNING instance_id
"""


# Into a range of periods that holds no row yet (a first aggregation, a rebuild after the table
# was emptied): a plain INSERT, without the anti-join and the ON CONFLICT machinery, which cost
# as much as the rows themselves. `aggregate` falls back to the upsert if a row appears meanwhile.
INSERT_FRESH = """
INSERT INTO {target} ({keys}, period_type, period_start, {values}, calculated_at)
{body}
SELECT {keys}, %s, period_start, {end}, avg_b, max_b, min_b, n, change_b, change_p,
       CASE WHEN change_p >= %s THEN 'growing' WHEN change_p <= -%s THEN 'shrinking' ELSE 'stable' END,
       %s
FROM final
ORDER BY {partition}, period_start
RETURNING instance_id
"""
# PostgreSQL walks the (key, day) unique index in order, so the previous day's row is LAG()'s
# previous row (one extra day scanned for the first one): no index probe per row, no sort.
DAILY_WINDOW = """
WITH chained AS (
    SELECT {keys}, s.collected_date AS period_start, s.size_bytes,
        CASE WHEN LAG(s.collected_date) OVER w = {previous} THEN LAG(s.size_bytes) OVER w END AS prev_b
    FROM {source} s
    WHERE s.collected_date >= %s AND s.collected_date <= %s{instance_filter}
    WINDOW w AS (PARTITION BY s.{partition} ORDER BY s.collected_date)
), final AS (
    SELECT {plain_keys}, period_start, size_bytes AS avg_b, size_bytes AS max_b, size_bytes AS min_b,
        1 AS n,
        CASE WHEN prev_b IS NULL THEN 0 ELSE size_bytes - prev_b END AS change_b,
        CASE WHEN prev_b IS NULL OR prev_b = 0 THEN 0
             ELSE ROUND((size_bytes - prev_b) * 100.0 / prev_b, 2) END AS change_p
    FROM chained WHERE period_start >= %s
)"""


def _upsert(vendor: str, kind: str, target: Target, body: str, *, fresh: bool = False) -> str:
    return (INSERT_FRESH if fresh else UPSERT).format(
        target=target.target,
        keys=", ".join(target.keys),
        partition=target.partition,
        body=body,
        end=period_sql(vendor, kind).end.format(col="period_start"),
        values=", ".join(VALUE_COLUMNS),
        unchanged=" AND ".join(f"t.{col} = final.{expr}" for col, expr in FINAL_VALUES.items()),
        updates=", ".join(f"{c} = excluded.{c}" for c in VALUE_COLUMNS),
        changed=" OR ".join(f"{target.target}.{c} <> excluded.{c}" for c in VALUE_COLUMNS),
    )


def one_period_sql(
    vendor: str,
    kind: str,
    target: Target,
    start: date,
    ids: list[int],
    *,
    fresh: bool = False,
    stored_previous: bool = False,
) -> tuple[str, list[Any]]:
    ops, prev = connection.ops, add_periods(kind, start, -1)
    body = (ONE_PERIOD_STORED_PREVIOUS if stored_previous else ONE_PERIOD).format(
        grouped_keys=target.grouped_keys,
        stats=STATS,
        source=target.source,
        range=RANGE.format(instance_filter=_filter(ids)),
        partition=target.partition,
        period_start=date_literal(vendor, start),
        target=target.target,
    )
    dates = [
        ops.adapt_datefield_value(d) for d in (start, period_end(kind, start), prev, period_end(kind, prev))
    ]
    if stored_previous:
        return _upsert(vendor, kind, target, body, fresh=fresh), [*dates[:2], *ids, str(kind), dates[2]]
    return _upsert(vendor, kind, target, body, fresh=fresh), [*dates[:2], *ids, *dates[2:], *ids]


def many_periods_sql(
    vendor: str, kind: str, target: Target, first: date, last: date, ids: list[int], *, fresh: bool = False
) -> tuple[str, list[Any]]:
    ops, exprs = connection.ops, period_sql(vendor, kind)
    if exprs.one_row_per_period:
        template = DAILY_WINDOW if vendor == "postgresql" else DAILY
        body = template.format(
            keys=", ".join(f"s.{k}" for k in target.keys),
            plain_keys=", ".join(target.keys),
            source=target.source,
            partition=target.partition,
            previous=exprs.previous.format(col="s.collected_date"),
            instance_filter=_filter(ids, "s."),
        )
        if template is DAILY_WINDOW:
            scan = [ops.adapt_datefield_value(d) for d in (first - timedelta(days=1), last, first)]
        else:
            scan = [ops.adapt_datefield_value(first), ops.adapt_datefield_value(last)]
        return _upsert(vendor, kind, target, body, fresh=fresh), [*scan[:2], *ids, *scan[2:]]
    scan_from = add_periods(kind, first, -1)
    per = GROUPED.format(
        keys=", ".join(target.keys),
        start=_start_expression(vendor, kind, scan_from, last),
        stats=STATS,
        source=target.source,
        range=RANGE.format(instance_filter=_filter(ids)),
    )
    body = MANY_PERIODS.format(
        per=per, partition=target.partition, previous=exprs.previous.format(col="period_start")
    )
    scan = [ops.adapt_datefield_value(scan_from), ops.adapt_datefield_value(period_end(kind, last))]
    return _upsert(vendor, kind, target, body, fresh=fresh), [*scan, *ids, ops.adapt_datefield_value(first)]


def dirty_sql(vendor: str, kind: str, target: Target, periods: list[tuple[int, date]]) -> str:
    """The upsert of the named (key, period start) pairs of `kind`; keys and dates are inlined as
    literals from ints and dates (never from text), so the statement takes only the upsert's
    own parameters."""

    def row(key: int, start: date) -> str:
        prev = add_periods(kind, start, -1)
        days = (start, period_end(kind, start), prev, period_end(kind, prev))
        return f"({int(key)}, {', '.join(date_literal(vendor, d) for d in days)})"

    body = DIRTY.format(
        rows=", ".join(row(k, s) for k, s in periods),
        grouped_keys=target.grouped_keys,
        stats=STATS,
        source=target.source,
        partition=target.partition,
    )
    return _upsert(vendor, kind, target, body)


def _filter(ids: list[int], alias: str = "") -> str:
    return f" AND {alias}instance_id IN ({', '.join(['%s'] * len(ids))})" if ids else ""


def _start_expression(vendor: str, kind: str, scan_from: date, last: date) -> str:
    """The period of a row: a CASE over the few known periods, or the backend's date function."""
    starts = [scan_from]
    while starts[-1] < last and len(starts) <= CASE_PERIODS:
        starts.append(add_periods(kind, starts[-1], 1))
    if starts[-1] == last:
        return known_periods_sql(vendor, starts, "collected_date")
    return period_sql(vendor, kind).start.format(col="collected_date")


def _tail(kind: str, *, fresh: bool = False) -> list[Any]:
    """The upsert's (or the fresh INSERT's) own parameters, after those of its body."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    tail = [str(kind), TREND_STABLE_PERCENT, TREND_STABLE_PERCENT, now]
    return tail if fresh else [*tail, str(kind)]


def write(cursor: Any, sql: str, params: list[Any]) -> Counter[int]:
    """Run one aggregate write; how many rows it wrote per instance. On PostgreSQL the rows its
    RETURNING lists are counted by the server (a full history returns hundreds of thousands)."""
    if connection.vendor == "postgresql":
        cursor.execute(
            f"WITH written AS ({sql}) SELECT instance_id, COUNT(*) FROM written GROUP BY instance_id", params
        )
        return Counter(dict(cursor.fetchall()))
    cursor.execute(sql, params)
    return Counter(row[0] for row in cursor.fetchall())


def _is_empty(cursor: Any, kind: str, target: Target, first: date, last: date, ids: list[int]) -> bool:
    """No aggregate of `kind` in [first, last] yet (for these instances): through the
    (period_type, period_start) index, one probe."""
    ops = connection.ops
    cursor.execute(
        f"SELECT 1 FROM {target.target} WHERE period_type = %s AND period_start >= %s"
        f" AND period_start <= %s{_filter(ids)} LIMIT 1",
        [str(kind), ops.adapt_datefield_value(first), ops.adapt_datefield_value(last), *ids],
    )
    return cursor.fetchone() is None


def aggregate(
    kind: str,
    first: date,
    last: date | None = None,
    *,
    instance_ids: list[int] | None = None,
    stored_previous: bool = False,
) -> dict[str, Counter[int]]:
    """(Re)compute the periods of `kind` from the one containing `first` to the one containing
    `last`, for all (or the given) instances and their databases; returns, per table, how many
    rows were written for each instance.

    `stored_previous`: a single period's change is measured against the stored aggregate of the
    period before, not its rows. Only for a caller that knows that aggregate is current (the
    incremental run, whose watermark says so and which rewrites late periods first)."""
    first, last = start_of(kind, first), start_of(kind, last or first)
    vendor, ids = connection.vendor, list(instance_ids or [])
    written: dict[str, Counter[int]] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for target in TARGETS:

            def statement(fresh: bool, target: Target = target) -> tuple[str, list[Any]]:
                if first == last:
                    sql, params = one_period_sql(
                        vendor, kind, target, first, ids, fresh=fresh, stored_previous=stored_previous
                    )
                else:
                    sql, params = many_periods_sql(vendor, kind, target, first, last, ids, fresh=fresh)
                return sql, params + _tail(kind, fresh=fresh)

            if _is_empty(cursor, kind, target, first, last, ids):
                try:
                    with transaction.atomic():  # a savepoint: a row written meanwhile undoes only this
                        written[target.name] = write(cursor, *statement(fresh=True))
                    continue
                except IntegrityError:
                    pass  # another run wrote some of these periods meanwhile: upsert them
            written[target.name] = write(cursor, *statement(fresh=False))
    return written


def plan_periods(period: str | None, day: date | None, today: date) -> list[tuple[str, date]]:
    """Which (kind, period start) a run covers: the last complete period of each kind unless a
    period and/or a date are named (a named date selects the period containing it)."""
    kinds = [period] if period else [str(k) for k in PERIOD_TYPES]
    if day is None:
        return [(k, last_complete_period(k, today)) for k in kinds]
    return [(k, start_of(k, day)) for k in kinds]


def aggregate_periods(
    periods: list[tuple[str, date]], instance_ids: list[int], *, restrict: bool = True
) -> dict[int, dict[str, dict]]:
    """All the planned periods in one transaction; per instance and kind, the rows written.
    Without `restrict` the statements cover every instance's rows (cheaper to scan: the
    scheduled run over all active instances), and report only `instance_ids`."""
    result: dict[int, dict[str, dict]] = {pk: {} for pk in instance_ids}
    with transaction.atomic():
        for kind, start in periods:
            written = aggregate(kind, start, instance_ids=instance_ids if restrict else None)
            for pk in instance_ids:
                result[pk][kind] = {
                    "period_start": start.isoformat(),
                    "databases": written["databases"][pk],
                    "instance": written["instance"][pk],
                }
    return result
