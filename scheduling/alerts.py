"""Alert rule kind of the scheduling app: no active scheduler for N minutes.

The scheduler that is down cannot send this itself: a standby scheduler does (its alert job
runs wherever jobs run), and for a fleet with a single scheduler, `manage.py send_alerts
--kind scheduler_down` from cron or a systemd timer is the watchdog.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from scheduling.models import SchedulerLease
from whalefall.alerts.registry import Event, register
from whalefall.formats import local_datetime
from whalefall.models import AlertRule


def scheduler_down(rule: AlertRule, since: datetime, now: datetime) -> list[Event]:
    minutes = max(rule.threshold, 1)
    lease = SchedulerLease.current()
    beat = lease.heartbeat_at if lease else None
    if beat is not None and now - beat < timedelta(minutes=minutes):
        return []
    if beat is None:
        if now - rule.created_at < timedelta(minutes=minutes):
            return []
        return [
            Event(
                "scheduler_down:never",
                "No scheduler has ever run",
                ["Start `manage.py runscheduler`."],
                "critical",
            )
        ]
    owner = f"{lease.host} (pid {lease.pid})" if lease else "?"
    title = f"No active scheduler for {int((now - beat).total_seconds() // 60)} minutes"
    lines = [
        f"last heartbeat {local_datetime(beat)} ({settings.TIME_ZONE}) from {owner}",
        "Scheduled syncs are not running.",
    ]
    return [Event(f"scheduler_down:{beat.isoformat()}", title, lines, "critical")]


def register_kinds() -> None:
    register(
        "scheduler_down",
        "No active scheduler for N minutes",
        scheduler_down,
        "threshold = minutes without a scheduler heartbeat.",
    )
