"""SQL Server adapter on rows shaped like sys.server_principals, sys.sql_logins,
sys.server_permissions, sys.databases, sys.database_principals, sys.database_permissions, ..."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot

from accounts_sync.adapters import sqlserver
from accounts_sync.coordinator import AccountSyncCoordinator
from accounts_sync.models import Account, AccountChange
from accounts_sync.tests.fakes import FakeConnection
from whalefall.connections.base import ServerInfo
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory

SERVER = ServerInfo("sqlserver", "SQL Server", (16, 0, 4135), "16.0.4135.4")


def login(pid: int, name: str, type_: str, desc: str, **kw: Any) -> dict[str, Any]:
    sql_login = type_ == "S"
    return {
        "principal_id": pid,
        "name": name,
        "type": type_,
        "type_desc": desc,
        "is_disabled": kw.get("disabled", False),
        "default_database_name": "master",
        "is_policy_checked": True if sql_login else None,
        "is_expiration_checked": False if sql_login else None,
        "is_locked": kw.get("locked", 0) if sql_login else None,
        "is_expired": kw.get("expired", 0) if sql_login else None,
        "is_must_change": 0 if sql_login else None,
        "is_sysadmin": kw.get("sysadmin", 0),
    }


LOGINS = [
    login(1, "sa", "S", "SQL_LOGIN", sysadmin=1, disabled=True),
    login(259, "app", "S", "SQL_LOGIN"),
    login(260, "CORP\\dba", "U", "WINDOWS_LOGIN", sysadmin=1),
    login(261, "locked_one", "S", "SQL_LOGIN", locked=1, expired=1),
    login(262, "##MS_PolicyEventProcessingLogin##", "S", "SQL_LOGIN", disabled=True),
]
SERVER_ROLES = [
    {"role_name": "sysadmin", "member_name": "sa"},
    {"role_name": "sysadmin", "member_name": "CORP\\dba"},
    {"role_name": "dbcreator", "member_name": "app"},
]
SERVER_PERMS = [
    {
        "class_desc": "SERVER",
        "permission_name": "CONNECT SQL",
        "state": "G",
        "grantee_name": "app",
        "endpoint_name": None,
        "target_name": None,
    },
    {
        "class_desc": "SERVER",
        "permission_name": "VIEW SERVER STATE",
        "state": "W",
        "grantee_name": "app",
        "endpoint_name": None,
        "target_name": None,
    },
    {
        "class_desc": "SERVER",
        "permission_name": "ALTER ANY LOGIN",
        "state": "D",
        "grantee_name": "app",
        "endpoint_name": None,
        "target_name": None,
    },
    {
        "class_desc": "ENDPOINT",
        "permission_name": "CONNECT",
        "state": "G",
        "grantee_name": "public",
        "endpoint_name": "TSQL Default TCP",
        "target_name": None,
    },
    {
        "class_desc": "SERVER_PRINCIPAL",
        "permission_name": "IMPERSONATE",
        "state": "G",
        "grantee_name": "app",
        "endpoint_name": None,
        "target_name": "sa",
    },
]
DATABASES = [
    {"name": "master", "database_id": 1, "state_desc": "ONLINE", "has_access": 1},
    {"name": "Sales", "database_id": 5, "state_desc": "ONLINE", "has_access": 1},
    {"name": "HR", "database_id": 6, "state_desc": "ONLINE", "has_access": 0},
    {"name": "Old", "database_id": 7, "state_desc": "OFFLINE", "has_access": None},
]
SALES_PRINCIPALS = [
    {"principal_id": 1, "name": "dbo", "type": "S", "login_name": "sa"},
    {"principal_id": 5, "name": "app_user", "type": "S", "login_name": "app"},
    {"principal_id": 0, "name": "public", "type": "R", "login_name": None},
    {"principal_id": 16384, "name": "db_owner", "type": "R", "login_name": None},
    {"principal_id": 16390, "name": "db_datareader", "type": "R", "login_name": None},
    {"principal_id": 7, "name": "orphan", "type": "S", "login_name": None},
]
SALES_MEMBERS = [
    {"role_principal_id": 16384, "member_principal_id": 1},
    {"role_principal_id": 16390, "member_principal_id": 5},
    {"role_principal_id": 16390, "member_principal_id": 7},
]


def perm(cls: int, desc: str, grantee: int, name: str, state: str, **kw: Any) -> dict[str, Any]:
    return {
        "class": cls,
        "class_desc": desc,
        "grantee_principal_id": grantee,
        "permission_name": name,
        "state": state,
        "schema_name": kw.get("schema"),
        "object_name": kw.get("obj"),
        "object_schema": kw.get("obj_schema"),
        "column_name": kw.get("column"),
    }


SALES_PERMS = [
    perm(0, "DATABASE", 5, "CONNECT", "G"),
    perm(3, "SCHEMA", 5, "SELECT", "W", schema="sales"),
    perm(1, "OBJECT_OR_COLUMN", 5, "DELETE", "D", obj="orders", obj_schema="sales"),
    perm(1, "OBJECT_OR_COLUMN", 5, "UPDATE", "G", obj="orders", obj_schema="sales", column="status"),
    perm(0, "DATABASE", 0, "CONNECT", "G"),
]


def fake() -> FakeConnection:
    return FakeConnection(
        [
            ("FROM sys.server_principals AS sp LEFT JOIN sys.sql_logins", LOGINS),
            ("SELECT r.name AS role_name", SERVER_ROLES),
            ("FROM sys.server_permissions", SERVER_PERMS),
            ("FROM sys.databases", DATABASES),
            ("FROM [Sales].sys.database_principals", SALES_PRINCIPALS),
            ("FROM [Sales].sys.database_role_members", SALES_MEMBERS),
            ("FROM [Sales].sys.database_permissions", SALES_PERMS),
            (
                "FROM [master].sys.database_principals",
                [{"principal_id": 1, "name": "dbo", "type": "S", "login_name": "sa"}],
            ),
            ("FROM [master].sys.database_role_members", []),
            ("FROM [master].sys.database_permissions", []),
        ],
        SERVER,
    )


def test_it_lists_logins_with_facts() -> None:
    accounts = {a.identity: a for a in sqlserver.Adapter(fake(), SERVER).list_accounts()}  # type: ignore[arg-type]
    assert accounts["sa"].is_superuser and accounts["sa"].is_locked and not accounts["sa"].can_login
    assert accounts["CORP\\dba"].attributes["type"] == "WINDOWS_LOGIN" and accounts["CORP\\dba"].can_login
    assert accounts["locked_one"].is_locked and accounts["locked_one"].is_expired
    assert not accounts["app"].is_superuser and accounts["app"].can_login


def test_it_collects_server_and_database_permissions() -> None:
    conn = fake()
    adapter = sqlserver.Adapter(conn, SERVER)  # type: ignore[arg-type]
    perms = adapter.collect_permissions(adapter.list_accounts())
    assert perms["app"] == {
        "column Sales.sales.orders.status": ["UPDATE"],
        "database Sales": ["CONNECT"],
        "database Sales role": ["db_datareader"],
        "database Sales user": ["app_user"],
        "login sa": ["IMPERSONATE"],
        "object Sales.sales.orders": ["DENY DELETE"],
        "schema Sales.sales": ["SELECT WITH GRANT OPTION"],
        "server": ["CONNECT SQL", "DENY ALTER ANY LOGIN", "VIEW SERVER STATE WITH GRANT OPTION"],
        "server role": ["dbcreator"],
    }
    assert perms["sa"]["database Sales role"] == ["db_owner"] and perms["sa"]["server role"] == ["sysadmin"]
    assert adapter.notes["databases_skipped"] == ["HR", "Old"]
    assert not any("[HR]" in sql for sql in conn.executed)


def test_every_sql_text_parses_as_tsql() -> None:
    conn = fake()
    adapter = sqlserver.Adapter(conn, SERVER)  # type: ignore[arg-type]
    adapter.collect_permissions(adapter.list_accounts())
    assert len(conn.executed) == 1 + 3 + 3 * 2
    for sql in [*conn.executed, sqlserver.DB_PERMISSIONS_SQL.format(db=sqlserver.quote("odd]name"))]:
        assert sqlglot.parse_one(sql, read="tsql") is not None


def test_it_quotes_database_names() -> None:
    assert sqlserver.quote("a]b") == "[a]]b]"


@pytest.mark.django_db
def test_it_syncs_through_the_coordinator(monkeypatch: pytest.MonkeyPatch) -> None:
    from accounts_sync.models import ExclusionRule

    ExclusionRule.objects.get_or_create(db_type="sqlserver", pattern="##%##")
    conn = fake()
    monkeypatch.setattr("whalefall.sync.coordinator.open_connection", lambda instance: conn)
    instance = InstanceFactory(db_type="sqlserver")
    with AccountSyncCoordinator(instance, session=SyncSessionFactory()) as coordinator:
        result = coordinator.run()
    assert result.items_created == 4 and result.sync_details["inventory"]["excluded"] == 1
    assert result.sync_details["collection"]["databases_skipped"] == ["HR", "Old"]
    assert Account.objects.get(identity="app").can_grant
    assert AccountChange.objects.count() == 4 and conn.closed
    instance.refresh_from_db()
    assert instance.version == "SQL Server 16.0.4135.4"
