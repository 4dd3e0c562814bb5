"""Opening a session in the ledger: what the models alone do not know.

A session is created with the owner of this process (so a dead run can be told from a live one)
and the default author of its trigger; its records are created in one INSERT. From there on the
runner drives the models directly (`record.start/complete/fail`, `session.finalize`), or, for work
done for every instance at once, writes one outcome to many records in one statement
(`start_records`, `complete_records`, ...), with the models' own rules."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db import transaction

from whalefall import bulk
from whalefall.choices import SyncCategory, SyncTrigger
from whalefall.models import Instance, SyncInstanceRecord, SyncSession
from whalefall.sync.locks import process_owner
from whalefall.sync.phases import InstanceResult


def create_session(
    category: str | SyncCategory,
    trigger: str | SyncTrigger = SyncTrigger.SCHEDULED,
    *,
    created_by: str = "",
    parameters: dict[str, Any] | None = None,
) -> SyncSession:
    return SyncSession.objects.create(
        category=category,
        trigger=trigger,
        created_by=created_by or ("scheduler" if trigger == SyncTrigger.SCHEDULED else "cli"),
        owner=process_owner(),
        parameters=parameters or {},
    )


def add_instance_records(session: SyncSession, instances: Iterable[Instance]) -> list[SyncInstanceRecord]:
    """One pending record per instance, in one INSERT; returns them in the instances' order."""
    instances = list(instances)
    with transaction.atomic():
        records = SyncInstanceRecord.objects.bulk_create(
            [SyncInstanceRecord(session=session, instance=i, instance_name=i.name) for i in instances]
        )
        session.total_instances = len(instances)
        session.save(update_fields=["total_instances"])
    if records and records[0].pk is None:  # backends without RETURNING ids
        records = list(session.records.order_by("id"))
    return records


def _write(records: list[SyncInstanceRecord], fields: list[str]) -> None:
    bulk.update_objects(records, fields)


def start_records(records: list[SyncInstanceRecord]) -> None:
    """An attempt begins for all of them (`record.start()` each, in one statement)."""
    fields: list[str] = []
    for record in records:
        fields = record.mark_started()
    _write(records, fields)


def note_attempts_failed(
    records: list[SyncInstanceRecord], *, phase: str, error: str, transient: bool
) -> None:
    fields: list[str] = []
    for record in records:
        fields = record.mark_attempt_failed(phase=phase, error=error, transient=transient)
    _write(records, fields)


def cancel_records(records: list[SyncInstanceRecord], reason: str) -> None:
    fields: list[str] = []
    for record in records:
        fields = record.mark_cancelled(reason)
    _write(records, fields)


def fail_records(
    records: list[SyncInstanceRecord],
    message: Callable[[SyncInstanceRecord], str],
    phase: str,
    sync_details: dict[str, Any] | None,
) -> None:
    """`record.fail()` each, with the message `message(record)` (its own attempt history)."""
    fields: list[str] = []
    for record in records:
        fields = record.mark_failed(message(record), phase=phase, sync_details=sync_details)
    _write(records, fields)


def result_of(record: SyncInstanceRecord, results: Mapping[int, InstanceResult]) -> InstanceResult:
    """The record's instance's result; none (nothing was done for it): zero counters."""
    found = results.get(record.instance_id) if record.instance_id is not None else None
    return found or InstanceResult()


def complete_records(records: list[SyncInstanceRecord], results: Mapping[int, InstanceResult]) -> None:
    """`record.complete()` each with its instance's result."""
    fields: list[str] = []
    for record in records:
        fields = record.mark_completed(result_of(record, results))
    _write(records, fields)
