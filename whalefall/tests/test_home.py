"""The admin home as a fleet overview: panels, links, and a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts_sync.models import Account, AccountChange, ChangeType
from capacity.models import DatabaseSizeStat, InstanceDatabase
from whalefall.models import SyncInstanceRecord
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory

pytestmark = pytest.mark.django_db


def fleet(n: int, start: int = 0) -> None:
    """n instances, half failing; risky and plain account changes; growing databases."""
    session = SyncSessionFactory(category="account", status="partial", finished_at=timezone.now())
    today = timezone.localdate()
    for i in range(start, start + n):
        inst = InstanceFactory(name=f"db-{i:03d}")
        SyncInstanceRecord.objects.create(
            session=session,
            instance=inst,
            instance_name=inst.name,
            status="failed" if i % 2 else "completed",
            failed_phase="connection" if i % 2 else "",
            error_message="unreachable: connection refused" if i % 2 else "",
            finished_at=timezone.now(),
        )
        acc = Account.objects.create(instance=inst, identity=f"u{i}", username=f"u{i}")
        for kind, details, summary in (
            (
                ChangeType.ADD,
                {"is_superuser": i % 3 == 0, "can_login": True, "permissions": {"database shop": ["INSERT"]}},
                "added",
            ),
            (ChangeType.MODIFY_PRIVILEGE, {"entries": []}, "GRANT SELECT ON table shop.orders"),
        ):
            AccountChange.objects.create(
                account=acc,
                instance=inst,
                change_type=kind,
                details=details,
                summary=summary,
                session=session,
                session_uuid=session.session_id,
            )
        db = InstanceDatabase.objects.create(instance=inst, name="app", capacity_limit_bytes=10_000 + i)
        for d in range(3):
            DatabaseSizeStat.objects.create(
                database=db,
                instance=inst,
                collected_date=today - timedelta(days=2 - d),
                size_bytes=9000 + 300 * d,
            )


def test_the_home_shows_what_needs_attention(admin_client: Any) -> None:
    fleet(6)
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "<title>Fleet overview | WhaleFall</title>" in page
    assert "3 failing now" in page and "db-001" in page and "unreachable" in page
    assert (
        "Risky account changes" in page and "6 in 24 h" in page
    )  # 2 superusers (critical) + 4 new logins that can write (high)
    assert "Disks filling up" in page and "full in" in page
    assert "Scheduled tasks" in page
    assert page.index("WhaleFall core") < page.index("Accounts") < page.index("Scheduling")


def test_the_home_costs_the_same_queries_for_any_fleet(
    admin_client: Any, django_assert_max_num_queries: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    fleet(3)
    with CaptureQueriesContext(connection) as small:
        admin_client.get(reverse("admin:index"))
    fleet(30, start=3)
    with CaptureQueriesContext(connection) as large:
        admin_client.get(reverse("admin:index"))
    assert len(large) == len(small)


def test_an_empty_fleet_gets_first_steps(admin_client: Any) -> None:
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "First steps" in page and reverse("admin:whalefall_instance_add") in page
    assert "Instances failing now" not in page


def test_the_risky_filter_and_severity_column(admin_client: Any) -> None:
    fleet(3)
    url = reverse("admin:accounts_sync_accountchange_changelist")
    response = admin_client.get(url, {"risk": "critical"})
    assert response.context["cl"].result_count == 1  # db-000's new superuser
    response = admin_client.get(url, {"risk": "risky"})
    assert response.context["cl"].result_count == 3
    assert "wf-badge wf-bad" in response.content.decode()
