"""The `runscheduler` process: lease, APScheduler, admin commands and run requests.

    loop every second (sleeping in short slices, so a stop request is seen at once):
        standby: try to claim the lease (conditional UPDATE); say once that we wait
        active:  renew the lease (heartbeat), apply pending SchedulerCommands,
                 claim pending TaskRequests and submit them to the executor
    on SIGTERM/SIGINT the handler only sets a flag; the loop then stops taking work (APScheduler
    paused, no more requests claimed), KEEPS renewing the lease while running jobs finish, gives
    them the grace period (WHALEFALL_SCHEDULER_STOP_GRACE), then cancels them at their next safe
    point (their sessions end `cancelled`), and only then releases the lease: a standby never
    runs jobs while this process still does. A second signal exits at once.

Each step is a small method that tests call directly.
"""

from __future__ import annotations

import inspect
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

from apscheduler import events
from apscheduler.events import JobSubmissionEvent
from apscheduler.executors.base import MaxInstancesReachedError
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from django.conf import settings
from django.db import DatabaseError, connection
from django.db import close_old_connections as _close_old_connections
from django.utils import timezone

from scheduling import registry
from scheduling.config import TaskSpec, load_default_tasks
from scheduling.functions import resolve, unavailable_reason
from scheduling.jobstore import ADHOC_PREFIX, WhaleFallJobStore
from scheduling.models import CommandStatus, JobConfig, SchedulerCommand, SchedulerLease
from scheduling.runner import run_job, running_jobs
from whalefall.logging import get_logger
from whalefall.models import TaskRequest, TaskRequestStatus
from whalefall.sync import cancel
from whalefall.sync.conf import scheduler_stop_grace
from whalefall.sync.process import my_start_time
from whalefall.sync.recovery import recover_interrupted_sessions

logger = get_logger(__name__)


def close_old_connections() -> None:
    """Drop a stale connection between rounds (not inside a transaction, e.g. a test's)."""
    if not connection.in_atomic_block:
        _close_old_connections()


JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
EXECUTOR_THREADS = 5


class WhaleFallScheduler(BackgroundScheduler):
    """BackgroundScheduler whose own thread drops its database connection after each round."""

    def _process_jobs(self) -> float | None:
        try:
            return super()._process_jobs()
        finally:
            close_old_connections()

    def _main_loop(self) -> None:
        try:
            super()._main_loop()
        finally:
            if not connection.in_atomic_block:
                connection.close()


def build_scheduler() -> BackgroundScheduler:
    """APScheduler with the Django job store (jobs survive restarts), 5 threads, the project time zone."""
    return WhaleFallScheduler(
        jobstores={"default": WhaleFallJobStore()},
        executors={"default": ThreadPoolExecutor(EXECUTOR_THREADS)},
        job_defaults=JOB_DEFAULTS,
        timezone=settings.TIME_ZONE,
    )


class SchedulerService:
    def __init__(
        self,
        *,
        specs: list[TaskSpec] | None = None,
        lease_seconds: int | None = None,
        out: Callable[[str], None] = print,
        tick: float = 1.0,
        stop_grace: float | None = None,
    ) -> None:
        self.specs = specs if specs is not None else load_default_tasks().specs
        self.lease_seconds = lease_seconds or settings.WHALEFALL_SCHEDULER_LEASE_SECONDS
        self.out, self.tick = out, tick
        self.stop_grace = scheduler_stop_grace() if stop_grace is None else stop_grace
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.owner = f"{self.host}-{self.pid}"
        self.token = uuid.uuid4().hex
        self.scheduler: BackgroundScheduler | None = None
        self.stop_requested = False
        self._standby_said = False
        self._renewed_at = 0.0

    # --- process life -------------------------------------------------------------------------
    def request_stop(self, *_: Any) -> None:
        """Signal handler: only set a flag; the loop does the rest. A second signal exits now."""
        if self.stop_requested and _:
            self.out("Second stop signal: exiting now.")
            os._exit(1)
        self.stop_requested = True

    def run(self) -> None:
        while not self.stop_requested:
            self.step()
            self._sleep(self.tick)
        self.shutdown()

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop_requested and time.monotonic() < deadline:
            time.sleep(min(0.1, max(deadline - time.monotonic(), 0)))

    @property
    def active(self) -> bool:
        return self.scheduler is not None

    def step(self) -> None:
        """One round of the loop; database hiccups are logged and retried next round."""
        close_old_connections()
        try:
            if not self.active:
                self.try_activate()
            elif self.heartbeat():
                self.apply_commands()
                self.process_requests()
        except DatabaseError:
            logger.exception("scheduler_step_database_error")
        except Exception:
            logger.exception("scheduler_step_failed")

    # --- lease --------------------------------------------------------------------------------
    def try_activate(self) -> bool:
        claimed = SchedulerLease.claim(
            owner=self.owner,
            token=self.token,
            host=self.host,
            pid=self.pid,
            seconds=self.lease_seconds,
            started_at=my_start_time(),
        )
        if not claimed:
            if not self._standby_said:
                lease = SchedulerLease.current()
                holder = (
                    f"{lease.owner}, last heartbeat {timezone.localtime(lease.heartbeat_at):%H:%M:%S}"
                    if lease and lease.heartbeat_at
                    else "another process"
                )
                self.out(f"Standby: the scheduler lease is held by {holder}; taking over if it expires.")
                logger.info("scheduler_standby", holder=lease.owner if lease else "")
                self._standby_said = True
            return False
        self._renewed_at = time.monotonic()
        self.activate()
        return True

    def heartbeat(self, *, stopping: bool = False) -> bool:
        """Renew every third of the lease; on loss stop scheduling at once and go standby."""
        if time.monotonic() - self._renewed_at < self.lease_seconds / 3:
            return True
        if SchedulerLease.renew(token=self.token, seconds=self.lease_seconds):
            self._renewed_at = time.monotonic()
            return True
        if stopping:
            logger.error("scheduler_lease_lost", owner=self.owner)
            return False
        self.out("Lost the scheduler lease; stopping jobs and going back to standby.")
        logger.error("scheduler_lease_lost", owner=self.owner)
        self._stop_scheduler(wait=False)
        self._standby_said = False
        return False

    # --- activation ---------------------------------------------------------------------------
    def activate(self) -> None:
        recovered = recover_interrupted_sessions()
        orphaned = (
            TaskRequest.objects.filter(status=TaskRequestStatus.RUNNING)
            .exclude(claimed_by=self.claim_label)
            .update(
                status=TaskRequestStatus.FAILED,
                error="interrupted: the scheduler running it stopped",
                finished_at=timezone.now(),
            )
        )
        scheduler = build_scheduler()
        scheduler.add_listener(
            self._log_event,
            events.EVENT_JOB_EXECUTED
            | events.EVENT_JOB_ERROR
            | events.EVENT_JOB_MISSED
            | events.EVENT_JOB_MAX_INSTANCES,
        )
        scheduler.start(paused=True)  # nothing fires before the jobs match their configs
        try:
            created = registry.sync_defaults(self.specs)
            # Only commands that already existed are covered by reconciling from the stored
            # configs; one saved while we reconcile stays pending for the main loop.
            covered = list(
                SchedulerCommand.objects.filter(status=CommandStatus.PENDING).values_list("pk", flat=True)
            )
            states = registry.reconcile_all(scheduler)
            SchedulerCommand.objects.filter(pk__in=covered, status=CommandStatus.PENDING).update(
                status=CommandStatus.APPLIED,
                applied_by=self.owner,
                applied_at=timezone.now(),
                message="applied at start",
            )
        except BaseException:
            scheduler.shutdown(wait=False)  # the lease is still ours: the next round tries again
            raise
        scheduler.resume()
        self.scheduler = scheduler
        scheduled = sorted(j for j, s in states.items() if s == "scheduled")
        self.out(
            f"Active: scheduler {self.owner} runs {len(scheduled)} job(s): {', '.join(scheduled) or '-'}"
        )
        for job_id, state in sorted(states.items()):
            if state not in ("scheduled", "paused", "disabled"):
                reason = JobConfig.objects.get(pk=job_id).unavailable_reason or "invalid trigger"
                self.out(f"Warning: job {job_id} is {state} and not scheduled ({reason})")
        logger.info(
            "scheduler_started",
            owner=self.owner,
            jobs_added=created,
            jobs=states,
            sessions_recovered=recovered,
            requests_interrupted=orphaned,
        )

    @property
    def claim_label(self) -> str:
        return f"{self.owner}/{self.token[:8]}"

    def _stop_scheduler(self, *, wait: bool) -> None:
        if self.scheduler is not None:
            if self.scheduler.running:
                self.scheduler.shutdown(wait=wait)
            self.scheduler = None

    def shutdown(self) -> None:
        """The bounded stop: no new work, lease kept while jobs finish, grace, cancel, release."""
        was_active = self.active
        if was_active:
            assert self.scheduler is not None
            if self.scheduler.running:
                self.scheduler.pause()  # no scheduled job starts from now on
            self._drain()
        self._stop_scheduler(wait=False)
        close_old_connections()
        if was_active:
            SchedulerLease.release(token=self.token)
        logger.info("scheduler_stopped", owner=self.owner, was_active=was_active)
        self.out("Scheduler stopped.")

    def _drain(self) -> None:
        """Wait for running jobs, renewing the lease: up to the grace period, then cancel them at
        their next safe point and wait for that (they finish the instance in progress)."""
        jobs = running_jobs()
        if not jobs:
            return
        self.out(
            f"Stopping: waiting up to {self.stop_grace:g} s for {', '.join(jobs)} (again to exit now)..."
        )
        logger.info("scheduler_stopping", jobs=jobs, grace=self.stop_grace)
        if self._wait_for_jobs(time.monotonic() + self.stop_grace):
            return
        jobs = running_jobs()
        self.out(f"Grace period over: cancelling {', '.join(jobs)} at the next safe point.")
        logger.warning("scheduler_stop_cancelling", jobs=jobs, grace=self.stop_grace)
        cancel.request_cancel(
            f"cancelled: the scheduler stopped (grace period of {self.stop_grace:g} s over)"
        )
        if not self._wait_for_jobs(None):
            logger.error("scheduler_stop_jobs_left", jobs=running_jobs())

    def _wait_for_jobs(self, deadline: float | None) -> bool:
        """True once no job runs; False at the deadline. The lease is renewed meanwhile."""
        while running_jobs():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            try:
                self.heartbeat(stopping=True)
            except DatabaseError:
                logger.exception("scheduler_step_database_error")
            time.sleep(0.2)
        return True

    def _log_event(self, event: Any) -> None:
        names = {
            events.EVENT_JOB_EXECUTED: "scheduler_job_executed",
            events.EVENT_JOB_ERROR: "scheduler_job_error",
            events.EVENT_JOB_MISSED: "scheduler_job_missed",
            events.EVENT_JOB_MAX_INSTANCES: "scheduler_job_max_instances",
        }
        log = logger.warning if event.code != events.EVENT_JOB_EXECUTED else logger.info
        log(names.get(event.code, "scheduler_job_event"), job_id=event.job_id)

    # --- admin hand-offs ----------------------------------------------------------------------
    def apply_commands(self, limit: int = 50) -> int:
        """Apply pending admin changes to the in-memory scheduler; returns how many."""
        applied = 0
        for command in SchedulerCommand.objects.filter(status=CommandStatus.PENDING)[:limit]:
            claimed = SchedulerCommand.objects.filter(pk=command.pk, status=CommandStatus.PENDING).update(
                status=CommandStatus.APPLIED, applied_by=self.owner, applied_at=timezone.now()
            )
            if not claimed:
                continue
            try:
                if command.action == "reload" or not command.job_id:
                    result = str(registry.reconcile_all(self.scheduler))
                else:
                    result = registry.reconcile_job(self.scheduler, command.job_id)
            except Exception as exc:
                logger.exception("scheduler_command_failed", action=command.action, job_id=command.job_id)
                SchedulerCommand.objects.filter(pk=command.pk).update(
                    status=CommandStatus.FAILED, message=str(exc)
                )
                continue
            SchedulerCommand.objects.filter(pk=command.pk).update(message=result[:2000])
            logger.info(
                "scheduler_command_applied", action=command.action, job_id=command.job_id, result=result
            )
            applied += 1
        return applied

    def process_requests(self, limit: int = 20) -> int:
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
                self._finish(request, TaskRequestStatus.FAILED, f"could not start: {exc}")
        return submitted

    def _finish(self, request: TaskRequest, status: str, error: str) -> int:
        TaskRequest.objects.filter(pk=request.pk).update(
            status=status, error=error, finished_at=timezone.now()
        )
        logger.warning("task_request_not_run", request_id=request.pk, status=status, error=error)
        return 0

    def _submit(self, request: TaskRequest) -> int:
        config = JobConfig.objects.filter(pk=request.job_id).first() if request.job_id else None
        if request.job_id and config is None:
            return self._finish(request, TaskRequestStatus.FAILED, f"unknown job {request.job_id!r}")
        task = config.function if config else request.task
        reason = unavailable_reason(task)
        if reason:
            return self._finish(request, TaskRequestStatus.FAILED, f"task {task} is unavailable: {reason}")
        task_kwargs = {**(config.kwargs if config else {}), **request.kwargs}
        task_kwargs.update(_asked_by(task, request))
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
            return self._finish(request, TaskRequestStatus.REFUSED, message)
        self.scheduler._dispatch_event(
            JobSubmissionEvent(events.EVENT_JOB_SUBMITTED, job.id, "default", [now])
        )
        logger.info("task_request_submitted_to_executor", request_id=request.pk, job_id=job.id, task=task)
        return 1


def _asked_by(task: str, request: TaskRequest) -> dict[str, str]:
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
