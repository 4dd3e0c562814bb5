"""Forecast: least-squares growth, projections, days until full and "never"."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from capacity.models import DatabaseSizeStat, InstanceDatabase, InstanceSizeStat
from capacity.services.forecast import NEVER, database_forecasts, forecast, instance_forecasts, slope_per_day
from whalefall.tests.factories import InstanceFactory

DAY0 = date(2024, 1, 1)


def series(*sizes: int | None) -> list[tuple[date, int]]:
    return [(DAY0 + timedelta(days=i), s) for i, s in enumerate(sizes) if s is not None]


def test_it_fits_the_slope_by_least_squares_through_gaps() -> None:
    assert slope_per_day(series(100, None, 300, 400)) == pytest.approx(100.0)
    assert slope_per_day(series(0, 10, 0, 10)) == pytest.approx(2.0)  # (x-1.5)·y summed / 5
    assert slope_per_day(series(500)) == 0.0


def test_it_projects_30_and_90_days_and_days_until_full() -> None:
    result = forecast(series(1000, 1100, 1200), limit=2000)
    assert (result.current_bytes, result.growth_per_day) == (1200, 100.0)
    assert (result.projected_30_bytes, result.projected_90_bytes) == (4200, 10200)
    assert result.days_until_full == 8  # ceil(800 / 100)


def test_it_says_never_when_not_growing_and_none_without_a_limit() -> None:
    assert forecast(series(500, 500, 500), limit=1000).days_until_full == NEVER
    shrinking = forecast(series(900, 600, 300), limit=1000)
    assert shrinking.days_until_full == NEVER and shrinking.projected_90_bytes == 0  # never below zero
    assert forecast(series(1, 2), limit=None).days_until_full is None
    assert forecast(series(1000, 1200), limit=1000).days_until_full == 0  # already full
    assert forecast([]).current_bytes is None


@pytest.mark.django_db
def test_it_forecasts_databases_and_instances_in_one_query_each(django_assert_num_queries) -> None:
    instance = InstanceFactory()
    dbs = [InstanceDatabase.objects.create(instance=instance, name=n) for n in ("a", "b")]
    today = date(2024, 6, 30)
    for i in range(10):
        day = today - timedelta(days=9 - i)
        DatabaseSizeStat.objects.create(
            database=dbs[0], instance=instance, collected_date=day, size_bytes=1000 + 50 * i
        )
        DatabaseSizeStat.objects.create(
            database=dbs[1], instance=instance, collected_date=day, size_bytes=700
        )
        InstanceSizeStat.objects.create(instance=instance, collected_date=day, size_bytes=1700 + 50 * i)
    with django_assert_num_queries(1):
        result = database_forecasts({dbs[0].pk: 2000, dbs[1].pk: None}, today=today)
    assert result[dbs[0].pk].growth_per_day == 50.0 and result[dbs[0].pk].days_until_full == 11
    assert result[dbs[1].pk].growth_per_day == 0.0
    with django_assert_num_queries(1):
        inst = instance_forecasts({instance.pk: None}, today=today)[instance.pk]
    assert (inst.current_bytes, inst.projected_30_bytes) == (2150, 3650)
