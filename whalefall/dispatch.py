"""Hand a task to the scheduler process (nothing long runs inside a web request: it would time out and hold a worker).

Which task runs a sync category is declared by the app that owns it (`whalefall.task_registry`).
"""

from __future__ import annotations

from typing import Any

from whalefall.models import TaskRequest
from whalefall.structured_logging import get_logger

logger = get_logger(__name__)


def submit(task: str, *, requested_by: str = "", job_id: str = "", **kwargs: Any) -> TaskRequest:
    """Queue `task(**kwargs)` for the running scheduler; it is picked up within seconds."""
    request = TaskRequest.objects.create(task=task, kwargs=kwargs, requested_by=requested_by, job_id=job_id)
    logger.info(
        "task_request_submitted", task=task, request_id=request.pk, job_id=job_id, requested_by=requested_by
    )
    return request
