"""Admin pages render with their SVG charts, without a query per row, behind permissions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from capacity.models import DatabaseSizeStat, InstanceCapacity, InstanceDatabase, InstanceSizeStat
from capacity.services.aggregation import aggregate
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
