"""Admin pages render with their SVG charts, without a query per row, behind permissions."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from capacity.admin import InstanceFilter
from capacity.forms import format_size, parse_size
from capacity.models import (
    DatabaseSizeAggregation,
    DatabaseSizeStat,
    InstanceCapacity,
    InstanceDatabase,
    InstanceSizeStat,
)
from capacity.services.aggregation import aggregate
from capacity.templatetags.capacity_tags import period_change, size_range
from whalefall.models import TaskRequest
from whalefall.tests.factories import InstanceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet() -> dict[str, Any]:
    """Two instances, five databases each, 40 days of growing sizes and their aggregates."""
    today = timezone.localdate()
    instances = [InstanceFactory(name=f"inst-{i}") for i in range(2)]
    dbs, stats, totals = [], [], []
    for inst in instances:
        for n in range(5):
            dbs.append(
                InstanceDatabase.objects.create(instance=inst, name=f"db<{n}>", capacity_limit_bytes=10**9)
            )
    for day in range(40):
        date = today - timedelta(days=39 - day)
        for i, db in enumerate(dbs):
            stats.append(
                DatabaseSizeStat(
                    database=db,
                    instance=db.instance,
                    collected_date=date,
                    size_bytes=10**6 * (i + 1) + 1000 * day * i,
                )
            )
        for inst in instances:
            totals.append(
                InstanceSizeStat(instance=inst, collected_date=date, size_bytes=5 * 10**6 + day * 10**4)
            )
    DatabaseSizeStat.objects.bulk_create(stats)
    InstanceSizeStat.objects.bulk_create(totals)
    InstanceCapacity.objects.create(instance=instances[0], capacity_limit_bytes=10**8)
    for kind in ("daily", "weekly", "monthly", "quarterly"):
        aggregate(kind, today - timedelta(days=60), today)
    return {"instances": instances, "dbs": dbs}


@pytest.fixture
def admin_client_(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_database_list_shows_latest_size_and_growth_in_constant_queries(
    admin_client_: Client, fleet: dict, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(12):
        response = admin_client_.get(reverse("admin:capacity_instancedatabase_changelist"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "db&lt;4&gt;" in body  # names escaped
    assert "+29.3 KB" in body  # db 1 grows 1,000 B a day: 30,000 B in 30 days
    assert "Top growers" in body


def test_the_database_history_page_has_a_chart_forecast_and_periods(
    admin_client_: Client, fleet: dict
) -> None:
    db = fleet["dbs"][3]
    response = admin_client_.get(reverse("admin:capacity_instancedatabase_history", args=[db.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count('class="capacity-chart"') == 1 and "<polyline" in body
    assert "+2.9 KB" in body  # growth per day 3,000 B
    assert "Monthly" in body and "Growing" in body
    assert "<script" not in body.split('<div id="content"')[-1]  # no JavaScript for the chart


def test_the_instance_page_lists_databases_with_forecasts(admin_client_: Client, fleet: dict) -> None:
    inst = fleet["instances"][0]
    response = admin_client_.get(reverse("admin:capacity_instance_capacity", args=[inst.pk]))
    body = response.content.decode()
    assert response.status_code == 200 and "<svg" in body
    assert body.count("admin/capacity/instancedatabase/") >= 5
    assert "95.4 MB" in body  # the instance limit of 10^8 bytes


def test_top_growers_ranks_by_growth(admin_client_: Client, fleet: dict) -> None:
    response = admin_client_.get(reverse("admin:capacity_top_growers"))
    rows = response.context["rows"]
    assert response.status_code == 200
    assert [db.pk for db, _ in rows] == [db.pk for db in reversed(fleet["dbs"][1:])]  # db 0 does not grow
    assert rows[0][1].growth_per_day == 9000.0


def test_the_pages_need_the_view_permission(fleet: dict) -> None:
    staff = User.objects.create_user("staff", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    url = reverse("admin:capacity_top_growers")
    assert client.get(url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_instancedatabase"))
    assert client.get(url).status_code == 200


def test_collect_sizes_now_queues_a_task_request(
    admin_client_: Client, fleet: dict, alive_scheduler: object
) -> None:
    inst = fleet["instances"][0]
    response = admin_client_.post(
        reverse("admin:whalefall_instance_changelist"),
        {"action": "collect_sizes_now", "_selected_action": [inst.pk]},
        follow=True,
    )
    assert "queued for 1 instance" in response.content.decode()
    request = TaskRequest.objects.get()
    assert request.task == "capacity.tasks.collect_database_sizes"
    assert request.kwargs == {"instance_ids": [inst.pk], "trigger": "manual_single", "created_by": "admin"}


def test_collect_sizes_now_is_offered_only_with_the_manage_permission(fleet: dict) -> None:
    staff = User.objects.create_user("viewer", password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_instance"))
    client = Client()
    client.force_login(staff)
    body = client.get(reverse("admin:whalefall_instance_changelist")).content.decode()
    assert "collect_sizes_now" not in body and "test_connection" not in body  # both touch servers


# --- names, order, ranges ------------------------------------------------------------------------
def test_databases_are_named_instance_slash_database_and_listed_largest_first(
    admin_client_: Client, fleet: dict
) -> None:
    response = admin_client_.get(reverse("admin:capacity_instancedatabase_changelist"))
    text = re.sub(r"<[^>]+>", "", response.content.decode())
    assert "inst-1 / db&lt;4&gt;" in text and f"{fleet['dbs'][9].instance_id}:" not in text
    history = reverse("admin:capacity_instancedatabase_history", args=[fleet["dbs"][9].pk])
    assert f'<a href="{history}" title="size history">db&lt;4&gt;</a>' in response.content.decode()
    listed = [db.pk for db in response.context["cl"].result_list]
    assert listed == [db.pk for db in reversed(fleet["dbs"])]  # database i is the i-th smallest
    assert response.context["cl"].get_ordering_field_columns() == {2: "desc", 1: "asc"}  # size, then name
    assert str(fleet["dbs"][0]) == "inst-0 / db<0>"
    change = admin_client_.get(reverse("admin:capacity_instancedatabase_change", args=[fleet["dbs"][0].pk]))
    assert "inst-0 / db&lt;0&gt;" in change.content.decode()


def test_the_instance_page_lists_its_databases_largest_first_in_constant_queries(
    admin_client_: Client, fleet: dict
) -> None:
    inst = fleet["instances"][0]
    url = reverse("admin:capacity_instance_capacity", args=[inst.pk])
    admin_client_.get(url)
    with CaptureQueriesContext(connection) as few:
        response = admin_client_.get(url)
    assert [db.pk for db, _f in response.context["rows"]] == [db.pk for db in reversed(fleet["dbs"][:5])]
    assert "inst-0 / db&lt;4&gt;" in response.content.decode()
    for n in range(20):
        db = InstanceDatabase.objects.create(instance=inst, name=f"more{n}")
        DatabaseSizeStat.objects.create(
            database=db, instance=inst, collected_date=timezone.localdate(), size_bytes=n
        )
    with CaptureQueriesContext(connection) as many:
        response = admin_client_.get(url)
    assert len(response.context["rows"]) == 25 and len(many) == len(few)


def test_the_range_selector_changes_what_the_chart_shows(admin_client_: Client, fleet: dict) -> None:
    url = reverse("admin:capacity_instancedatabase_history", args=[fleet["dbs"][3].pk])
    year = admin_client_.get(url).content.decode()
    month = admin_client_.get(url, {"range": "30d"}).content.decode()
    assert year.count('<g class="point">') == 40 and month.count('<g class="point">') == 30
    assert '<a href="?range=30d" class="selected" aria-current="page">30 days</a>' in month
    assert '<a href="?range=1y" class="selected" aria-current="page">1 year</a>' in year
    assert 'class="forecast"' in month and 'class="limit"' not in month  # 1 GB limit, far above 1 MB
    assert "limit 953.7 MB (above the chart)" in month
    bogus = admin_client_.get(url, {"range": "<script>"})
    assert bogus.status_code == 200 and bogus.content.decode().count('<g class="point">') == 40


# --- limits with units ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "stored", "shown"),
    [
        ("500 GB", 500 * 1024**3, "500 GB"),
        ("2 TB", 2 * 1024**4, "2 TB"),
        ("750 MiB", 750 * 1024**2, "750 MB"),
        ("1.5tb", 1536 * 1024**3, "1.5 TB"),
        ("123456789", 123456789, "123456789 B"),
        ("", None, ""),
    ],
)
def test_a_database_limit_is_typed_with_its_unit_and_shown_back_in_it(
    admin_client_: Client, fleet: dict, typed: str, stored: int | None, shown: str
) -> None:
    db = fleet["dbs"][0]
    url = reverse("admin:capacity_instancedatabase_change", args=[db.pk])
    response = admin_client_.post(url, {"capacity_limit_bytes": typed})
    assert response.status_code == 302, response.content.decode()[:2000]
    db.refresh_from_db()
    assert db.capacity_limit_bytes == stored
    form = admin_client_.get(url).content.decode()
    field = re.search(r'<input[^>]*name="capacity_limit_bytes"[^>]*>', form).group(0)
    assert (f'value="{shown}"' in field) if shown else ("value=" not in field)


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("lots", "Enter a size such as"),
        ("5 parsecs", "Enter a size such as"),
        ("-5 GB", "A size cannot be negative."),
        ("9999999 PB", "That size is too large."),
    ],
)
def test_a_limit_that_is_not_a_size_is_refused_with_a_clear_error(
    admin_client_: Client, fleet: dict, typed: str, error: str
) -> None:
    db = fleet["dbs"][0]
    response = admin_client_.post(
        reverse("admin:capacity_instancedatabase_change", args=[db.pk]), {"capacity_limit_bytes": typed}
    )
    body = response.content.decode()
    assert response.status_code == 200 and error in body
    assert f'value="{typed}"' in body  # what was typed stays in the field to be corrected
    db.refresh_from_db()
    assert db.capacity_limit_bytes == 10**9


def test_an_instance_limit_is_typed_with_its_unit(admin_client_: Client, fleet: dict) -> None:
    inst = fleet["instances"][1]
    response = admin_client_.post(
        reverse("admin:capacity_instancecapacity_add"), {"instance": inst.pk, "capacity_limit_bytes": "2 TB"}
    )
    assert response.status_code == 302
    limit = InstanceCapacity.objects.get(instance=inst)
    assert limit.capacity_limit_bytes == 2 * 1024**4 and str(limit) == "inst-1"
    listing = admin_client_.get(reverse("admin:capacity_instancecapacity_changelist")).content.decode()
    assert "2.0 TB" in listing


@pytest.mark.parametrize(
    ("value", "text"),
    [(536870912000, "500 GB"), (1610612736000, "1500 GB"), (1024**3 + 512 * 1024**2, "1.5 GB"), (1, "1 B")],
)
def test_a_size_is_shown_in_the_largest_unit_that_shows_it_exactly(value: int, text: str) -> None:
    assert format_size(value) == text and parse_size(text) == value


# --- periods with nothing to compare with ----------------------------------------------------------
def test_a_first_period_says_no_earlier_period_instead_of_a_zero_change(admin_client_: Client) -> None:
    inst = InstanceFactory(name="solo")
    db = InstanceDatabase.objects.create(instance=inst, name="app")
    days = {date(2024, 1, 1): 100, date(2024, 1, 2): 100, date(2024, 1, 15): 300, date(2024, 1, 22): 300}
    DatabaseSizeStat.objects.bulk_create(
        DatabaseSizeStat(database=db, instance=inst, collected_date=d, size_bytes=b) for d, b in days.items()
    )
    InstanceSizeStat.objects.bulk_create(
        InstanceSizeStat(instance=inst, collected_date=d, size_bytes=b) for d, b in days.items()
    )
    aggregate("weekly", date(2024, 1, 1), date(2024, 1, 22))
    response = admin_client_.get(
        reverse("admin:capacity_databasesizeaggregation_changelist"), {"period_type__exact": "weekly"}
    )
    rows = {
        row.period_start: (period_change(row), row)
        for row in response.context["cl"].result_list
        if row.database_id == db.pk
    }
    assert rows[date(2024, 1, 1)][0] == "no earlier period"
    assert rows[date(2024, 1, 15)][0] == "no samples in the previous period"  # the week of the 8th is empty
    assert rows[date(2024, 1, 22)][0] == "0 B (0.00%)"  # measured: the same size as the week before
    body = response.content.decode()
    assert "no earlier period" in body and "no samples in the previous period" in body
    history = admin_client_.get(reverse("admin:capacity_instancedatabase_history", args=[db.pk]))
    page = history.content.decode()
    assert page.count("no earlier period") == 1 and "Stable" in page  # the last week is measured
    instance_page = admin_client_.get(reverse("admin:capacity_instance_capacity", args=[inst.pk]))
    assert "no earlier period" in instance_page.content.decode()


def test_periods_are_named_as_a_dba_says_them_with_their_size_range(
    admin_client_: Client, fleet: dict
) -> None:
    db = fleet["dbs"][3]
    page = admin_client_.get(
        reverse("admin:capacity_instancedatabase_history", args=[db.pk])
    ).content.decode()
    monthly = DatabaseSizeAggregation.objects.filter(database=db, period_type="monthly").latest(
        "period_start"
    )
    assert f"<td>{date_format(monthly.period_start, 'YEAR_MONTH_FORMAT')}</td>" in page
    weekly = DatabaseSizeAggregation.objects.filter(database=db, period_type="weekly").latest("period_start")
    assert f"<td>week of {date_format(weekly.period_start, 'DATE_FORMAT')}</td>" in page
    quarter = DatabaseSizeAggregation.objects.filter(database=db, period_type="quarterly").latest(
        "period_start"
    )
    assert f"<td>Q{(quarter.period_start.month - 1) // 3 + 1} {quarter.period_start.year}</td>" in page
    assert f"<td>{size_range(monthly)}</td>" in page
    listing = admin_client_.get(
        reverse("admin:capacity_databasesizeaggregation_changelist"), {"period_type__exact": "monthly"}
    )
    first = listing.context["cl"].result_list[0]
    assert first.period_start == monthly.period_start  # the latest period first
    assert f"{first.sample_count} samples" in listing.content.decode()  # on the average, on hover


@pytest.mark.parametrize(
    ("low", "high", "text"),
    [
        (int(6.3 * 1024**3), int(6.9 * 1024**3), "6.3 \u2013 6.9 GB"),
        (300 * 1024**2, int(1.2 * 1024**3), "300.0 MB \u2013 1.2 GB"),
        (4_000_000, 4_000_100, "3.8 MB"),  # the same once rounded: one size
    ],
)
def test_a_size_range_writes_a_shared_unit_once(low: int, high: int, text: str) -> None:
    assert size_range(DatabaseSizeAggregation(min_size_bytes=low, max_size_bytes=high)) == text


def test_the_instance_filter_lists_a_few_instances_and_only_the_chosen_one_of_many(
    admin_client_: Client, fleet: dict
) -> None:
    url = reverse("admin:capacity_instancedatabase_changelist")

    def instance_choices(**params: str) -> tuple[list[str], int]:
        response = admin_client_.get(url, params)
        cl = response.context["cl"]
        specs = [f for f in cl.filter_specs if f.title == "instance"]  # none when it has nothing to list
        return [c["display"] for s in specs for c in s.choices(cl)][1:], cl.result_count

    assert instance_choices() == (["inst-0", "inst-1"], 10)
    InstanceFactory.create_batch(InstanceFilter.MAX_LISTED)
    assert instance_choices() == ([], 10)  # not thousands of links: rows and search lead to one
    chosen = str(fleet["instances"][1].pk)
    assert instance_choices(instance__id__exact=chosen) == (["inst-1"], 5)
    assert admin_client_.get(url, {"instance__id__exact": "x"}).context["cl"].result_count == 10
