"""The aggregation's work for `whalefall.sync.session_runner.run_instance`: one shared pass per session."""

from __future__ import annotations

import threading
from datetime import date

from capacity.services.aggregation import aggregate_periods
from capacity.services.incremental import aggregate_changes
from whalefall.choices import SyncPhase
from whalefall.models import Instance, SyncSession
from whalefall.structured_logging import scrub
from whalefall.sync.phases import InstanceResult, PhaseError, PhaseStats


class SharedAggregation:
    """The aggregation of a session as `run_sync` work: the first worker runs one set-based pass
    over all the session's instances (a few statements, whatever the number of instances); every
    worker then reports its own instance's share. One pass beats one per instance: the work is
    all in the metadata database, where parallel writers would only queue for its lock.

    The pass is either the named periods (`periods`) or, without them, the incremental run up to
    `today` (`full`: every period from the first row, ignoring the watermarks)."""

    def __init__(
        self,
        periods: list[tuple[str, date]] | None,
        instance_ids: list[int],
        *,
        restrict: bool = True,
        today: date | None = None,
        full: bool = False,
    ) -> None:
        self.periods, self.instance_ids, self.restrict = periods, instance_ids, restrict
        self.today, self.full = today, full
        self._lock = threading.Lock()
        self._done = False
        self._result: dict[int, dict[str, dict]] = {}
        self._error = ""

    def _run(self) -> dict[int, dict[str, dict]]:
        if self.periods is not None:
            return aggregate_periods(self.periods, self.instance_ids, restrict=self.restrict)
        assert self.today is not None
        scope = self.instance_ids if self.restrict else None
        return aggregate_changes(self.today, scope, full=self.full)

    def __call__(self, instance: Instance, session: SyncSession) -> InstanceResult:
        with self._lock:
            if not self._done:
                try:
                    self._result = self._run()
                except Exception as exc:  # noqa: BLE001 - every instance's record gets the reason
                    self._error = scrub(f"{exc.__class__.__name__}: {exc}")
                self._done = True
        if self._error:
            raise PhaseError(SyncPhase.COLLECTION, self._error)
        per_kind = self._result.get(instance.pk, {})
        stats = PhaseStats(processed_records=len(per_kind))
        stats.saved_count = sum(v["databases"] + v["instance"] for v in per_kind.values())
        stats.extra.update(per_kind)
        return InstanceResult(
            items_synced=len(per_kind),
            items_updated=stats.saved_count,
            sync_details={"aggregation": stats.as_dict()},
        )
