"""The jobs list at a glance (outcome, rounded duration, trigger in words) and the job page
(its real next runs, "edited in the admin", weekday names in the trigger form)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from scheduling import job_configs
from scheduling.config import TaskSpec
from scheduling.models import JobConfig, JobRunSession
from scheduling.tests.conftest import SAMPLE, SPECS
from whalefall.tests.factories import SyncSessionFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:scheduling_jobconfig_changelist"


@pytest.fixture(autouse=True)
def jobs() -> None:
    job_configs.sync_defaults(SPECS)


def _run(job_id: str, status: str, seconds: float, session_status: str | None, ago: int = 60) -> Any:
    """One scheduled execution `ago` seconds back, linked (like the job store does) to a session."""
    job, _ = DjangoJob.objects.get_or_create(id=job_id, defaults={"job_state": b""})
    run_time = timezone.now().replace(microsecond=0) - timedelta(seconds=ago)
    DjangoJobExecution.objects.create(
        job=job,
        status=status,
        run_time=run_time,
        duration=Decimal(str(seconds)),
        finished=Decimal(str(run_time.timestamp() + seconds)),
        exception="sample task failed on purpose" if status == "Error!" else None,
    )
    session = None
    if session_status:
        session = SyncSessionFactory(
            status=session_status, started_at=run_time, finished_at=run_time + timedelta(seconds=seconds)
        )
        JobRunSession.objects.create(job_id=job_id, run_time=run_time, session=session)
        # run_job writes the result before APScheduler records the execution's end
        JobConfig.objects.filter(pk=job_id).update(
            last_session=session, last_finished_at=run_time + timedelta(seconds=seconds - 0.01)
        )
    return session


def _cells(page: str, column: str) -> list[str]:
    """The text of one column's cells, row by row (tags stripped)."""
    cells = re.findall(rf'<t[dh] class="field-{column}[^"]*">(.*?)</t[dh]>', page, re.S)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in cells]


def test_the_list_shows_the_sessions_outcome_and_rounded_durations(viewer: Client) -> None:
    partial = _run("record_session_hourly", "Partial", 14.04177, "partial")
    _run("wait_for_file_daily", "Executed", 123, "skipped")
    _run("boom_daily", "Error!", 0.2, None)
    page = viewer.get(reverse(CHANGELIST)).content.decode()
    names = _cells(page, "job_name")
    outcomes = dict(zip(names, _cells(page, "last_outcome"), strict=True))
    durations = dict(zip(names, _cells(page, "last_duration"), strict=True))
    assert outcomes == {
        "Fail": "failed",
        "History cleanup": "not run yet",
        "Missing task": "not run yet",
        "Record a session": "partial",
        "Wait for a file": "skipped",
    }
    assert durations["Record a session"] == "14.0 s"
    assert durations["Wait for a file"] == "2 min 3 s"
    assert durations["Fail"] == "0.2 s"
    assert "Executed" not in page and "Error!" not in page
    assert reverse("admin:whalefall_syncsession_change", args=[partial.pk]) in page
    assert 'title="sample task failed on purpose"' in page  # the error on hover
    # id and function live on the job page only
    assert ">record_session_hourly<" not in page and f"{SAMPLE}.record_session" not in page
    detail = viewer.get(reverse("admin:scheduling_jobconfig_change", args=["record_session_hourly"]))
    assert f"{SAMPLE}.record_session" in detail.content.decode()


def test_a_run_asked_for_later_or_an_error_later_is_the_last_outcome(viewer: Client) -> None:
    _run("record_session_hourly", "Executed", 2, "completed", ago=600)
    later = SyncSessionFactory(status="failed", started_at=timezone.now() - timedelta(seconds=30))
    later.finished_at = later.started_at + timedelta(seconds=5)
    later.save()
    # "run now": no execution row, the result and its session are written on the job
    JobConfig.objects.filter(pk="record_session_hourly").update(
        last_session=later, last_finished_at=later.finished_at
    )
    _run("wait_for_file_daily", "Executed", 2, "completed", ago=600)
    _run("wait_for_file_daily", "Error!", 1, None, ago=30)  # raised: no result written on the job
    page = viewer.get(reverse(CHANGELIST)).content.decode()
    outcomes = dict(zip(_cells(page, "job_name"), _cells(page, "last_outcome"), strict=True))
    assert (outcomes["Record a session"], outcomes["Wait for a file"]) == ("failed", "failed")
    assert reverse("admin:whalefall_syncsession_change", args=[later.pk]) in page
    durations = dict(zip(_cells(page, "job_name"), _cells(page, "last_duration"), strict=True))
    assert (durations["Record a session"], durations["Wait for a file"]) == ("5.0 s", "1.0 s")


def test_the_list_keeps_its_query_count_with_runs_and_sessions(
    viewer: Client, django_assert_max_num_queries: Any
) -> None:
    _run("record_session_hourly", "Partial", 3, "partial")
    viewer.get(reverse(CHANGELIST))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        viewer.get(reverse(CHANGELIST))
    for n in range(30):
        job_id = f"extra_job_{n}_daily"
        JobConfig.objects.create(
            id=job_id,
            name=f"x{n}",
            function=SPECS[0].function,
            trigger_type="cron",
            trigger_params={"hour": 1},
        )
        _run(job_id, "Partial", 3, "partial")
    with django_assert_max_num_queries(len(few)):
        page = viewer.get(reverse(CHANGELIST)).content.decode()
    assert page.count("wf-status-partial") == 31


def test_an_edited_trigger_is_marked_and_an_unedited_one_is_not(viewer: Client) -> None:
    JobConfig.objects.get(pk="boom_daily").set_trigger(
        "cron", {"day_of_week": "mon-fri", "hour": "8-20", "minute": "*/15"}
    )
    page = viewer.get(reverse(CHANGELIST)).content.decode()
    triggers = dict(zip(_cells(page, "job_name"), _cells(page, "trigger_in_words"), strict=True))
    assert triggers["Fail"] == (
        "Every 15 minutes, between 08:00 and 20:59, Monday through Friday edited in the admin"
    )
    assert triggers["Record a session"] == "Every hour"
    assert page.count('class="wf-edited"') == 1
    filtered = viewer.get(reverse(CHANGELIST), {"edited": "yes"})
    assert [j.pk for j in filtered.context["cl"].result_list] == ["boom_daily"]
    assert "By customized" not in page and "By edited in the admin" in page
    edited = viewer.get(reverse("admin:scheduling_jobconfig_change", args=["boom_daily"])).content.decode()
    plain = viewer.get(
        reverse("admin:scheduling_jobconfig_change", args=["record_session_hourly"])
    ).content.decode()
    assert "Customized" not in plain and "Trigger edited in the admin." not in plain
    assert re.search(r"Edited in the admin:</label>\s*<div class=\"readonly\">no</div>", plain)
    assert re.search(r"Edited in the admin:</label>\s*<div class=\"readonly\">yes: ", edited)


def test_the_trigger_form_names_the_weekdays(operator: Client) -> None:
    url = reverse("admin:scheduling_jobconfig_trigger", args=["cleanup_history_weekly"])
    page = operator.get(url).content.decode()
    labels = re.findall(r'name="cron_day_of_week" value="(\d)"([^>]*)>\s*(\w+)</label>', page)
    assert [(value, name) for value, _, name in labels] == [
        ("0", "Mon"),
        ("1", "Tue"),
        ("2", "Wed"),
        ("3", "Thu"),
        ("4", "Fri"),
        ("5", "Sat"),
        ("6", "Sun"),
    ]
    assert [name for _, attrs, name in labels if "checked" in attrs] == ["Sun"]  # stored as "sun"
    data = {
        "trigger_type": "cron",
        "cron_hour": "2",
        "cron_minute": "30",
        "cron_day_of_week": ["0", "1", "2", "3", "4"],
    }
    preview = operator.post(url, {**data, "_preview": "1"}).content.decode()
    assert "Preview: At 02:30, Monday through Friday" in preview
    operator.post(url, {**data, "_save": "1"})
    assert JobConfig.objects.get(pk="cleanup_history_weekly").trigger_params == {
        "day_of_week": "mon-fri",
        "hour": 2,
        "minute": 30,
    }


def test_the_job_page_previews_the_runs_the_scheduler_holds(viewer: Client, make_service: Any) -> None:
    spec = TaskSpec(
        "record_session_every_30min", "Record", f"{SAMPLE}.record_session", "interval", {"minutes": 30}
    )
    service = make_service([spec])
    service.step()
    assert service.active
    # The stored job's next run is not "now + 30 min": as after a restart or a run at another time.
    first = (timezone.now() + timedelta(minutes=7, seconds=13)).replace(microsecond=0)
    service.scheduler.modify_job(spec.id, next_run_time=first)
    stored = DjangoJob.objects.get(pk=spec.id).next_run_time
    assert stored == first
    page = viewer.get(reverse("admin:scheduling_jobconfig_change", args=[spec.id])).content.decode()
    upcoming = re.findall(r"<li>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)</li>", page)
    local = [timezone.localtime(first + timedelta(minutes=30 * n)) for n in range(5)]
    assert upcoming == [t.strftime("%Y-%m-%d %H:%M:%S") for t in local]
    assert "As the scheduler has them." in page
    listed = viewer.get(reverse(CHANGELIST)).content.decode()
    assert upcoming[0] in _cells(listed, "next_run")  # the list's "next run" is the preview's first entry


def test_the_job_page_says_when_the_preview_is_counted_from_now(viewer: Client) -> None:
    JobConfig.objects.get(pk="record_session_hourly").set_trigger("interval", {"minutes": 20})
    page = viewer.get(reverse("admin:scheduling_jobconfig_change", args=["record_session_hourly"]))
    assert "Counted from now: the scheduler has not applied this trigger yet." in page.content.decode()


@pytest.mark.parametrize("language", ["en-us", "zh-hans"])
def test_the_jobs_list_shows_iso_times_in_every_language(
    viewer: Client, settings: Any, language: str
) -> None:
    settings.LANGUAGE_CODE = language
    settings.TIME_ZONE = "Asia/Shanghai"
    DjangoJob.objects.create(
        id="record_session_hourly", job_state=b"", next_run_time=datetime(2030, 1, 1, 1, 0, tzinfo=UTC)
    )
    page = viewer.get(reverse(CHANGELIST)).content.decode()
    assert (
        _cells(page, "next_run")[_cells(page, "job_name").index("Record a session")] == "2030-01-01 09:00:00"
    )
    words = "在 01:00, 每天" if language == "zh-hans" else "At 01:00, every day"
    assert words in _cells(page, "trigger_in_words")


EXECUTIONS = "admin:django_apscheduler_djangojobexecution_changelist"


def test_the_executions_list_says_the_outcome_the_job_name_and_a_rounded_duration(viewer: Client) -> None:
    """APScheduler's words ("Executed" for a run whose session was partial, "Error!") and the
    job's id are not what a DBA reads: the session's outcome, the job's name, the time rounded."""
    partial = _run("record_session_hourly", "Executed", 14.04177, "partial")
    _run("wait_for_file_daily", "Executed", 123, "skipped", ago=120)
    _run("boom_daily", "Error!", 0.2, None, ago=180)
    page = viewer.get(reverse(EXECUTIONS)).content.decode()
    assert _cells(page, "job_title") == ["Record a session", "Wait for a file", "Fail"]  # newest first
    assert _cells(page, "outcome") == ["partial", "skipped", "failed"]
    assert _cells(page, "duration_s") == ["14.0 s", "2 min 3 s", "0.2 s"]
    assert "Executed" not in page and "Error!" not in page  # neither in the rows nor the filters
    assert 'class="field-id' not in page and ">record_session_hourly<" not in page
    outcome = re.search(r'<td class="field-outcome">(.*?)</td>', page, re.S)
    assert outcome and reverse("admin:whalefall_syncsession_change", args=[partial.pk]) in outcome.group(1)
    assert reverse("admin:scheduling_jobconfig_change", args=["record_session_hourly"]) in page

    failed = viewer.get(reverse(EXECUTIONS), {"outcome": "failed"})
    assert [e.job_id for e in failed.context["cl"].result_list] == ["boom_daily"]
    mine = viewer.get(reverse(EXECUTIONS), {"job__id__exact": "wait_for_file_daily"})
    assert [e.job_id for e in mine.context["cl"].result_list] == ["wait_for_file_daily"]


def test_a_run_request_shows_its_sessions_outcome_word(viewer: Client) -> None:
    from whalefall.models import TaskRequest

    session = SyncSessionFactory(status="partial")
    TaskRequest.objects.create(task=SPECS[0].function, requested_by="otto", status="done", session=session)
    page = viewer.get(reverse("admin:whalefall_taskrequest_changelist")).content.decode()
    cell = re.search(r'<td class="field-session_link">(.*?)</td>', page, re.S)
    assert cell and "wf-status-partial" in cell.group(1) and ">partial<" in cell.group(1)
