"""`{% fleet_overview %}`: the registered home panels the user may see."""

from __future__ import annotations

from typing import Any

from django import template

from whalefall.home import visible_panels

register = template.Library()


@register.inclusion_tag("admin/whalefall/overview.html", takes_context=True)
def fleet_overview(context: dict[str, Any]) -> dict[str, Any]:
    return {"panels": visible_panels(context["request"])}
