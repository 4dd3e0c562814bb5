"""The session ledger and the runner that drives it: statuses, totals, retries, locks."""

from __future__ import annotations

import threading

import pytest

from whalefall.choices import RecordStatus, SessionStatus, SyncCategory, SyncPhase, SyncTrigger
from whalefall.connections import ConnectorError, ErrorKind
from whalefall.models import Instance, SyncSession
from whalefall.sync import ledger
from whalefall.sync.locks import LockConflict, acquire_lock
from whalefall.sync.phases import InstanceResult, PhaseError
from whalefall.sync.session_runner import run_sync, unit_of
from whalefall.tests.factories import InstanceFactory


def ok(instance: Instance, session: SyncSession) -> InstanceResult:
    return InstanceResult(
        items_synced=3, items_created=1, sync_details={"inventory": {"status": "completed"}}
    )


def run(instances: list[Instance], work=ok, **kw: object) -> SyncSession:  # type: ignore[no-untyped-def]
    return run_sync(
        category=SyncCategory.ACCOUNT,
        module="account_sync",
        instances=instances,
        unit=unit_of("account_sync", work),
        **kw,
    )  # type: ignore[arg-type]


@pytest.mark.django_db
def test_it_walks_a_record_through_the_ledger() -> None:
    instance = InstanceFactory()
    session = ledger.create_session(SyncCategory.CAPACITY, SyncTrigger.MANUAL, created_by="alice")
    [record] = ledger.add_instance_records(session, [instance])
    assert (record.status, record.instance_name, session.total_instances) == ("pending", instance.name, 1)
    record.start()
    record.refresh_from_db()
    assert record.status == RecordStatus.RUNNING and record.started_at and record.attempts == 1
    record.complete(InstanceResult(items_synced=5, items_created=2, sync_details={"a": 1}))
    record.refresh_from_db()
    assert (record.status, record.items_synced, record.items_created, record.sync_details) == (
        "completed",
        5,
        2,
        {"a": 1},
    )
    session.finalize()
    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED and session.finished_at and session.duration is not None


@pytest.mark.django_db(transaction=True)
def test_it_completes_when_every_instance_succeeds() -> None:
    instances = InstanceFactory.create_batch(5)
    session = run(instances)
    assert session.status == SessionStatus.COMPLETED
    assert (session.total_instances, session.successful_instances, session.failed_instances) == (5, 5, 0)
    assert set(session.records.values_list("status", flat=True)) == {"completed"}
    assert session.records.get(instance=instances[0]).items_synced == 3


@pytest.mark.django_db(transaction=True)
def test_it_is_partial_when_some_fail_and_keeps_the_phase() -> None:
    instances = InstanceFactory.create_batch(3)
    bad = instances[1]

    def work(instance: Instance, session: SyncSession) -> InstanceResult:
        if instance.pk == bad.pk:
            raise PhaseError(
                SyncPhase.INVENTORY, "listing failed", sync_details={"inventory": {"status": "failed"}}
            )
        return ok(instance, session)

    session = run(instances, work)
    assert session.status == SessionStatus.PARTIAL
    assert (session.successful_instances, session.failed_instances) == (2, 1)
    failed = session.records.get(instance=bad)
    assert (failed.status, failed.failed_phase, failed.error_message) == (
        "failed",
        "inventory",
        "listing failed",
    )
    # The full shape, every counter of both phases, and the phase that failed.
    stats_keys = {"status", "processed_records", "created", "refreshed", "reactivated"}
    assert failed.sync_details["failed_phase"] == "inventory"
    assert failed.sync_details["inventory"]["status"] == "failed"
    assert stats_keys <= set(failed.sync_details["inventory"]) and stats_keys <= set(
        failed.sync_details["collection"]
    )
    assert failed.sync_details["collection"] | {} == {
        **failed.sync_details["collection"],
        "status": "skipped",
        "reason": "not run",
    }
    assert failed.attempt_history[0]["phase"] == "inventory"


@pytest.mark.django_db(transaction=True)
def test_it_fails_when_all_fail() -> None:
    def work(instance: Instance, session: SyncSession) -> InstanceResult:
        raise RuntimeError("boom")

    session = run(InstanceFactory.create_batch(2), work)
    assert session.status == SessionStatus.FAILED and session.failed_instances == 2
    assert session.records.first().error_message == "RuntimeError: boom"  # type: ignore[union-attr]


@pytest.mark.django_db(transaction=True)
def test_it_counts_skipped_instances_as_successful() -> None:
    session = run(InstanceFactory.create_batch(2), lambda i, s: InstanceResult(status="skipped"))
    assert session.status == SessionStatus.COMPLETED
    assert set(session.records.values_list("status", flat=True)) == {"skipped"}


@pytest.mark.django_db(transaction=True)
def test_it_retries_transient_errors_and_records_attempts() -> None:
    calls: list[int] = []

    def work(instance: Instance, session: SyncSession) -> InstanceResult:
        calls.append(1)
        if len(calls) < 3:
            raise PhaseError(SyncPhase.CONNECTION, "unreachable: refused", transient=True)
        return ok(instance, session)

    session = run([InstanceFactory()], work)
    record = session.records.get()
    assert session.status == SessionStatus.COMPLETED
    assert record.attempts == 3 and len(calls) == 3


@pytest.mark.django_db(transaction=True)
def test_it_gives_up_after_three_retries() -> None:
    calls: list[int] = []

    def work(instance: Instance, session: SyncSession) -> InstanceResult:
        calls.append(1)
        raise PhaseError(SyncPhase.CONNECTION, "timeout: no answer", transient=True)

    record = run([InstanceFactory()], work).records.get()
    assert (record.status, record.failed_phase, record.attempts, len(calls)) == ("failed", "connection", 4, 4)


@pytest.mark.django_db(transaction=True)
def test_it_does_not_retry_authentication_errors() -> None:
    calls: list[int] = []

    def work(instance: Instance, session: SyncSession) -> InstanceResult:
        calls.append(1)
        err = ConnectorError(ErrorKind.AUTHENTICATION, "Access denied")
        raise PhaseError(SyncPhase.CONNECTION, str(err), transient=err.transient)

    record = run([InstanceFactory()], work).records.get()
    assert record.attempts == 1 and len(calls) == 1 and "authentication" in record.error_message


@pytest.mark.django_db(transaction=True)
def test_it_writes_from_parallel_workers_without_database_locked() -> None:
    """Each worker writes to the metadata DB at once; SQLite must queue them, not fail."""
    barrier = threading.Barrier(4, timeout=10)

    def work(instance: Instance, session: SyncSession) -> InstanceResult:
        barrier.wait()
        for n in range(20):
            Instance.objects.filter(pk=instance.pk).update(version=f"v{n}")
        return ok(instance, session)

    session = run(InstanceFactory.create_batch(4), work, max_workers=4)
    assert session.status == SessionStatus.COMPLETED, list(
        session.records.values_list("error_message", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_it_refuses_a_manual_run_while_the_lock_is_held() -> None:
    holder = acquire_lock(SyncCategory.ACCOUNT)
    try:
        with pytest.raises(LockConflict, match=holder.owner):
            run([InstanceFactory()], trigger=SyncTrigger.MANUAL)
    finally:
        holder.release()
    assert not SyncSession.objects.filter(status=SessionStatus.RUNNING).exists()


@pytest.mark.django_db(transaction=True)
def test_it_records_a_conflicting_scheduled_run_as_skipped() -> None:
    holder = acquire_lock(SyncCategory.ACCOUNT)
    try:
        session = run([InstanceFactory()], trigger=SyncTrigger.SCHEDULED)
    finally:
        holder.release()
    assert session.status == SessionStatus.SKIPPED
    assert holder.owner in session.error and session.records.count() == 0


@pytest.mark.django_db(transaction=True)
def test_it_fails_the_session_when_the_run_itself_breaks(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*a: object, **k: object) -> None:
        raise RuntimeError("metadata database went away")

    monkeypatch.setattr(ledger, "add_instance_records", broken)
    session = run([InstanceFactory()])
    assert session.status == SessionStatus.FAILED and "went away" in session.error


@pytest.mark.django_db
def test_it_covers_named_instances_or_else_every_active_one() -> None:
    active, other = InstanceFactory.create_batch(2)
    retired = InstanceFactory(is_active=False)
    assert Instance.objects.for_sync() == sorted([active, other], key=lambda i: i.name)
    assert Instance.objects.for_sync([retired.pk]) == [retired]  # named explicitly: synced anyway


@pytest.mark.django_db(transaction=True)
def test_it_summarises_a_session_for_commands_and_tasks() -> None:
    instance = InstanceFactory()
    summary = run([instance]).summary()
    assert summary["status"] == "completed" and summary["category"] == "account"
    [record] = summary["instances"]
    assert (record["instance"], record["items_synced"], record["attempts"]) == (instance.name, 3, 1)
    assert record["sync_details"] == {"inventory": {"status": "completed"}}
