"""The `runscheduler` main loop and its bounded stop.

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

import os
import time
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from django.conf import settings
from django.db import DatabaseError
from django.utils.translation import gettext as _

from scheduling.config import TaskSpec, load_default_tasks
from scheduling.job_runner import running_jobs
from scheduling.service import commands, reconcile
from scheduling.service.engine import build_scheduler, close_old_connections
from scheduling.service.leasekeeper import LeaseKeeper
from whalefall.structured_logging import get_logger
from whalefall.sync import cancel
from whalefall.sync.conf import scheduler_stop_grace

logger = get_logger(__name__)


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
        self.lease = LeaseKeeper(self.lease_seconds, out)
        self.scheduler: BaseScheduler | None = None
        self.requests: commands.RunRequests | None = None
        self.stop_requested = False

    # --- who we are ---------------------------------------------------------------------------
    @property
    def owner(self) -> str:
        return self.lease.holder.owner

    @property
    def token(self) -> str:
        return self.lease.holder.token

    @property
    def host(self) -> str:
        return self.lease.holder.host

    @property
    def pid(self) -> int:
        return self.lease.holder.pid

    @property
    def claim_label(self) -> str:
        return f"{self.owner}/{self.token[:8]}"

    # --- process life -------------------------------------------------------------------------
    def request_stop(self, *signal_args: Any) -> None:
        """Signal handler: only set a flag; the loop does the rest. A second signal exits now."""
        if self.stop_requested and signal_args:
            self.out(_("Second stop signal: exiting now."))
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
    def handoff_timeout(self) -> float:
        """How long one step waits for the scheduler's thread to take a run-now request: short
        enough that the lease is renewed in time."""
        return min(10.0, max(1.0, self.lease_seconds / 3))

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
        if not self.lease.claim():
            return False
        self.activate()
        return True

    def heartbeat(self, *, stopping: bool = False) -> bool:
        """Renew the lease when due; on loss stop scheduling at once and go standby."""
        if self.lease.renew():
            return True
        if not stopping:
            self.out(_("Lost the scheduler lease; stopping jobs and going back to standby."))
            self._stop_scheduler(wait=False)
        return False

    # --- activation ---------------------------------------------------------------------------
    def activate(self) -> None:
        recovered = reconcile.recover(self.claim_label)
        scheduler = build_scheduler()
        scheduler.start(paused=True)  # nothing fires before the jobs match their configs
        try:
            created, states = reconcile.start_jobs(scheduler, self.specs, self.owner)
        except BaseException:
            scheduler.shutdown(wait=False)  # the lease is still ours: the next round tries again
            raise
        scheduler.resume()
        self.scheduler = scheduler
        self.requests = commands.RunRequests(scheduler, self.claim_label, self.handoff_timeout)
        reconcile.report(self.owner, states, self.out)
        logger.info(
            "scheduler_started",
            owner=self.owner,
            jobs_added=created,
            jobs=states,
            sessions_recovered=recovered.sessions,
            requests_interrupted=recovered.requests,
        )

    def _stop_scheduler(self, *, wait: bool) -> None:
        if self.scheduler is not None:
            if self.requests is not None:
                try:
                    self.requests.abandon()
                except DatabaseError:
                    logger.exception("scheduler_step_database_error")
            if self.scheduler.running:
                self.scheduler.shutdown(wait=wait)
            self.scheduler = None
            self.requests = None

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
            self.lease.release()
        logger.info("scheduler_stopped", owner=self.owner, was_active=was_active)
        self.out(_("Scheduler stopped."))

    def _drain(self) -> None:
        """Wait for running jobs, renewing the lease: up to the grace period, then cancel them at
        their next safe point and wait for that (they finish the instance in progress)."""
        jobs = running_jobs()
        if not jobs:
            return
        self.out(
            _("Stopping: waiting up to %(grace)s s for %(jobs)s (again to exit now)...")
            % {"grace": f"{self.stop_grace:g}", "jobs": ", ".join(jobs)}
        )
        logger.info("scheduler_stopping", jobs=jobs, grace=self.stop_grace)
        if self._wait_for_jobs(time.monotonic() + self.stop_grace):
            return
        jobs = running_jobs()
        self.out(
            _("Grace period over: cancelling %(jobs)s at the next safe point.") % {"jobs": ", ".join(jobs)}
        )
        logger.warning("scheduler_stop_cancelling", jobs=jobs, grace=self.stop_grace)
        cancel.request_cancel(
            _("cancelled: the scheduler stopped (grace period of %(grace)s s over)")
            % {"grace": f"{self.stop_grace:g}"}
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

    # --- admin hand-offs ----------------------------------------------------------------------
    def apply_commands(self, limit: int = 50) -> int:
        """Apply pending admin changes to the in-memory scheduler; returns how many."""
        assert self.scheduler is not None
        return commands.apply_commands(self.scheduler, self.owner, limit)

    def process_requests(self, limit: int = 20) -> int:
        """Claim pending run requests and hand them to the executor; returns how many started."""
        assert self.requests is not None
        return self.requests.process(limit)
