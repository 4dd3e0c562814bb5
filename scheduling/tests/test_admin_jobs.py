from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scheduling import job_configs
from scheduling.config import builtin_defaults
from scheduling.models import JobConfig, SchedulerCommand, SchedulerLease
from scheduling.tests.conftest import SPECS
from scheduling.tests.users import OPERATORS, VIEWERS
from whalefall.models import TaskRequest

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:scheduling_jobconfig_changelist"


@pytest.fixture(autouse=True)
def jobs() -> None:
    job_configs.sync_defaults(SPECS)


def _action(client: Client, action: str, *ids: str) -> Any:
    return client.post(reverse(CHANGELIST), {"action": action, "_selected_action": list(ids)}, follow=True)


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_it_creates_viewer_and_operator_groups_by_migration() -> None:
    viewers = set(Group.objects.get(name=VIEWERS).permissions.values_list("codename", flat=True))
    operators = set(Group.objects.get(name=OPERATORS).permissions.values_list("codename", flat=True))
    assert {"view_jobconfig", "view_syncsession", "view_djangojobexecution"} <= viewers
    assert "manage_jobconfig" not in viewers and "manage_syncsession" not in viewers
    assert {"view_account", "view_accountprivilege", "view_instancedatabase", "view_alertdelivery"} <= viewers
    assert operators - viewers == {
        "manage_jobconfig",
        "manage_syncsession",
        "add_alertrule",
        "change_alertrule",
        "add_alertchannel",
        "change_alertchannel",
    }


def test_it_lists_jobs_with_trigger_words_state_and_scheduler_warning(viewer: Client) -> None:
    response = viewer.get(reverse(CHANGELIST))
    page = response.content.decode()
    assert response.status_code == 200
    assert "At 01:00, every day" in page and "Every 30 minutes" in page
    for state in ("Scheduled", "Disabled", "Unavailable"):
        assert state in page
    assert "No scheduler has ever run" in page
    assert "Reload from YAML" not in page  # managing only


def test_it_shows_a_live_scheduler_and_next_run_in_local_time(viewer: Client, settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"
    SchedulerLease.claim(owner="web1-77", token="t", host="web1", pid=77, seconds=30)
    from django_apscheduler.models import DjangoJob

    DjangoJob.objects.create(
        id="record_session_hourly", job_state=b"", next_run_time=datetime(2030, 1, 1, 1, 0, tzinfo=UTC)
    )
    page = viewer.get(reverse(CHANGELIST)).content.decode()
    assert "Scheduler alive on web1 (pid 77)" in page
    assert re.search(r">2030-01-01</span> <span[^>]*>09:00:00<", page)
    assert "Times are in Asia/Shanghai." in page


def test_it_lists_jobs_without_a_query_per_row(viewer: Client) -> None:
    viewer.get(reverse(CHANGELIST))
    with CaptureQueriesContext(connection) as few:
        viewer.get(reverse(CHANGELIST))
    for n in range(10):
        JobConfig.objects.create(
            id=f"extra_job_{n}_daily",
            name="x",
            function=SPECS[0].function,
            trigger_type="cron",
            trigger_params={"hour": n},
        )
    with CaptureQueriesContext(connection) as many:
        viewer.get(reverse(CHANGELIST))
    assert len(many) == len(few)


def test_it_refuses_every_management_action_to_viewers(viewer: Client) -> None:
    for action in (
        "run_now",
        "pause_jobs",
        "resume_jobs",
        "enable_jobs",
        "disable_jobs",
        "delete_custom_jobs",
    ):
        response = _action(viewer, action, "record_session_hourly")
        assert response.status_code == 200
        assert "Queued" not in response.content.decode()
    assert not TaskRequest.objects.exists() and not SchedulerCommand.objects.exists()
    config = JobConfig.objects.get(pk="record_session_hourly")
    for url in (
        reverse("admin:scheduling_jobconfig_trigger", args=[config.pk]),
        reverse("admin:scheduling_jobconfig_run", args=[config.pk]),
        reverse("admin:scheduling_jobconfig_reload"),
        reverse("admin:scheduling_jobconfig_add"),
    ):
        assert viewer.post(url).status_code == 403
    assert viewer.get(reverse("admin:scheduling_jobconfig_change", args=[config.pk])).status_code == 200


def test_it_queues_run_now_for_the_scheduler(operator: Client, alive_scheduler: Any) -> None:
    response = _action(operator, "run_now", "record_session_hourly", "sync_accounts_every_30min")
    request = TaskRequest.objects.get()
    assert (request.task, request.job_id, request.requested_by, request.status) == (
        SPECS[0].function,
        "record_session_hourly",
        "otto",
        "pending",
    )
    messages = _messages(response)
    assert "Job sync_accounts_every_30min cannot run: module scheduling.not_yet is not installed" in messages
    assert "Queued 1 run; the scheduler starts it within seconds." in messages
    # Asked again while the first is still queued: refused at once, with the reason, not queued.
    response = operator.post(
        reverse("admin:scheduling_jobconfig_run", args=["record_session_hourly"]), follow=True
    )
    assert TaskRequest.objects.count() == 1
    assert any(f"already pending (request {request.pk}" in m for m in _messages(response))


def test_it_refuses_run_now_without_a_scheduler(operator: Client) -> None:
    response = _action(operator, "run_now", "record_session_hourly")
    assert not TaskRequest.objects.exists()
    assert any("cannot run now: No scheduler has ever run" in m for m in _messages(response))


@pytest.mark.parametrize(
    ("action", "field", "before", "after"),
    [
        ("pause_jobs", "paused", False, True),
        ("resume_jobs", "paused", True, False),
        ("disable_jobs", "enabled", True, False),
        ("enable_jobs", "enabled", False, True),
    ],
)
def test_it_pauses_resumes_enables_and_disables(
    operator: Client, action: str, field: str, before: bool, after: bool
) -> None:
    JobConfig.objects.filter(pk="record_session_hourly").update(**{field: before})
    response = _action(operator, action, "record_session_hourly")
    assert getattr(JobConfig.objects.get(pk="record_session_hourly"), field) is after
    command = SchedulerCommand.objects.get()
    assert (command.job_id, command.requested_by, command.status) == (
        "record_session_hourly",
        "otto",
        "pending",
    )
    assert any(" 1 job; the scheduler applies it" in m for m in _messages(response))


def test_it_protects_builtin_jobs_from_deletion(operator: Client) -> None:
    JobConfig.objects.create(
        id="custom_job_daily",
        name="C",
        function=SPECS[0].function,
        trigger_type="cron",
        trigger_params={"hour": 5},
    )
    response = _action(operator, "delete_custom_jobs", "record_session_hourly", "custom_job_daily")
    assert JobConfig.objects.filter(pk="record_session_hourly").exists()
    assert not JobConfig.objects.filter(pk="custom_job_daily").exists()
    messages = _messages(response)
    assert "Job record_session_hourly is built in: disable it instead of deleting it." in messages
    assert "Deleted 1 job." in messages
    assert "delete_selected" not in operator.get(reverse(CHANGELIST)).content.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"trigger_type": "cron", "cron_minute": "75"}, "cron_minute", "75"),
        ({"trigger_type": "cron", "cron_day_of_week": "funday"}, "cron_day_of_week", "funday"),
        ({"trigger_type": "interval", "minutes": "-3"}, "minutes", "whole number"),
        ({"trigger_type": "date", "run_date": "2001-01-01 00:00"}, "run_date", "in the past"),
        ({"trigger_type": "date", "run_date": "someday"}, "run_date", "not a date"),
        ({"trigger_type": "interval"}, None, "an interval needs"),
    ],
)
def test_it_validates_edited_triggers(operator: Client, data: dict, field: str | None, message: str) -> None:
    url = reverse("admin:scheduling_jobconfig_trigger", args=["record_session_hourly"])
    response = operator.post(url, {**data, "_save": "1"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert message in " ".join(errors[field or "__all__"])
    assert JobConfig.objects.get(pk="record_session_hourly").trigger_params == {"minute": 0}


def test_it_previews_the_next_five_runs_before_saving(operator: Client) -> None:
    url = reverse("admin:scheduling_jobconfig_trigger", args=["record_session_hourly"])
    page = operator.get(url).content.decode()
    assert 'value="0"' in page  # the current minute field
    response = operator.post(
        url, {"trigger_type": "cron", "cron_hour": "3", "cron_minute": "15", "_preview": "1"}
    )
    page = response.content.decode()
    assert "Preview: At 03:15, every day" in page
    assert page.count(" 03:15:00</li>") == 5
    assert 'name="_save"' in page
    assert JobConfig.objects.get(pk="record_session_hourly").trigger_params == {"minute": 0}
    response = operator.post(
        url, {"trigger_type": "cron", "cron_hour": "3", "cron_minute": "15", "_save": "1"}, follow=True
    )
    config = JobConfig.objects.get(pk="record_session_hourly")
    assert (config.trigger_type, config.trigger_params, config.customized) == (
        "cron",
        {"hour": 3, "minute": 15},
        True,
    )
    assert SchedulerCommand.objects.get().action == "modify"
    assert any("is now: At 03:15, every day." in m for m in _messages(response))


def test_it_adds_a_job_for_a_registered_function(operator: Client) -> None:
    url = reverse("admin:scheduling_jobconfig_add")
    page = operator.get(url).content.decode()
    assert "whalefall.tasks.cleanup_history" in page
    assert "scheduling.tests.sample_tasks.boom" not in page  # a function no task declares
    data = {
        "function": "whalefall.tasks.cleanup_history",
        "id": "cleanup_history_daily",
        "name": "Daily cleanup",
        "enabled": "on",
        "trigger_type": "interval",
        "hours": "24",
        "_save": "1",
    }
    assert operator.post(url, {**data, "id": "Bad Id"}).context["form"].errors["id"]
    assert (
        operator.post(url, {**data, "function": "scheduling.tests.sample_tasks.boom"})
        .context["form"]
        .errors["function"]
    )
    operator.post(url, data)
    config = JobConfig.objects.get(pk="cleanup_history_daily")
    assert (config.builtin, config.trigger_params, config.describe_trigger()) == (
        False,
        {"hours": 24},
        "Every day",
    )
    assert SchedulerCommand.objects.get().action == "add"


def test_it_reloads_from_yaml_after_confirmation(operator: Client, settings: Any, tmp_path: Any) -> None:
    import yaml

    path = tmp_path / "tasks.yaml"
    path.write_text(yaml.safe_dump({"default_tasks": [SPECS[0].as_dict()]}))
    settings.WHALEFALL_SCHEDULER_TASKS_FILE = str(path)
    JobConfig.objects.get(pk="record_session_hourly").set_trigger("interval", {"minutes": 9})
    url = reverse("admin:scheduling_jobconfig_reload")
    page = operator.get(url).content.decode()
    count = 1 + len(builtin_defaults())  # the file's job and every declared task's
    assert f"Yes, reload {count} jobs" in page and "triggers edited in the admin are lost" in page
    assert "<td>Every hour</td>" in page  # the file's trigger in words
    assert JobConfig.objects.get(pk="record_session_hourly").trigger_params == {"minutes": 9}
    response = operator.post(url, {"confirm": "yes"}, follow=True)
    assert JobConfig.objects.get(pk="record_session_hourly").trigger_params == {"minute": 0}
    assert any(f"Reloaded {count} built-in jobs from" in m for m in _messages(response))
    path.write_text("default_tasks: [")
    response = operator.post(url, {"confirm": "yes"}, follow=True)
    assert any("Cannot reload:" in m and "invalid YAML" in m for m in _messages(response))


def test_it_shows_scheduler_warning_and_unread_failures_on_the_index(viewer: Client) -> None:
    from whalefall.tests.factories import SyncSessionFactory

    SyncSessionFactory(status="failed")
    SyncSessionFactory(status="partial")
    SyncSessionFactory(status="failed", is_read=True)
    page = viewer.get(reverse("admin:index")).content.decode()
    assert "No scheduler has ever run" in page
    assert "2 unread failed or partial sync sessions" in page


def test_it_reports_scheduler_liveness_in_health(viewer: Client) -> None:
    client = Client()  # anonymous
    anonymous = client.get("/health/")
    assert (anonymous.status_code, anonymous.json()) == (200, {"status": "ok"})  # no host, no pid
    probe = client.get("/health/?scheduler=1")
    assert (probe.status_code, probe.json()) == (503, {"status": "not ok"})
    assert viewer.get("/health/").json()["scheduler"]["alive"] is False
    SchedulerLease.claim(owner="h-1", token="t", host="h", pid=1, seconds=30)
    assert client.get("/health/?scheduler=1").json() == {"status": "ok"}
    body = viewer.get("/health/?scheduler=1").json()
    assert (body["status"], body["database"], body["web"]) == ("ok", "ok", {"status": "ok"})
    scheduler = body["scheduler"]
    assert (scheduler["alive"], scheduler["state"], scheduler["pid"]) == (True, "active", 1)
    assert 0 <= scheduler["heartbeat_age_seconds"] < 5


def test_it_lists_executions_without_a_query_per_row(viewer: Client) -> None:
    from django_apscheduler.models import DjangoJob, DjangoJobExecution

    job = DjangoJob.objects.create(id="record_session_hourly", job_state=b"")

    def add(n: int) -> None:
        for i in range(n):
            DjangoJobExecution.objects.create(
                job=job,
                status="Error!",
                run_time=datetime.now(UTC) - timedelta(minutes=i + n * 10),
                duration=1.5,
                exception="boom",
                traceback="Traceback: boom",
            )

    url = reverse("admin:django_apscheduler_djangojobexecution_changelist")
    add(1)
    with CaptureQueriesContext(connection) as few:
        page = viewer.get(url, {"job__id__exact": "record_session_hourly"}).content.decode()
    assert "wf-status-failed" in page and "1.5 s" in page
    add(10)
    with CaptureQueriesContext(connection) as many:
        viewer.get(url, {"job__id__exact": "record_session_hourly"})
    assert len(many) == len(few)
    execution = DjangoJobExecution.objects.first()
    detail = viewer.get(reverse("admin:django_apscheduler_djangojobexecution_change", args=[execution.pk]))
    assert "Traceback: boom" in detail.content.decode()


def test_it_links_each_execution_to_its_session(viewer: Client) -> None:
    from django_apscheduler.models import DjangoJob, DjangoJobExecution

    from scheduling.models import JobRunSession
    from whalefall.tests.factories import SyncSessionFactory

    job = DjangoJob.objects.create(id="record_session_hourly", job_state=b"")
    when = datetime(2030, 1, 1, 1, 0, tzinfo=UTC)
    DjangoJobExecution.objects.create(job=job, status="Executed", run_time=when, duration=2)
    session = SyncSessionFactory(status="completed")
    JobRunSession.objects.create(job_id=job.id, run_time=when, session=session)
    page = viewer.get(reverse("admin:django_apscheduler_djangojobexecution_changelist")).content.decode()
    assert reverse("admin:whalefall_syncsession_change", args=[session.pk]) in page


@pytest.mark.parametrize(
    "url_name", ["admin:whalefall_taskrequest_changelist", "admin:scheduling_schedulercommand_changelist"]
)
def test_it_lists_requests_and_commands_without_a_query_per_row(viewer: Client, url_name: str) -> None:
    def add(n: int) -> None:
        for _ in range(n):
            TaskRequest.objects.create(
                task=SPECS[0].function, job_id="record_session_hourly", status="refused"
            )
            SchedulerCommand.queue("pause", "record_session_hourly", "otto")

    add(1)
    with CaptureQueriesContext(connection) as few:
        assert viewer.get(reverse(url_name)).status_code == 200
    add(10)
    with CaptureQueriesContext(connection) as many:
        viewer.get(reverse(url_name))
    assert len(many) == len(few)


def test_it_shows_an_unclaimed_request_as_expired(viewer: Client) -> None:
    from datetime import timedelta

    from django.utils import timezone

    TaskRequest.objects.create(
        task=SPECS[0].function, requested_by="otto", expires_at=timezone.now() - timedelta(seconds=1)
    )
    page = viewer.get(reverse("admin:whalefall_taskrequest_changelist")).content.decode()
    assert "Expired (no scheduler took it in time)" in page
