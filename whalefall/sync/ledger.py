"""Service API of the session ledger: the task layer drives every record through it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from whalefall.choices import RecordStatus, SyncCategory, SyncTrigger
from whalefall.models import Instance, SyncInstanceRecord, SyncSession
from whalefall.sync.locks import process_owner


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


def _record(record: SyncInstanceRecord | int) -> SyncInstanceRecord:
    return record if isinstance(record, SyncInstanceRecord) else SyncInstanceRecord.objects.get(pk=record)


def start_instance_sync(record: SyncInstanceRecord | int) -> SyncInstanceRecord:
    rec = _record(record)
    rec.start()
    return rec


def complete_instance_sync(
    record: SyncInstanceRecord | int,
    *,
    items_synced: int = 0,
    items_created: int = 0,
    items_updated: int = 0,
    items_deleted: int = 0,
    sync_details: dict[str, Any] | None = None,
    status: str = RecordStatus.COMPLETED,
) -> SyncInstanceRecord:
    rec = _record(record)
    rec.complete(
        items_synced=items_synced,
        items_created=items_created,
        items_updated=items_updated,
        items_deleted=items_deleted,
        sync_details=sync_details,
        status=status,
    )
    return rec


def fail_instance_sync(
    record: SyncInstanceRecord | int,
    error_message: str,
    *,
    phase: str = "",
    sync_details: dict[str, Any] | None = None,
) -> SyncInstanceRecord:
    rec = _record(record)
    rec.fail(error_message, phase=phase, sync_details=sync_details)
    return rec


def finalize_session(session: SyncSession) -> SyncSession:
    session.finalize()
    return session
