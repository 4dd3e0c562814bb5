"""The home's "Disks filling up" panel: the same databases as a forecast of every database would
pick, found in a fixed number of queries without sending the database a list of every id."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from capacity.models import DatabaseSizeStat, InstanceDatabase
from capacity.panels import HORIZON_DAYS, SHOWN, filling_up
from capacity.services.forecast import NEVER, database_forecasts
from whalefall.tests.factories import InstanceFactory

pytestmark = pytest.mark.django_db
# The longest list of values a query may carry: far below SQLite's variable limit.
LONGEST_IN_LIST = 50


def databases(count: int, seed: int = 7) -> list[InstanceDatabase]:
    """`count` databases of a few instances, with sizes of the last weeks that grow, shrink, stay
    flat, jump about, have gaps or a single day, with or without a limit (some already full)."""
    rng = random.Random(seed)
    instances = [InstanceFactory(name=f"inst-{seed}-{i}") for i in range(4)]
    today = timezone.localdate()
    dbs = InstanceDatabase.objects.bulk_create(
        InstanceDatabase(
            instance=instances[i % 4],
            name=f"db{i:04d}",
            is_active=i % 17 != 0,
            capacity_limit_bytes=None if i % 3 == 0 else 10**9 + rng.randrange(10**9),
        )
        for i in range(count)
    )
    stats = []
    for n, db in enumerate(dbs):
        size = 5 * 10**8 + rng.randrange(5 * 10**8)
        growth = rng.choice([0, -(10**5), rng.randrange(10**3, 10**7), rng.randrange(10**3, 10**7)])
        days = [0] if n % 11 == 0 else sorted(rng.sample(range(120), 30))
        for day in days:
            noise = rng.randrange(-(10**4), 10**4) if n % 5 == 0 else 0
            value = max(0, size + growth * day + noise)
            if n % 23 == 0:
                value = db.capacity_limit_bytes or value  # at the limit already
            stats.append(
                DatabaseSizeStat(
                    database=db,
                    instance_id=db.instance_id,
                    collected_date=today - timedelta(days=119 - day),
                    size_bytes=value,
                )
            )
    DatabaseSizeStat.objects.bulk_create(stats, batch_size=2000)
    return dbs


def reference(dbs: list[InstanceDatabase]) -> tuple[list[int], list[int]]:
    """What a forecast of every active database says: the nearest days until full, and the
    fastest growth per day (the values, so that ties between databases do not matter)."""
    active = [d for d in dbs if d.is_active]
    forecasts = {}
    for i in range(0, len(active), 200):
        forecasts.update(database_forecasts({d.pk: d.capacity_limit_bytes for d in active[i : i + 200]}))
    days = sorted(
        f.days_until_full
        for f in forecasts.values()
        if isinstance(f.days_until_full, int) and f.days_until_full <= HORIZON_DAYS
    )
    growth = sorted((f.growth_per_day for f in forecasts.values() if f.growth_per_day > 0), reverse=True)
    return days[:SHOWN], growth[:SHOWN]


def shown(data: Any, dbs: list[InstanceDatabase]) -> tuple[list[int], list[float]]:
    by_name = {
        f"{d.instance.name} / {d.name}": d for d in InstanceDatabase.objects.select_related("instance")
    }
    rows = [(by_name[row[0].text], row[1].text) for row in data.rows]
    forecasts = database_forecasts({d.pk: d.capacity_limit_bytes for d, _ in rows})
    days = [forecasts[d.pk].days_until_full for d, outlook in rows if outlook.startswith("full in")]
    growing = [forecasts[d.pk].growth_per_day for d, outlook in rows if outlook == "growing"]
    return days, growing  # type: ignore[return-value]


def test_the_panel_picks_what_a_forecast_of_every_database_picks(admin_user: Any) -> None:
    dbs = databases(300)
    request = RequestFactory().get("/")
    request.user = admin_user
    data = filling_up(request)
    assert data is not None
    nearest, fastest = reference(dbs)
    days, growing = shown(data, dbs)
    assert days == nearest and len(days) == SHOWN
    assert NEVER not in days
    # Growers shown are the fastest ones not already listed as filling up.
    assert growing and all(g in fastest for g in growing)
    assert growing == sorted(growing, reverse=True)


def test_the_panel_costs_the_same_few_queries_and_no_list_of_every_database(admin_user: Any) -> None:
    request = RequestFactory().get("/")
    request.user = admin_user
    databases(20, seed=1)
    with CaptureQueriesContext(connection) as few:
        filling_up(request)
    databases(600, seed=2)
    with CaptureQueriesContext(connection) as many:
        filling_up(request)
    assert len(many) == len(few) <= 5
    for query in many:
        for values in re.findall(r"\bIN \(([^()]*)\)", query["sql"]):
            assert values.count(",") < LONGEST_IN_LIST, query["sql"][:300]


def test_the_top_growers_page_ranks_every_database_without_a_list_of_them(admin_client: Any) -> None:
    from capacity.admin_views import TOP_GROWERS

    dbs = databases(400, seed=3)
    active = [d for d in dbs if d.is_active]
    forecasts = {}
    for i in range(0, len(active), 200):
        forecasts.update(database_forecasts({d.pk: d.capacity_limit_bytes for d in active[i : i + 200]}))
    fastest = sorted((f.growth_per_day for f in forecasts.values() if f.growth_per_day > 0), reverse=True)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse("admin:capacity_top_growers"))
    assert [f.growth_per_day for _db, f in response.context["rows"]] == fastest[:TOP_GROWERS]
    for query in queries:
        for values in re.findall(r"\bIN \(([^()]*)\)", query["sql"]):
            assert values.count(",") < LONGEST_IN_LIST, query["sql"][:300]


def test_full_in_n_days_links_to_that_databases_capacity_page(admin_client: Any) -> None:
    instance = InstanceFactory(name="sales-pg")
    db = InstanceDatabase.objects.create(instance=instance, name="orders", capacity_limit_bytes=10_000)
    today = timezone.localdate()
    for d in range(3):
        DatabaseSizeStat.objects.create(
            database=db,
            instance=instance,
            collected_date=today - timedelta(days=2 - d),
            size_bytes=9000 + 300 * d,
        )
    page = admin_client.get(reverse("admin:index")).content.decode()
    section = re.search(r'id="panel-capacity">(.*?)</section>', page, re.S)
    assert section
    history = reverse("admin:capacity_instancedatabase_history", args=[db.pk])
    cell = re.search(r'<a href="([^"]+)"[^>]*><bdi>full in 2 days</bdi>', section.group(1))
    assert cell and cell.group(1) == history
    assert admin_client.get(history).status_code == 200


def test_a_disk_full_only_in_years_is_not_news(admin_user: Any) -> None:
    instance = InstanceFactory(name="slow")
    db = InstanceDatabase.objects.create(instance=instance, name="archive", capacity_limit_bytes=10**12)
    today = timezone.localdate()
    DatabaseSizeStat.objects.bulk_create(  # +1 MB a day, 1 TB away: thousands of days
        DatabaseSizeStat(
            database=db,
            instance=instance,
            collected_date=today - timedelta(days=d),
            size_bytes=10**9 - d * 10**6,
        )
        for d in range(30)
    )
    assert database_forecasts({db.pk: db.capacity_limit_bytes})[db.pk].days_until_full > HORIZON_DAYS
    request = RequestFactory().get("/")
    request.user = admin_user
    data = filling_up(request)
    assert data is not None
    assert [(row[0].text, row[1].text) for row in data.rows] == [("slow / archive", "growing")]
