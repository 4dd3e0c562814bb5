"""Period arithmetic against an independent calendar, and its SQL run on both engines for real
(SQLite in memory and the live PostgreSQL), whichever the metadata database of the run."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

import pytest

from capacity.periods import (
    PERIOD_TYPES,
    add_periods,
    date_literal,
    known_periods_sql,
    last_complete_period,
    period_end,
    period_sql,
    period_start,
)
from whalefall.tests import live

KINDS = ["daily", "weekly", "monthly", "quarterly"]


def runtime(text: str) -> str:
    """The same text built at run time (not an interned literal): comparisons must use ==, not is."""
    return "".join(list(text))


# Every day of a leap year and its neighbours, each weekday and month edge included.
DAYS = [date(2023, 11, 20) + timedelta(days=i) for i in range(500)]


def oracle_start(kind: str, day: date) -> date:
    """The period containing `day`, found by walking back day by day (slow, obviously right)."""
    d = day
    if kind == "daily":
        return d
    if kind == "weekly":
        while d.isoweekday() != 1:
            d -= timedelta(days=1)
        return d
    while d.day != 1 or (kind == "quarterly" and d.month not in (1, 4, 7, 10)):
        d -= timedelta(days=1)
    return d


def oracle_end(kind: str, start: date) -> date:
    d = start
    while oracle_start(kind, d + timedelta(days=1)) == start:
        d += timedelta(days=1)
    return d


def test_the_kinds_in_order_of_length() -> None:
    assert PERIOD_TYPES == KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_start_end_and_previous_period_match_the_calendar(kind: str) -> None:
    kind = runtime(kind)
    for day in DAYS:
        start = period_start(kind, day)
        assert start == oracle_start(kind, day), (kind, day)
        assert period_end(kind, start) == oracle_end(kind, start), (kind, start)
        previous = oracle_start(kind, start - timedelta(days=1))
        assert last_complete_period(kind, day) == previous, (kind, day)
        assert add_periods(kind, start, -1) == previous
        assert add_periods(kind, start, 1) == oracle_end(kind, start) + timedelta(days=1)
        assert add_periods(kind, start, 0) == start


@pytest.mark.parametrize(
    ("kind", "start", "count", "expected"),
    [
        ("daily", date(2024, 2, 28), 2, date(2024, 3, 1)),
        ("weekly", date(2024, 12, 30), -53, date(2023, 12, 25)),
        ("monthly", date(2024, 1, 1), -1, date(2023, 12, 1)),
        ("monthly", date(2024, 11, 1), 2, date(2025, 1, 1)),
        ("monthly", date(2024, 12, 1), 13, date(2026, 1, 1)),
        ("quarterly", date(2024, 10, 1), 1, date(2025, 1, 1)),
        ("quarterly", date(2024, 1, 1), -5, date(2022, 10, 1)),
        ("quarterly", date(2024, 7, 1), 2, date(2025, 1, 1)),
    ],
)
def test_add_periods_crosses_years_both_ways(kind: str, start: date, count: int, expected: date) -> None:
    assert add_periods(kind, start, count) == expected


@pytest.mark.parametrize("kind", ["annual", "hourly", "yearly"])  # sorting before, among, after the kinds
def test_an_unknown_kind_is_refused_everywhere(kind: str) -> None:
    with pytest.raises(ValueError, match=kind):
        period_start(kind, date(2024, 1, 1))
    with pytest.raises(KeyError):
        add_periods(kind, date(2024, 1, 1), 1)
    for vendor in ("postgresql", "sqlite"):
        with pytest.raises(KeyError):
            period_sql(vendor, kind)


@pytest.mark.parametrize("vendor", ["mysql", "tidb"])
def test_an_unsupported_backend_is_refused(vendor: str) -> None:
    with pytest.raises(NotImplementedError, match=vendor):
        period_sql(vendor, "daily")


def test_the_expressions_are_constants() -> None:
    """Shared between calls: a caller cannot alter them for the next one."""
    with pytest.raises(AttributeError):
        period_sql("sqlite", "weekly").start = "{col}"  # type: ignore[misc]


def test_date_literals_are_typed_on_postgresql_and_iso_text_on_sqlite() -> None:
    assert date_literal(runtime("postgresql"), date(2024, 3, 9)) == "DATE '2024-03-09'"
    assert date_literal(runtime("sqlite"), date(2024, 3, 9)) == "'2024-03-09'"


def test_only_daily_has_one_row_per_period() -> None:
    for vendor in ("sqlite", "postgresql"):
        flags = [period_sql(runtime(vendor), runtime(k)).one_row_per_period for k in KINDS]
        assert flags == [True, False, False, False]


# --- the SQL, on the engines ------------------------------------------------------------------
def sqlite_eval(expressions: list[str], day: date) -> list[str]:
    conn = sqlite3.connect(":memory:")
    try:
        sql = "SELECT " + ", ".join(e.replace("{col}", "d") for e in expressions) + " FROM (SELECT ? AS d)"
        return [str(v) for v in conn.execute(sql, [day.isoformat()]).fetchone()]
    finally:
        conn.close()


def pg_eval_all(expressions: list[str], days: list[date]) -> list[list[str]]:
    with live.pg_superuser() as su, su.cursor() as cur:
        cols = ", ".join(e.replace("{col}", "d") for e in expressions)
        cur.execute(f"SELECT {cols} FROM unnest(%s::date[]) AS t(d) ORDER BY d", [days])
        return [[str(v) for v in row] for row in cur.fetchall()]


def expected_row(kind: str, day: date) -> list[str]:
    start = oracle_start(kind, day)
    return [str(start), str(oracle_end(kind, start)), str(oracle_start(kind, start - timedelta(days=1)))]


def chained(vendor: str, kind: str) -> list[str]:
    """start(col), end(start(col)), previous(start(col)) as one SELECT list."""
    sql = period_sql(runtime(vendor), runtime(kind))
    start = sql.start
    return [start, sql.end.replace("{col}", f"({start})"), sql.previous.replace("{col}", f"({start})")]


@pytest.mark.parametrize("kind", KINDS)
def test_the_sqlite_expressions_match_the_calendar(kind: str) -> None:
    for day in DAYS[::3]:
        assert sqlite_eval(chained("sqlite", kind), day) == expected_row(kind, day), (kind, day)


@pytest.mark.live
@pytest.mark.parametrize("kind", KINDS)
def test_the_postgresql_expressions_match_the_calendar(kind: str) -> None:
    got = pg_eval_all(chained("postgresql", kind), DAYS)
    assert got == [expected_row(kind, day) for day in DAYS], kind


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_known_periods_sql_picks_the_latest_start_not_after_the_day(vendor: str) -> None:
    starts = [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
    expr = known_periods_sql(runtime(vendor), starts, "{col}")
    assert expr.count("WHEN") == 2 and expr.startswith("CASE WHEN {col} >= ") and expr.endswith(" END")
    days = [
        date(2024, 1, 1),
        date(2024, 1, 31),
        date(2024, 2, 1),
        date(2024, 2, 29),
        date(2024, 3, 1),
        date(2024, 3, 31),
    ]
    want = [["2024-01-01"], ["2024-01-01"], ["2024-02-01"], ["2024-02-01"], ["2024-03-01"], ["2024-03-01"]]
    if vendor == "sqlite":
        assert [sqlite_eval([expr], d) for d in days] == want
    else:
        pytest.importorskip("psycopg2")
        assert pg_eval_all([expr], days) == want
