"""Capacity tasks (thin, seed 002): set up the run, hand each instance to a service, return a summary.

Both are recorded as sessions through `whalefall.sync.runner.run_sync`, which takes the
category's sync lock, creates the per-instance records and drives them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils import timezone

from capacity.services.aggregation import plan_periods
from capacity.services.collection import SharedAggregation, collect_instance
from whalefall.choices import SyncCategory, SyncTrigger
from whalefall.logging import get_logger
from whalefall.models import Instance, SyncSession
from whalefall.sync.runner import ProgressCallback, run_sync

logger = get_logger(__name__)


def _instances(instance_ids: list[int] | None) -> list[Instance]:
    qs = Instance.objects.active().select_related("credential")
    return list(qs.filter(pk__in=instance_ids) if instance_ids else qs)


def summary(session: SyncSession) -> dict[str, Any]:
    """The JSON-able result every task returns (session id, status, per-instance outcome)."""
    return {
        "session_id": str(session.session_id),
        "category": session.category,
        "status": session.status,
        "total_instances": session.total_instances,
        "successful_instances": session.successful_instances,
        "failed_instances": session.failed_instances,
        "error": session.error,
        "instances": [
            {
                "instance": r.instance_name,
                "status": r.status,
                "failed_phase": r.failed_phase,
                "error": r.error_message,
                "items_synced": r.items_synced,
                "items_created": r.items_created,
                "items_updated": r.items_updated,
                "items_deleted": r.items_deleted,
                "sync_details": r.sync_details,
            }
            for r in session.records.order_by("instance_name")
        ],
    }


def collect_database_sizes(
    *,
    instance_ids: list[int] | None = None,
    trigger: str = SyncTrigger.SCHEDULED,
    created_by: str = "",
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Inventory and today's sizes of every (or the named) active instance: one session."""
    session = run_sync(
        category=SyncCategory.CAPACITY,
        module="capacity_sync",
        instances=_instances(instance_ids),
        work=collect_instance,
        trigger=trigger,
        created_by=created_by,
        parameters={"instance_ids": instance_ids},
        progress=progress,
    )
    return summary(session)


def calculate_database_size_aggregations(
    *,
    period: str | None = None,
    date: date | str | None = None,
    trigger: str = SyncTrigger.SCHEDULED,
    created_by: str = "",
    instance_ids: list[int] | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Daily/weekly/monthly/quarterly aggregates: the last complete period of each kind, or
    the named period and/or the period containing the named date (recomputed)."""
    day = _parse_date(date)
    periods = plan_periods(period, day, timezone.localdate())
    instances = _instances(instance_ids)
    session = run_sync(
        category=SyncCategory.AGGREGATION,
        module="capacity_aggregation",
        instances=instances,
        work=SharedAggregation(periods, [i.pk for i in instances], restrict=instance_ids is not None),
        trigger=trigger,
        created_by=created_by,
        parameters={"periods": [[k, s.isoformat()] for k, s in periods], "instance_ids": instance_ids},
        progress=progress,
    )
    logger.info("capacity_aggregation_periods", periods=[f"{k}:{s}" for k, s in periods])
    return summary(session)


def _parse_date(value: date | str | None) -> date | None:
    # Dates arrive as strings from the scheduler's JSON kwargs and from the command line.
    return date.fromisoformat(value) if isinstance(value, str) else value
