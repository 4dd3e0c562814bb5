"""Live account sync against the machine's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from accounts_sync.models import Account, AccountChange, ChangeType
from whalefall.tests import live

pytestmark = [pytest.mark.live, pytest.mark.django_db]


@pytest.fixture
def world(prefix: str) -> Iterator[dict[str, str]]:
    """Roles, memberships and grants on a database of its own; dropped afterwards."""
    db = f"{prefix}_db"
    with live.pg_superuser() as su:
        live.run(
            su,
            f"CREATE ROLE {prefix}_group NOLOGIN",
            f"CREATE ROLE {prefix}_app LOGIN CREATEDB CONNECTION LIMIT 5",
            f"CREATE ROLE {prefix}_old LOGIN VALID UNTIL '2000-01-01'",
            f"CREATE ROLE {prefix}_forever LOGIN VALID UNTIL 'infinity'",
            f"GRANT {prefix}_group TO {prefix}_app WITH ADMIN OPTION",
            f"CREATE DATABASE {db} OWNER {prefix}_app",
            f"REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC",
            f"GRANT CREATE ON DATABASE {db} TO {prefix}_group",
        )
    with live.pg_superuser(db) as su:
        live.run(
            su,
            "CREATE SCHEMA s",
            "CREATE TABLE s.t (a int, b int)",
            f"GRANT USAGE ON SCHEMA s TO {prefix}_group",
            f"GRANT SELECT ON s.t TO {prefix}_group WITH GRANT OPTION",
            f"GRANT UPDATE (b) ON s.t TO {prefix}_old",
            "GRANT SELECT ON s.t TO PUBLIC",
        )
    try:
        yield {"db": db}
    finally:
        with live.pg_superuser() as su:
            live.run(su, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            for role in ("app", "old", "forever", "group", "new"):
                live.run(su, f"DROP ROLE IF EXISTS {prefix}_{role}")


def test_it_stores_roles_memberships_and_acls(
    pg_instance: Any, world: dict, prefix: str, sync_scoped: Any
) -> None:
    result, _ = sync_scoped(pg_instance, f"{prefix}\\_%")
    db = world["db"]
    acc = {a.identity: a for a in Account.objects.filter(instance=pg_instance).select_related("snapshot")}
    assert result.items_created == 4 and result.status == "completed"
    app, group = acc[f"{prefix}_app"], acc[f"{prefix}_group"]
    assert app.attributes["createdb"] and app.attributes["connection_limit"] == 5 and app.can_login
    assert app.snapshot.permissions["member of"] == [f"{prefix}_group WITH ADMIN OPTION"]
    assert "member of (effective)" not in app.snapshot.permissions  # effective() says it now
    assert "OWNER" in app.snapshot.permissions[f"database {db}"] and app.can_grant
    assert group.is_role and not group.can_login
    assert group.snapshot.permissions[f"database {db}"] == ["CREATE"]
    assert group.snapshot.permissions[f"schema {db}.s"] == ["USAGE"]
    assert group.snapshot.permissions[f"table {db}.s.t"] == ["SELECT WITH GRANT OPTION"]
    assert acc[f"{prefix}_old"].snapshot.permissions[f"column {db}.s.t.b"] == ["UPDATE"]
    assert acc[f"{prefix}_old"].is_expired and not acc[f"{prefix}_forever"].is_expired
    assert acc[f"{prefix}_forever"].attributes["valid_until"] == "infinity"


def test_it_keeps_public_apart(pg_instance: Any, world: dict, sync_scoped: Any) -> None:
    sync_scoped(pg_instance, "PUBLIC")
    public = Account.objects.get(instance=pg_instance, identity="PUBLIC")
    db = world["db"]
    assert public.snapshot.permissions[f"database {db}"] == ["CONNECT"]  # TEMPORARY revoked
    assert public.snapshot.permissions[f"table {db}.s.t"] == ["SELECT"]


def test_it_logs_grant_revoke_deactivate_and_reactivate(
    pg_instance: Any, world: dict, prefix: str, sync_scoped: Any
) -> None:
    pattern, db = f"{prefix}\\_%", world["db"]
    sync_scoped(pg_instance, pattern)
    with live.pg_superuser(db) as su:
        live.run(su, f"REVOKE SELECT ON s.t FROM {prefix}_group", f"GRANT INSERT ON s.t TO {prefix}_group")
    with live.pg_superuser() as su:
        live.run(
            su,
            f"DROP ROLE {prefix}_forever",
            f"CREATE ROLE {prefix}_new",
            f"ALTER ROLE {prefix}_app NOCREATEDB",
        )
    second, session = sync_scoped(pg_instance, pattern)
    # the group changed, and so did what its member app holds through it
    assert (second.items_created, second.items_updated, second.items_deleted) == (1, 2, 1)
    changes = {(c.account.identity, c.change_type): c for c in AccountChange.objects.filter(session=session)}
    entries = changes[(f"{prefix}_group", ChangeType.MODIFY_PRIVILEGE)].details["entries"]
    assert entries == [
        {"action": "GRANT", "scope": f"table {db}.s.t", "privileges": ["INSERT"]},
        {"action": "REVOKE", "scope": f"table {db}.s.t", "privileges": ["SELECT WITH GRANT OPTION"]},
    ]
    via = f"(via {prefix}_group)"
    assert changes[(f"{prefix}_app", ChangeType.MODIFY_PRIVILEGE)].details["entries"] == [
        {"action": "GRANT", "scope": f"table {db}.s.t", "privileges": [f"INSERT {via}"]},
        {"action": "REVOKE", "scope": f"table {db}.s.t", "privileges": [f"SELECT WITH GRANT OPTION {via}"]},
    ]
    other = changes[(f"{prefix}_app", ChangeType.MODIFY_OTHER)].details["changes"]
    assert other == {"createdb": {"before": True, "after": False}}
    assert (f"{prefix}_forever", ChangeType.DEACTIVATE) in changes
    with live.pg_superuser() as su:
        live.run(su, f"CREATE ROLE {prefix}_forever LOGIN")
    third, session = sync_scoped(pg_instance, pattern)
    assert third.sync_details["inventory"]["reactivated"] == 1
    assert AccountChange.objects.filter(session=session, change_type=ChangeType.REACTIVATE).count() == 1


def test_it_skips_a_database_dropped_since_it_was_listed(pg_instance: Any, monkeypatch: Any) -> None:
    from accounts_sync.adapters import postgresql
    from whalefall.connections import open_connection

    gone = live.unique("wf_acc_gone")
    with open_connection(pg_instance) as conn:
        adapter = postgresql.Adapter(conn)
        accounts = adapter.list_accounts()
        real = adapter._databases
        monkeypatch.setattr(adapter, "_databases", lambda grants: [*real(grants), gone])
        perms = adapter.collect_permissions(accounts)
    assert gone in adapter.notes["databases_skipped"]
    assert "does not exist" in adapter.notes["databases_unreadable"][gone]
    assert "CONNECT" in perms["PUBLIC"]["database postgres"]  # the rest was read
