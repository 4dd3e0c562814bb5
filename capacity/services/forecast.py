"""Growth and forecasts: a least-squares line through the recent daily sizes.

Growth per day is the slope of the line fitted to the last `WINDOW_DAYS` days of samples (robust
to one odd day, unlike first-vs-last); projections extend today's size along it. With a known
limit, days until full = ceil((limit - size) / growth), "never" when growth is zero or negative.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    Max,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, NullIf
from django.utils import timezone

from capacity.models import DatabaseSizeStat, InstanceDatabase, InstanceSizeStat
from capacity.periods import DaysSince

WINDOW_DAYS = 90
NEVER = "never"
# The least growth `forecast` reports as growth: its growth per day is rounded to 0.01 byte.
MIN_GROWTH = 0.005
LATEST_SHIFT = 2**53


@dataclass(frozen=True)
class Forecast:
    current_bytes: int | None
    growth_per_day: float
    projected_30_bytes: int | None
    projected_90_bytes: int | None
    limit_bytes: int | None
    days_until_full: int | str | None  # None: no limit known; "never": not growing
    samples: int


def slope_per_day(points: Sequence[tuple[date, int]]) -> float:
    """Least-squares slope (bytes/day) of size against the day; 0 with fewer than two days."""
    if len(points) < 2:
        return 0.0
    xs = [(d - points[0][0]).days for d, _ in points]
    ys = [float(b) for _, b in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def days_until_full(current: int, growth: float, limit: int | None) -> int | str | None:
    if limit is None:
        return None
    if current >= limit:
        return 0
    if growth <= 0:
        return NEVER
    return math.ceil((limit - current) / growth)


def forecast(points: Sequence[tuple[date, int]], limit: int | None = None) -> Forecast:
    """The forecast for one series of (day, bytes), sorted by day."""
    points = sorted(points)
    if not points:
        return Forecast(None, 0.0, None, None, limit, None, 0)
    current = points[-1][1]
    growth = slope_per_day(points)
    return Forecast(
        current_bytes=current,
        growth_per_day=round(growth, 2),
        projected_30_bytes=max(0, round(current + growth * 30)),
        projected_90_bytes=max(0, round(current + growth * 90)),
        limit_bytes=limit,
        days_until_full=days_until_full(current, growth, limit),
        samples=len(points),
    )


def _series(rows: Iterable[tuple[int, date, int]]) -> dict[int, list[tuple[date, int]]]:
    series: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for key, day, size in rows:
        series[key].append((day, size))
    return series


def window_start(today: date | None = None) -> date:
    return (today or timezone.localdate()) - timedelta(days=WINDOW_DAYS - 1)


def database_forecasts(limits: dict[int, int | None], today: date | None = None) -> dict[int, Forecast]:
    """Forecasts for the databases whose ids are the keys of `limits` (one query)."""
    rows = DatabaseSizeStat.objects.filter(
        database_id__in=list(limits), collected_date__gte=window_start(today)
    ).values_list("database_id", "collected_date", "size_bytes")
    series = _series(rows)
    return {pk: forecast(series.get(pk, []), limit) for pk, limit in limits.items()}


def instance_forecasts(limits: dict[int, int | None], today: date | None = None) -> dict[int, Forecast]:
    """Forecasts for the instances whose ids are the keys of `limits` (one query)."""
    rows = InstanceSizeStat.objects.filter(
        instance_id__in=list(limits), collected_date__gte=window_start(today)
    ).values_list("instance_id", "collected_date", "size_bytes")
    series = _series(rows)
    return {pk: forecast(series.get(pk, []), limit) for pk, limit in limits.items()}


def growth_in_sql(databases: QuerySet[InstanceDatabase], today: date | None = None) -> QuerySet[Any]:
    """One row per database of `databases` with sizes in the window: `database_id`, `limit`,
    `growth` (the slope `slope_per_day` fits, from sums the database computes: (n·Σxy - Σx·Σy) /
    (n·Σx² - (Σx)²), NULL with a single day) and `current` (the size on the latest day).

    For choosing, out of thousands of databases, the few worth a full `forecast`: one pass over
    the window's sizes in the database, no list of ids sent to it, no lookup per database.
    Floating-point sums may differ from the Python fit in the last digits, so callers forecast
    their picks again."""
    start = window_start(today)
    x = DaysSince("collected_date", start)
    y = Cast("size_bytes", FloatField())
    # The size on the latest day without a lookup per database: the largest day·2^53 + size
    # belongs to the latest day (days < 2^10, sizes < 2^53 bytes = 8 PiB: within 64 bits).
    latest = Max(x * LATEST_SHIFT + F("size_bytes")) - Max(x) * LATEST_SHIFT
    return (
        DatabaseSizeStat.objects.filter(database__in=databases, collected_date__gte=start)
        .order_by()
        .values("database_id", limit=F("database__capacity_limit_bytes"))
        .annotate(
            n=Count("pk"),
            sx=Sum(x),
            sy=Sum(y),
            sxy=Sum(x * y),
            sxx=Sum(x * x),
            current=ExpressionWrapper(latest, output_field=BigIntegerField()),
        )
        .annotate(
            growth=Cast(F("n") * F("sxy") - F("sx") * F("sy"), FloatField())
            / NullIf(F("n") * F("sxx") - F("sx") * F("sx"), 0)
        )
    )


def fastest_growing(
    databases: QuerySet[InstanceDatabase], count: int, today: date | None = None
) -> list[int]:
    """The ids of the `count` databases of `databases` growing fastest by the database's fit
    (one query): candidates for `database_forecasts`, which gives the figures shown."""
    fits = growth_in_sql(databases, today).filter(growth__gte=MIN_GROWTH)
    return list(
        fits.order_by(F("growth").desc(), "database_id").values_list("database_id", flat=True)[:count]
    )


def nearest_full(databases: QuerySet[InstanceDatabase], count: int, today: date | None = None) -> list[int]:
    """The ids of the `count` databases of `databases` with a limit that the database's fit says
    will be full first (already full ones first), in one query; see `fastest_growing`."""
    full = Q(current__gte=F("limit"))
    fits = growth_in_sql(databases, today).filter(Q(limit__isnull=False) & (full | Q(growth__gte=MIN_GROWTH)))
    days = Case(
        When(full, then=Value(0.0)),
        default=(F("limit") - F("current")) / F("growth"),
        output_field=FloatField(),
    )
    return list(
        fits.annotate(days=days).order_by("days", "database_id").values_list("database_id", flat=True)[:count]
    )
