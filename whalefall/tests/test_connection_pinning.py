"""The owner of a monitored database cannot change what our connections resolve (live).

A tenant role that owns a database plants catalog look-alikes (`evil.aclexplode`,
`evil.acldefault`, `evil.pg_database_size`, a `pg_roles` view) and points the database's
`search_path` at them; a careless DBA also left `search_path` settings on the monitoring role.
Whatever adapter runs on our connector must still resolve to pg_catalog, read-only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from whalefall.connections import ConnectionParams, connector_class
from whalefall.tests import live

pytestmark = pytest.mark.live

TROJAN = """
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.aclexplode(acl aclitem[], OUT grantor oid, OUT grantee oid,
    OUT privilege_type text, OUT is_grantable boolean)
  RETURNS SETOF record LANGUAGE sql AS $$ SELECT 10::oid, 0::oid, 'TROJAN ran as '||current_user, false $$;
CREATE FUNCTION evil.acldefault("char", oid) RETURNS aclitem[] LANGUAGE sql
  AS $$ SELECT NULL::aclitem[] $$;
CREATE FUNCTION evil.pg_database_size(name) RETURNS bigint LANGUAGE sql AS $$ SELECT 1::bigint $$;
CREATE VIEW evil.pg_roles AS SELECT 'TROJAN'::name AS rolname;
CREATE TABLE evil.pg_database (datname name);
GRANT SELECT ON evil.pg_roles, evil.pg_database TO PUBLIC;
"""


@pytest.fixture
def tenant_db(pg_role: Callable[..., tuple[str, str]]) -> Iterator[dict[str, str]]:
    """A database owned by a plain tenant role, booby-trapped as the issue describes."""
    tenant, tenant_pw = pg_role(attrs="LOGIN")
    monitor, monitor_pw = pg_role(attrs="LOGIN")
    db = live.unique("wf_tenant")
    with live.pg_superuser() as su:
        live.run(su, f"CREATE DATABASE {db} OWNER {tenant}")
        # What a DBA could leave behind on the monitoring role; the startup options must win.
        live.run(su, f"ALTER ROLE {monitor} SET search_path = evil, pg_catalog")
        live.run(su, f"ALTER ROLE {monitor} IN DATABASE {db} SET search_path = evil, pg_catalog")
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user=tenant, password=tenant_pw, dbname=db)
    conn.autocommit = True
    try:
        live.run(
            conn,
            TROJAN,
            # Everything a database owner may set on their database for every session.
            f"ALTER DATABASE {db} SET search_path = evil, pg_catalog",
            f"ALTER DATABASE {db} SET default_transaction_read_only = off",
            f"ALTER DATABASE {db} SET statement_timeout = 1",
            f"ALTER DATABASE {db} SET DateStyle = 'SQL, DMY'",
            f"ALTER DATABASE {db} SET TimeZone = 'Asia/Kathmandu'",
        )
    finally:
        conn.close()
    try:
        yield {"db": db, "monitor": monitor, "password": monitor_pw}
    finally:
        with live.pg_superuser() as su:
            live.run(su, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def monitor_connection(world: dict[str, str], database: str) -> Any:
    params = ConnectionParams(
        host="127.0.0.1", port=5432, user=world["monitor"], password=world["password"], database=database
    )
    return connector_class("postgresql")(params)


def assert_pinned(conn: Any) -> None:
    settings = conn.fetch_one(
        "SELECT current_setting('search_path') AS search_path, "
        "current_setting('default_transaction_read_only') AS ro, "
        "current_setting('statement_timeout') AS timeout, current_setting('DateStyle') AS datestyle, "
        "current_setting('TimeZone') AS tz"
    )
    assert settings == {
        "search_path": "pg_catalog,pg_temp",
        "ro": "on",
        "timeout": "1min",
        "datestyle": "ISO, MDY",
        "tz": "UTC",
    }
    # Unqualified names, as a careless query would write them, resolve to the catalog.
    grants = conn.fetch_all("SELECT privilege_type FROM aclexplode(acldefault('r', 10))")
    assert grants and not any("TROJAN" in r["privilege_type"] for r in grants)
    assert {r["rolname"] for r in conn.fetch_all("SELECT rolname FROM pg_roles")} != {"TROJAN"}
    assert conn.fetch_value("SELECT pg_database_size(current_database())") > 1
    assert conn.fetch_value("SELECT count(*) FROM pg_database") > 1
    where = conn.fetch_value(
        "SELECT n.nspname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
        "WHERE p.oid = 'aclexplode(aclitem[])'::regprocedure"
    )
    assert where == "pg_catalog"


def test_it_pins_the_session_of_a_connection_to_the_tenant_database(tenant_db: dict[str, str]) -> None:
    with monitor_connection(tenant_db, tenant_db["db"]) as conn:
        assert_pinned(conn)


def test_it_pins_sibling_connections_opened_with_connect_to(tenant_db: dict[str, str]) -> None:
    with monitor_connection(tenant_db, "postgres") as conn:
        sibling = conn.connect_to(tenant_db["db"])  # type: ignore[attr-defined]
        try:
            assert_pinned(sibling)
        finally:
            sibling.close()


def test_the_trap_works_without_the_pinning(tenant_db: dict[str, str]) -> None:
    """The control: a plain libpq session to that database does run the tenant's function.

    Only the trap's 1 ms statement timeout is lifted (a startup option outranks the database's
    setting): on a busy machine the first function call of a new database can take longer, and
    the control would fail for that rather than show the trojan."""
    import psycopg2

    conn = psycopg2.connect(
        host="127.0.0.1",
        port=5432,
        user=tenant_db["monitor"],
        password=tenant_db["password"],
        dbname=tenant_db["db"],
        options="-c statement_timeout=0",
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT privilege_type FROM aclexplode(acldefault('r', 10))")
            assert cur.fetchall() == [(f"TROJAN ran as {tenant_db['monitor']}",)]
            cur.execute("SHOW default_transaction_read_only")
            assert cur.fetchone()[0] == "off"
    finally:
        conn.close()


def test_it_keeps_mariadb_sessions_read_only_with_a_fixed_sql_mode(
    mysql_user: Callable[..., tuple[str, str]],
) -> None:
    name, pwd = mysql_user(grants=("GRANT SELECT ON mysql.* TO {user}",))
    params = ConnectionParams(host="127.0.0.1", port=3306, user=name, password=pwd)
    with connector_class("mysql")(params) as conn:
        row = conn.fetch_one("SELECT @@session.sql_mode AS mode, @@session.tx_read_only AS ro")
    assert row == {"mode": "NO_ENGINE_SUBSTITUTION", "ro": 1}
