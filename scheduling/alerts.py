"""Alert rule kind of the scheduling app: no active scheduler for N minutes.

The scheduler that is down cannot send this itself: a standby scheduler does (its alert job
runs wherever jobs run), and for a fleet with a single scheduler, `manage.py send_alerts
--kind scheduler_down` from cron or a systemd timer is the watchdog.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from scheduling.models import SchedulerLease
from whalefall.alerts.kinds import Event, register
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
                gettext("No scheduler has ever run"),
                [gettext("Start `manage.py runscheduler`.")],
                "critical",
            )
        ]
    owner = f"{lease.host} (pid {lease.pid})" if lease else "?"
    down = int((now - beat).total_seconds() // 60)
    title = ngettext(
        "No active scheduler for %(minutes)d minute", "No active scheduler for %(minutes)d minutes", down
    ) % {"minutes": down}
    lines = [
        gettext("last heartbeat %(time)s from %(owner)s")
        % {"time": f"{local_datetime(beat)} ({settings.TIME_ZONE})", "owner": owner},
        gettext("Scheduled syncs are not running."),
    ]
    return [Event(f"scheduler_down:{beat.isoformat()}", title, lines, "critical")]


def register_kinds() -> None:
    register(
        "scheduler_down",
        _("No active scheduler for N minutes"),
        scheduler_down,
        _("threshold = minutes without a scheduler heartbeat."),
    )
