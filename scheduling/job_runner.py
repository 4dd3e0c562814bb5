"""The one function every stored job points at: `run_job(task_path, job_id, ...)`.

Jobs in the job store reference this module-level function with the task's dotted path as an
argument, so a task module that is missing never breaks unpickling of the whole store; it fails
that one run with a clear error instead. The wrapper closes stale connections around the job,
logs it, and records the outcome on the job and on the TaskRequest that asked for it (with the
session it produced: a run that met the lock leaves a `skipped` session naming the holder).
"""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from typing import Any

from django.utils import timezone
from django_apscheduler.util import close_old_connections

from scheduling.functions import resolve
from whalefall.models import SyncSession, TaskRequest, TaskRequestStatus
from whalefall.structured_logging import bind_context, get_logger, scrub
from whalefall.sync.session_runner import conflicts_recorded_as_skipped

logger = get_logger(__name__)

# Jobs running in this process right now (the scheduler's bounded stop waits for them).
_running: dict[str, int] = {}
_running_lock = threading.Lock()


def running_jobs() -> list[str]:
    with _running_lock:
        return sorted(k for k, v in _running.items() if v)


# Session outcome -> what the request that asked for it ended as.
REQUEST_STATUS = {
    "skipped": TaskRequestStatus.SKIPPED,
    "cancelled": TaskRequestStatus.CANCELLED,
    "failed": TaskRequestStatus.FAILED,
    "interrupted": TaskRequestStatus.FAILED,
}


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
    key = job_id or f"request-{request_id}"
    with _running_lock:
        _running[key] = _running.get(key, 0) + 1
    try:
        with (
            bind_context(job_id=job_id or None, request_id=request_id),
            conflicts_recorded_as_skipped() if request_id is not None else nullcontext(),
        ):
            logger.info("scheduler_job_started", task=task_path)
            try:
                result = resolve(task_path)(**(task_kwargs or {}))
            except BaseException as exc:
                _finish_request(
                    request_id, TaskRequestStatus.FAILED, error=scrub(f"{type(exc).__name__}: {exc}")
                )
                logger.exception(
                    "scheduler_job_failed", task=task_path, duration=round(time.monotonic() - started, 3)
                )
                raise
            result = result if isinstance(result, dict) else {"result": result}
            session = _session(result)
            _record_result(job_id, result, session)
            _finish_request(
                request_id,
                REQUEST_STATUS.get(str(result.get("status")), TaskRequestStatus.DONE),
                result=result,
                error=str(result.get("error") or "") if result.get("status") in REQUEST_STATUS else "",
                session=session,
            )
            logger.info(
                "scheduler_job_finished",
                task=task_path,
                status=result.get("status"),
                session_id=result.get("session_id"),
                duration=round(time.monotonic() - started, 3),
            )
            return result
    finally:
        with _running_lock:
            _running[key] -= 1
            if not _running[key]:
                del _running[key]


def _session(result: dict[str, Any]) -> SyncSession | None:
    if not result.get("session_id"):
        return None
    return SyncSession.objects.filter(session_id=result["session_id"]).first()


def _record_result(job_id: str, result: dict[str, Any], session: SyncSession | None) -> None:
    from scheduling.models import JobConfig

    if not job_id:
        return
    JobConfig.objects.filter(pk=job_id).update(
        last_result=_jsonable(result), last_session=session, last_finished_at=timezone.now()
    )


def _finish_request(
    request_id: int | None,
    status: str,
    *,
    result: Any = None,
    error: str = "",
    session: SyncSession | None = None,
) -> None:
    """Write the outcome, only on the request this process claimed and still runs (a request
    another scheduler already closed is not overwritten)."""
    if request_id is None:
        return
    TaskRequest.objects.filter(pk=request_id, status=TaskRequestStatus.RUNNING).update(
        status=status,
        result=_jsonable(result or {}),
        error=error[:4000],
        finished_at=timezone.now(),
        session=session,
    )


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))
