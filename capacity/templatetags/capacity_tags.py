from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

from capacity.charts import human_bytes
from capacity.periods import add_periods

register = template.Library()


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
