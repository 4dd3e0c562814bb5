"""Alert rule kind of the capacity app: databases and instances forecast to fill within N days."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from capacity.models import InstanceCapacity, InstanceDatabase
from capacity.services.forecast import database_forecasts, instance_forecasts
from whalefall.alerts.registry import Event, register
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
            lines.append(f"database {safe_text(names[pk])}: full in {f.days_until_full} day(s)")
    caps = InstanceCapacity.objects.filter(capacity_limit_bytes__isnull=False).select_related("instance")
    inst_names = {c.instance_id: c.instance.name for c in caps}
    for pk, f in instance_forecasts({c.instance_id: c.capacity_limit_bytes for c in caps}, today).items():
        if isinstance(f.days_until_full, int) and f.days_until_full <= days:
            lines.append(f"instance {safe_text(inst_names[pk])}: full in {f.days_until_full} day(s)")
    if not lines:
        return []
    title = f"{len(lines)} database(s) or instance(s) forecast to fill within {days} day(s)"
    return [Event(f"capacity_full:{today.isoformat()}", title, sorted(lines), "warning")]


def register_kinds() -> None:
    register(
        "capacity_full",
        "Disk forecast to fill within N days",
        filling_up,
        "threshold = days; databases and instances with a capacity limit; at most one message a day.",
    )
