"""The runner's handling of each outcome of one instance's work: what the record, the progress
callback and the log get (the ledger tests cover sessions, locks and retries)."""

from __future__ import annotations

from typing import Any

import pytest

from whalefall.choices import SyncCategory, SyncPhase, SyncTrigger
from whalefall.models import Instance, SyncInstanceRecord, SyncSession
from whalefall.sync.phases import InstanceResult, PhaseError
from whalefall.sync.session_runner import run_sync, unit_of
from whalefall.tests.factories import InstanceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run(instances: list[Instance], work: Any, **kw: Any) -> SyncSession:
    return run_sync(
        category=SyncCategory.CAPACITY,
        module="capacity_sync",
        instances=instances,
        unit=unit_of("capacity_sync", work),
        trigger=SyncTrigger.MANUAL,
        **kw,
    )


def events(caplog: Any, name: str) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == name]


def test_an_unexpected_error_fails_the_instance_in_collection_with_a_scrubbed_message(caplog: Any) -> None:
    def work(instance: Instance, session: SyncSession) -> InstanceResult:
        raise RuntimeError("driver bug near password=hunter2")

    record = run([InstanceFactory()], work).records.get()
    assert (record.status, record.failed_phase, record.attempts) == ("failed", SyncPhase.COLLECTION, 1)
    assert record.error_message.startswith("RuntimeError: driver bug")
    assert "hunter2" not in record.error_message
    assert events(caplog, "capacity_sync_instance_failed")


def test_a_phase_error_keeps_its_phase_and_details(caplog: Any) -> None:
    details = {"inventory": {"status": "failed"}, "collection": {"status": "skipped"}}

    def work(instance: Instance, session: SyncSession) -> InstanceResult:
        raise PhaseError(SyncPhase.INVENTORY, "listing denied", sync_details=details)

    record = run([InstanceFactory()], work).records.get()
    assert (record.status, record.failed_phase, record.error_message) == (
        "failed",
        "inventory",
        "listing denied",
    )
    # The phases' own details are kept, completed to the full shape, with the phase that failed.
    stored = record.sync_details
    assert stored["failed_phase"] == "inventory" and record.attempts == 1
    assert {k: stored[k]["status"] for k in details} == {"inventory": "failed", "collection": "skipped"}
    [failed] = events(caplog, "capacity_sync_inventory_failed")
    assert failed["phase"] == "inventory" and failed["error"] == "listing denied"


def test_a_skipped_result_is_a_skipped_record_with_its_counters(caplog: Any) -> None:
    result = InstanceResult(
        items_synced=5,
        items_created=1,
        items_updated=2,
        items_deleted=3,
        sync_details={"x": 1},
        status="skipped",
    )
    record = run([InstanceFactory()], lambda i, s: result).records.get()
    counters = (record.items_synced, record.items_created, record.items_updated, record.items_deleted)
    assert record.status == "skipped" and counters == (5, 1, 2, 3) and record.sync_details == {"x": 1}
    [done] = events(caplog, "capacity_sync_instance_completed")
    assert done["status"] == "skipped"
    assert (done["items_synced"], done["items_created"], done["items_updated"], done["items_deleted"]) == (
        5,
        1,
        2,
        3,
    )


def test_progress_gets_every_finished_record_once() -> None:
    seen: list[tuple[str, str]] = []

    def progress(record: SyncInstanceRecord) -> None:
        seen.append((record.instance_name, record.status))

    instances = InstanceFactory.create_batch(3)
    session = run(
        instances, lambda i, s: InstanceResult(status="completed"), progress=progress, max_workers=2
    )
    assert sorted(seen) == sorted((i.name, "completed") for i in instances)
    assert session.status == "completed" and session.successful_instances == 3


def test_a_session_without_instances_completes() -> None:
    session = run([], lambda i, s: InstanceResult())
    assert session.status == "completed" and session.records.count() == 0


def test_a_scheduled_run_that_meets_the_lock_is_recorded_skipped_and_logged(caplog: Any) -> None:
    from whalefall.sync.locks import acquire_lock

    holder = acquire_lock(SyncCategory.CAPACITY)
    try:
        session = run_sync(
            category=SyncCategory.CAPACITY,
            module="capacity_sync",
            instances=[InstanceFactory()],
            unit=unit_of("capacity_sync", lambda i, s: InstanceResult()),
            trigger=SyncTrigger.SCHEDULED,
            created_by="scheduler",
            parameters={"p": 1},
        )
    finally:
        holder.release()
    assert (
        session.status == "skipped" and session.created_by == "scheduler" and session.parameters == {"p": 1}
    )
    [skipped] = events(caplog, "capacity_sync_skipped_lock_held")
    assert skipped["owner"] == holder.owner


class Flaky(Exception):
    transient = True


def test_a_failure_after_retries_keeps_every_attempt_in_its_message() -> None:
    calls: list[int] = []

    def work(instance: Instance, session: SyncSession) -> InstanceResult:
        calls.append(1)
        if len(calls) == 1:
            raise Flaky("connection reset")
        raise PhaseError(SyncPhase.COLLECTION, "permission denied for table x")

    record = run([InstanceFactory()], work).records.get()
    assert record.attempts == 2 and record.status == "failed"
    assert record.error_message.startswith("attempt 1 (")
    assert "connection reset" in record.error_message
    assert record.error_message.endswith("attempt 2 (collection): permission denied for table x")


def test_an_unexpected_error_after_a_retry_keeps_both_attempts() -> None:
    calls: list[int] = []

    def work(instance: Instance, session: SyncSession) -> InstanceResult:
        calls.append(1)
        if len(calls) == 1:
            raise Flaky("connection reset")
        raise RuntimeError("driver bug")

    record = run([InstanceFactory()], work).records.get()
    assert record.attempts == 2 and "connection reset" in record.error_message
    assert "RuntimeError: driver bug" in record.error_message


def test_the_history_text_of_none_one_and_several_attempts() -> None:
    from whalefall.sync.session_runner import _history_text

    record = SyncInstanceRecord(attempt_history=[])
    assert _history_text(record) == ""
    record.attempt_history = [{"attempt": 1, "phase": "inventory", "error": "boom"}]
    assert _history_text(record) == "boom"  # one attempt: its error alone
    record.attempt_history.append({"attempt": 2, "phase": "collection", "error": "bang"})
    assert _history_text(record) == "attempt 1 (inventory): boom; attempt 2 (collection): bang"


@pytest.mark.parametrize(
    ("instances", "max_workers", "pool", "expected"),
    [(3, None, 8, 3), (0, None, 8, 1), (5, 2, 8, 2), (5, None, 4, 4), (2, None, 0, 1)],
)
def test_the_pool_has_a_worker_per_instance_up_to_the_limit(
    instances: int, max_workers: int | None, pool: int, expected: int, settings: Any, monkeypatch: Any
) -> None:
    from whalefall.sync import session_runner

    settings.WHALEFALL_SYNC_POOL_SIZE = pool
    sizes: list[int] = []
    real = session_runner.ThreadPoolExecutor

    def spy(max_workers: int, **kw: Any) -> Any:
        sizes.append(max_workers)
        return real(max_workers=max_workers, **kw)

    monkeypatch.setattr(session_runner, "ThreadPoolExecutor", spy)
    run(InstanceFactory.create_batch(instances), lambda i, s: InstanceResult(), max_workers=max_workers)
    assert sizes == [expected]


def test_a_held_lock_skips_a_requested_run_only_where_the_scheduler_asks(monkeypatch: Any) -> None:
    """A person at a terminal gets the conflict as an error; a run the scheduler makes for a
    request records a skipped session naming the holder, which the requester sees."""
    from datetime import timedelta

    from django.utils import timezone

    from whalefall.models import SyncLock
    from whalefall.sync.locks import LockConflict
    from whalefall.sync.session_runner import conflicts_recorded_as_skipped

    now = timezone.now()
    SyncLock.objects.create(
        category=SyncCategory.CAPACITY,
        owner="far-away-80",
        token="f" * 32,
        host="far-away",
        pid=80,
        locked_at=now,
        expires_at=now + timedelta(minutes=30),
    )
    with pytest.raises(LockConflict):
        run([InstanceFactory()], lambda i, s: InstanceResult())
    with conflicts_recorded_as_skipped():
        session = run([InstanceFactory()], lambda i, s: InstanceResult())
    assert session.status == "skipped" and "far-away-80" in session.error
    with pytest.raises(LockConflict):  # the context ended: back to raising
        run([InstanceFactory()], lambda i, s: InstanceResult())
    # A scheduled run (its trigger as the job's kwargs give it: a plain string) is skipped too.
    scheduled = run_sync(
        category=SyncCategory.CAPACITY,
        module="capacity_sync",
        instances=[InstanceFactory()],
        unit=unit_of("capacity_sync", lambda i, s: InstanceResult()),
        trigger="scheduled",  # a plain string, not the enum member
    )
    assert scheduled.status == "skipped" and scheduled.trigger == "scheduled"
