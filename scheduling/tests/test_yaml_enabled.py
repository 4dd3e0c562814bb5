"""`enabled: false` in scheduler_tasks.yaml, from the file to the running scheduler: the job is
stored disabled, shown as disabled and never handed to APScheduler; a reload keeps it so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django_apscheduler.models import DjangoJob

from scheduling import job_configs
from scheduling.config import load_default_tasks
from scheduling.models import JobConfig, JobState
from scheduling.service import SchedulerService
from scheduling.tests.conftest import SAMPLE

pytestmark = pytest.mark.django_db

YAML = f"""
default_tasks:
  - id: record_session_hourly
    name: Record a session
    function: {SAMPLE}.record_session
    trigger_type: cron
    trigger_params: {{minute: 0}}
    enabled: false
  - id: boom_daily
    name: Fail
    function: {SAMPLE}.boom
    trigger_type: cron
    trigger_params: {{hour: 2, minute: 0}}
  - id: wait_for_file_daily
    name: Wait for a file
    function: {SAMPLE}.wait_for_file
    trigger_type: interval
    trigger_params: {{minutes: 5}}
    enabled: true
"""


@pytest.fixture
def tasks_file(tmp_path: Path, settings: Any) -> Path:
    path = tmp_path / "scheduler_tasks.yaml"
    path.write_text(YAML)
    settings.WHALEFALL_SCHEDULER_TASKS_FILE = str(path)
    return path


@pytest.fixture
def service(tasks_file: Path) -> Iterator[SchedulerService]:
    """A scheduler service that reads its default jobs from the file, as runscheduler does."""
    service = SchedulerService(lease_seconds=3, out=lambda line: None)
    yield service
    service._stop_scheduler(wait=True)


def test_the_file_parses_enabled_false_as_a_disabled_spec(tasks_file: Path) -> None:
    loaded = load_default_tasks()
    listed = {s.id: s.enabled for s in loaded.specs if s.id not in loaded.declared}
    assert listed == {"record_session_hourly": False, "boom_daily": True, "wait_for_file_daily": True}


def test_a_disabled_yaml_task_becomes_a_disabled_job_that_never_runs(service: SchedulerService) -> None:
    service.step()
    assert service.active
    config = JobConfig.objects.get(pk="record_session_hourly")
    assert (config.enabled, config.state, config.builtin) == (False, JobState.DISABLED, True)
    assert service.scheduler is not None and service.scheduler.get_job("record_session_hourly") is None
    assert not DjangoJob.objects.filter(pk="record_session_hourly").exists()
    for job_id in ("boom_daily", "wait_for_file_daily"):  # the others are scheduled
        assert JobConfig.objects.get(pk=job_id).state == JobState.SCHEDULED
        assert service.scheduler.get_job(job_id).next_run_time is not None


def test_reload_from_yaml_disables_again_a_job_enabled_in_the_admin(service: SchedulerService) -> None:
    service.step()
    JobConfig.objects.get(pk="record_session_hourly").enable("admin")
    service.step()  # the running scheduler picks the change up
    assert service.scheduler is not None and service.scheduler.get_job("record_session_hourly") is not None

    job_configs.reload_from_yaml(load_default_tasks().specs, by="admin")
    service.step()
    assert JobConfig.objects.get(pk="record_session_hourly").state == JobState.DISABLED
    assert service.scheduler.get_job("record_session_hourly") is None
