from __future__ import annotations

from django import template

from capacity.charts import human_bytes

register = template.Library()


@register.filter(name="human_bytes")
def human_bytes_filter(value: float | None) -> str:
    return human_bytes(value)


@register.filter
def signed_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    return ("+" if value > 0 else "") + human_bytes(value)
