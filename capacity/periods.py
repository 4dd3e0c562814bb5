"""Period arithmetic for aggregations, in Python (which period?) and in SQL (group by it).

Weeks start on Monday; a quarter is three months starting in January, April, July, October.
The SQL expressions are the only vendor-specific code of the aggregation, kept here in one
small function keyed on `connection.vendor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Func, IntegerField

from capacity.models import PeriodType

PERIOD_TYPES = [PeriodType.DAILY, PeriodType.WEEKLY, PeriodType.MONTHLY, PeriodType.QUARTERLY]
MONTHS: dict[str, int] = {PeriodType.MONTHLY: 1, PeriodType.QUARTERLY: 3}


def period_start(kind: str, day: date) -> date:
    if kind == PeriodType.DAILY:
        return day
    if kind == PeriodType.WEEKLY:
        return day - timedelta(days=day.weekday())
    if kind == PeriodType.MONTHLY:
        return day.replace(day=1)
    if kind == PeriodType.QUARTERLY:
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    raise ValueError(f"unknown period {kind!r}")


def add_periods(kind: str, start: date, count: int) -> date:
    """The start of the period `count` periods after the one starting at `start`."""
    if kind == PeriodType.DAILY:
        return start + timedelta(days=count)
    if kind == PeriodType.WEEKLY:
        return start + timedelta(weeks=count)
    months = start.year * 12 + start.month - 1 + MONTHS[kind] * count
    return date(months // 12, months % 12 + 1, 1)


def period_end(kind: str, start: date) -> date:
    return add_periods(kind, start, 1) - timedelta(days=1)


def last_complete_period(kind: str, today: date) -> date:
    """Start of the latest period of `kind` that ended before `today`."""
    return add_periods(kind, period_start(kind, today), -1)


def date_literal(vendor: str, day: date) -> str:
    """A SQL date constant (from a `date`, never from user text): typed on PostgreSQL, ISO text on SQLite."""
    return f"DATE '{day.isoformat()}'" if vendor == "postgresql" else f"'{day.isoformat()}'"


class DaysSince(Func):
    """Whole days from `start` to a DATE column, as an integer (the x of a size-per-day fit)."""

    output_field = IntegerField()

    def __init__(self, column: str, start: date, **extra: Any) -> None:
        super().__init__(column, **extra)
        self.start = start

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # type: ignore[override]
        start = date_literal(connection.vendor, self.start)
        if connection.vendor == "postgresql":
            template = f"(%(expressions)s - {start})"
        elif connection.vendor == "sqlite":
            template = f"CAST(ROUND(julianday(%(expressions)s) - julianday({start})) AS INTEGER)"
        else:
            raise NotImplementedError(f"capacity supports SQLite and PostgreSQL, not {connection.vendor}")
        return super().as_sql(compiler, connection, template=template, **extra)


def known_periods_sql(vendor: str, starts: list[date], col: str) -> str:
    """Period start of `col` when the scanned range holds only these few periods (ascending):
    a CASE over constants, much cheaper per row than date functions."""
    branches = " ".join(
        f"WHEN {col} >= {date_literal(vendor, s)} THEN {date_literal(vendor, s)}"
        for s in reversed(starts[1:])
    )
    return f"CASE {branches} ELSE {date_literal(vendor, starts[0])} END"


@dataclass(frozen=True)
class PeriodSql:
    """SQL expressions for one period kind on one backend (`{col}` is a DATE column)."""

    start: str  # period start of a date
    end: str  # period end from a period start
    previous: str  # previous period's start from a period start
    one_row_per_period: bool = False  # daily: one stat row per day already (unique constraint)


def period_sql(vendor: str, kind: str) -> PeriodSql:
    """The per-backend expressions; SQLite stores dates as ISO text, PostgreSQL as DATE."""
    if vendor == "postgresql":
        if kind == PeriodType.DAILY:
            return PeriodSql("{col}", "{col}", "({col} - 1)", one_row_per_period=True)
        unit = {"weekly": "week", "monthly": "month", "quarterly": "quarter"}[kind]
        step = {"weekly": "7 days", "monthly": "1 month", "quarterly": "3 months"}[kind]
        return PeriodSql(
            f"CAST(date_trunc('{unit}', {{col}}) AS date)",
            f"CAST({{col}} + interval '{step}' - interval '1 day' AS date)",
            f"CAST({{col}} - interval '{step}' AS date)",
        )
    if vendor == "sqlite":
        return {
            "daily": PeriodSql("{col}", "{col}", "date({col}, '-1 day')", one_row_per_period=True),
            "weekly": PeriodSql(
                "date({col}, '-6 days', 'weekday 1')",
                "date({col}, '+6 days')",
                "date({col}, '-7 days')",
            ),
            "monthly": PeriodSql(
                "date({col}, 'start of month')",
                "date({col}, '+1 month', '-1 day')",
                "date({col}, '-1 month')",
            ),
            "quarterly": PeriodSql(
                # string work on the ISO text: much cheaper per row than date() with modifiers
                "substr({col}, 1, 5) || CASE WHEN substr({col}, 6, 2) <= '03' THEN '01-01' "
                "WHEN substr({col}, 6, 2) <= '06' THEN '04-01' "
                "WHEN substr({col}, 6, 2) <= '09' THEN '07-01' ELSE '10-01' END",
                "date({col}, '+3 months', '-1 day')",
                "date({col}, '-3 months')",
            ),
        }[kind]
    raise NotImplementedError(f"capacity aggregation supports SQLite and PostgreSQL, not {vendor}")
