"""Coordinator rules: refusing suspicious deactivations, query counts independent of N (live)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts_sync.models import Account, AccountPrivilege
from whalefall.sync.phases import PhaseError
from whalefall.tests import live

pytestmark = [pytest.mark.live, pytest.mark.django_db]


def make_users(prefix: str, n: int) -> list[str]:
    users = [f"'{prefix}_{i:03d}'@'%'" for i in range(n)]
    with live.mysql_root() as root:
        live.run(
            root, *(f"CREATE USER {u}" for u in users), *(f"GRANT SELECT ON mysql.db TO {u}" for u in users)
        )
    return users


def drop_users(users: list[str]) -> None:
    with live.mysql_root() as root:
        live.run(root, *(f"DROP USER IF EXISTS {u}" for u in users))


def test_it_refuses_to_deactivate_more_than_half_unless_forced(
    mysql_instance: Any, prefix: str, sync_scoped: Any
) -> None:
    users = make_users(prefix, 4)
    try:
        sync_scoped(mysql_instance, f"{prefix}\\_%")
        drop_users(users[:3])
        with pytest.raises(PhaseError) as refused:
            sync_scoped(mysql_instance, f"{prefix}\\_%")
        assert refused.value.phase == "inventory" and "3 of 4" in refused.value.message
        assert Account.objects.filter(instance=mysql_instance, is_active=True).count() == 4
        result, _ = sync_scoped(mysql_instance, f"{prefix}\\_%", force=True)
        assert result.items_deleted == 3
        assert Account.objects.filter(instance=mysql_instance, is_active=True).count() == 1
    finally:
        drop_users(users)


@pytest.mark.parametrize("n", [3, 30])
def test_it_uses_the_same_number_of_queries_whatever_the_accounts(
    n: int, mysql_instance: Any, prefix: str, sync_scoped: Any
) -> None:
    users = make_users(prefix, n)
    try:
        with CaptureQueriesContext(connection) as first:
            sync_scoped(mysql_instance, f"{prefix}\\_%")
        with CaptureQueriesContext(connection) as again:
            sync_scoped(mysql_instance, f"{prefix}\\_%")
    finally:
        drop_users(users)
    assert Account.objects.filter(instance=mysql_instance).count() == n
    assert AccountPrivilege.objects.filter(instance=mysql_instance).count() == n  # SELECT ON mysql.db
    # session + version + rules + accounts (with their snapshots) + state, then savepoint, one
    # INSERT per table (accounts, snapshots, privileges, changes), release: fixed, not per account.
    assert len(first.captured_queries) == 11
    # session + rules + accounts with their snapshot hashes + state + the last_seen touch.
    assert len(again.captured_queries) == 5
    writes = [q["sql"] for q in again.captured_queries if not q["sql"].startswith("SELECT")]
    tables = [re.search(r'(?:INTO|UPDATE) "(\w+)"', w).group(1) for w in writes]  # type: ignore[union-attr]
    assert tables == ["whalefall_syncsession", "accounts_sync_account"]  # the session; last_seen_at


def test_exactly_half_gone_is_not_suspicious(mysql_instance: Any, prefix: str, sync_scoped: Any) -> None:
    """The guard is for *more* than half: two of four dropped are deactivated without `force`."""
    users = make_users(prefix, 4)
    try:
        sync_scoped(mysql_instance, f"{prefix}\\_%")
        drop_users(users[:2])
        result, _ = sync_scoped(mysql_instance, f"{prefix}\\_%")
        assert result.status == "completed" and result.items_deleted == 2
        assert Account.objects.filter(instance=mysql_instance, is_active=True).count() == 2
    finally:
        drop_users(users)


def test_each_change_of_privileges_is_a_new_snapshot_version(
    mysql_instance: Any, prefix: str, sync_scoped: Any
) -> None:
    """A snapshot's version counts the changes recorded for the account: the first sync is 1, each
    sync that finds different privileges adds one, a sync that finds the same leaves it."""
    from accounts_sync.models import PermissionSnapshot

    (user,) = make_users(prefix, 1)
    pattern = f"{prefix}\\_%"
    try:
        versions = []
        for grant in (None, None, "GRANT INSERT ON mysql.db TO {}", "GRANT UPDATE ON mysql.db TO {}"):
            if grant:
                with live.mysql_root() as root:
                    live.run(root, grant.format(user))
            sync_scoped(mysql_instance, pattern)
            versions.append(PermissionSnapshot.objects.get(account__instance=mysql_instance).version)
    finally:
        drop_users([user])
    assert versions == [1, 1, 2, 3]
