"""A session's page as a counts table (failures first, names linked, JSON folded, durations with
retries), the read mark an operator leaves by opening it, and the failed-only filters."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from scheduling.tests.users import VIEWERS, make_user
from whalefall.models import Instance, SyncInstanceRecord, SyncSession
from whalefall.sync.phases import InstanceResult, PhaseError
from whalefall.sync.session_runner import run_sync, unit_of
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:whalefall_syncsession_changelist"
T0 = datetime(2026, 3, 4, 10, 0, 0, tzinfo=UTC)


def _change(session: SyncSession) -> str:
    return reverse("admin:whalefall_syncsession_change", args=[session.pk])


def _session(ok: int = 1, failed: int = 1, status: str = "partial") -> SyncSession:
    session = SyncSessionFactory(
        status=status,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=20),
        total_instances=ok + failed,
        successful_instances=ok,
        failed_instances=failed,
    )
    for n in range(ok):
        instance = InstanceFactory(name=f"aa-ok-{session.pk}-{n}")
        SyncInstanceRecord.objects.create(
            session=session,
            instance=instance,
            instance_name=instance.name,
            status="completed",
            started_at=T0,
            finished_at=T0 + timedelta(seconds=2.25),
            attempts=1,
            items_synced=12,
            items_created=3,
            items_updated=2,
            items_deleted=1,
            sync_details={"inventory": {"status": "completed", "failed": 0}, "collection": {"failed": 2}},
        )
    for n in range(failed):
        instance = InstanceFactory(name=f"zz-bad-{session.pk}-{n}")
        SyncInstanceRecord.objects.create(
            session=session,
            instance=instance,
            instance_name=instance.name,
            status="failed",
            failed_phase="connection",
            error_message="unreachable: connection refused",
            started_at=T0,
            finished_at=T0 + timedelta(seconds=14.04),
            attempts=4,
            attempt_history=[
                {
                    "attempt": i,
                    "phase": "connection",
                    "error": "refused",
                    "at": (T0 + timedelta(seconds=2 * i)).isoformat(),
                }
                for i in (1, 2, 3, 4)
            ],
            sync_details={"inventory": {"status": "failed"}, "failed_phase": "connection"},
        )
    return session


def _rows(page: str) -> list[tuple[str, str]]:
    """(instance name, status) of the counts table's rows, top to bottom."""
    return re.findall(
        r'<tr class="wf-record[^"]*" data-status="(\w+)">\s*<th scope="row" class="wf-instance">.*?<bdi>([^<]*)</bdi>',
        page,
        re.S,
    )


def test_the_page_is_a_counts_table_with_failures_first(viewer: Client) -> None:
    session = _session(ok=2, failed=1)
    page = viewer.get(_change(session)).content.decode()
    rows = _rows(page)
    assert [status for status, _ in rows] == ["failed", "completed", "completed"]
    assert rows[0][1].startswith("zz-bad-")  # first, though last by name
    bad = SyncInstanceRecord.objects.get(session=session, status="failed")
    assert f'href="{reverse("admin:whalefall_instance_change", args=[bad.instance_id])}"' in page
    # the JSON is folded away in each row, not a column of its own
    assert page.count('<details class="wf-record-details">') == 3
    assert "&quot;failed_phase&quot;: &quot;connection&quot;" in page
    assert "<th>sync details</th>" not in page and 'class="column-details"' not in page
    counts = re.search(r"<tfoot>.*?</tfoot>", page, re.S).group(0)
    assert [int(n) for n in re.findall(r'<td class="wf-num">(\d+)</td>', counts)] == [24, 6, 4, 2, 4]
    assert "14.0 s" in page and "2.2 s" in page  # four attempts take their whole time


@pytest.mark.django_db(transaction=True)  # the runner's worker threads use their own connections
def test_a_record_with_retries_shows_its_whole_duration(viewer: Client, settings: Any) -> None:
    """Through the runner: three transient failures, then success."""
    settings.WHALEFALL_RETRY_DELAYS = [0.2, 0.2, 0.2]
    instance = InstanceFactory(name="flaky-db")
    calls: list[int] = []

    def work(inst: Instance, session: SyncSession) -> InstanceResult:
        calls.append(1)
        if len(calls) < 4:
            raise PhaseError("connection", "connection refused", transient=True)
        return InstanceResult(items_synced=5)

    session = run_sync(
        category="account", module="test", instances=[instance], unit=unit_of("test", work), trigger="manual"
    )
    record = session.records.get()
    assert record.attempts == 4 and len(record.attempt_history) == 3
    page = viewer.get(_change(session)).content.decode()
    duration = re.search(r'<td class="wf-num wf-duration">([^<]+)</td>', page).group(1)
    assert duration not in ("0.0 s", "< 0.1 s", "-")
    assert float(duration.split()[0]) >= 0.6  # three waits of 0.2 s


def test_a_record_whose_start_was_reset_counts_from_its_first_failure(viewer: Client) -> None:
    """Records written before the start time was kept across attempts: the history tells."""
    session = _session(ok=0, failed=1, status="failed")
    SyncInstanceRecord.objects.filter(session=session).update(
        started_at=T0 + timedelta(seconds=13.95), finished_at=T0 + timedelta(seconds=14)
    )
    page = viewer.get(_change(session)).content.decode()
    assert re.search(r'<td class="wf-num wf-duration">12.0 s</td>', page)  # from the first failure at +2 s


def test_names_from_servers_are_escaped(viewer: Client) -> None:
    session = _session(ok=0, failed=1, status="failed")
    SyncInstanceRecord.objects.filter(session=session).update(
        instance_name="<script>alert(1)</script>", error_message="<b>bad</b>"
    )
    page = viewer.get(_change(session)).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>bad</b>" not in page


def test_an_operator_opening_a_finished_session_reads_it(operator: Client) -> None:
    finished, running = _session(), _session(status="running")
    viewer = Client()
    viewer.force_login(make_user("vera", VIEWERS))
    viewer.get(_change(finished))
    finished.refresh_from_db()
    assert not finished.is_read  # a viewer cannot mark sessions read, by opening them either
    assert "wf-unread" in operator.get(reverse(CHANGELIST)).content.decode()
    page = operator.get(_change(finished)).content.decode()
    finished.refresh_from_db()
    assert finished.is_read and finished.read_at is not None
    assert "Read:" in page and "not yet" not in page
    operator.get(_change(running))
    running.refresh_from_db()
    assert not running.is_read  # its outcome is not known yet
    listed = operator.get(reverse(CHANGELIST)).content.decode()
    assert listed.count('class="wf-unread"') == 1  # only the running one is still unread


def test_the_page_can_show_only_the_failed_instances(viewer: Client) -> None:
    session = _session(ok=3, failed=2)
    page = viewer.get(_change(session)).content.decode()
    assert "Show only the 2 failed instances" in page
    only = viewer.get(_change(session), {"records": "failed"}).content.decode()
    assert [status for status, _ in _rows(only)] == ["failed", "failed"]
    assert "Showing 2 failed instances." in only


def test_the_page_keeps_its_query_count_with_many_records(viewer: Client) -> None:
    small = _session(ok=1, failed=1)
    viewer.get(_change(small))
    with CaptureQueriesContext(connection) as few:
        viewer.get(_change(small))
    big = _session(ok=60, failed=40)
    with CaptureQueriesContext(connection) as many:
        page = viewer.get(_change(big)).content.decode()
    assert len(_rows(page)) == 100
    assert len(many) == len(few)


def test_the_list_filters_sessions_with_a_failed_instance_in_constant_queries(
    viewer: Client, django_assert_max_num_queries: Any
) -> None:
    with_failure = _session(ok=1, failed=1)
    clean = _session(ok=2, failed=0, status="completed")
    response = viewer.get(reverse(CHANGELIST), {"failed_instances": "yes"})
    assert [s.pk for s in response.context["cl"].result_list] == [with_failure.pk]
    response = viewer.get(reverse(CHANGELIST), {"failed_instances": "no"})
    assert [s.pk for s in response.context["cl"].result_list] == [clean.pk]
    with CaptureQueriesContext(connection) as few:
        viewer.get(reverse(CHANGELIST), {"failed_instances": "yes"})
    for n in range(40):  # sessions of hundreds of instances
        session = _session(ok=0, failed=0, status="partial")
        instances = [Instance(name=f"fleet-{n}-{i}", db_type="mysql", host="h") for i in range(200)]
        Instance.objects.bulk_create(instances)
        SyncInstanceRecord.objects.bulk_create(
            SyncInstanceRecord(
                session=session, instance_name=f"fleet-{n}-{i}", status="failed" if i == 199 else "completed"
            )
            for i in range(200)
        )
    with django_assert_max_num_queries(len(few)):
        response = viewer.get(reverse(CHANGELIST), {"failed_instances": "yes"})
    assert response.context["cl"].result_count == 41


@pytest.mark.parametrize("language", ["en-us", "zh-hans"])
def test_pages_show_one_iso_datetime_in_every_language(viewer: Client, settings: Any, language: str) -> None:
    settings.LANGUAGE_CODE = language
    settings.TIME_ZONE = "Asia/Shanghai"
    session = _session()
    detail = viewer.get(_change(session)).content.decode()
    listed = viewer.get(reverse(CHANGELIST)).content.decode()
    assert ("首页" in listed) is (language == "zh-hans")  # the admin really speaks the language
    local = "2026-03-04 18:00:00"  # T0 (10:00 UTC) in Shanghai
    assert local in detail and local in listed
    assert "March" not in detail and "p.m." not in listed and "下午" not in listed
    assert "2026-03-04 18:00:02" in detail  # the first attempt's failure, in the details fold


def test_it_marks_the_session_read_only_once(operator: Client) -> None:
    session = _session()
    operator.get(_change(session))
    session.refresh_from_db()
    first = session.read_at
    operator.get(_change(session))
    session.refresh_from_db()
    assert session.read_at == first and first <= timezone.now()
