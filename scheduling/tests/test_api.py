from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from scheduling import registry
from scheduling.models import JobConfig, SchedulerCommand
from scheduling.tests.conftest import SPECS
from scheduling.tests.users import OPERATORS, VIEWERS, make_user
from whalefall.models import TaskRequest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def jobs() -> None:
    registry.sync_defaults(SPECS)


def test_it_lists_jobs_for_viewers_and_refuses_anonymous_users(client: Client) -> None:
    assert client.get("/api/scheduler/jobs/").status_code == 401
    client.force_login(make_user("vera", VIEWERS))
    body = client.get("/api/scheduler/jobs/").json()
    assert body["scheduler"]["alive"] is False
    job = next(j for j in body["jobs"] if j["id"] == "record_session_hourly")
    assert (job["trigger"], job["state"], job["builtin"]) == ("every hour at minute 0", "scheduled", True)
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
