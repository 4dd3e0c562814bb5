"""MySQL 8 / 5.7 catalog shapes (only MariaDB runs here): detection from information_schema."""

from __future__ import annotations

from datetime import datetime

from accounts_sync.adapters import mysql
from accounts_sync.tests.fakes import FakeConnection
from whalefall.connections.base import ServerInfo

MYSQL8 = ServerInfo("mysql", "MySQL", (8, 0, 36), "8.0.36")
PRIVS = ["Select_priv", "Grant_priv", "Super_priv", "Create_role_priv"]
USER_COLUMNS = [
    "Host",
    "User",
    *PRIVS,
    "plugin",
    "password_expired",
    "password_last_changed",
    "password_lifetime",
    "account_locked",
    "max_connections",
]


def user(name: str, host: str = "%", **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "user": name,
        "host": host,
        "plugin": "caching_sha2_password",
        "password_expired": "N",
        "password_last_changed": datetime(2025, 1, 1),
        "password_lifetime": None,
        "account_locked": "N",
        "max_connections": 0,
    }
    row |= {p.lower(): "N" for p in PRIVS}
    row |= kw
    return row


def fake(
    tables: list[str], users: list[dict[str, object]], **extra: list[dict[str, object]]
) -> FakeConnection:
    return FakeConnection(
        [
            ("FROM information_schema.TABLES", [{"t": t} for t in tables]),
            ("FROM information_schema.COLUMNS", [{"c": c} for c in USER_COLUMNS]),
            ("FROM mysql.user", users),
            ("FROM mysql.db", extra.get("db", [])),
            ("FROM mysql.tables_priv", []),
            ("FROM mysql.columns_priv", []),
            ("FROM mysql.procs_priv", extra.get("procs", [])),
            ("FROM mysql.proxies_priv", []),
            ("FROM mysql.role_edges", extra.get("edges", [])),
            ("FROM mysql.default_roles", extra.get("defaults", [])),
            ("FROM mysql.global_grants", extra.get("dynamic", [])),
        ],
        MYSQL8,
    )


MYSQL8_TABLES = [
    "user",
    "db",
    "tables_priv",
    "columns_priv",
    "procs_priv",
    "proxies_priv",
    "role_edges",
    "default_roles",
    "global_grants",
]


def test_it_reads_mysql8_roles_dynamic_privileges_and_lock_columns() -> None:
    conn = fake(
        MYSQL8_TABLES,
        [
            user("app", super_priv="Y", account_locked="Y"),
            user("r_read", account_locked="Y", password_expired="Y"),
        ],
        edges=[
            {
                "from_host": "%",
                "from_user": "r_read",
                "to_host": "%",
                "to_user": "app",
                "with_admin_option": "Y",
            }
        ],
        defaults=[{"host": "%", "user": "app", "default_role_host": "%", "default_role_user": "r_read"}],
        dynamic=[{"user": "app", "host": "%", "priv": "BACKUP_ADMIN", "with_grant_option": "N"}],
        procs=[
            {
                "host": "%",
                "db": "Shop",
                "user": "app",
                "routine_name": "p1",
                "routine_type": "PROCEDURE",
                "proc_priv": "Execute,Alter Routine",
            }
        ],
    )
    adapter = mysql.Adapter(conn, MYSQL8)  # type: ignore[arg-type]
    accounts = {a.identity: a for a in adapter.list_accounts()}
    app = accounts["app@%"]
    assert app.is_superuser and app.is_locked and not app.can_login
    assert app.attributes["password_last_changed"] == "2025-01-01 00:00:00"
    assert not adapter.uses_global_priv
    perms = adapter.collect_permissions(list(accounts.values()))
    assert perms["app@%"] == {
        "default role": ["r_read@%"],
        "global": ["BACKUP_ADMIN", "SUPER"],
        "procedure Shop.p1": ["ALTER ROUTINE", "EXECUTE"],
        "role": ["r_read@% WITH ADMIN OPTION"],
    }
    assert not any("global_priv" in sql or "roles_mapping" in sql for sql in conn.executed)


def test_it_reads_mysql57_without_role_tables() -> None:
    conn = fake(
        ["user", "db", "tables_priv", "columns_priv", "procs_priv", "proxies_priv"],
        [user("legacy")],
        db=[
            {
                "host": "%",
                "db": "Legacy_DB",
                "user": "legacy",
                "select_priv": "Y",
                "insert_priv": "N",
                "create_tmp_table_priv": "Y",
            }
        ],
    )
    adapter = mysql.Adapter(conn, ServerInfo("mysql", "MySQL", (5, 7, 44), "5.7.44-log"))  # type: ignore[arg-type]
    perms = adapter.collect_permissions(adapter.list_accounts())
    assert perms["legacy@%"] == {"database Legacy_DB": ["CREATE TEMPORARY TABLES", "SELECT"]}  # case kept
    assert not any("role_edges" in sql or "global_grants" in sql for sql in conn.executed)
