"""django-apscheduler's job store, with executions of one-off requests kept out of its tables, and
no database connection left open in APScheduler's own thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from apscheduler import events
from django.db import connection
from django_apscheduler.jobstores import DjangoJobStore

ADHOC_PREFIX = "request-"
# The scheduler's two job stores: the stored jobs, and run-now requests waiting for an executor
# (in memory, under the stored job's id, so the executor counts them with that job's runs).
JOBS_STORE = "default"
RUN_NOW_STORE = "run_now"

F = TypeVar("F", bound=Callable[..., Any])

# A job that returned normally is "Executed" to APScheduler even when its session did not
# complete; the execution row shows the session's outcome instead.
SESSION_EXECUTION_STATUS = {
    "partial": "Partial",
    "failed": "Error!",
    "skipped": "Skipped",
    "cancelled": "Cancelled",
    "interrupted": "Interrupted",
}


def close_thread_connection() -> None:
    """Event handlers run in the scheduler's and executors' threads: leave no connection open there."""
    if not connection.in_atomic_block:
        connection.close()


def _closing(method: F) -> F:
    """Run a store operation, then drop the connection if called from another thread than the
    one that built the store (APScheduler's own thread has no request cycle that would)."""

    @wraps(method)
    def wrapper(self: WhaleFallJobStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            if threading.get_ident() != self.built_in_thread:
                close_thread_connection()

    return wrapper  # type: ignore[return-value]


def _link_session(event: Any) -> None:
    """Remember the session a run produced, keyed like its DjangoJobExecution row."""
    from django_apscheduler.util import get_django_internal_datetime

    from scheduling.models import JobRunSession
    from whalefall.models import SyncSession

    result = event.retval if isinstance(event.retval, dict) else {}
    session = (
        SyncSession.objects.filter(session_id=result["session_id"]).first()
        if result.get("session_id")
        else None
    )
    JobRunSession.objects.update_or_create(
        job_id=event.job_id,
        run_time=get_django_internal_datetime(event.scheduled_run_time),
        defaults={"session": session, "result": json.loads(json.dumps(result, default=str))},
    )


def _follow_session_outcome(execution_id: int | None, event: Any) -> None:
    from django_apscheduler.models import DjangoJobExecution

    result = event.retval if isinstance(event.retval, dict) else {}
    status = SESSION_EXECUTION_STATUS.get(str(result.get("status", "")))
    if execution_id is None or status is None:
        return
    DjangoJobExecution.objects.filter(pk=execution_id).update(
        status=status, exception=str(result.get("error") or "")[:1000] or None
    )


class WhaleFallJobStore(DjangoJobStore):
    """DjangoJobStore; one-off TaskRequests (no stored job) are recorded on the request instead,
    and so is a run-now refused because the job runs (no "max instances" execution row).

    The scheduler's thread calls the store's operations between long sleeps: each one closes its
    connection there, so none goes stale meanwhile nor outlives the scheduler. The thread that
    built the store (the service's main loop) closes its own at each round.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.built_in_thread = threading.get_ident()

    lookup_job = _closing(DjangoJobStore.lookup_job)
    get_due_jobs = _closing(DjangoJobStore.get_due_jobs)
    get_next_run_time = _closing(DjangoJobStore.get_next_run_time)
    get_all_jobs = _closing(DjangoJobStore.get_all_jobs)
    add_job = _closing(DjangoJobStore.add_job)
    update_job = _closing(DjangoJobStore.update_job)
    remove_job = _closing(DjangoJobStore.remove_job)
    remove_all_jobs = _closing(DjangoJobStore.remove_all_jobs)

    @classmethod
    def handle_submission_event(cls, event: Any) -> int | None:
        if event.job_id.startswith(ADHOC_PREFIX):
            return None
        if event.code == events.EVENT_JOB_MAX_INSTANCES and event.jobstore == RUN_NOW_STORE:
            return None
        try:
            return super().handle_submission_event(event)
        finally:
            close_thread_connection()

    @classmethod
    def handle_execution_event(cls, event: Any) -> int | None:
        if event.job_id.startswith(ADHOC_PREFIX):
            return None
        try:
            _link_session(event)
            execution_id = super().handle_execution_event(event)
            _follow_session_outcome(execution_id, event)
            return execution_id
        finally:
            close_thread_connection()

    @classmethod
    def handle_error_event(cls, event: Any) -> int | None:
        if event.job_id.startswith(ADHOC_PREFIX):
            return None
        try:
            return super().handle_error_event(event)
        finally:
            close_thread_connection()

    def shutdown(self) -> None:
        # Closing inside an atomic block (a test transaction) would break it; nothing to close then.
        if not connection.in_atomic_block:
            connection.close()
