"""django-apscheduler's job store, with executions of one-off requests kept out of its tables."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django_apscheduler.jobstores import DjangoJobStore

ADHOC_PREFIX = "request-"


class WhaleFallJobStore(DjangoJobStore):
    """DjangoJobStore; one-off TaskRequests (no stored job) are recorded on the request instead."""

    @classmethod
    def handle_submission_event(cls, event: Any) -> int | None:
        return None if event.job_id.startswith(ADHOC_PREFIX) else super().handle_submission_event(event)

    @classmethod
    def handle_execution_event(cls, event: Any) -> int | None:
        return None if event.job_id.startswith(ADHOC_PREFIX) else super().handle_execution_event(event)

    @classmethod
    def handle_error_event(cls, event: Any) -> int | None:
        return None if event.job_id.startswith(ADHOC_PREFIX) else super().handle_error_event(event)

    def shutdown(self) -> None:
        # Closing inside an atomic block (a test transaction) would break it; nothing to close then.
        if not connection.in_atomic_block:
            connection.close()
