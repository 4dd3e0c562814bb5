"""In a real Chromium at 1400 px: the jobs list reads at a glance without sideways scrolling,
a job's page previews the scheduler's own next runs, and a session's page puts failures first.
Screenshots: jobs-list.png, job-detail.png, session-detail.png under test-artifacts/."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from scheduling.models import JobConfig, JobRunSession
from scheduling.tests.users import OPERATORS, PASSWORD, make_user
from whalefall.models import SyncInstanceRecord, SyncSession
from whalefall.tests.browser import csp_violations, log_in, shot
from whalefall.tests.factories import InstanceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _partial_session(suffix: str = "") -> SyncSession:
    """An account sync over two instances: one failed after four attempts, one fine."""
    started = timezone.now().replace(microsecond=0) - timedelta(minutes=20)
    session = SyncSession.objects.create(
        category="account",
        trigger="scheduled",
        created_by="scheduler",
        status="partial",
        started_at=started,
        finished_at=started + timedelta(seconds=14.2),
        total_instances=2,
        successful_instances=1,
        failed_instances=1,
    )
    ok = InstanceFactory(name=f"db-orders-primary{suffix}")
    bad = InstanceFactory(name=f"wfx-mariadb-down{suffix}")
    SyncInstanceRecord.objects.create(
        session=session,
        instance=ok,
        instance_name=ok.name,
        status="completed",
        started_at=started,
        finished_at=started + timedelta(seconds=1.3),
        attempts=1,
        items_synced=42,
        items_created=2,
        items_updated=1,
        sync_details={"inventory": {"status": "completed", "created": 2, "failed": 0}},
    )
    SyncInstanceRecord.objects.create(
        session=session,
        instance=bad,
        instance_name=bad.name,
        status="failed",
        failed_phase="connection",
        error_message="unreachable: [Errno 111] Connection refused",
        started_at=started,
        finished_at=started + timedelta(seconds=14.1),
        attempts=4,
        attempt_history=[
            {
                "attempt": n,
                "phase": "connection",
                "error": "unreachable: [Errno 111] Connection refused",
                "at": (started + timedelta(seconds=2**n - 2)).isoformat(),
            }
            for n in (1, 2, 3, 4)
        ],
        sync_details={"inventory": {"status": "failed"}, "failed_phase": "connection"},
    )
    return session


def _history(session: SyncSession) -> None:
    """Executions as the scheduler leaves them: a partial sync, a failed run, an edited trigger."""
    run_time = session.started_at
    job = DjangoJob.objects.get(pk="record_session_hourly")
    DjangoJobExecution.objects.create(
        job=job,
        status="Partial",
        run_time=run_time,
        duration=Decimal("14.04177"),
        finished=Decimal(str(run_time.timestamp() + 14.04177)),
    )
    JobRunSession.objects.create(job_id=job.id, run_time=run_time, session=session)
    JobConfig.objects.filter(pk=job.id).update(
        last_session=session, last_finished_at=run_time + timedelta(seconds=14)
    )
    boom = DjangoJob.objects.get(pk="boom_daily")
    DjangoJobExecution.objects.create(
        job=boom,
        status="Error!",
        run_time=run_time - timedelta(hours=3),
        duration=Decimal("123.4"),
        finished=Decimal(str(run_time.timestamp() - 3 * 3600 + 123.4)),
        exception="RuntimeError: sample task failed on purpose",
    )


def _fits(browser: Any) -> dict[str, Any]:
    return browser.execute_script(
        "const list = document.querySelector('#result_list');"
        "const box = list.closest('.results');"
        "return {page: document.documentElement.scrollWidth, view: window.innerWidth,"
        " box: box.scrollWidth, boxView: box.clientWidth, list: list.getBoundingClientRect().right,"
        " headers: [...list.querySelectorAll('thead th')].map(th => [th.innerText.trim(),"
        "   th.getBoundingClientRect().right])};"
    )


def test_jobs_and_a_session_read_at_a_glance_at_1400_px(
    browser: Any, live_server: Any, make_service: Any
) -> None:
    from selenium.webdriver.common.by import By

    service = make_service(lease_seconds=120)  # alive for the whole test
    service.step()  # a real scheduler stores the jobs with their triggers and next runs
    assert service.active
    JobConfig.objects.get(pk="wait_for_file_daily").set_trigger(
        "cron", {"day_of_week": "mon-fri", "hour": "8-20", "minute": "*/15"}
    )
    session = _partial_session()
    _history(session)
    make_user("otto", OPERATORS)  # with the action checkboxes: the widest list
    log_in(browser, live_server, "otto", PASSWORD, expect="Fleet overview")

    browser.get(f"{live_server.url}/admin/scheduling/jobconfig/")
    fits = _fits(browser)
    assert fits["page"] <= fits["view"], f"the page scrolls sideways: {fits}"
    assert fits["box"] <= fits["boxView"], f"the jobs table scrolls sideways: {fits}"
    shown = {name: right for name, right in fits["headers"] if name}
    for column in ("NAME", "TRIGGER", "NEXT RUN", "STATE", "LAST OUTCOME", "LAST RUN", "DURATION"):
        assert column in shown and shown[column] <= fits["view"], (column, fits)
    rows = {
        row.find_element(By.CSS_SELECTOR, "th.field-job_name").text: row
        for row in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    }
    record = rows["Record a session"]
    assert record.find_element(By.CSS_SELECTOR, "td.field-trigger_in_words").text == "Every hour"
    assert record.find_element(By.CSS_SELECTOR, "td.field-last_outcome").text == "partial"
    assert record.find_element(By.CSS_SELECTOR, "td.field-last_duration").text == "14.0 s"
    stored_next = timezone.localtime(DjangoJob.objects.get(pk="record_session_hourly").next_run_time)
    next_run = record.find_element(By.CSS_SELECTOR, "td.field-next_run").text
    assert next_run.split() == stored_next.strftime("%Y-%m-%d %H:%M:%S").split()  # may wrap at the space
    assert rows["Fail"].find_element(By.CSS_SELECTOR, "td.field-last_outcome").text == "failed"
    assert rows["Fail"].find_element(By.CSS_SELECTOR, "td.field-last_duration").text == "2 min 3 s"
    edited = rows["Wait for a file"].find_element(By.CSS_SELECTOR, "td.field-trigger_in_words").text
    assert edited.startswith("Every 15 minutes, between 08:00 and 20:59, Monday through Friday")
    assert "edited in the admin" in edited
    shot(browser, "jobs-list")

    record.find_element(By.CSS_SELECTOR, "th.field-job_name a").click()
    upcoming = browser.find_elements(By.CSS_SELECTOR, "ol.wf-upcoming li")
    assert upcoming[0].text == stored_next.strftime("%Y-%m-%d %H:%M:%S")  # agrees with "next run"
    assert [li.text[-5:] for li in upcoming] == ["00:00"] * 5  # on the hour, as the trigger says
    assert "Edited in the admin:" in browser.page_source
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1400
    shot(browser, "job-detail")

    browser.get(f"{live_server.url}/admin/whalefall/syncsession/{session.pk}/change/")
    rows = browser.find_elements(By.CSS_SELECTOR, "#record-counts tbody tr")
    assert [r.get_attribute("data-status") for r in rows] == ["failed", "completed"]
    first = rows[0]
    assert first.find_element(By.CSS_SELECTOR, "th a").text == "wfx-mariadb-down"
    assert first.find_element(By.CSS_SELECTOR, ".wf-duration").text == "14.1 s"
    assert not first.find_element(By.CSS_SELECTOR, "details").get_attribute("open")  # JSON folded
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1400
    shot(browser, "session-detail")

    _partial_session("-2")  # another one, not opened yet
    browser.get(f"{live_server.url}/admin/whalefall/syncsession/")
    weights = browser.execute_script(
        "return [...document.querySelectorAll('#result_list tbody tr')].map(tr =>"
        " [!!tr.querySelector('.wf-unread'), getComputedStyle(tr.querySelector('th, td + td')).fontWeight]);"
    )
    assert sorted(weights) == [[False, "400"], [True, "700"]]  # opened: read; the new one: bold
    assert csp_violations(browser) == []
