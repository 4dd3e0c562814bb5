"""APScheduler as WhaleFall runs it: the Django job store (jobs survive restarts), a small thread
pool, the project time zone, and job events in the log."""

from __future__ import annotations

from typing import Any

from apscheduler import events
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from django.conf import settings
from django.db import close_old_connections as _close_old_connections
from django.db import connection

from scheduling.jobstore import JOBS_STORE, RUN_NOW_STORE, WhaleFallJobStore
from whalefall.structured_logging import get_logger

logger = get_logger(__name__)

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
EXECUTOR_THREADS = 5

LOGGED_EVENTS = (
    events.EVENT_JOB_EXECUTED
    | events.EVENT_JOB_ERROR
    | events.EVENT_JOB_MISSED
    | events.EVENT_JOB_MAX_INSTANCES
)
EVENT_NAMES = {
    events.EVENT_JOB_EXECUTED: "scheduler_job_executed",
    events.EVENT_JOB_ERROR: "scheduler_job_error",
    events.EVENT_JOB_MISSED: "scheduler_job_missed",
    events.EVENT_JOB_MAX_INSTANCES: "scheduler_job_max_instances",
}


def close_old_connections() -> None:
    """Drop a stale connection between rounds (not inside a transaction, e.g. a test's)."""
    if not connection.in_atomic_block:
        _close_old_connections()


def build_scheduler() -> BackgroundScheduler:
    """APScheduler with the Django job store, 5 threads, the project time zone, events logged.

    Only APScheduler's public interface is used: run-now requests wait in a memory store of their
    own (see `commands.RunRequests`), and the Django store closes the connections of the
    scheduler's thread itself.
    """
    scheduler = BackgroundScheduler(
        jobstores={JOBS_STORE: WhaleFallJobStore(), RUN_NOW_STORE: MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(EXECUTOR_THREADS)},
        job_defaults=JOB_DEFAULTS,
        timezone=settings.TIME_ZONE,
    )
    scheduler.add_listener(log_event, LOGGED_EVENTS)
    return scheduler


def log_event(event: Any) -> None:
    log = logger.warning if event.code != events.EVENT_JOB_EXECUTED else logger.info
    log(EVENT_NAMES.get(event.code, "scheduler_job_event"), job_id=event.job_id)
