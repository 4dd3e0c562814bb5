"""QuerySet helpers the admin pages share (annotations instead of a query per row)."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import F, OuterRef, QuerySet, Subquery
from django.utils import timezone

from capacity.models import (
    DatabaseSizeAggregation,
    DatabaseSizeStat,
    InstanceDatabase,
    InstanceSizeAggregation,
)
from capacity.periods import PERIOD_TYPES

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


def database_periods(database_id: int) -> dict[str, list[DatabaseSizeAggregation]]:
    rows = DatabaseSizeAggregation.objects.filter(database_id=database_id)
    return {
        str(k): list(rows.filter(period_type=k).order_by("-period_start")[:PERIOD_ROWS]) for k in PERIOD_TYPES
    }


def instance_periods(instance_id: int) -> dict[str, list[InstanceSizeAggregation]]:
    rows = InstanceSizeAggregation.objects.filter(instance_id=instance_id)
    return {
        str(k): list(rows.filter(period_type=k).order_by("-period_start")[:PERIOD_ROWS]) for k in PERIOD_TYPES
    }
