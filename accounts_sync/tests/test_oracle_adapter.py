"""Oracle adapter on rows shaped like DBA_USERS, DBA_ROLE_PRIVS, DBA_SYS_PRIVS, DBA_TAB_PRIVS,
DBA_COL_PRIVS and DBA_TS_QUOTAS (oracledb returns DATE columns as datetime)."""

from __future__ import annotations

from datetime import datetime

import sqlglot

from accounts_sync.adapters import oracle
from accounts_sync.tests.fakes import FakeConnection
from whalefall.connections.base import ServerInfo

ORACLE_19 = ServerInfo("oracle", "Oracle", (19, 3, 0, 0), "19.3.0.0.0")
ORACLE_11 = ServerInfo("oracle", "Oracle", (11, 2, 0, 4), "11.2.0.4.0")


def user(name: str, status: str, **kw: object) -> dict[str, object]:
    row = {
        "username": name,
        "user_id": kw.get("uid", 100),
        "account_status": status,
        "lock_date": kw.get("lock_date"),
        "expiry_date": kw.get("expiry_date"),
        "default_tablespace": "USERS",
        "temporary_tablespace": "TEMP",
        "profile": "DEFAULT",
        "authentication_type": "PASSWORD",
        "created": datetime(2024, 1, 2, 3, 4, 5),
        "is_dba": kw.get("dba", 0),
    }
    if kw.get("v12", True):
        row |= {"oracle_maintained": kw.get("maintained", "N"), "common": "NO"}
    return row


USERS = [
    user("SYS", "OPEN", maintained="Y", dba=1),
    user("APP", "OPEN"),
    user("ADMIN1", "OPEN", dba=1),
    user("OLD", "EXPIRED & LOCKED", lock_date=datetime(2025, 5, 1), expiry_date=datetime(2025, 4, 1)),
    user("GRACE", "EXPIRED(GRACE)"),
]
ROLE_PRIVS = [
    {"grantee": "APP", "granted_role": "CONNECT", "admin_option": "NO", "default_role": "YES"},
    {"grantee": "APP", "granted_role": "APP_RO", "admin_option": "YES", "default_role": "NO"},
    {"grantee": "ADMIN1", "granted_role": "DBA", "admin_option": "NO", "default_role": "YES"},
]
SYS_PRIVS = [
    {"grantee": "APP", "privilege": "CREATE SESSION", "admin_option": "NO"},
    {"grantee": "APP", "privilege": "CREATE TABLE", "admin_option": "YES"},
]
TAB_PRIVS = [
    {"grantee": "APP", "owner": "HR", "table_name": "EMPLOYEES", "privilege": "SELECT", "grantable": "YES"},
    {"grantee": "PUBLIC", "owner": "SYS", "table_name": "DUAL", "privilege": "SELECT", "grantable": "NO"},
]
COL_PRIVS = [
    {
        "grantee": "APP",
        "owner": "HR",
        "table_name": "EMPLOYEES",
        "column_name": "SALARY",
        "privilege": "UPDATE",
        "grantable": "NO",
    },
]
QUOTAS = [
    {"username": "APP", "tablespace_name": "USERS", "max_bytes": -1},
    {"username": "OLD", "tablespace_name": "USERS", "max_bytes": 10485760},
]


def fake(server: ServerInfo = ORACLE_19, users: list | None = None) -> FakeConnection:
    return FakeConnection(
        [
            ("FROM dba_users", users or USERS),
            ("FROM dba_role_privs", ROLE_PRIVS),
            ("FROM dba_sys_privs", SYS_PRIVS),
            ("FROM dba_tab_privs", TAB_PRIVS),
            ("FROM dba_col_privs", COL_PRIVS),
            ("FROM dba_ts_quotas", QUOTAS),
        ],
        server,
    )


def test_it_lists_users_with_status_facts() -> None:
    accounts = {a.identity: a for a in oracle.Adapter(fake(), ORACLE_19).list_accounts()}  # type: ignore[arg-type]
    old = accounts["OLD"]
    assert old.is_locked and old.is_expired and not old.can_login
    assert old.attributes["lock_date"] == "2025-05-01T00:00:00"
    assert accounts["GRACE"].is_expired and accounts["GRACE"].can_login  # still may log in during grace
    assert accounts["ADMIN1"].is_superuser and not accounts["APP"].is_superuser
    assert accounts["SYS"].attributes["oracle_maintained"] is True


def test_it_collects_roles_privileges_and_quotas() -> None:
    adapter = oracle.Adapter(fake(), ORACLE_19)  # type: ignore[arg-type]
    perms = adapter.collect_permissions(adapter.list_accounts())
    assert perms["APP"] == {
        "column HR.EMPLOYEES.SALARY": ["UPDATE"],
        "default role": ["CONNECT"],
        "object HR.EMPLOYEES": ["SELECT WITH GRANT OPTION"],
        "quota": ["USERS UNLIMITED"],
        "role": ["APP_RO WITH ADMIN OPTION", "CONNECT"],
        "system": ["CREATE SESSION", "CREATE TABLE WITH ADMIN OPTION"],
    }
    assert perms["OLD"] == {"quota": ["USERS 10485760 BYTES"]}
    assert "PUBLIC" not in perms


def test_it_detects_pre_12c_columns() -> None:
    conn = fake(ORACLE_11, [user("APP", "OPEN", v12=False)])
    accounts = oracle.Adapter(conn, ORACLE_11).list_accounts()  # type: ignore[arg-type]
    assert "oracle_maintained" not in conn.executed[0] and "oracle_maintained" not in accounts[0].attributes


def test_every_sql_text_parses_as_oracle() -> None:
    conn = fake()
    adapter = oracle.Adapter(conn, ORACLE_19)  # type: ignore[arg-type]
    adapter.collect_permissions(adapter.list_accounts())
    sqls = [*conn.executed, oracle.Adapter(fake(ORACLE_11), ORACLE_11).users_sql()]  # type: ignore[arg-type]
    assert len(conn.executed) == 6
    for sql in sqls:
        assert sqlglot.parse_one(sql, read="oracle") is not None
