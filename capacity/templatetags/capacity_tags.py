from __future__ import annotations

from typing import Any

from django import template
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from capacity.charts import human_bytes
from capacity.models import PeriodType
from capacity.periods import add_periods

register = template.Library()

DASH = "\u2013"


@register.filter(name="human_bytes")
def human_bytes_filter(value: float | None) -> str:
    return human_bytes(value)


@register.filter
def signed_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    return ("+" if value > 0 else "") + human_bytes(value)


@register.filter
def earlier_period_note(row: Any) -> str:
    """Why a period has no change to show, or "" when it has one.

    The aggregation stores a change of 0 (and "stable") when the previous period has no
    samples; read as "0 B 0.00% Stable" that claims a measured standstill. `row.previous_day`
    (from `queries.with_previous_sample`) is the last sampled day before the period.
    """
    if row.change_bytes or row.change_percent:
        return ""
    previous_day = getattr(row, "previous_day", None)
    if previous_day is None:
        return _("no earlier period")
    if previous_day < add_periods(row.period_type, row.period_start, -1):
        return _("no samples in the previous period")
    return ""


@register.filter
def period_change(row: Any) -> str:
    """A period's change against the previous one: '+1.5 MB (+2.00%)', or why there is none."""
    note = earlier_period_note(row)
    if note:
        return note
    sign = "+" if row.change_bytes > 0 else ""
    return f"{sign}{human_bytes(row.change_bytes)} ({sign}{row.change_percent:.2f}%)"


@register.filter
def period_label(row: Any) -> str:
    """The period as a DBA names it: a day, "week of <Monday>", a month, "Q3 2026"."""
    kind, start = row.period_type, row.period_start
    if kind == PeriodType.DAILY:
        return date_format(start, "DATE_FORMAT")
    if kind == PeriodType.WEEKLY:
        return _("week of %(date)s") % {"date": date_format(start, "DATE_FORMAT")}
    if kind == PeriodType.MONTHLY:
        return date_format(start, "YEAR_MONTH_FORMAT")
    return _("Q%(quarter)s %(year)s") % {"quarter": (start.month - 1) // 3 + 1, "year": start.year}


@register.filter
def size_range(row: Any) -> str:
    """'6.3 to 6.9 GB' with an en dash (the unit written once), '300.0 MB to 1.2 GB' across units."""
    low, high = human_bytes(row.min_size_bytes), human_bytes(row.max_size_bytes)
    low_number, _space, low_unit = low.partition(" ")
    if low == high:
        return low
    if high.endswith(f" {low_unit}"):
        return f"{low_number} {DASH} {high}"
    return f"{low} {DASH} {high}"
