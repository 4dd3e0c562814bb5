"""Alert rule kind of the capacity app: databases and instances forecast to fill within N days."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from capacity.models import InstanceCapacity, InstanceDatabase
from capacity.services.forecast import database_forecasts, instance_forecasts
from whalefall.alerts.kinds import Event, register
from whalefall.models import AlertRule
from whalefall.textsafe import safe_text


def filling_up(rule: AlertRule, since: datetime, now: datetime) -> list[Event]:
    """One event per local day listing everything with a limit that fills within `threshold` days."""
    days = max(rule.threshold, 1)
    today = timezone.localdate(now)
    dbs = InstanceDatabase.objects.filter(is_active=True, capacity_limit_bytes__isnull=False).select_related(
        "instance"
    )
    limits = {db.pk: db.capacity_limit_bytes for db in dbs}
    names = {db.pk: f"{db.instance.name} / {db.name}" for db in dbs}
    lines = []
    for pk, f in database_forecasts(limits, today).items():
        if isinstance(f.days_until_full, int) and f.days_until_full <= days:
            lines.append(
                ngettext(
                    "database %(name)s: full in %(days)d day",
                    "database %(name)s: full in %(days)d days",
                    f.days_until_full,
                )
                % {"name": safe_text(names[pk]), "days": f.days_until_full}
            )
    caps = InstanceCapacity.objects.filter(capacity_limit_bytes__isnull=False).select_related("instance")
    inst_names = {c.instance_id: c.instance.name for c in caps}
    for pk, f in instance_forecasts({c.instance_id: c.capacity_limit_bytes for c in caps}, today).items():
        if isinstance(f.days_until_full, int) and f.days_until_full <= days:
            lines.append(
                ngettext(
                    "instance %(name)s: full in %(days)d day",
                    "instance %(name)s: full in %(days)d days",
                    f.days_until_full,
                )
                % {"name": safe_text(inst_names[pk]), "days": f.days_until_full}
            )
    if not lines:
        return []
    within = ngettext("%(days)d day", "%(days)d days", days) % {"days": days}
    title = ngettext(
        "%(count)d database or instance forecast to fill within %(within)s",
        "%(count)d databases or instances forecast to fill within %(within)s",
        len(lines),
    ) % {"count": len(lines), "within": within}
    return [Event(f"capacity_full:{today.isoformat()}", title, sorted(lines), "warning")]


def register_kinds() -> None:
    register(
        "capacity_full",
        _("Disk forecast to fill within N days"),
        filling_up,
        _("threshold = days; databases and instances with a capacity limit; at most one message a day."),
    )
