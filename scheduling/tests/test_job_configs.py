from __future__ import annotations

from typing import Any

import pytest
from django_apscheduler.models import DjangoJob

from scheduling import job_configs
from scheduling.models import JobConfig, JobState, SchedulerCommand
from scheduling.tests.conftest import SPECS

pytestmark = pytest.mark.django_db


def _trigger(job_id: str) -> str:
    from django_apscheduler.jobstores import DjangoJobStore

    store = DjangoJobStore()
    store._scheduler = None  # only unpickling is needed
    store._alias = "default"
    return str(store._reconstitute_job(DjangoJob.objects.get(pk=job_id).job_state).trigger)


def test_it_adds_missing_default_jobs_as_builtin() -> None:
    created = job_configs.sync_defaults(SPECS)
    assert created == [s.id for s in SPECS]
    config = JobConfig.objects.get(pk="record_session_hourly")
    assert (config.builtin, config.trigger_type, config.trigger_params) == (True, "cron", {"minute": 0})
    assert JobConfig.objects.get(pk="cleanup_history_weekly").state == JobState.DISABLED
    assert JobConfig.objects.get(pk="sync_accounts_every_30min").state == JobState.UNAVAILABLE
    assert job_configs.sync_defaults(SPECS) == []


def test_it_keeps_triggers_edited_in_the_admin_across_restarts() -> None:
    job_configs.sync_defaults(SPECS)
    config = JobConfig.objects.get(pk="record_session_hourly")
    config.set_trigger("interval", {"minutes": 7}, by="alice")
    config.disable(by="alice")
    job_configs.sync_defaults(SPECS)  # what a restart does
    config.refresh_from_db()
    assert (config.trigger_type, config.trigger_params, config.enabled) == ("interval", {"minutes": 7}, False)


def test_it_updates_unedited_builtin_triggers_from_the_file() -> None:
    job_configs.sync_defaults(SPECS)
    changed = [
        s
        if s.id != "record_session_hourly"
        else s.__class__(**{**s.as_dict(), "trigger_params": {"minute": 15}})
        for s in SPECS
    ]
    job_configs.sync_defaults(changed)
    assert JobConfig.objects.get(pk="record_session_hourly").trigger_params == {"minute": 15}


def test_it_resets_builtin_jobs_on_reload_and_keeps_custom_ones() -> None:
    job_configs.sync_defaults(SPECS)
    config = JobConfig.objects.get(pk="record_session_hourly")
    config.set_trigger("interval", {"minutes": 7})
    config.pause()
    JobConfig.objects.create(
        id="custom_job_daily",
        name="Custom",
        function="whalefall.tasks.cleanup_history",
        trigger_type="cron",
        trigger_params={"hour": 5},
    )
    assert job_configs.reload_from_yaml(SPECS, by="alice") == len(SPECS)
    config.refresh_from_db()
    assert (config.trigger_type, config.trigger_params, config.paused, config.customized) == (
        "cron",
        {"minute": 0},
        False,
        False,
    )
    assert JobConfig.objects.filter(pk="custom_job_daily", builtin=False).exists()
    assert SchedulerCommand.objects.filter(action="reload", requested_by="alice").exists()


def test_it_refuses_to_delete_builtin_jobs() -> None:
    job_configs.sync_defaults(SPECS)
    with pytest.raises(PermissionError, match="built-in"):
        JobConfig.objects.get(pk="record_session_hourly").remove()
    custom = JobConfig.objects.create(
        id="custom_job_daily",
        name="C",
        function="whalefall.tasks.cleanup_history",
        trigger_type="cron",
        trigger_params={"hour": 5},
    )
    custom.remove(by="bob")
    assert not JobConfig.objects.filter(pk="custom_job_daily").exists()
    assert SchedulerCommand.objects.filter(action="delete", job_id="custom_job_daily").exists()


def test_it_reconciles_the_scheduler_with_the_configs(make_service: Any) -> None:
    service = make_service()
    assert service.try_activate()
    assert set(DjangoJob.objects.values_list("id", flat=True)) == {
        "record_session_hourly",
        "wait_for_file_daily",
        "boom_daily",
    }
    config = JobConfig.objects.get(pk="record_session_hourly")
    config.set_trigger("interval", {"minutes": 7})
    config.pause()
    service.apply_commands()
    assert DjangoJob.objects.get(pk="record_session_hourly").next_run_time is None
    assert _trigger("record_session_hourly").startswith("interval[0:07:00]")
    config.resume()
    JobConfig.objects.get(pk="boom_daily").disable()
    assert service.apply_commands() == 2
    assert DjangoJob.objects.get(pk="record_session_hourly").next_run_time is not None
    assert not DjangoJob.objects.filter(pk="boom_daily").exists()
    JobConfig.objects.get(pk="boom_daily").enable()
    service.apply_commands()
    assert DjangoJob.objects.filter(pk="boom_daily").exists()
