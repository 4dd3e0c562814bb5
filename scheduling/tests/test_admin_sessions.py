from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from whalefall import task_registry
from whalefall.models import SyncInstanceRecord, SyncSession, TaskRequest
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:whalefall_syncsession_changelist"


def _session_with_records(category: str = "account", status: str = "partial") -> SyncSession:
    session = SyncSessionFactory(
        category=category, status=status, total_instances=2, successful_instances=1, failed_instances=1
    )
    ok, bad = InstanceFactory(), InstanceFactory()
    SyncInstanceRecord.objects.create(
        session=session,
        instance=ok,
        instance_name=ok.name,
        status="completed",
        items_synced=12,
        sync_details={
            "inventory": {"status": "completed", "created": 3},
            "collection": {"processed_records": 12},
        },
    )
    SyncInstanceRecord.objects.create(
        session=session,
        instance=bad,
        instance_name=bad.name,
        status="failed",
        failed_phase="connection",
        error_message="unreachable: connection refused",
    )
    return session


def _action(client: Client, action: str, *pks: int) -> Any:
    return client.post(reverse(CHANGELIST), {"action": action, "_selected_action": list(pks)}, follow=True)


def test_it_lists_sessions_with_badges_counts_and_unread_marker(viewer: Client) -> None:
    _session_with_records()
    SyncSessionFactory(status="completed", is_read=True)
    page = viewer.get(reverse(CHANGELIST)).content.decode()
    assert "wf-status-partial" in page and "wf-status-completed" in page
    assert page.count('class="wf-unread"') == 1
    assert "1 / 1 / 2" in page
    assert "mark-all-read" not in page  # managing only


def test_it_lists_sessions_without_a_query_per_row(viewer: Client) -> None:
    _session_with_records()
    viewer.get(reverse(CHANGELIST))
    with CaptureQueriesContext(connection) as few:
        viewer.get(reverse(CHANGELIST))
    for _ in range(10):
        _session_with_records()
    with CaptureQueriesContext(connection) as many:
        viewer.get(reverse(CHANGELIST))
    assert len(many) == len(few)


def test_it_filters_unread_failures(viewer: Client) -> None:
    failed = SyncSessionFactory(status="failed")
    interrupted = SyncSessionFactory(status="interrupted")  # its process died mid-run
    SyncSessionFactory(status="completed")
    SyncSessionFactory(status="cancelled")
    SyncSessionFactory(status="failed", is_read=True)
    response = viewer.get(reverse(CHANGELIST), {"unread_failures": "yes"})
    assert {s.pk for s in response.context["cl"].result_list} == {failed.pk, interrupted.pk}
    assert SyncSession.objects.unread_failures().count() == 2  # the admin index banner's count


def test_it_shows_records_inline_with_phase_error_and_readable_details(viewer: Client) -> None:
    session = _session_with_records()
    page = viewer.get(reverse("admin:whalefall_syncsession_change", args=[session.pk])).content.decode()
    assert "unreachable: connection refused" in page
    assert "Connection" in page
    assert "&quot;processed_records&quot;: 12" in page
    assert "<pre" in page


def test_it_marks_sessions_read_for_operators_only(viewer: Client, operator: Client) -> None:
    session = _session_with_records()
    other = SyncSessionFactory(status="failed")
    response = _action(operator, "mark_read", session.pk)
    assert "Marked 1 session as read." in [str(m) for m in response.context["messages"]]
    session.refresh_from_db()
    assert session.is_read and session.read_at is not None
    operator.post(reverse("admin:whalefall_syncsession_mark_all_read"))
    other.refresh_from_db()
    assert other.is_read


def test_it_refuses_mark_read_and_rerun_to_viewers(viewer: Client) -> None:
    session = _session_with_records()
    _action(viewer, "mark_read", session.pk)
    _action(viewer, "rerun_failed_instances", session.pk)
    assert viewer.post(reverse("admin:whalefall_syncsession_mark_all_read")).status_code == 403
    session.refresh_from_db()
    assert not session.is_read
    assert not TaskRequest.objects.exists()


def test_it_queues_a_rerun_of_the_failed_instances(operator: Client, alive_scheduler: Any) -> None:
    session = _session_with_records(category="capacity")
    clean = SyncSessionFactory(status="completed")
    response = _action(operator, "rerun_failed_instances", session.pk, clean.pk)
    request = TaskRequest.objects.get()
    failed_id = session.records.get(status="failed").instance_id
    assert request.task == task_registry.for_category("capacity").path  # type: ignore[union-attr]
    assert request.kwargs == {"instance_ids": [failed_id], "trigger": "manual", "created_by": "otto"}
    assert request.requested_by == "otto"
    assert any(
        "Queued 1 rerun of failed instances" in str(m) and "1 session had no failed instance." in str(m)
        for m in response.context["messages"]
    )


def test_a_rerun_takes_the_instances_a_dead_process_left_unfinished(
    operator: Client, alive_scheduler: Any
) -> None:
    session = _session_with_records(category="capacity", status="interrupted")
    left = InstanceFactory()
    SyncInstanceRecord.objects.create(
        session=session,
        instance=left,
        instance_name=left.name,
        status="interrupted",
        error_message="interrupted",
    )
    SyncInstanceRecord.objects.create(
        session=session,
        instance=InstanceFactory(),
        instance_name="x",
        status="cancelled",
        error_message="by hand",
    )
    _action(operator, "rerun_failed_instances", session.pk)
    failed_id = session.records.get(status="failed").instance_id
    assert sorted(TaskRequest.objects.get().kwargs["instance_ids"]) == sorted([failed_id, left.pk])


def test_it_keeps_session_data_read_only(operator: Client) -> None:
    session = _session_with_records()
    url = reverse("admin:whalefall_syncsession_change", args=[session.pk])
    operator.post(url, {"status": "completed"})
    session.refresh_from_db()
    assert session.status == "partial"
    assert operator.post(reverse("admin:whalefall_syncsession_delete", args=[session.pk])).status_code == 403


def test_it_refuses_a_rerun_when_no_scheduler_is_alive(operator: Client) -> None:
    session = _session_with_records(category="capacity")
    response = _action(operator, "rerun_failed_instances", session.pk)
    assert not TaskRequest.objects.exists()
    assert any("not queued: cannot run now" in str(m) for m in response.context["messages"])
