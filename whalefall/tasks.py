"""Core tasks, kept thin: the work lives in the modules they call. Declared in `TASKS`."""

from __future__ import annotations

from django.utils.translation import gettext_noop

from whalefall.retention import run_cleanups
from whalefall.structured_logging import get_logger
from whalefall.sync.locks import cleanup_expired_locks
from whalefall.task_registry import ScheduledTask

logger = get_logger(__name__)


def cleanup_history() -> dict[str, int]:
    """Delete sessions, executions and change logs older than their retention settings."""
    return run_cleanups()


def cleanup_expired_sync_locks() -> dict[str, int]:
    """Remove sync locks whose holder stopped renewing them (scheduled every 5 minutes)."""
    return {"deleted": cleanup_expired_locks()}


def send_alerts() -> dict[str, int]:
    """Evaluate the enabled alert rules and deliver what is due (every minute)."""
    from whalefall.alerts.delivery import send_alerts as run

    return run()


TASKS = (
    ScheduledTask(
        name="cleanup_history",
        function=cleanup_history,
        label=gettext_noop("History cleanup"),
        description=gettext_noop(
            "Deletes sessions, job executions and change logs older than the retention settings."
        ),
        job_id="cleanup_history_weekly",
        trigger_type="cron",
        trigger_params={"day_of_week": "sun", "hour": 2, "minute": 30},
    ),
    ScheduledTask(
        name="cleanup_expired_sync_locks",
        function=cleanup_expired_sync_locks,
        label=gettext_noop("Expired sync-lock cleanup"),
        description=gettext_noop("Removes sync locks whose holder stopped renewing them."),
        job_id="cleanup_expired_sync_locks_every_5min",
        trigger_type="interval",
        trigger_params={"minutes": 5},
    ),
    ScheduledTask(
        name="send_alerts",
        function=send_alerts,
        label=gettext_noop("Alerts"),
        description=gettext_noop(
            "Evaluates the alert rules and delivers pending alerts (e-mail, webhooks), with retries."
        ),
        job_id="send_alerts_every_minute",
        trigger_type="interval",
        trigger_params={"minutes": 1},
    ),
)
