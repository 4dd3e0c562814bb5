"""At activation: close what a previous scheduler left running, and make the scheduled jobs match
the database (JobConfig rows, with the YAML defaults added where missing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.base import BaseScheduler
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext, pgettext_lazy

from scheduling import job_configs
from scheduling.config import TaskSpec
from scheduling.models import CommandStatus, JobConfig, SchedulerCommand
from whalefall.models import TaskRequest, TaskRequestStatus
from whalefall.sync.recovery import recover_interrupted_sessions

ORPHANED = gettext_lazy("interrupted: the scheduler running it stopped")
# A job's state inside a sentence ("job x is unavailable and not scheduled").
_STATE_WORDS = {"unavailable": pgettext_lazy("job state", "unavailable")}


@dataclass
class Recovered:
    sessions: int
    requests: int


def recover(claim_label: str) -> Recovered:
    """Sessions of dead runs end `interrupted`; run requests another scheduler had claimed and
    never finished end `failed` (that scheduler is gone: we hold the lease)."""
    sessions = recover_interrupted_sessions()
    requests = (
        TaskRequest.objects.filter(status=TaskRequestStatus.RUNNING)
        .exclude(claimed_by=claim_label)
        .update(status=TaskRequestStatus.FAILED, error=str(ORPHANED), finished_at=timezone.now())
    )
    return Recovered(sessions, requests)


def start_jobs(
    scheduler: BaseScheduler, specs: list[TaskSpec], owner: str
) -> tuple[list[str], dict[str, str]]:
    """Add missing default jobs, then reconcile every job; returns (jobs created, state per job).

    Only admin commands that already existed are covered by reconciling from the stored configs;
    one saved while we reconcile stays pending for the main loop.
    """
    created = job_configs.sync_defaults(specs)
    covered = list(SchedulerCommand.objects.filter(status=CommandStatus.PENDING).values_list("pk", flat=True))
    states = job_configs.reconcile_all(scheduler)
    SchedulerCommand.objects.filter(pk__in=covered, status=CommandStatus.PENDING).update(
        status=CommandStatus.APPLIED,
        applied_by=owner,
        applied_at=timezone.now(),
        message=_("applied at start"),
    )
    return created, states


def report(owner: str, states: dict[str, str], out: Callable[[str], None]) -> None:
    """Say which jobs run, and warn about each one that cannot."""
    scheduled = sorted(j for j, s in states.items() if s == "scheduled")
    out(
        ngettext(
            "Active: scheduler %(owner)s runs %(count)d job: %(jobs)s",
            "Active: scheduler %(owner)s runs %(count)d jobs: %(jobs)s",
            len(scheduled),
        )
        % {"owner": owner, "count": len(scheduled), "jobs": ", ".join(scheduled) or "-"}
    )
    for job_id, state in sorted(states.items()):
        if state not in ("scheduled", "paused", "disabled"):
            reason = JobConfig.objects.get(pk=job_id).unavailable_reason or pgettext("job", "invalid trigger")
            out(
                _("Warning: job %(job)s is %(state)s and not scheduled (%(reason)s)")
                % {"job": job_id, "state": _STATE_WORDS.get(state, state), "reason": reason}
            )
