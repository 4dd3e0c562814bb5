"""A real `manage.py runscheduler` process against the test database (SQLite file or PostgreSQL)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_apscheduler.models import DjangoJob

from scheduling.config import builtin_defaults
from scheduling.models import SchedulerCommand, SchedulerLease
from scheduling.tests.conftest import SAMPLE
from scheduling.tests.helpers import SchedulerProcess, wait_until
from scheduling.tests.users import OPERATORS, make_user
from whalefall.models import SyncSession, TaskRequest

TASKS = {
    "default_tasks": [
        {
            "id": "record_session_hourly",
            "name": "Record a session",
            "function": f"{SAMPLE}.record_session",
            "trigger_type": "cron",
            "trigger_params": {"minute": 0},
        },
        {
            "id": "sync_accounts_every_30min",
            "name": "Not installed yet",
            "function": "scheduling.not_yet.sync_accounts",
            "trigger_type": "interval",
            "trigger_params": {"minutes": 30},
        },
    ]
}


@pytest.fixture
def tasks_file(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.yaml"
    path.write_text(yaml.safe_dump(TASKS))
    return path


@pytest.fixture
def processes() -> Any:
    started: list[SchedulerProcess] = []
    yield started
    for proc in started:
        proc.stop()


def _holder_pid() -> int | None:
    lease = SchedulerLease.current()
    return lease.pid if lease and lease.alive else None


@pytest.mark.django_db(transaction=True)
def test_it_runs_jobs_stands_by_takes_over_and_stops_cleanly(
    tmp_path: Path, tasks_file: Path, processes: list[SchedulerProcess]
) -> None:
    first = SchedulerProcess(tmp_path, "first", tasks_file)
    processes.append(first)
    wait_until(lambda: _holder_pid() == first.proc.pid, what="the first scheduler to hold the lease")
    wait_until(lambda: "Active: scheduler" in first.output, what="the first scheduler to report active")
    scheduled = set(DjangoJob.objects.values_list("id", flat=True))
    # The file's job, plus the declared jobs of the tasks it does not mention; not the job id the
    # file gave to a function that is not installed.
    declared = {s.id for s in builtin_defaults()} - {"sync_accounts_every_30min"}
    assert scheduled == {"record_session_hourly"} | declared
    assert "job sync_accounts_every_30min is unavailable and not scheduled" in first.output

    admin = Client()
    admin.force_login(make_user("otto", OPERATORS))
    admin.post(
        reverse("admin:scheduling_jobconfig_changelist"),
        {"action": "run_now", "_selected_action": ["record_session_hourly"]},
    )
    request = TaskRequest.objects.get(job_id="record_session_hourly")
    request = wait_until(
        lambda: TaskRequest.objects.filter(pk=request.pk, status="done").first(),
        10,
        "the run requested from the admin",
    )
    assert SyncSession.objects.filter(session_id=request.result["session_id"]).exists()

    second = SchedulerProcess(tmp_path, "second", tasks_file)
    processes.append(second)
    wait_until(lambda: "Standby: the scheduler lease is held by" in second.output, what="the standby message")
    assert _holder_pid() == first.proc.pid

    first.signal(signal.SIGKILL)
    first.proc.wait(10)
    wait_until(lambda: _holder_pid() == second.proc.pid, 3 + 7, "the standby to take over within the lease")
    # The 5-second bound below is for a running scheduler: let the new one finish starting.
    wait_until(lambda: "Active: scheduler" in second.output, what="the new scheduler to report active")

    admin.post(
        reverse("admin:scheduling_jobconfig_changelist"),
        {"action": "pause_jobs", "_selected_action": ["record_session_hourly"]},
    )
    wait_until(
        lambda: DjangoJob.objects.filter(pk="record_session_hourly", next_run_time=None).exists(),
        5,
        "the pause to reach the running scheduler",
    )
    assert SchedulerCommand.objects.get(action="pause").status == "applied"

    second.signal(signal.SIGTERM)
    assert second.proc.wait(15) == 0
    assert "Scheduler stopped." in second.output
    assert SchedulerLease.current().alive is False


@pytest.mark.django_db
def test_it_refuses_to_start_with_an_invalid_file(tmp_path: Path, settings: Any) -> None:
    bad = tmp_path / "tasks.yaml"
    entry = {**TASKS["default_tasks"][0], "trigger_params": {"minute": 75}}
    bad.write_text(yaml.safe_dump({"default_tasks": [entry]}))
    settings.WHALEFALL_SCHEDULER_TASKS_FILE = str(bad)
    with pytest.raises(CommandError) as err:
        call_command("runscheduler")
    assert f"{bad}: default_tasks[0] (record_session_hourly): trigger_params.minute:" in str(err.value)
    assert not SchedulerLease.objects.exists()
