"""Per-instance work functions handed to `whalefall.sync.runner.run_sync`."""

from __future__ import annotations

from datetime import date

from capacity.coordinator import CapacitySyncCoordinator
from capacity.services.aggregation import aggregate
from whalefall.models import Instance, SyncSession
from whalefall.sync.phases import InstanceResult, PhaseStats, phase_guard


def collect_instance(instance: Instance, session: SyncSession) -> InstanceResult:
    """Connection -> inventory -> collection -> one atomic write, for one instance."""
    with CapacitySyncCoordinator(instance) as coordinator:
        return coordinator.sync_all()


def aggregate_instance(instance: Instance, periods: list[tuple[str, date]]) -> InstanceResult:
    """Upsert the named periods for one instance's databases and its total."""
    stats = PhaseStats(processed_records=len(periods))
    details = {"aggregation": stats.as_dict()}
    with phase_guard("collection", details):
        for kind, start in periods:
            written = aggregate(kind, start, instance_id=instance.pk)
            stats.saved_count += written["databases"] + written["instance"]
            stats.extra[kind] = {"period_start": start.isoformat(), **written}
    return InstanceResult(
        items_synced=len(periods),
        items_updated=stats.saved_count,
        sync_details={"aggregation": stats.as_dict()},
    )
