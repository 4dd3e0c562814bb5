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

from django.utils import timezone

from capacity.models import DatabaseSizeStat, InstanceSizeStat

WINDOW_DAYS = 90
NEVER = "never"


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
