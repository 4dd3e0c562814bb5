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
