from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from scheduling import job_configs
from scheduling.models import JobConfig, SchedulerCommand
from scheduling.tests.conftest import SPECS
from scheduling.tests.users import OPERATORS, VIEWERS, make_user
from whalefall.models import TaskRequest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def jobs() -> None:
    job_configs.sync_defaults(SPECS)


def test_it_lists_jobs_for_viewers_and_refuses_anonymous_users(client: Client) -> None:
    assert client.get("/api/scheduler/jobs/").status_code == 401
    client.force_login(make_user("vera", VIEWERS))
    body = client.get("/api/scheduler/jobs/").json()
    assert body["scheduler"]["alive"] is False
    job = next(j for j in body["jobs"] if j["id"] == "record_session_hourly")
    assert (job["trigger"], job["state"], job["builtin"]) == ("Every hour", "scheduled", True)
    detail = client.get("/api/scheduler/jobs/sync_accounts_every_30min/").json()
    assert detail["state"] == "unavailable"
    assert client.post("/api/scheduler/jobs/record_session_hourly/pause/").status_code == 403


def test_it_runs_and_pauses_jobs_for_operators_with_csrf(client: Client, alive_scheduler: Any) -> None:
    client.force_login(make_user("otto", OPERATORS))
    response = client.post("/api/scheduler/jobs/record_session_hourly/run/")
    assert response.status_code == 202
    assert TaskRequest.objects.get(pk=response.json()["request_id"]).job_id == "record_session_hourly"
    assert client.post("/api/scheduler/jobs/record_session_hourly/pause/").json()["state"] == "paused"
    assert JobConfig.objects.get(pk="record_session_hourly").paused
    assert SchedulerCommand.objects.get().action == "pause"
    assert client.post("/api/scheduler/jobs/sync_accounts_every_30min/run/").status_code == 409
    assert client.post("/api/scheduler/jobs/record_session_hourly/explode/").status_code == 404
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(make_user("olga", OPERATORS))
    assert strict.post("/api/scheduler/jobs/record_session_hourly/resume/").status_code == 403


def test_an_invalid_trigger_is_refused_everywhere_and_changes_nothing(client: Client) -> None:
    from scheduling.triggers import TriggerError

    config = JobConfig.objects.get(pk="record_session_hourly")
    with pytest.raises(TriggerError, match="minute"):
        config.set_trigger("cron", {"minute": "75"})
    config.refresh_from_db()
    assert (config.trigger_params, config.state, config.describe_trigger()) == (
        {"minute": 0},
        "scheduled",
        "Every hour",
    )
    assert not SchedulerCommand.objects.exists()
    # Stored by other means (an old row, a hand edit): shown as it is, not as "scheduled".
    JobConfig.objects.filter(pk=config.pk).update(trigger_params={"minute": "75"})
    config.refresh_from_db()
    assert config.state == "unavailable" and config.describe_trigger().startswith("invalid trigger")
    client.force_login(make_user("otto", OPERATORS))
    response = client.post(
        "/api/scheduler/jobs/boom_daily/trigger/",
        {"trigger_type": "cron", "trigger_params": {"hour": "25"}},
        content_type="application/json",
    )
    assert response.status_code == 400 and response.json()["field"] == "hour"
    assert JobConfig.objects.get(pk="boom_daily").trigger_params == {"hour": 2, "minute": 0}


def test_it_edits_a_trigger_with_a_preview_adds_and_deletes_custom_jobs(client: Client) -> None:
    client.force_login(make_user("otto", OPERATORS))
    body = {"trigger_type": "cron", "trigger_params": {"hour": 5, "minute": 30}, "preview": True}
    preview = client.post("/api/scheduler/jobs/boom_daily/trigger/", body, content_type="application/json")
    assert preview.status_code == 200 and preview.json()["saved"] is False
    assert len(preview.json()["next_runs"]) == 5 and "05:30" in preview.json()["trigger"]
    assert JobConfig.objects.get(pk="boom_daily").trigger_params == {"hour": 2, "minute": 0}
    saved = client.post(
        "/api/scheduler/jobs/boom_daily/trigger/", {**body, "preview": False}, content_type="application/json"
    )
    assert saved.status_code == 202 and JobConfig.objects.get(pk="boom_daily").trigger_params == {
        "hour": 5,
        "minute": 30,
    }
    new = {
        "id": "cleanup_history_nightly",
        "name": "Nightly cleanup",
        "function": "whalefall.tasks.cleanup_history",
        "trigger_type": "cron",
        "trigger_params": {"hour": 1, "minute": 0},
    }
    added = client.post("/api/scheduler/jobs/", new, content_type="application/json")
    assert added.status_code == 201, added.json()
    assert added.json()["state"] == "scheduled" and not added.json()["builtin"]
    assert client.post("/api/scheduler/jobs/", new, content_type="application/json").status_code == 409
    bad = client.post(
        "/api/scheduler/jobs/", {**new, "id": "x_y", "function": "os.system"}, content_type="application/json"
    )
    assert bad.status_code == 400 and "function" in bad.json()["error"]
    assert client.delete("/api/scheduler/jobs/record_session_hourly/").status_code == 409  # built-in
    assert client.delete("/api/scheduler/jobs/cleanup_history_nightly/").status_code == 202
    assert not JobConfig.objects.filter(pk="cleanup_history_nightly").exists()
    reloaded = client.post("/api/scheduler/reload/")
    assert reloaded.status_code == 202 and reloaded.json()["reloaded"] >= 1
    assert SchedulerCommand.objects.filter(action="reload").exists()


def test_viewers_cannot_change_jobs_through_the_api(client: Client) -> None:
    client.force_login(make_user("vera", VIEWERS))
    new = {"id": "a_b", "function": "whalefall.tasks.cleanup_history", "trigger_type": "cron"}
    assert client.post("/api/scheduler/jobs/", new, content_type="application/json").status_code == 403
    assert client.delete("/api/scheduler/jobs/boom_daily/").status_code == 403
    assert client.post("/api/scheduler/reload/").status_code == 403
    assert JobConfig.objects.filter(pk="boom_daily").exists()
