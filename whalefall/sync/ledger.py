"""Opening a session in the ledger: what the models alone do not know.

A session is created with the owner of this process (so a dead run can be told from a live one)
and the default author of its trigger; its records are created in one INSERT. From there on the
runner drives the models directly (`record.start/complete/fail`, `session.finalize`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from whalefall.choices import SyncCategory, SyncTrigger
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
