"""django-apscheduler's job store, with executions of one-off requests kept out of its tables."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django_apscheduler.jobstores import DjangoJobStore

ADHOC_PREFIX = "request-"


def _close_connection() -> None:
    """Event handlers run in executor threads: do not leave a connection open in them."""
    if not connection.in_atomic_block:
        connection.close()


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
            return super().handle_execution_event(event)
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
