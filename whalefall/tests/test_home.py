"""The admin home as a fleet overview: panels, links, and a fixed number of queries."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from html import unescape
from typing import Any
from unittest.mock import patch

import pytest
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts_sync.models import Account, AccountChange, ChangeType
from accounts_sync.risk import assess
from capacity.models import DatabaseSizeStat, InstanceDatabase
from whalefall.choices import DbType
from whalefall.models import Instance, SyncInstanceRecord
from whalefall.tests.factories import CredentialFactory, InstanceFactory, SyncSessionFactory

pytestmark = pytest.mark.django_db
#: The queries of the home page whatever the fleet: session and user, the scheduler's status,
#: and each panel's few (failing instances 3, risky changes, disks 5, scheduled tasks).
HOME_QUERIES = 18
#: The rows those queries may return: pages of each panel, never the fleet (400 instances here).
HOME_ROWS = 150


def fleet(n: int, start: int = 0) -> None:
    """n instances, half failing; risky and plain account changes; growing databases. Written in
    bulk, so that a fleet of hundreds takes a second."""
    now, today = timezone.now(), timezone.localdate()
    session = SyncSessionFactory(category="account", status="partial", finished_at=now)
    credential = CredentialFactory()
    numbers = range(start, start + n)
    instances = Instance.objects.bulk_create(
        Instance(name=f"db-{i:03d}", db_type=DbType.MYSQL, host="127.0.0.1", credential=credential)
        for i in numbers
    )
    SyncInstanceRecord.objects.bulk_create(
        SyncInstanceRecord(
            session=session,
            instance=inst,
            instance_name=inst.name,
            status="failed" if i % 2 else "completed",
            failed_phase="connection" if i % 2 else "",
            error_message="unreachable: connection refused" if i % 2 else "",
            started_at=now,
            finished_at=now,
        )
        for i, inst in zip(numbers, instances, strict=True)
    )
    accounts = Account.objects.bulk_create(
        Account(instance=inst, identity=f"u{i}", username=f"u{i}")
        for i, inst in zip(numbers, instances, strict=True)
    )
    changes = []
    for i, acc in zip(numbers, accounts, strict=True):
        for kind, details, summary in (
            (
                ChangeType.ADD,
                {"is_superuser": i % 3 == 0, "can_login": True, "permissions": {"database shop": ["INSERT"]}},
                "added",
            ),
            (ChangeType.MODIFY_PRIVILEGE, {"entries": []}, "GRANT SELECT ON table shop.orders"),
        ):
            changes.append(
                AccountChange(
                    account=acc,
                    instance_id=acc.instance_id,
                    change_type=kind,
                    details=details,
                    summary=summary,
                    severity=assess(kind, details)[0],  # what save() sets; bulk_create does not call it
                    session=session,
                    session_uuid=session.session_id,
                )
            )
    AccountChange.objects.bulk_create(changes)
    databases = InstanceDatabase.objects.bulk_create(
        InstanceDatabase(instance=inst, name="app", capacity_limit_bytes=10_000 + i)
        for i, inst in zip(numbers, instances, strict=True)
    )
    DatabaseSizeStat.objects.bulk_create(
        DatabaseSizeStat(
            database=db,
            instance_id=db.instance_id,
            collected_date=today - timedelta(days=2 - d),
            size_bytes=9000 + 300 * d,
        )
        for db in databases
        for d in range(3)
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


def test_the_apps_are_ordered_by_the_work_with_sessions_last(admin_client: Any) -> None:
    """Instances first (what a DBA sets up), then accounts, capacity and scheduling, and the run
    records last; every model the site registers is listed once."""
    from django.contrib import admin

    page = admin_client.get(reverse("admin:index")).content.decode()
    blocks = re.findall(
        r'<caption>\s*<a href="[^"]*" class="section"[^>]*>([^<]+)</a>(.*?)</table>', page, re.S
    )
    names = [name for name, _models in blocks]
    assert names[:4] == ["Instances", "Accounts", "Capacity", "Scheduling"]
    work = [n for n in names if n != "Authentication and Authorization"]
    assert work[-1] == "Sessions"
    models = {
        name: re.findall(r'<th scope="row" id="[^"]*"[^>]*>\s*(?:<a [^>]*>)?([^<]+)<', html)
        for name, html in blocks
    }
    assert models["Instances"][:3] == ["Instances", "Credentials", "Tags"]
    assert {"Sync sessions", "Sync locks"} <= set(models["Sessions"])
    listed = [m for ms in models.values() for m in ms]
    assert len(listed) == len(set(listed)) == len(admin.site._registry)


@contextmanager
def rows_read() -> Iterator[list[int]]:
    """The number of rows each fetch of the block's queries returned."""
    counts: list[int] = []

    def counting(name: str) -> Callable[..., Any]:
        def fetch(self: CursorWrapper, *args: Any) -> Any:
            result = getattr(self.cursor, name)(*args)
            counts.append((result is not None) if name == "fetchone" else len(result))
            return result

        return fetch

    with ExitStack() as stack:
        for name in ("fetchone", "fetchmany", "fetchall"):
            stack.enter_context(patch.object(CursorWrapper, name, counting(name), create=True))
        yield counts


def test_the_home_costs_the_same_queries_for_any_fleet(
    admin_client: Any, django_assert_max_num_queries: Any
) -> None:
    """A handful of queries with three instances and with hundreds: no panel reads the fleet
    row by row, nor loads it whole into Python."""
    fleet(3)
    admin_client.get(reverse("admin:index"))  # the first request warms the session and caches
    with CaptureQueriesContext(connection) as small:
        admin_client.get(reverse("admin:index"))
    fleet(400, start=3)
    with django_assert_max_num_queries(HOME_QUERIES) as large, rows_read() as rows:
        page = admin_client.get(reverse("admin:index")).content.decode()
    assert len(large) == len(small)
    assert sum(rows) <= HOME_ROWS, f"the home read {sum(rows)} rows from the database"
    for query in large:  # no list of every instance or database sent back to the database
        for values in re.findall(r"\bIN \(([^()]*)\)", query["sql"]):
            assert values.count(",") < 50, query["sql"][:300]
    assert "201 failing now" in page and "full in" in page  # the large fleet is what was shown


def panel(page: str, key: str) -> str:
    """The HTML of one home panel."""
    found = re.search(rf'<section[^>]* id="panel-{key}">(.*?)</section>', page, re.S)
    assert found, f"no panel {key}"
    return found.group(1)


def links(html: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'href="([^"]+)"', html)]


def ran(instance: Any, category: str, status: str, error: str = "", minutes_ago: int = 5) -> None:
    """One record of `instance` in a session of its own that ended as the records say."""
    ended = timezone.now() - timedelta(minutes=minutes_ago)
    session = SyncSessionFactory(category=category, status="partial", finished_at=ended)
    SyncInstanceRecord.objects.create(
        session=session,
        instance=instance,
        instance_name=instance.name,
        status=status,
        started_at=ended - timedelta(seconds=20),
        finished_at=ended,
        failed_phase="connection" if error else "",
        error_message=error,
    )


def test_failing_now_counts_what_the_instance_board_calls_failing_and_links_to_it(admin_client: Any) -> None:
    """An instance failing inside a multi-instance run leaves the session *partial*: the figure
    must count it and its link must open the instance board filtered to the failing instances."""
    broken = InstanceFactory(name="broken-maria")
    ran(broken, "account", "failed", "attempt 1 (connection): unreachable: connection refused")
    ran(InstanceFactory(name="fine-pg"), "account", "completed")
    InstanceFactory(
        name="check-denied",
        last_check_ok=False,
        last_check_at=timezone.now(),
        last_check_message="authentication: access denied",
    )
    ran(InstanceFactory(name="cut-off"), "capacity", "interrupted")
    recovered = InstanceFactory(name="recovered")
    ran(recovered, "account", "failed", "unreachable: timed out", minutes_ago=60)
    ran(recovered, "account", "completed")
    ran(InstanceFactory(name="retired", is_active=False), "account", "failed", "unreachable: gone")

    html = panel(admin_client.get(reverse("admin:index")).content.decode(), "failing")
    assert "3 failing now" in html
    for name in ("broken-maria", "check-denied", "cut-off"):
        assert name in html
    for name in ("fine-pg", "recovered", "retired"):
        assert name not in html
    assert "unreachable" in html and "authentication" in html and "interrupted" in html

    board = reverse("admin:whalefall_instance_changelist")
    summary = links(html.split("<table>")[0])
    assert len(summary) == 1 and summary[0].startswith(board + "?")
    listed = admin_client.get(summary[0]).context["cl"]
    assert sorted(i.name for i in listed.result_list) == ["broken-maria", "check-denied", "cut-off"]
    assert listed.result_count == 3


def test_failing_now_shows_the_first_ten_and_links_the_rest_to_the_board(
    admin_client: Any, admin_user: Any, django_assert_max_num_queries: Any
) -> None:
    from whalefall.panels import failing_instances

    for i in range(12):
        ran(InstanceFactory(name=f"down-{i:02d}"), "account", "failed", "unreachable: refused")
    ran(InstanceFactory(name="up"), "account", "completed")
    request = RequestFactory().get("/")
    request.user = admin_user
    with django_assert_max_num_queries(3):
        data = failing_instances(request)
    assert data is not None
    assert [row[0].text for row in data.rows] == [f"down-{i:02d}" for i in range(10)]
    assert data.summary[0].text == "12 failing now"
    assert data.more_url == data.summary[0].url
    assert admin_client.get(data.more_url).context["cl"].result_count == 12


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
