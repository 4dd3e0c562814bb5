"""Forecast: least-squares growth, projections, days until full and "never"."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from capacity.models import DatabaseSizeStat, InstanceDatabase, InstanceSizeStat
from capacity.services.forecast import (
    NEVER,
    database_forecasts,
    forecast,
    growth_in_sql,
    instance_forecasts,
    slope_per_day,
)
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


@pytest.mark.django_db
def test_the_database_fits_the_same_growth_and_latest_size_as_python() -> None:
    """growth_in_sql's sums give the slope `forecast` fits (gaps, days outside the window, one
    day only) and the size of the latest day, computed in the database."""
    instance = InstanceFactory()
    today = date(2024, 6, 30)
    shapes = {
        "steady": [(d, 10**12 - 7_000 * d) for d in range(0, 90, 3)],  # d days ago
        "gappy": [(0, 500), (1, 900), (40, 300), (89, 8_000), (95, 10**9)],  # day 95: before the window
        "one-day": [(5, 1234)],
        "shrinking": [(d, 10**6 - 100 * d) for d in range(10)],
    }
    expected = {}
    for name, points in shapes.items():
        db = InstanceDatabase.objects.create(instance=instance, name=name)
        for ago, size in points:
            DatabaseSizeStat.objects.create(
                database=db, instance=instance, collected_date=today - timedelta(days=ago), size_bytes=size
            )
        expected[db.pk] = database_forecasts({db.pk: None}, today=today)[db.pk]
    rows = {r["database_id"]: r for r in growth_in_sql(InstanceDatabase.objects.all(), today=today)}
    for pk, f in expected.items():
        assert rows[pk]["current"] == f.current_bytes
        assert round(rows[pk]["growth"] or 0.0, 2) == pytest.approx(f.growth_per_day, abs=0.01)
    assert rows[min(expected)]["growth"] == pytest.approx(7_000.0)  # steady: 7,000 bytes a day
    assert rows[min(expected) + 2]["growth"] is None  # one day: no slope
