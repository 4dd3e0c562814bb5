"""The one function every stored job points at: `run_job(task_path, job_id, ...)`.

Jobs in the job store reference this module-level function with the task's dotted path as an
argument, so a task module that is missing never breaks unpickling of the whole store; it fails
that one run with a clear error instead. The wrapper closes stale connections around the job,
logs it, and records the outcome on the job and on the TaskRequest that asked for it.
"""

from __future__ import annotations

import time
from typing import Any

from django.utils import timezone
from django_apscheduler.util import close_old_connections

from scheduling.functions import resolve
from whalefall.logging import bind_context, get_logger, scrub
from whalefall.models import SyncSession, TaskRequest, TaskRequestStatus

logger = get_logger(__name__)


@close_old_connections
def run_job(
    task_path: str,
    job_id: str = "",
    *,
    task_kwargs: dict[str, Any] | None = None,
    request_id: int | None = None,
) -> Any:
    """Run the task; re-raise its error so that APScheduler records it with the traceback."""
    started = time.monotonic()
    with bind_context(job_id=job_id or None, request_id=request_id):
        logger.info("scheduler_job_started", task=task_path)
        try:
            result = resolve(task_path)(**(task_kwargs or {}))
        except BaseException as exc:
            _finish_request(request_id, TaskRequestStatus.FAILED, error=scrub(f"{type(exc).__name__}: {exc}"))
            logger.exception(
                "scheduler_job_failed", task=task_path, duration=round(time.monotonic() - started, 3)
            )
            raise
        result = result if isinstance(result, dict) else {"result": result}
        _record_result(job_id, result)
        _finish_request(request_id, TaskRequestStatus.DONE, result=result)
        logger.info(
            "scheduler_job_finished",
            task=task_path,
            status=result.get("status"),
            session_id=result.get("session_id"),
            duration=round(time.monotonic() - started, 3),
        )
        return result


def _record_result(job_id: str, result: dict[str, Any]) -> None:
    from scheduling.models import JobConfig

    if not job_id:
        return
    session = None
    if result.get("session_id"):
        session = SyncSession.objects.filter(session_id=result["session_id"]).first()
    JobConfig.objects.filter(pk=job_id).update(
        last_result=_jsonable(result), last_session=session, last_finished_at=timezone.now()
    )


def _finish_request(request_id: int | None, status: str, *, result: Any = None, error: str = "") -> None:
    if request_id is None:
        return
    TaskRequest.objects.filter(pk=request_id).update(
        status=status, result=_jsonable(result or {}), error=error[:4000], finished_at=timezone.now()
    )


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))
