"""What the admin asks of the running scheduler: job changes (SchedulerCommand) and run-now
requests (TaskRequest), each claimed by a conditional UPDATE so only one scheduler acts on it."""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass, field

from apscheduler import events
from apscheduler.events import JobSubmissionEvent
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.date import DateTrigger
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from scheduling import job_configs
from scheduling.functions import resolve, unavailable_reason
from scheduling.job_runner import run_job
from scheduling.jobstore import ADHOC_PREFIX, RUN_NOW_STORE, close_thread_connection
from scheduling.models import CommandStatus, JobConfig, SchedulerCommand
from scheduling.service.engine import JOB_DEFAULTS
from whalefall.models import TaskRequest, TaskRequestStatus
from whalefall.structured_logging import get_logger

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
                result = str(job_configs.reconcile_all(scheduler))
            else:
                result = job_configs.reconcile_job(scheduler, command.job_id)
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


HANDED_OVER = events.EVENT_JOB_SUBMITTED | events.EVENT_JOB_MAX_INSTANCES
NOT_STARTED = gettext_lazy("not started: the scheduler stopped before an executor took it")


@dataclass(eq=False)
class Handoff:
    """A claimed request on its way to the executor: set once the scheduler took or refused it."""

    request_id: int
    job_id: str
    task: str
    submitted: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class RunRequests:
    """Run-now requests, run by the scheduler that claimed them, through APScheduler's public API.

    Each becomes a one-off job in a memory job store of its own, under the stored job's id: the
    executor then counts it with that job's scheduled runs (max_instances=1 refuses a run-now while
    the job runs, and a scheduled run while a run-now does), and its execution is recorded like a
    scheduled one. The scheduler's thread hands it to the executor at once; `process` waits for
    that (bounded), so a refusal is on the request when `process` returns.
    """

    def __init__(self, scheduler: BaseScheduler, claim_label: str, handoff_timeout: float) -> None:
        self.scheduler, self.claim_label, self.handoff_timeout = scheduler, claim_label, handoff_timeout
        self._waiting: dict[str, list[Handoff]] = {}
        self._lock = threading.Lock()
        scheduler.add_listener(self._handed_over, HANDED_OVER)

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
                handoff = self._submit(request)
            except Exception as exc:
                logger.exception("task_request_submit_failed", request_id=request.pk)
                _finish(
                    request.pk, TaskRequestStatus.FAILED, _("could not start: %(error)s") % {"error": exc}
                )
                continue
            if handoff is None:
                continue
            if not handoff.done.wait(self.handoff_timeout):
                # The scheduler's thread is slow (its database?): it records this one when it gets
                # to it; the other requests wait for the next round rather than stall this one.
                logger.warning("task_request_handoff_slow", request_id=request.pk, job_id=handoff.job_id)
                break
            submitted += int(handoff.submitted)
        return submitted

    def _submit(self, request: TaskRequest) -> Handoff | None:
        """Add the request's one-off job; None when it ended at once (failed, refused)."""
        config = JobConfig.objects.filter(pk=request.job_id).first() if request.job_id else None
        if request.job_id and config is None:
            _finish(
                request.pk, TaskRequestStatus.FAILED, _("unknown job %(job)s") % {"job": repr(request.job_id)}
            )
            return None
        task = config.function if config else request.task
        reason = unavailable_reason(task)
        if reason:
            _finish(
                request.pk,
                TaskRequestStatus.FAILED,
                _("task %(path)s is unavailable: %(reason)s") % {"path": task, "reason": reason},
            )
            return None
        task_kwargs = {**(config.kwargs if config else {}), **request.kwargs}
        task_kwargs.update(asked_by(task, request))
        handoff = Handoff(request.pk, request.job_id or f"{ADHOC_PREFIX}{request.pk}", task)
        with self._lock:
            self._waiting.setdefault(handoff.job_id, []).append(handoff)
        try:
            self.scheduler.add_job(
                run_job,
                trigger=DateTrigger(run_date=timezone.now()),
                id=handoff.job_id,
                jobstore=RUN_NOW_STORE,
                executor="default",
                args=(task, request.job_id),
                kwargs={"task_kwargs": task_kwargs, "request_id": request.pk},
                name=config.name if config else task,
                coalesce=True,
                max_instances=JOB_DEFAULTS["max_instances"],
                misfire_grace_time=None,  # asked for now: runs however late the scheduler gets to it
            )
        except ConflictingIdError:  # a run-now of this job is about to start
            self._forget(handoff)
            _finish(request.pk, TaskRequestStatus.REFUSED, _already_running(handoff.job_id))
            return None
        except BaseException:
            self._forget(handoff)
            raise
        return handoff

    def abandon(self) -> int:
        """The scheduler stops: requests still waiting for the executor will not run; end them
        `failed` rather than leave them `running`. Returns how many."""
        abandoned = []
        for job in self.scheduler.get_jobs(jobstore=RUN_NOW_STORE):
            try:
                self.scheduler.remove_job(job.id, jobstore=RUN_NOW_STORE)
            except JobLookupError:
                continue  # the executor took it meanwhile: it records its own outcome
            abandoned.append(job.kwargs["request_id"])
        if not abandoned:
            return 0
        logger.warning("task_requests_abandoned", request_ids=abandoned)
        return TaskRequest.objects.filter(pk__in=abandoned, status=TaskRequestStatus.RUNNING).update(
            status=TaskRequestStatus.FAILED, error=str(NOT_STARTED), finished_at=timezone.now()
        )

    def _forget(self, handoff: Handoff) -> None:
        with self._lock:
            queue = self._waiting.get(handoff.job_id, [])
            if handoff in queue:
                queue.remove(handoff)
            if not queue:
                self._waiting.pop(handoff.job_id, None)

    def _handed_over(self, event: JobSubmissionEvent) -> None:
        """Listener, in the scheduler's thread: the executor took a run-now job, or refused it
        because the job already runs."""
        if event.jobstore != RUN_NOW_STORE:
            return
        with self._lock:
            queue = self._waiting.get(event.job_id)
            handoff = queue.pop(0) if queue else None
            if queue == []:
                del self._waiting[event.job_id]
        if handoff is None:
            return
        try:
            if event.code == events.EVENT_JOB_MAX_INSTANCES:
                _finish(handoff.request_id, TaskRequestStatus.REFUSED, _already_running(handoff.job_id))
            else:
                handoff.submitted = True
                logger.info(
                    "task_request_submitted_to_executor",
                    request_id=handoff.request_id,
                    job_id=handoff.job_id,
                    task=handoff.task,
                )
        finally:
            close_thread_connection()
            handoff.done.set()


def _already_running(job_id: str) -> str:
    return _("job %(job)s is already running (max_instances=1); run it again when it has finished") % {
        "job": job_id
    }


def _finish(request_id: int, status: str, error: str) -> None:
    TaskRequest.objects.filter(pk=request_id).update(status=status, error=error, finished_at=timezone.now())
    logger.warning("task_request_not_run", request_id=request_id, status=status, error=error)


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
