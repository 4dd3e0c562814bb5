"""Home panel of the scheduling app: each scheduled task's last outcome and next run."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from scheduling.models import JobConfig, JobState
from whalefall.choices import SessionStatus
from whalefall.formats import local_datetime
from whalefall.home import Cell, PanelData, register_panel
from whalefall.panels import ago

OUTCOME_CSS = {
    "completed": "wf-badge wf-good",
    "partial": "wf-badge wf-warn",
    "failed": "wf-badge wf-bad",
    "skipped": "wf-badge wf-muted",
    "cancelled": "wf-badge wf-muted",
    "running": "wf-badge wf-muted",
}


def scheduled_tasks(request: HttpRequest) -> PanelData:
    """One query: jobs with their next run, last execution and last session."""
    rows = []
    for job in JobConfig.objects.with_runs().order_by("name"):
        session = job.last_session
        if session is not None:
            outcome = Cell(
                _outcome(session.status),
                reverse("admin:whalefall_syncsession_change", args=[session.pk]),
                OUTCOME_CSS.get(session.status, ""),
            )
        elif job.last_run_status:  # type: ignore[attr-defined]
            ok = job.last_run_status == "Executed"  # type: ignore[attr-defined]
            outcome = Cell(
                gettext("ran") if ok else gettext("error"),
                css="wf-badge wf-good" if ok else "wf-badge wf-bad",
            )
        else:
            outcome = Cell(gettext("not run yet"))
        next_run = job.next_run_at  # type: ignore[attr-defined]
        rows.append(
            [
                Cell(job.display_name, reverse("admin:scheduling_jobconfig_change", args=[job.pk])),
                outcome,
                Cell(ago(job.last_run_at)),  # type: ignore[attr-defined]
                Cell(local_datetime(next_run) if next_run else str(JobState(job.state).label)),
            ]
        )
    return PanelData(
        headers=[gettext("task"), gettext("last outcome"), gettext("last run"), gettext("next run")],
        rows=rows,
        empty=gettext("No scheduled task."),
    )


# A session's status as one word for a badge (the full labels explain too much for a cell).
OUTCOME_WORDS = {
    SessionStatus.RUNNING: _("running"),
    SessionStatus.COMPLETED: _("completed"),
    SessionStatus.PARTIAL: _("partial"),
    SessionStatus.FAILED: _("failed"),
    SessionStatus.CANCELLED: _("cancelled"),
    SessionStatus.SKIPPED: _("skipped"),
    SessionStatus.INTERRUPTED: _("interrupted"),
}


def _outcome(status: str) -> str:
    return str(OUTCOME_WORDS.get(status, status))  # type: ignore[call-overload]


def register_panels() -> None:
    register_panel("tasks", _("Scheduled tasks"), 40, "scheduling.view_jobconfig", scheduled_tasks)
