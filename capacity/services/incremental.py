"""The scheduled aggregation, incrementally: only what changed or ended since the last run.

Per instance, `AggregationWatermark` says which size rows the aggregation has read (by their
`collected_at`) and through which day the periods were complete. A run then computes, for each
kind of period:

- the complete periods holding a size row written since `collected_until` (a late or corrected
  day), and the period after each (its change is measured against it) — for that database or
  instance only;
- then the periods that have ended since (`complete_through`): the last complete period of each
  kind on the night it completes, and every one a missed night left behind; all of an
  instance's history the first time it is seen. A single new period measures its change
  against the stored aggregate of the one before, current by then (for an instance an earlier
  run aggregated; the first time and under `full`, against the days of the one before).

Periods still in progress are left for the night they complete (the scheduled run aggregates
complete periods only), so a run with nothing new reads a few index entries and writes nothing.
`full` ignores the watermarks and recomputes every period from the first row, reading only raw
rows (no stored aggregate): the repair path.
The aggregates and the watermarks are written in one transaction: a failed run leaves both as
they were, and the next run reads the same rows again.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, Min, Model
from django.utils import timezone

from capacity.models import AggregationWatermark, DatabaseSizeStat, InstanceSizeStat
from capacity.periods import PERIOD_TYPES, add_periods, last_complete_period
from capacity.periods import period_start as start_of
from capacity.services.aggregation import DIRTY_CHUNK, TARGETS, Target, _tail, aggregate, dirty_sql, write
from whalefall.models import Instance
from whalefall.structured_logging import get_logger

logger = get_logger(__name__)

SOURCES: dict[str, type[Model]] = {"databases": DatabaseSizeStat, "instance": InstanceSizeStat}
# A changed size row: (database or instance id, instance id, day, written at)
Changed = tuple[int, int, date, datetime]


def aggregate_changes(
    today: date, instance_ids: list[int] | None = None, *, full: bool = False
) -> dict[int, dict[str, dict[str, Any]]]:
    """Bring the aggregates of every (or the given) instance up to date as of `today`; per
    instance and kind, how many rows were written (databases / instance)."""
    with transaction.atomic():
        run = _Run(today, instance_ids, full)
        for kind in PERIOD_TYPES:
            run.kind(str(kind))
        run.save_watermarks()
    logger.info(
        "capacity_aggregation_incremental",
        full=full,
        instances=len(run.ids),
        changed_rows=sum(len(rows) for rows in run.changed.values()),
        dirty_periods=run.dirty_count,
        written=sum(run.written.values()),
    )
    return run.result()


class _Run:
    """One run's reading of the watermarks, and what it wrote."""

    def __init__(self, today: date, instance_ids: list[int] | None, full: bool) -> None:
        self.today, self.everyone = today, instance_ids is None
        self.ids = (
            list(Instance.objects.values_list("pk", flat=True))
            if instance_ids is None
            else list(instance_ids)
        )
        marks = {} if full else AggregationWatermark.objects.in_bulk(self.ids)
        known = {pk: m for pk, m in marks.items() if m.collected_until is not None}
        self.known = set(known)  # aggregated by an earlier run (never under `full`)
        self.until: dict[int, datetime | None] = {pk: m.collected_until for pk, m in known.items()}
        self.through = {pk: m.complete_through for pk, m in known.items()}
        fresh = [pk for pk in self.ids if pk not in known]
        if fresh:  # never aggregated (or --full): from the first row on, all in one range
            first_days = self._extents(fresh)
            start = min(first_days.values(), default=today) - timedelta(days=1)
            self.through.update(dict.fromkeys(fresh, start))
        self.changed = {name: self._changed(model, known) for name, model in SOURCES.items()}
        self.written: Counter[tuple[int, str, str]] = Counter()  # (instance, kind, table)
        self.dirty_count = 0

    def _extents(self, fresh: list[int]) -> dict[int, date]:
        """First day of each fresh instance's rows; records the latest write as its watermark."""
        first_days: dict[int, date] = {}
        for model in SOURCES.values():
            qs = model._default_manager.order_by().values("instance_id")
            if not (self.everyone and len(fresh) == len(self.ids)):
                qs = qs.filter(instance_id__in=fresh)
            for row in qs.annotate(until=Max("collected_at"), first=Min("collected_date")):
                pk = row["instance_id"]
                self.until[pk] = max(row["until"], self.until.get(pk) or row["until"])
                first_days[pk] = min(row["first"], first_days.get(pk, row["first"]))
        return first_days

    def _changed(self, model: type[Model], known: dict[int, AggregationWatermark]) -> list[Changed]:
        """Size rows written after their instance's watermark (only the known instances')."""
        if not known:
            return []
        key = "database_id" if model is DatabaseSizeStat else "instance_id"
        since = min(m.collected_until for m in known.values() if m.collected_until is not None)
        qs = model._default_manager.order_by().filter(collected_at__gt=since)
        if not (self.everyone and len(known) == len(self.ids)):
            qs = qs.filter(instance_id__in=list(known))
        rows = qs.values_list(key, "instance_id", "collected_date", "collected_at")
        changed = [r for r in rows if r[3] > known[r[1]].collected_until]
        for _, pk, _, at in changed:
            self.until[pk] = max(self.until[pk], at)
        return changed

    def kind(self, kind: str) -> None:
        """Periods of `kind` with changed rows, then those that ended since the last run.

        In that order: a period that ended tonight measures its change against the stored
        aggregate of the one before, which a late row may have just made stale."""
        last = last_complete_period(kind, self.today)
        first_new = {pk: start_of(kind, through + timedelta(days=1)) for pk, through in self.through.items()}
        self._dirty(kind, last, first_new)
        groups: dict[date, list[int]] = defaultdict(list)
        for pk, first in first_new.items():
            if first <= last:
                groups[first].append(pk)
        for first, group in sorted(groups.items()):
            ids = None if self.everyone and len(group) == len(self.ids) else group
            # One new period of instances an earlier run aggregated: its predecessor was complete
            # at that run, so aggregated then (or just now, if a late row changed it), and its
            # stored average is current. An instance seen for the first time, or a full repair,
            # has no such run behind it: the days of the period before are read.
            stored = first == last and all(pk in self.known for pk in group)
            self._count(kind, aggregate(kind, first, last, instance_ids=ids, stored_previous=stored))

    def _dirty(self, kind: str, last: date, first_new: dict[int, date]) -> None:
        """Rewrite the complete periods (before `first_new`) that hold a changed row."""
        vendor = connection.vendor
        # A changed day makes its period dirty and the next (its change is measured against it),
        # where complete; worked out once per distinct day (a night's rows share one or two).
        by_day: dict[date, tuple[date, ...]] = {}
        for target in TARGETS:
            dirty_set: set[tuple[int, date]] = set()
            for key, pk, day, _ in self.changed[target.name]:
                starts = by_day.get(day)
                if starts is None:
                    own = start_of(kind, day)
                    starts = by_day[day] = tuple(s for s in (own, add_periods(kind, own, 1)) if s <= last)
                for start in starts:
                    if start < first_new[pk]:
                        dirty_set.add((key, start))
            dirty = sorted(dirty_set)
            self.dirty_count += len(dirty)
            for n in range(0, len(dirty), DIRTY_CHUNK):
                self._write_dirty(vendor, kind, target, dirty[n : n + DIRTY_CHUNK])

    def _write_dirty(self, vendor: str, kind: str, target: Target, periods: list[tuple[int, date]]) -> None:
        with connection.cursor() as cursor:
            self._count(
                kind, {target.name: write(cursor, dirty_sql(vendor, kind, target, periods), _tail(kind))}
            )

    def _count(self, kind: str, written: dict[str, Counter[int]]) -> None:
        for table, per_instance in written.items():
            for pk, n in per_instance.items():
                self.written[(pk, kind, table)] += n

    def save_watermarks(self) -> None:
        now, through = timezone.now(), self.today - timedelta(days=1)
        AggregationWatermark.objects.bulk_create(
            [
                AggregationWatermark(
                    instance_id=pk,
                    collected_until=self.until.get(pk),
                    complete_through=through,
                    updated_at=now,
                )
                for pk in self.ids
            ],
            update_conflicts=True,
            unique_fields=["instance"],
            update_fields=["collected_until", "complete_through", "updated_at"],
        )

    def result(self) -> dict[int, dict[str, dict[str, Any]]]:
        return {
            pk: {
                str(kind): {
                    "last_complete": last_complete_period(kind, self.today).isoformat(),
                    "databases": self.written[(pk, str(kind), "databases")],
                    "instance": self.written[(pk, str(kind), "instance")],
                }
                for kind in PERIOD_TYPES
            }
            for pk in self.ids
        }
