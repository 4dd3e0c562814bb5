"""Admin index panel: scheduler liveness and unread failed sessions (two small queries)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("admin/scheduling/status_panel.html", takes_context=True)
def whalefall_status_panel(context: dict[str, Any]) -> dict[str, Any]:
    from scheduling.status import scheduler_status
    from whalefall.models import SyncSession

    user = context["request"].user
    panel: dict[str, Any] = {"show_scheduler": False, "show_sessions": False}
    if user.has_perm("scheduling.view_jobconfig"):
        panel.update(show_scheduler=True, scheduler=scheduler_status())
    if user.has_perm("whalefall.view_syncsession"):
        panel.update(show_sessions=True, unread_failures=SyncSession.objects.unread_failures().count())
    return panel
