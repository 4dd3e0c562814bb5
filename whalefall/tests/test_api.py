from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from whalefall.choices import SessionStatus
from whalefall.models import TaskRequest
from whalefall.sync.locks import acquire_lock
from whalefall.tests.factories import SyncSessionFactory


def client_with(*perms: str, staff: bool = True) -> Client:
    user = User.objects.create_user(f"u{User.objects.count()}", password="pw", is_staff=staff)
    user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_it_requires_login_and_permission() -> None:
    assert Client().get("/api/sync/status").status_code == 401
    assert client_with("view_syncsession", staff=False).get("/api/sync/status").status_code == 403
    assert client_with().get("/api/sync/sessions").status_code == 403
    viewer = client_with("view_syncsession")
    assert viewer.get("/api/sync/status").status_code == 200
    assert viewer.post("/api/sync/sessions/read-all").status_code == 403


@pytest.mark.django_db
def test_it_reports_status_with_lock_owner_and_last_session() -> None:
    SyncSessionFactory(category="capacity", status=SessionStatus.COMPLETED)
    lock = acquire_lock("account")
    data = client_with("view_syncsession").get("/api/sync/status").json()["data"]
    assert data["account"]["running"] is True and data["account"]["locked_by"] == lock.owner
    assert data["capacity"]["running"] is False and data["capacity"]["last_session"]["status"] == "completed"
    assert data["aggregation"]["last_session"] is None


@pytest.mark.django_db
def test_it_pages_sessions_and_counts_unread() -> None:
    SyncSessionFactory.create_batch(3, category="account", status=SessionStatus.FAILED)
    SyncSessionFactory(category="capacity", is_read=True)
    resp = (
        client_with("view_syncsession")
        .get("/api/sync/sessions?page=2&per_page=2&category=account")
        .json()["data"]
    )
    assert (resp["total"], resp["pages"], resp["page"], len(resp["sessions"])) == (3, 2, 2, 1)
    assert resp["unread_count"] == 3 and resp["unread_failures"] == 3
    assert client_with("view_syncsession").get("/api/sync/sessions?category=nope").status_code == 400


@pytest.mark.django_db
def test_it_marks_read_and_queues_a_manual_trigger(alive_scheduler) -> None:  # type: ignore[no-untyped-def]
    s1, _ = SyncSessionFactory.create_batch(2)
    manager = client_with("view_syncsession", "manage_syncsession")
    detail = manager.get(f"/api/sync/sessions/{s1.session_id}").json()["data"]
    assert detail["session_id"] == str(s1.session_id) and detail["records"] == []
    assert manager.post(f"/api/sync/sessions/{s1.session_id}/read").status_code == 200
    s1.refresh_from_db()
    assert s1.is_read and s1.read_at
    assert manager.post("/api/sync/sessions/read-all").json()["count"] == 1
    resp = manager.post("/api/sync/account/trigger")
    assert resp.status_code == 202
    req = TaskRequest.objects.get(pk=resp.json()["request_id"])
    assert req.task == "accounts_sync.tasks.sync_accounts" and req.kwargs["trigger"] == "manual"
    assert manager.post("/api/sync/bogus/trigger").status_code == 404
    # The request can be followed until it ends.
    state = manager.get(resp.json()["url"]).json()["data"]
    assert (state["id"], state["status"], state["session_id"]) == (req.pk, "pending", None)
    # A second trigger while the first is queued is refused at once, with the reason.
    again = manager.post("/api/sync/account/trigger")
    assert again.status_code == 409 and f"request {req.pk}" in again.json()["error"]
    assert TaskRequest.objects.count() == 1


@pytest.mark.django_db
def test_it_refuses_a_trigger_when_no_scheduler_is_alive() -> None:
    manager = client_with("view_syncsession", "manage_syncsession")
    resp = manager.post("/api/sync/capacity/trigger")
    assert resp.status_code == 409 and "No scheduler" in resp.json()["error"]
    assert not TaskRequest.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_trigger_while_a_live_run_holds_the_lock(alive_scheduler) -> None:  # type: ignore[no-untyped-def]
    from whalefall.sync.locks import acquire_lock

    handle = acquire_lock("capacity")  # held by this (live) process
    manager = client_with("view_syncsession", "manage_syncsession")
    resp = manager.post("/api/sync/capacity/trigger")
    assert resp.status_code == 409 and handle.owner in resp.json()["error"]
    handle.release()
    assert manager.post("/api/sync/capacity/trigger").status_code == 202


@pytest.mark.django_db
def test_it_shows_an_unclaimed_request_as_expired(alive_scheduler) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.utils import timezone

    manager = client_with("view_syncsession", "manage_syncsession")
    request_id = manager.post("/api/sync/account/trigger").json()["request_id"]
    TaskRequest.objects.filter(pk=request_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert manager.get(f"/api/requests/{request_id}/").json()["data"]["status"] == "expired"
    assert not TaskRequest.objects.pending().exists()  # never claimed
    assert TaskRequest.objects.expire() == 1
    assert TaskRequest.objects.get(pk=request_id).status == "expired"
    # An expired request does not block a new one.
    assert manager.post("/api/sync/account/trigger").status_code == 202


@pytest.mark.django_db
def test_api_errors_are_json() -> None:
    user = User.objects.create_superuser("root", "r@example.com", "pw")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    for response, status in [
        (client.get("/api/requests/999999/"), 404),
        (client.get("/api/sync/sessions/00000000-0000-0000-0000-000000000000"), 404),
        (client.get("/api/no/such/endpoint"), 404),
        (client.post("/api/sync/sessions/read-all"), 403),  # no CSRF token
        (client.get("/api/sync/sessions/read-all"), 405),
        (client.get("/api/scheduler/jobs/no_such_job/"), 404),
        (client.post("/api/scheduler/jobs/no_such_job/run/"), 403),
    ]:
        assert response.status_code == status, response.content
        assert response["Content-Type"] == "application/json", response.content
        assert response.json()["error"]
    assert "CSRF" in client.post("/api/sync/sessions/read-all").json()["error"]


@pytest.mark.django_db
def test_it_enforces_csrf_on_writes() -> None:
    user = User.objects.create_superuser("admin", "a@example.com", "pw")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/api/sync/sessions/read-all").status_code == 403
