"""Capacity sync of one instance: the same phases, method names and unit of work as the account sync."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from capacity.adapters import CapacityAdapter, DatabaseSize, adapter_class
from capacity.models import DatabaseSizeStat, InstanceDatabase, InstanceSizeStat
from whalefall.connections import DatabaseConnection
from whalefall.models import Instance, SyncInstanceRecord, SyncSession
from whalefall.structured_logging import get_logger
from whalefall.sync.coordinator import InstanceCoordinator
from whalefall.sync.phases import PhaseStats
from whalefall.sync.session_runner import run_instance

logger = get_logger(__name__)
MODULE = "capacity_sync"


@dataclass
class _Plan:
    """What the phases found, written in one transaction by `save()`."""

    new: list[InstanceDatabase] = field(default_factory=list)
    changed: list[InstanceDatabase] = field(default_factory=list)
    active: dict[str, InstanceDatabase] = field(default_factory=dict)
    sizes: list[DatabaseSize] = field(default_factory=list)


class CapacitySyncCoordinator(InstanceCoordinator):
    """Capacity sync of one instance, used as `with CapacitySyncCoordinator(instance) as c: c.run()`.

    Phases (the template's, `InstanceCoordinator.run`; each returns a `PhaseStats`, a failure
    is a `PhaseError(phase)`):

    - connection: open the connection (`__enter__`), record the detected version;
    - inventory: list the user databases and compare with the stored ones: `created`,
      `refreshed`, `reactivated` (back after being gone), `deactivated` (gone; history kept);
    - collection: read the sizes of the active databases; skipped (`status="skipped"`) when the
      inventory has none. A database that cannot be read on its own (timeout, permission,
      dropped meanwhile) is skipped: its earlier sizes stay, it stays active, and it is named
      with the reason in `collection.databases_failed` and in the record's `warnings`.

    Nothing is written until `save()`, which writes the inventory changes, one size row per
    database for today and the instance total in one transaction: a failure leaves the
    instance's earlier data as it was.
    """

    module = MODULE

    def __init__(self, instance: Instance, session: SyncSession | None = None) -> None:
        super().__init__(instance, session)
        self.now = timezone.now()
        self.plan = _Plan()

    def make_adapter(self, connection: DatabaseConnection) -> CapacityAdapter:
        return adapter_class(self.instance.db_type)(connection)

    def inventory(self) -> PhaseStats:
        assert self.adapter is not None
        found = self.adapter.list_databases()
        stats = self._diff_inventory(found)
        logger.info(f"{MODULE}_inventory_completed", **_counts(stats))
        return stats

    def _diff_inventory(self, found: list[str]) -> PhaseStats:
        stats = PhaseStats(processed_records=len(found))
        known = {db.name: db for db in InstanceDatabase.objects.for_instance(self.instance.pk)}
        for name in found:
            db = known.get(name)
            if db is None:
                db = InstanceDatabase(instance=self.instance, name=name, first_seen_at=self.now)
                db.last_seen_at = self.now
                self.plan.new.append(db)
                stats.created += 1
            else:
                outcome = db.mark_seen(self.now)
                setattr(stats, outcome, getattr(stats, outcome) + 1)
                self.plan.changed.append(db)
            self.plan.active[name] = db
        for name, db in known.items():
            if db.is_active and name not in self.plan.active:
                db.mark_gone(self.now)
                self.plan.changed.append(db)
                stats.deactivated += 1
        stats.saved_count = len(self.plan.new) + len(self.plan.changed)
        stats.extra["active_databases"] = len(self.plan.active)
        return stats

    def collection(self) -> PhaseStats:
        if not self.plan.active:
            stats = PhaseStats(status="skipped")
            stats.extra["reason"] = "no active databases"
            logger.info(f"{MODULE}_collection_skipped", reason="no active databases")
            return stats
        assert self.adapter is not None
        self.plan.sizes = self.adapter.collect_sizes(sorted(self.plan.active))
        failed = dict(self.adapter.failed)
        stats = PhaseStats(
            processed_records=len(self.plan.sizes), saved_count=len(self.plan.sizes), failed=len(failed)
        )
        stats.extra["missing"] = len(self.plan.active) - len(self.plan.sizes) - len(failed)
        stats.extra["total_size_bytes"] = sum(s.size_bytes for s in self.plan.sizes)
        if failed:
            stats.extra["databases_failed"] = failed
            self.details["warnings"] = [
                _("database %(name)s not read: %(reason)s") % {"name": repr(n), "reason": r}
                for n, r in failed.items()
            ]
            logger.warning(f"{MODULE}_databases_failed", databases=sorted(failed), count=len(failed))
        stats.extra.update(self.adapter.notes)
        logger.info(f"{MODULE}_collection_completed", **_counts(stats))
        return stats

    def save(self) -> None:
        """The one write of this instance (inventory + today's size rows + instance total)."""
        with transaction.atomic():
            InstanceDatabase.objects.bulk_create(self.plan.new)
            InstanceDatabase.objects.bulk_update(
                self.plan.changed, ["is_active", "last_seen_at", "deactivated_at"], batch_size=500
            )
            if self.plan.sizes:
                self._save_sizes()

    def _save_sizes(self) -> None:
        day = timezone.localdate(self.now)
        rows = [
            DatabaseSizeStat(
                database=self.plan.active[s.name],
                instance=self.instance,
                collected_date=day,
                collected_at=self.now,
                size_bytes=s.size_bytes,
                data_bytes=s.data_bytes,
                log_bytes=s.log_bytes,
                allocated_bytes=s.allocated_bytes,
            )
            for s in self.plan.sizes
        ]
        values = ["collected_at", "size_bytes", "data_bytes", "log_bytes", "allocated_bytes"]
        DatabaseSizeStat.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["database", "collected_date"], update_fields=values
        )
        # The day's total over the active databases, from the day's rows: a database that could
        # not be read in this run but was earlier today keeps its size in the total, so a rerun
        # with one failure cannot write a smaller total over a complete one. (SQL's SUM, like
        # the columns, is NULL when no database reported that part.)
        day_rows = DatabaseSizeStat.objects.filter(
            instance=self.instance, collected_date=day, database__is_active=True
        ).aggregate(
            size=Sum("size_bytes"),
            data=Sum("data_bytes"),
            log=Sum("log_bytes"),
            allocated=Sum("allocated_bytes"),
            count=Count("id"),
        )
        total = InstanceSizeStat(
            instance=self.instance,
            collected_date=day,
            collected_at=self.now,
            size_bytes=day_rows["size"] or 0,
            data_bytes=day_rows["data"],
            log_bytes=day_rows["log"],
            allocated_bytes=day_rows["allocated"],
            database_count=day_rows["count"],
        )
        InstanceSizeStat.objects.bulk_create(
            [total],
            update_conflicts=True,
            unique_fields=["instance", "collected_date"],
            update_fields=[*values, "database_count"],
        )


def sync_instance(session_id: int, instance_id: int) -> SyncInstanceRecord:
    """The unit of work of one instance in a capacity session: connect, inventory, collection,
    save, with retries, written on its record. Any executor can run it."""
    return run_instance(session_id, instance_id, module=MODULE, work=CapacitySyncCoordinator.sync)


def _counts(stats: PhaseStats) -> dict[str, object]:
    return {k: v for k, v in stats.as_dict().items() if k != "status"} | {"phase_status": stats.status}
