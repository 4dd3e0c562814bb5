"""Work done for every instance of a session at once (`run_sync(together=...)`): the same records,
retries and outcomes as one unit per instance, written in a few statements whatever the number
of instances."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from whalefall.choices import SyncCategory, SyncPhase, SyncTrigger
from whalefall.models import Instance, SyncSession
from whalefall.sync import cancel
from whalefall.sync.phases import InstanceResult, PhaseError
from whalefall.sync.session_runner import SessionWork, run_sync, unit_of
from whalefall.tests.factories import InstanceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def never(instance: Instance, session: SyncSession) -> InstanceResult:
    raise AssertionError("the unit of one instance must not run when the work is done together")


def run(instances: list[Instance], together: SessionWork, **kw: Any) -> SyncSession:
    return run_sync(
        category=SyncCategory.AGGREGATION,
        module="capacity_aggregation",
        instances=instances,
        unit=unit_of("capacity_aggregation", never),
        together=together,
        trigger=SyncTrigger.MANUAL,
        **kw,
    )


def counted(n: int) -> int:
    """Metadata queries of a successful session over `n` instances."""

    def work(session: SyncSession, instances: Sequence[Instance]) -> dict[int, InstanceResult]:
        return {i.pk: InstanceResult(items_synced=1) for i in instances}

    instances = [InstanceFactory() for _ in range(n)]
    with CaptureQueriesContext(connection) as queries:
        session = run(instances, work)
    assert session.status == "completed" and session.successful_instances == n
    return len(queries)


def test_each_record_gets_its_own_instance_result_and_progress_sees_each_once() -> None:
    instances = [InstanceFactory() for _ in range(3)]
    seen: list[str] = []

    def work(session: SyncSession, given: Sequence[Instance]) -> dict[int, InstanceResult]:
        assert [i.pk for i in given] == [i.pk for i in instances]
        # The last instance gets no result: nothing was done for it (zero counters, completed).
        return {
            i.pk: InstanceResult(items_synced=n + 1, sync_details={"n": n}) for n, i in enumerate(given[:2])
        }

    session = run(instances, work, progress=lambda r: seen.append(r.instance_name))
    records = {r.instance_id: r for r in session.records.all()}
    assert [records[i.pk].items_synced for i in instances] == [1, 2, 0]
    assert [records[i.pk].sync_details for i in instances] == [{"n": 0}, {"n": 1}, {}]
    assert {(r.status, r.attempts) for r in records.values()} == {("completed", 1)}
    assert all(r.started_at and r.finished_at and r.started_at <= r.finished_at for r in records.values())
    assert sorted(seen) == sorted(i.name for i in instances)
    assert (session.status, session.total_instances, session.successful_instances) == ("completed", 3, 3)


def test_the_records_cost_the_same_statements_for_two_instances_as_for_twenty() -> None:
    assert counted(20) == counted(2)


def test_a_phase_error_fails_every_record_with_its_phase_and_the_session_with_them() -> None:
    def work(session: SyncSession, instances: Sequence[Instance]) -> dict[int, InstanceResult]:
        raise PhaseError(SyncPhase.COLLECTION, "relation capacity_x does not exist")

    session = run([InstanceFactory(), InstanceFactory()], work)
    records = list(session.records.all())
    assert {(r.status, r.failed_phase, r.error_message, r.attempts) for r in records} == {
        ("failed", "collection", "relation capacity_x does not exist", 1)
    }
    assert all(r.sync_details["failed_phase"] == "collection" for r in records)
    assert (session.status, session.failed_instances) == ("failed", 2)


class Flaky(Exception):
    transient = True


def test_a_transient_failure_is_retried_for_all_and_every_attempt_is_kept() -> None:
    calls: list[int] = []

    def work(session: SyncSession, instances: Sequence[Instance]) -> dict[int, InstanceResult]:
        calls.append(1)
        if len(calls) == 1:
            raise Flaky("server closed the connection password=hunter2")
        return {i.pk: InstanceResult(items_updated=5) for i in instances}

    session = run([InstanceFactory(), InstanceFactory()], work)
    records = list(session.records.all())
    assert len(calls) == 2
    assert {(r.status, r.attempts, r.items_updated) for r in records} == {("completed", 2, 5)}
    for record in records:
        [first] = record.attempt_history
        assert first["attempt"] == 1 and first["transient"] and "server closed" in first["error"]
        assert "hunter2" not in first["error"]


def test_an_unexpected_error_fails_every_record_with_a_scrubbed_message() -> None:
    def work(session: SyncSession, instances: Sequence[Instance]) -> dict[int, InstanceResult]:
        raise RuntimeError("bug near password=hunter2")

    session = run([InstanceFactory(), InstanceFactory()], work)
    records = list(session.records.all())
    assert {(r.status, r.failed_phase) for r in records} == {("failed", SyncPhase.COLLECTION)}
    assert all(r.error_message.startswith("RuntimeError: bug") for r in records)
    assert not any("hunter2" in r.error_message for r in records)


class CancelOnStart:
    """A progress display during which the operator presses Ctrl-C, before anything runs."""

    def __init__(self) -> None:
        self.finished: list[str] = []

    def instance_started(self, name: str) -> None:
        cancel.request_cancel("stopping the scheduler")

    def __call__(self, record: Any) -> None:
        self.finished.append(record.status)


def test_a_run_cancelled_before_it_starts_cancels_every_record_and_runs_nothing() -> None:
    def work(session: SyncSession, instances: Sequence[Instance]) -> dict[int, InstanceResult]:
        raise AssertionError("cancelled: nothing runs")

    progress = CancelOnStart()
    try:
        session = run([InstanceFactory(), InstanceFactory()], work, progress=progress)
    finally:
        cancel.reset()
    records = list(session.records.all())
    assert {(r.status, r.attempts, r.error_message) for r in records} == {
        ("cancelled", 0, "stopping the scheduler")
    }
    assert session.status == "cancelled" and progress.finished == ["cancelled", "cancelled"]


def test_a_run_cancelled_while_waiting_to_retry_is_cancelled_with_the_failed_attempt() -> None:
    def work(session: SyncSession, instances: Sequence[Instance]) -> dict[int, InstanceResult]:
        cancel.request_cancel("shutting down")  # as a SIGTERM during the first attempt
        raise Flaky("connection reset")

    try:
        session = run([InstanceFactory(), InstanceFactory()], work)
    finally:
        cancel.reset()
    records = list(session.records.all())
    assert {(r.status, r.attempts) for r in records} == {("cancelled", 1)}
    assert all(
        r.error_message.startswith("shutting down") and "connection reset" in r.error_message for r in records
    )
    assert session.status == "cancelled"
