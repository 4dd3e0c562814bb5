"""The scheduler's handling of admin commands and run-now requests, without a running scheduler:
which reconciliation a command asks for, and a request naming a job that does not exist."""

from __future__ import annotations

from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from scheduling.models import CommandStatus, SchedulerCommand
from scheduling.service import commands
from whalefall.models import TaskRequest, TaskRequestStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def reconciled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        commands.job_configs, "reconcile_all", lambda s: calls.append(("all", None)) or "3 jobs"
    )
    monkeypatch.setattr(
        commands.job_configs,
        "reconcile_job",
        lambda s, job_id: calls.append(("job", job_id)) or f"{job_id} ok",
    )
    return calls


@pytest.mark.parametrize(
    ("action", "job_id", "expected"),
    [
        ("reload", "", ("all", None)),
        ("reload", "sync_accounts_every_30min", ("all", None)),  # a reload is of everything
        ("modify", "", ("all", None)),  # no job named: everything
        ("modify", "sync_accounts_every_30min", ("job", "sync_accounts_every_30min")),
        *[  # every other action on a job reconciles that job only
            (action, "sync_accounts_every_30min", ("job", "sync_accounts_every_30min"))
            for action in SchedulerCommand.ACTIONS
            if action not in ("reload", "modify")
        ],
    ],
)
def test_a_command_reconciles_its_job_or_everything(
    reconciled: list[tuple[str, Any]], action: str, job_id: str, expected: tuple[str, Any]
) -> None:
    command = SchedulerCommand.objects.create(action=action, job_id=job_id, requested_by="admin")
    assert commands.apply_commands(object(), "host-1") == 1  # type: ignore[arg-type]
    assert reconciled == [expected]
    command.refresh_from_db()
    assert (command.status, command.applied_by) == (CommandStatus.APPLIED, "host-1")
    assert command.message == ("3 jobs" if expected[0] == "all" else f"{job_id} ok")


def test_a_run_request_for_an_unknown_job_fails_naming_it() -> None:
    request = TaskRequest.objects.create(
        task="accounts_sync.tasks.sync_accounts", job_id="no_such_job", requested_by="admin"
    )
    scheduler = BackgroundScheduler()
    assert commands.RunRequests(scheduler, "host-1", handoff_timeout=1).process() == 0
    request.refresh_from_db()
    assert request.status == TaskRequestStatus.FAILED
    assert request.error == "unknown job 'no_such_job'"
