"""What the admin asks of the running scheduler: job changes (SchedulerCommand) and run-now
requests (TaskRequest), each claimed by a conditional UPDATE so only one scheduler acts on it."""

from __future__ import annotations

import inspect

from apscheduler import events
from apscheduler.events import JobSubmissionEvent
from apscheduler.executors.base import MaxInstancesReachedError
from apscheduler.job import Job
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.date import DateTrigger
from django.utils import timezone

from scheduling import registry
from scheduling.functions import resolve, unavailable_reason
from scheduling.jobstore import ADHOC_PREFIX
from scheduling.models import CommandStatus, JobConfig, SchedulerCommand
from scheduling.runner import run_job
from scheduling.service.engine import JOB_DEFAULTS
from whalefall.logging import get_logger
from whalefall.models import TaskRequest, TaskRequestStatus

logger = get_logger(__name__)


def apply_commands(scheduler: BaseScheduler, owner: str, limit: int = 50) -> int:
    """Apply pending admin changes to the in-memory scheduler; returns how many."""
    applied = 0
    for command in SchedulerCommand.objects.filter(status=CommandStatus.PENDING)[:limit]:
        claimed = SchedulerCommand.objects.filter(pk=command.pk, status=CommandStatus.PENDING).update(
            status=CommandStatus.APPLIED, applied_by=owner, applied_at=timezone.now()
        )
        if not claimed:
            continue
        try:
            if command.action == "reload" or not command.job_id:
                result = str(registry.reconcile_all(scheduler))
            else:
                result = registry.reconcile_job(scheduler, command.job_id)
        except Exception as exc:
            logger.exception("scheduler_command_failed", action=command.action, job_id=command.job_id)
            SchedulerCommand.objects.filter(pk=command.pk).update(
                status=CommandStatus.FAILED, message=str(exc)
            )
            continue
        SchedulerCommand.objects.filter(pk=command.pk).update(message=result[:2000])
        logger.info("scheduler_command_applied", action=command.action, job_id=command.job_id, result=result)
        applied += 1
    return applied


class RunRequests:
    """Run-now requests, handed to the scheduler's executor by the scheduler that claimed them."""

    def __init__(self, scheduler: BaseScheduler, claim_label: str) -> None:
        self.scheduler, self.claim_label = scheduler, claim_label

    def process(self, limit: int = 20) -> int:
        """Claim pending run requests (conditional UPDATE) and hand them to the executor."""
        expired = TaskRequest.objects.expire()
        if expired:
            logger.warning("task_requests_expired", count=expired)
        submitted = 0
        for request in TaskRequest.objects.pending()[:limit]:
            claimed = TaskRequest.objects.filter(pk=request.pk, status=TaskRequestStatus.PENDING).update(
                status=TaskRequestStatus.RUNNING, claimed_by=self.claim_label, started_at=timezone.now()
            )
            if not claimed:
                continue
            try:
                submitted += self._submit(request)
            except Exception as exc:
                logger.exception("task_request_submit_failed", request_id=request.pk)
                _finish(request, TaskRequestStatus.FAILED, f"could not start: {exc}")
        return submitted

    def _submit(self, request: TaskRequest) -> int:
        config = JobConfig.objects.filter(pk=request.job_id).first() if request.job_id else None
        if request.job_id and config is None:
            return _finish(request, TaskRequestStatus.FAILED, f"unknown job {request.job_id!r}")
        task = config.function if config else request.task
        reason = unavailable_reason(task)
        if reason:
            return _finish(request, TaskRequestStatus.FAILED, f"task {task} is unavailable: {reason}")
        task_kwargs = {**(config.kwargs if config else {}), **request.kwargs}
        task_kwargs.update(asked_by(task, request))
        now = timezone.now()
        job = Job(
            self.scheduler,
            id=request.job_id or f"{ADHOC_PREFIX}{request.pk}",
            func=run_job,
            args=(task, request.job_id),
            kwargs={"task_kwargs": task_kwargs, "request_id": request.pk},
            name=config.name if config else task,
            trigger=DateTrigger(run_date=now),
            executor="default",
            next_run_time=None,
            **JOB_DEFAULTS,
        )
        try:
            self.scheduler._lookup_executor("default").submit_job(job, [now])
        except MaxInstancesReachedError:
            message = f"job {job.id} is already running (max_instances=1); run it again when it has finished"
            return _finish(request, TaskRequestStatus.REFUSED, message)
        self.scheduler._dispatch_event(
            JobSubmissionEvent(events.EVENT_JOB_SUBMITTED, job.id, "default", [now])
        )
        logger.info("task_request_submitted_to_executor", request_id=request.pk, job_id=job.id, task=task)
        return 1


def _finish(request: TaskRequest, status: str, error: str) -> int:
    TaskRequest.objects.filter(pk=request.pk).update(status=status, error=error, finished_at=timezone.now())
    logger.warning("task_request_not_run", request_id=request.pk, status=status, error=error)
    return 0


def asked_by(task: str, request: TaskRequest) -> dict[str, str]:
    """A person asked for this run: record it as `manual` and by whom, where the task says so."""
    try:
        params = inspect.signature(resolve(task)).parameters
    except Exception:  # noqa: BLE001 - unavailable tasks are reported by _submit, not here
        return {}
    extra: dict[str, str] = {}
    if "trigger" in params and "trigger" not in request.kwargs:
        extra["trigger"] = "manual"
    if "created_by" in params and "created_by" not in request.kwargs and request.requested_by:
        extra["created_by"] = request.requested_by
    return extra
