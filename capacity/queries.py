"""QuerySet helpers the admin pages share (annotations instead of a query per row)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, TypeVar

from django.db.models import F, OrderBy, OuterRef, QuerySet, Subquery
from django.utils import timezone

from capacity.models import (
    DatabaseSizeAggregation,
    DatabaseSizeStat,
    InstanceDatabase,
    InstanceSizeAggregation,
    InstanceSizeStat,
)
from capacity.periods import PERIOD_TYPES

AggregateT = TypeVar("AggregateT", DatabaseSizeAggregation, InstanceSizeAggregation)

GROWTH_DAYS = 30
PERIOD_ROWS = 12


def with_latest_size(qs: QuerySet[InstanceDatabase], today: date | None = None) -> QuerySet[InstanceDatabase]:
    """Annotate latest size and date, the size GROWTH_DAYS ago and the difference (`growth_bytes`)."""
    stats = DatabaseSizeStat.objects.filter(database=OuterRef("pk")).order_by("-collected_date")
    cutoff = (today or timezone.localdate()) - timedelta(days=GROWTH_DAYS)
    return qs.annotate(
        latest_size=Subquery(stats.values("size_bytes")[:1]),
        latest_date=Subquery(stats.values("collected_date")[:1]),
        size_before=Subquery(stats.filter(collected_date__lte=cutoff).values("size_bytes")[:1]),
    ).annotate(growth_bytes=F("latest_size") - F("size_before"))


def largest_first() -> list[OrderBy | str]:
    """The order of database lists: by latest size, largest first (never measured last), then
    by instance and name. Needs `with_latest_size`."""
    return [F("latest_size").desc(nulls_last=True), "instance__name", "name"]


def with_previous_sample(qs: QuerySet[AggregateT]) -> QuerySet[AggregateT]:
    """Annotate `previous_day`: the last day with a size sample before the period started.

    The aggregation writes a change of 0 both when the size did not move and when there was
    nothing to compare with; this tells the two apart (see `capacity_tags.earlier_period_note`).
    One lookup per row through the (key, day) unique index of the size table.
    """
    if qs.model is DatabaseSizeAggregation:
        stats: QuerySet[Any] = DatabaseSizeStat.objects.filter(database=OuterRef("database"))
    else:
        stats = InstanceSizeStat.objects.filter(instance=OuterRef("instance"))
    earlier = stats.filter(collected_date__lt=OuterRef("period_start")).order_by("-collected_date")
    return qs.annotate(previous_day=Subquery(earlier.values("collected_date")[:1]))


def database_periods(database_id: int) -> dict[str, list[DatabaseSizeAggregation]]:
    rows = with_previous_sample(DatabaseSizeAggregation.objects.filter(database_id=database_id))
    return {
        str(k): list(rows.filter(period_type=k).order_by("-period_start")[:PERIOD_ROWS]) for k in PERIOD_TYPES
    }


def instance_periods(instance_id: int) -> dict[str, list[InstanceSizeAggregation]]:
    rows = with_previous_sample(InstanceSizeAggregation.objects.filter(instance_id=instance_id))
    return {
        str(k): list(rows.filter(period_type=k).order_by("-period_start")[:PERIOD_ROWS]) for k in PERIOD_TYPES
    }
