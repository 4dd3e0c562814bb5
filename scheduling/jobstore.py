"""django-apscheduler's job store, with executions of one-off requests kept out of its tables."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django_apscheduler.jobstores import DjangoJobStore

ADHOC_PREFIX = "request-"

# A job that returned normally is "Executed" to APScheduler even when its session did not
# complete; the execution row shows the session's outcome instead.
SESSION_EXECUTION_STATUS = {
    "partial": "Partial",
    "failed": "Error!",
    "skipped": "Skipped",
    "cancelled": "Cancelled",
    "interrupted": "Interrupted",
}


def _close_connection() -> None:
    """Event handlers run in executor threads: do not leave a connection open in them."""
    if not connection.in_atomic_block:
        connection.close()


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
    """DjangoJobStore; one-off TaskRequests (no stored job) are recorded on the request instead."""

    @classmethod
    def handle_submission_event(cls, event: Any) -> int | None:
        if event.job_id.startswith(ADHOC_PREFIX):
            return None
        try:
            return super().handle_submission_event(event)
        finally:
            _close_connection()

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
            _close_connection()

    @classmethod
    def handle_error_event(cls, event: Any) -> int | None:
        if event.job_id.startswith(ADHOC_PREFIX):
            return None
        try:
            return super().handle_error_event(event)
        finally:
            _close_connection()

    def shutdown(self) -> None:
        # Closing inside an atomic block (a test transaction) would break it; nothing to close then.
        if not connection.in_atomic_block:
            connection.close()
