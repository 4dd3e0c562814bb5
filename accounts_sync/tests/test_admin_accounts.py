"""The account pages read at a glance: a compact list with a constant cost, facts in words, the
engine's statements, changes with their severity, and any two versions compared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts_sync import display
from accounts_sync.adapters.mysql import mariadb_bits
from accounts_sync.models import (
    Account,
    AccountChange,
    AccountPrivilege,
    AccountSyncState,
    ChangeType,
    PermissionSnapshot,
)
from accounts_sync.privileges import Scope
from whalefall.connections.base import parse_version
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory

pytestmark = pytest.mark.django_db
VERSION = "10.11.19-MariaDB-0+deb12u1"


def grant(
    account: Account, kind: str, *path: str, privilege: str, via: str = "", grantable: bool = False
) -> None:
    AccountPrivilege.objects.create(
        instance=account.instance,
        account=account,
        scope_kind=kind,
        path=list(path),
        target=Scope.of(kind, *path).target,
        privilege=privilege,
        via=via,
        grantable=grantable,
    )


def log(
    account: Account, kind: str, details: dict, summary: str, at: datetime, session: Any
) -> AccountChange:
    return AccountChange.objects.create(
        account=account,
        instance=account.instance,
        change_type=kind,
        details=details,
        summary=summary,
        session=session,
        session_uuid=session.session_id,
        created_at=at,
    )


def fleet(n: int, start: int = 0) -> None:
    """n MariaDB accounts, each with global, database and role-derived privileges and a change
    (written in bulk: the large case has 10,000 accounts)."""
    instance = InstanceFactory(name=f"maria-{start}", db_type="mysql", version=VERSION)
    session = SyncSessionFactory()
    accounts = Account.objects.bulk_create(
        Account(instance=instance, identity=f"u{i}@%", username=f"u{i}", host="%", is_locked=i % 2 == 0)
        for i in range(start, start + n)
    )
    rows = []
    for acc in accounts:
        for kind, path, via in (
            ("global", [], ""),
            ("database", ["shop"], ""),
            ("database", ["crm"], ""),
            ("table", ["shop", "orders"], "r_app@"),
        ):
            privilege = "PROCESS" if kind == "global" else "SELECT"
            target = Scope.of(kind, *path).target
            rows.append(
                AccountPrivilege(
                    instance=instance,
                    account=acc,
                    scope_kind=kind,
                    path=path,
                    target=target,
                    privilege=privilege,
                    via=via,
                )
            )
    AccountPrivilege.objects.bulk_create(rows)
    AccountChange.objects.bulk_create(
        AccountChange(
            account=acc,
            instance=instance,
            change_type=ChangeType.MODIFY_PRIVILEGE,
            details={"entries": []},
            summary="GRANT SELECT ON database shop",
            session=session,
            session_uuid=session.session_id,
        )
        for acc in accounts
    )


def test_the_account_list_costs_the_same_queries_for_any_number_of_accounts(
    admin_client: Any, django_assert_max_num_queries: Any
) -> None:
    url = reverse("admin:accounts_sync_account_changelist")
    fleet(3)
    with CaptureQueriesContext(connection) as small:
        assert admin_client.get(url).status_code == 200
    fleet(10_000, start=3)
    with CaptureQueriesContext(connection) as large:
        page = admin_client.get(url).content.decode()
    assert len(large) == len(small)
    with django_assert_max_num_queries(len(small)):
        admin_client.get(url, {"is_locked__exact": "1", "o": "6"})  # filtered, by last change
    assert "<bdi>PROCESS on *.*</bdi> · <bdi>2 grants in 2 databases</bdi> · <bdi>via 1 role</bdi>" in page
    assert "10003 accounts" in page


def test_the_list_shows_only_notable_flags_and_a_privilege_summary(admin_client: Any) -> None:
    instance = InstanceFactory(name="maria", db_type="mysql", version=VERSION)
    root = Account.objects.create(
        instance=instance, identity="root@%", username="root", host="%", is_superuser=True
    )
    for _mask, name in mariadb_bits(parse_version(VERSION)):
        grant(root, "global", privilege=name)
    app = Account.objects.create(
        instance=instance, identity="app@%", username="app", host="%", can_grant=True
    )
    for i in range(12):
        grant(app, "table", ("shop", "crm", "hr")[i % 3], f"t{i}", privilege="SELECT")
    plain = Account.objects.create(instance=instance, identity="plain@%", username="plain", host="%")
    grant(plain, "database", 'sh"op<b>', privilege="SELECT")
    Account.objects.create(instance=instance, identity="old@%", username="old", host="%", is_active=False)
    page = admin_client.get(reverse("admin:accounts_sync_account_changelist")).content.decode()
    rows = {
        acc: page[page.index(f">{acc}</bdi>") :].split("</tr>")[0]
        for acc in ("root@%", "app@%", "plain@%", "old@%")
    }
    assert "superuser" in rows["root@%"] and "ALL on *.*" in rows["root@%"]
    assert "grant option" in rows["app@%"] and "12 grants in 3 databases" in rows["app@%"]
    assert "wf-badge" not in rows["plain@%"]  # nothing notable: no badge at all
    assert "1 grant in sh&quot;op&lt;b&gt;" in rows["plain@%"]
    assert "gone" in rows["old@%"]
    assert "icon-no.svg" not in page and "icon-yes.svg" not in page  # no ✗ for every "no"


def test_the_account_page_says_dates_words_and_statements(admin_client: Any) -> None:
    instance = InstanceFactory(name="maria", db_type="mysql", version=VERSION)
    session = SyncSessionFactory()
    acc = Account.objects.create(
        instance=instance,
        identity="app@%",
        username="app",
        host="%",
        is_locked=True,
        first_seen_session_uuid=session.session_id,
        attributes={
            "password_last_changed": "1796156865",
            "password_lifetime": "0",
            "is_role": "N",
            "max_questions": 0,
            "max_user_connections": 4,
            "x509_subject": "/CN=o'k",
            "ssl_type": "SPECIFIED",
        },
    )
    PermissionSnapshot.objects.create(
        account=acc, permissions={"role": ["r_app@ WITH ADMIN OPTION"]}, hash="h"
    )
    grant(acc, "database", "sh`op", privilege="SELECT", grantable=True)
    grant(acc, "table", "shop", "<script>", privilege="DELETE")
    grant(acc, "table", "shop", "t", privilege="SELECT", via="r_app@")  # the role's grant: no statement
    page = admin_client.get(reverse("admin:accounts_sync_account_change", args=[acc.pk])).content.decode()
    assert "<title>app@% on maria | WhaleFall</title>" in page
    assert display.when(datetime.fromtimestamp(1796156865, tz=UTC)) in page and "1796156865" not in page
    assert "never expires" in page and "unlimited" in page and ">4<" in page
    assert '<th scope="row">role</th><td><bdi>no</bdi></td>' in page
    assert (
        "CREATE USER `app`@`%` REQUIRE SUBJECT &#x27;/CN=o&#x27;&#x27;k&#x27; WITH MAX_USER_CONNECTIONS 4 "
        "ACCOUNT LOCK PASSWORD EXPIRE NEVER;" in page
    )
    assert "GRANT `r_app` TO `app`@`%` WITH ADMIN OPTION;" in page
    assert "GRANT SELECT ON `sh``op`.* TO `app`@`%` WITH GRANT OPTION;" in page
    assert "GRANT DELETE ON `shop`.`&lt;script&gt;` TO `app`@`%`;" in page and "<script>" not in page
    assert "`shop`.`t`" not in page
    assert reverse("admin:whalefall_syncsession_change", args=[session.pk]) in page  # first-seen session
    assert "icon-no.svg" not in page


def test_postgresql_names_are_quoted_and_escaped_on_the_page(admin_client: Any) -> None:
    instance = InstanceFactory(name="pg", db_type="postgresql", version="PostgreSQL 16.2")
    acc = Account.objects.create(
        instance=instance,
        identity="App",
        username="App",
        is_superuser=True,
        attributes={"superuser": True, "login": True, "connection_limit": -1, "valid_until": None},
    )
    grant(acc, "database", 'sh"op<script>', privilege="CONNECT")
    grant(acc, "table", "db", "public", "Or.ders", privilege="SELECT")
    page = admin_client.get(reverse("admin:accounts_sync_account_change", args=[acc.pk])).content.decode()
    assert "ALTER ROLE &quot;App&quot; WITH SUPERUSER LOGIN;" in page
    assert "GRANT CONNECT ON DATABASE &quot;sh&quot;&quot;op&lt;script&gt;&quot; TO &quot;App&quot;;" in page
    assert (
        "-- in database db" in page
        and "GRANT SELECT ON TABLE public.&quot;Or.ders&quot; TO &quot;App&quot;;" in page
    )
    assert '<th scope="row">password valid until</th><td><bdi>never</bdi></td>' in page
    assert '<th scope="row">connection limit</th><td><bdi>unlimited</bdi></td>' in page


@pytest.fixture
def history() -> dict[str, Any]:
    """app@%: first seen locked with SELECT; then INSERT granted; then unlocked (now)."""
    instance = InstanceFactory(name="maria", db_type="mysql", version=VERSION)
    session = SyncSessionFactory()
    now = timezone.now()
    acc = Account.objects.create(
        instance=instance, identity="app@%", username="app", host="%", first_seen_at=now - timedelta(days=3)
    )
    PermissionSnapshot.objects.create(
        account=acc, permissions={"database shop": ["INSERT", "SELECT"]}, hash="h"
    )
    grant(acc, "database", "shop", privilege="SELECT")
    grant(acc, "database", "shop", privilege="INSERT")
    granted = log(
        acc,
        ChangeType.MODIFY_PRIVILEGE,
        {"entries": [{"action": "GRANT", "scope": "database shop", "privileges": ["INSERT"]}]},
        "GRANT INSERT ON database shop",
        now - timedelta(days=2),
        session,
    )
    unlocked = log(
        acc,
        ChangeType.MODIFY_OTHER,
        {"changes": {"is_locked": {"before": True, "after": False}}},
        "changed is_locked",
        now - timedelta(days=1),
        session,
    )
    return {"account": acc, "granted": granted, "unlocked": unlocked}


def test_versions_default_to_previous_against_current(admin_client: Any, history: dict) -> None:
    acc = history["account"]
    page = admin_client.get(reverse("admin:accounts_sync_account_diff", args=[acc.pk])).content.decode()
    assert "v2 · " in page and "v3 · " in page and "v1 · " in page  # every version can be picked
    heading = page[page.index('id="diff-heading"') :].split("</h2>")[0]
    assert "v2 · " in heading and "v3 · " in heading
    attributes = page[page.index('id="diff-attributes"') :].split("</table>")[0]
    assert (
        '<td>locked</td><td class="wf-old"><bdi>yes</bdi></td><td class="wf-new"><bdi>no</bdi></td>'
        in attributes
    )
    assert 'id="diff-privileges"' not in page  # the privileges did not change between v2 and v3


def test_any_two_versions_show_privileges_added_and_removed_with_statements(
    admin_client: Any, history: dict
) -> None:
    acc, unlocked = history["account"], history["unlocked"]
    url = reverse("admin:accounts_sync_account_diff", args=[acc.pk])
    page = admin_client.get(url, {"from": "first", "to": str(unlocked.pk)}).content.decode()
    rows = page[page.index('id="diff-privileges"') :].split("</table>")[0]
    assert 'class="wf-added"' in rows and "<bdi>INSERT</bdi>" in rows
    assert "GRANT INSERT ON `shop`.* TO `app`@`%`" in rows and 'class="wf-removed"' not in rows
    # backwards: the same difference read the other way round is a removal
    back = admin_client.get(url, {"from": str(unlocked.pk), "to": "first"}).content.decode()
    assert "v1 · " in back[back.index('id="diff-heading"') :].split("</h2>")[0]
    # what one change did: the version before it against it
    one = admin_client.get(url, {"change": str(history["granted"].pk)}).content.decode()
    assert "GRANT INSERT ON `shop`.* TO `app`@`%`" in one and 'id="diff-attributes"' not in one


def test_a_change_page_names_the_account_and_shows_statements(admin_client: Any, history: dict) -> None:
    granted = history["granted"]
    page = admin_client.get(
        reverse("admin:accounts_sync_accountchange_change", args=[granted.pk])
    ).content.decode()
    assert "<title>app@%: Privileges changed on maria | WhaleFall</title>" in page
    assert "GRANT INSERT ON `shop`.* TO `app`@`%`" in page
    assert f"?change={granted.pk}" in page


def test_the_baseline_entry_is_the_instance_s(admin_client: Any) -> None:
    instance = InstanceFactory(name="maria", db_type="mysql")
    session = SyncSessionFactory()
    baseline = AccountChange.objects.create(
        instance=instance,
        change_type=ChangeType.BASELINE,
        details={"accounts": 324, "roles": 12, "superusers": 3, "logins": 300},
        summary="baseline: 324 accounts",
        session=session,
        session_uuid=session.session_id,
    )
    listing = admin_client.get(reverse("admin:accounts_sync_accountchange_changelist")).content.decode()
    assert "all accounts of" in listing and "baseline: 324 accounts" in listing
    page = admin_client.get(
        reverse("admin:accounts_sync_accountchange_change", args=[baseline.pk])
    ).content.decode()
    assert "<title>maria: Baseline (first sync) on maria | WhaleFall</title>" in page
    assert '<th scope="row">accounts found</th><td>324</td>' in page


def test_risky_changes_of_the_last_day_and_week(
    admin_client: Any, django_assert_max_num_queries: Any
) -> None:
    instance = InstanceFactory(name="maria", db_type="mysql")
    session = SyncSessionFactory()
    acc = Account.objects.create(instance=instance, identity="app@%", username="app")
    now = timezone.now()
    for days, summary, details in (
        (0, "became superuser", {"changes": {"is_superuser": {"before": False, "after": True}}}),
        (3, "unlocked", {"changes": {"is_locked": {"before": True, "after": False}}}),
        (3, "comment", {"changes": {"comment": {"before": "a", "after": "b"}}}),
        (10, "old unlock", {"changes": {"is_locked": {"before": True, "after": False}}}),
    ):
        log(acc, ChangeType.MODIFY_OTHER, details, summary, now - timedelta(days=days, minutes=1), session)
    url = reverse("admin:accounts_sync_accountchange_changelist")
    day = admin_client.get(url, {"risk": "risky", "when": "24h"})
    assert [c.summary for c in day.context["cl"].result_list] == ["became superuser"]
    week = admin_client.get(url, {"risk": "risky", "when": "7d"})
    assert [c.summary for c in week.context["cl"].result_list] == ["became superuser", "unlocked"]
    assert "Risky, last 24 hours" in week.content.decode()
    with CaptureQueriesContext(connection) as few:
        admin_client.get(url, {"risk": "risky"})
    for i in range(60):
        log(acc, ChangeType.ADD, {"is_superuser": True}, f"added {i}", now, session)
    with django_assert_max_num_queries(len(few)):
        admin_client.get(url, {"risk": "risky"})


def test_the_account_page_says_the_last_listing_that_showed_it(admin_client: Any) -> None:
    instance = InstanceFactory(name="listed", db_type="mysql", version=VERSION)
    listed = timezone.now() - timedelta(hours=5)
    AccountSyncState.objects.create(instance=instance, listed_at=listed)
    acc = Account.objects.create(instance=instance, identity="app@%", username="app", last_seen_at=None)
    page = admin_client.get(reverse("admin:accounts_sync_account_change", args=[acc.pk])).content.decode()
    assert f'<th scope="row">Last seen</th><td>{display.when(listed)}</td>' in page
