"""Live account sync against the machine's MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from accounts_sync.canonical import direct_only
from accounts_sync.models import Account, AccountChange, ChangeType
from whalefall.tests import live

pytestmark = [pytest.mark.live, pytest.mark.django_db]


@pytest.fixture
def world(prefix: str) -> Iterator[dict[str, str]]:
    """Users, a role, a database with grants at every scope; all dropped afterwards."""
    db, u = f"{prefix}_db", lambda s: f"'{prefix}_{s}'@'%'"
    names = {"db": db, "alice": u("alice"), "bob": u("bob"), "locked": u("locked"), "expired": u("expired")}
    with live.mysql_root() as root:
        live.run(
            root,
            f"CREATE DATABASE `{db}`",
            f"CREATE TABLE `{db}`.t (c INT, d INT)",
            *(f"CREATE USER {names[k]} IDENTIFIED BY 'Pw_{prefix}'" for k in ("alice", "bob", "expired")),
            f"CREATE USER {names['locked']} ACCOUNT LOCK",
            f"ALTER USER {names['expired']} PASSWORD EXPIRE",
            f"CREATE ROLE {prefix}_role",
            f"GRANT SELECT ON `{db}`.* TO {prefix}_role",
            f"GRANT PROCESS ON *.* TO {names['alice']}",
            f"GRANT SELECT, INSERT ON `{db}`.* TO {names['alice']} WITH GRANT OPTION",
            f"GRANT UPDATE ON `{db}`.t TO {names['alice']}",
            f"GRANT SELECT (c) ON `{db}`.t TO {names['bob']}",
            f"GRANT {prefix}_role TO {names['bob']}",
        )
    try:
        yield names
    finally:
        with live.mysql_root() as root:
            users = [names[k] for k in ("alice", "bob", "locked", "expired")] + [f"'{prefix}_carol'@'%'"]
            live.run(root, *(f"DROP USER IF EXISTS {x}" for x in users))
            live.run(root, f"DROP ROLE IF EXISTS {prefix}_role", f"DROP DATABASE IF EXISTS `{db}`")


def test_it_stores_accounts_facts_and_snapshots(
    mysql_instance: Any, world: dict, prefix: str, sync_scoped: Any
) -> None:
    result, session = sync_scoped(mysql_instance, f"{prefix}\\_%")
    accounts = {
        a.identity: a for a in Account.objects.filter(instance=mysql_instance).select_related("snapshot")
    }
    db = world["db"]
    alice, bob = accounts[f"{prefix}_alice@%"], accounts[f"{prefix}_bob@%"]
    assert result.items_created == 5 and result.status == "completed"
    assert result.sync_details["inventory"]["created"] == 5
    assert result.sync_details["collection"]["processed_records"] == 5
    assert alice.snapshot.permissions == {
        "database " + db: ["INSERT WITH GRANT OPTION", "SELECT WITH GRANT OPTION"],  # a flag, not a name
        "global": ["PROCESS"],
        f"table {db}.t": ["UPDATE"],
    }
    assert alice.can_grant and not alice.is_superuser and alice.can_login
    # The role as the identity of its own account (MariaDB roles have an empty host).
    assert direct_only(bob.snapshot.permissions) == {
        f"column {db}.t.c": ["SELECT"],
        "role": [f"{prefix}_role@"],
    }
    # Not a default role: its privileges are bob's only after SET ROLE.
    assert bob.snapshot.permissions[f"database {db}"] == [f"SELECT (via {prefix}_role@, after SET ROLE)"]
    assert accounts[f"{prefix}_locked@%"].is_locked and not accounts[f"{prefix}_locked@%"].can_login
    assert accounts[f"{prefix}_expired@%"].is_expired
    role = accounts[f"{prefix}_role@"]
    assert role.is_role and role.snapshot.permissions == {f"database {db}": ["SELECT"]}
    # The first sync is one baseline entry, not an "added" row per account.
    logged = AccountChange.objects.filter(instance=mysql_instance)
    assert [(c.change_type, c.account_id, c.details["accounts"]) for c in logged] == [
        (ChangeType.BASELINE, None, 5)
    ]
    assert {a.first_seen_session_uuid for a in accounts.values()} == {session.session_id}
    assert mysql_instance.__class__.objects.get(pk=mysql_instance.pk).version.startswith("10.")


def test_it_records_changes_deactivation_and_reactivation(
    mysql_instance: Any, world: dict, prefix: str, sync_scoped: Any
) -> None:
    pattern = f"{prefix}\\_%"
    sync_scoped(mysql_instance, pattern)
    again, _ = sync_scoped(mysql_instance, pattern)
    assert (again.items_created, again.items_updated, again.items_deleted) == (0, 0, 0)
    assert again.sync_details["collection"]["unchanged"] == 5
    with live.mysql_root() as root:
        live.run(
            root,
            f"REVOKE PROCESS ON *.* FROM {world['alice']}",
            f"GRANT DELETE ON `{world['db']}`.t TO {world['alice']}",
            f"DROP USER {world['bob']}",
            f"CREATE USER '{prefix}_carol'@'%'",
            f"ALTER USER {world['locked']} ACCOUNT UNLOCK",
        )
    third, session = sync_scoped(mysql_instance, pattern)
    assert (third.items_created, third.items_updated, third.items_deleted) == (1, 1, 1)
    inv = third.sync_details["inventory"]
    assert (inv["created"], inv["refreshed"], inv["deactivated"], inv["reactivated"]) == (1, 4, 1, 0)
    changes = {(c.account.identity, c.change_type): c for c in AccountChange.objects.filter(session=session)}
    entries = changes[(f"{prefix}_alice@%", ChangeType.MODIFY_PRIVILEGE)].details["entries"]
    assert {"action": "REVOKE", "scope": "global", "privileges": ["PROCESS"]} in entries
    assert {"action": "GRANT", "scope": f"table {world['db']}.t", "privileges": ["DELETE"]} in entries
    assert (f"{prefix}_bob@%", ChangeType.DEACTIVATE) in changes
    assert (f"{prefix}_carol@%", ChangeType.ADD) in changes
    unlocked = changes[(f"{prefix}_locked@%", ChangeType.MODIFY_OTHER)].details["changes"]
    assert unlocked["is_locked"] == {"before": True, "after": False}
    assert all(c.session_uuid == session.session_id for c in changes.values())
    alice = Account.objects.get(instance=mysql_instance, identity=f"{prefix}_alice@%")
    assert alice.snapshot.version == 2
    with live.mysql_root() as root:
        live.run(root, f"CREATE USER {world['bob']}")
    fourth, session = sync_scoped(mysql_instance, pattern)
    assert fourth.sync_details["inventory"]["reactivated"] == 1
    bob = Account.objects.get(instance=mysql_instance, identity=f"{prefix}_bob@%")
    assert bob.is_active and bob.deactivated_at is None
    assert AccountChange.objects.filter(
        session=session, account=bob, change_type=ChangeType.REACTIVATE
    ).exists()
    assert AccountChange.objects.filter(
        session=session, account=bob, change_type=ChangeType.MODIFY_PRIVILEGE
    ).exists()
