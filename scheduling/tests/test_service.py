from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from scheduling.models import JobConfig, SchedulerLease
from scheduling.tests.conftest import SAMPLE
from scheduling.tests.helpers import wait_until
from whalefall.dispatch import submit
from whalefall.models import SyncSession, TaskRequest
from whalefall.sync.recovery import INTERRUPTED
from whalefall.tests.factories import SyncSessionFactory


def _done(request: TaskRequest) -> TaskRequest | None:
    request.refresh_from_db()
    return request if request.status in ("done", "failed", "refused") else None


@pytest.mark.django_db
def test_it_becomes_active_and_warns_about_unavailable_jobs(make_service: Any) -> None:
    service = make_service()
    service.step()
    assert service.active
    lease = SchedulerLease.current()
    assert (lease.token, lease.pid, lease.alive) == (service.token, service.pid, True)
    assert "Active: scheduler" in service.lines[0]
    assert any("sync_accounts_every_30min is unavailable" in line for line in service.lines)
    assert not DjangoJob.objects.filter(pk="sync_accounts_every_30min").exists()


@pytest.mark.django_db
def test_it_waits_as_standby_and_takes_over_when_the_lease_is_released(make_service: Any) -> None:
    first, second = make_service(), make_service()
    first.step()
    second.step()
    second.step()
    assert first.active and not second.active
    assert len([line for line in second.lines if line.startswith("Standby")]) == 1
    assert first.owner in second.lines[0]
    first.shutdown()
    assert not SchedulerLease.current().alive
    second.step()
    assert second.active


@pytest.mark.django_db
def test_it_takes_over_an_expired_lease_and_the_old_holder_steps_down(make_service: Any) -> None:
    first, second = make_service(), make_service()
    first.step()
    SchedulerLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))  # holder "died"
    second.step()
    assert second.active
    first.lease.renewed_at = 0  # force a heartbeat now
    assert first.heartbeat() is False
    assert not first.active
    assert "Lost the scheduler lease" in first.lines[-1]
    assert SchedulerLease.current().token == second.token


@pytest.mark.django_db
def test_it_recovers_interrupted_sessions_and_requests_at_start(make_service: Any) -> None:
    session = SyncSessionFactory(owner="somehost-1")  # running, no lock: its process is gone
    request = TaskRequest.objects.create(task=f"{SAMPLE}.record_session", status="running", claimed_by="x/1")
    make_service().step()
    session.refresh_from_db()
    request.refresh_from_db()
    assert session.status == "interrupted" and session.error.startswith(str(INTERRUPTED))
    assert (request.status, request.error) == ("failed", "interrupted: the scheduler running it stopped")


@pytest.mark.django_db(transaction=True)
def test_it_runs_a_requested_job_and_records_execution_and_session(make_service: Any) -> None:
    service = make_service()
    service.step()
    request = JobConfig.objects.get(pk="record_session_hourly").request_run(by="alice")
    assert service.process_requests() == 1
    request = wait_until(lambda: _done(request), what="the request to finish")
    assert request.status == "done", request.error
    session = SyncSession.objects.get(session_id=request.result["session_id"])
    assert request.claimed_by == service.claim_label
    config = JobConfig.objects.get(pk="record_session_hourly")
    assert config.last_session == session
    execution = wait_until(
        lambda: DjangoJobExecution.objects.filter(job_id="record_session_hourly", status="Executed").first(),
        what="the execution record",
    )
    assert execution.duration is not None
    from scheduling.models import JobRunSession

    link = wait_until(lambda: JobRunSession.objects.filter(job_id="record_session_hourly").first())
    assert (link.run_time, link.session) == (execution.run_time, session)


@pytest.mark.django_db(transaction=True)
def test_it_refuses_run_now_while_the_job_runs(make_service: Any, tmp_path: Path) -> None:
    service = make_service()
    service.step()
    config = JobConfig.objects.get(pk="wait_for_file_daily")
    config.kwargs = {"path": str(tmp_path / "go")}
    config.save()
    first = config.request_run(by="alice")
    service.process_requests()
    second = config.request_run(by="bob")
    service.process_requests()
    second.refresh_from_db()
    assert second.status == "refused"
    assert "already running (max_instances=1)" in second.error
    (tmp_path / "go").touch()
    assert wait_until(lambda: _done(first)).status == "done"


@pytest.mark.django_db(transaction=True)
def test_it_runs_requests_without_a_job_with_their_kwargs(make_service: Any) -> None:
    service = make_service()
    service.step()
    request = submit(f"{SAMPLE}.record_session", requested_by="bob", trigger="manual", created_by="bob")
    service.step()
    request = wait_until(lambda: _done(request))
    assert request.status == "done"
    session = SyncSession.objects.get(session_id=request.result["session_id"])
    assert (session.trigger, session.created_by) == ("manual", "bob")
    assert not DjangoJobExecution.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_records_failures_with_their_traceback(make_service: Any) -> None:
    service = make_service()
    service.step()
    failing = JobConfig.objects.get(pk="boom_daily").request_run(by="alice")
    unknown = submit("scheduling.not_yet.sync", requested_by="bob")
    service.process_requests()
    failing = wait_until(lambda: _done(failing))
    assert (failing.status, failing.error) == ("failed", "RuntimeError: sample task failed on purpose")
    unknown.refresh_from_db()
    assert unknown.status == "failed"
    assert "module scheduling.not_yet is not installed" in unknown.error
    execution = wait_until(
        lambda: DjangoJobExecution.objects.filter(job_id="boom_daily", status="Error!").first()
    )
    assert "sample task failed on purpose" in execution.traceback


@pytest.mark.django_db(transaction=True)
def test_it_runs_scheduled_jobs_when_due(make_service: Any) -> None:
    service = make_service()
    service.step()
    service.scheduler.modify_job("record_session_hourly", next_run_time=timezone.now())
    service.scheduler.wakeup()
    wait_until(
        lambda: JobConfig.objects.get(pk="record_session_hourly").last_session_id, what="a scheduled run"
    )
    assert SyncSession.objects.filter(trigger="scheduled").count() == 1


@pytest.mark.django_db
def test_it_retries_activation_after_a_failed_start(make_service: Any, monkeypatch: Any) -> None:
    from django.db import DatabaseError

    from scheduling import job_configs

    service = make_service()
    real = job_configs.reconcile_all
    monkeypatch.setattr(
        job_configs, "reconcile_all", lambda scheduler: (_ for _ in ()).throw(DatabaseError("gone"))
    )
    service.step()
    assert not service.active
    assert SchedulerLease.current().token == service.token  # still ours: nobody else starts meanwhile
    monkeypatch.setattr(job_configs, "reconcile_all", real)
    service.step()
    assert service.active


@pytest.mark.django_db
def test_it_fails_a_request_it_cannot_start_instead_of_leaving_it_running(make_service: Any) -> None:
    service = make_service()
    service.step()
    request = submit(f"{SAMPLE}.record_session", requested_by="bob")
    TaskRequest.objects.filter(pk=request.pk).update(kwargs=["not", "a", "mapping"])
    service.process_requests()
    request.refresh_from_db()
    assert request.status == "failed"
    assert request.error.startswith("could not start:")


@pytest.mark.django_db(transaction=True)
def test_a_bounded_stop_keeps_the_lease_then_cancels_at_a_safe_point(make_service: Any) -> None:
    """SIGTERM while a run is in progress: no new work, the lease is renewed (a standby cannot
    start), the run gets its grace period, is then cancelled between instances, and only then is
    the lease released."""
    import threading

    from whalefall.sync import cancel
    from whalefall.tests.factories import InstanceFactory

    InstanceFactory.create_batch(8)
    service = make_service(lease_seconds=2)
    service.stop_grace = 0.5
    service.step()
    request = submit(f"{SAMPLE}.slow_sync", requested_by="alice", seconds=0.4)
    service.process_requests()
    wait_until(lambda: SyncSession.objects.filter(status="running").exists(), what="the run to start")
    standby = make_service(lease_seconds=2)
    service.request_stop()
    stopper = threading.Thread(target=service.shutdown)
    stopper.start()
    try:
        seen_holder = set()
        while stopper.is_alive():
            standby.step()  # tries to claim the lease the whole time
            seen_holder.add(SchedulerLease.current().token)
            assert not standby.active, "a standby became active while the old scheduler still ran"
            time.sleep(0.3)
        stopper.join()
    finally:
        cancel.reset()
    assert seen_holder == {service.token}  # renewed, never lost, until the release
    session = SyncSession.objects.get()
    statuses = list(session.records.values_list("status", flat=True))
    assert session.status == "cancelled" and "cancelled" in statuses and "completed" in statuses
    assert not session.records.filter(status__in=["running", "pending"]).exists()
    request.refresh_from_db()
    assert (request.status, request.session_id) == ("cancelled", session.pk)
    assert "Grace period over" in "\n".join(service.lines)
    standby.step()
    assert standby.active  # after the release, at once


@pytest.mark.django_db(transaction=True)
def test_a_requested_run_is_manual_by_the_asker_and_a_conflict_leaves_a_skipped_session(
    make_service: Any,
) -> None:
    from whalefall.sync.locks import acquire_lock

    service = make_service()
    service.step()
    handle = acquire_lock("account")
    try:
        request = submit(f"{SAMPLE}.slow_sync", requested_by="carol", instances=1)
        service.process_requests()
        request = wait_until(lambda: _closed(request), what="the request to end")
    finally:
        handle.release()
    session = SyncSession.objects.get()
    assert (session.status, session.trigger, session.created_by) == ("skipped", "manual", "carol")
    assert handle.owner in session.error
    assert (request.status, request.session_id) == ("skipped", session.pk)
    assert handle.owner in request.error


@pytest.mark.django_db
def test_an_expired_request_is_never_run(make_service: Any) -> None:
    service = make_service()
    service.step()
    request = submit(f"{SAMPLE}.record_session", requested_by="dave")
    TaskRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert service.process_requests() == 0
    request.refresh_from_db()
    assert request.status == "expired" and request.started_at is None
    assert not SyncSession.objects.exists()


def _closed(request: TaskRequest) -> TaskRequest | None:
    request.refresh_from_db()
    return request if request.status not in ("pending", "running") else None
