"""A tenant that owns databases attacks the PostgreSQL account sync (security threat model).

The tenant may create schemas, functions, operators and tables in its databases and alter their
settings. It must not get code run as the monitoring login, falsify what is recorded, or stop the
sync of anything but its own database's read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from accounts_sync.adapters import postgresql
from accounts_sync.models import Account
from accounts_sync.privileges import Scope
from accounts_sync.tests.pgservers import PgServer, system_server
from accounts_sync.tests.test_postgresql_truth import Scenario, truth_acl
from whalefall.connections.base import ConnectionParams, ConnectorError, ErrorKind
from whalefall.connections.postgresql import Connection
from whalefall.tests import live

pytestmark = [pytest.mark.live]

# Objects named like the catalog's, each answering a lie if it were ever called.
EVIL = [
    "CREATE SCHEMA evil",
    "GRANT USAGE ON SCHEMA evil TO PUBLIC",
    """CREATE FUNCTION evil.aclexplode(acl aclitem[], OUT grantor oid, OUT grantee oid,
         OUT privilege_type text, OUT is_grantable boolean)
       RETURNS SETOF record LANGUAGE sql AS $$ SELECT 10::oid, 0::oid, 'TROJAN ran as '||current_user, false $$""",
    """CREATE FUNCTION evil.acldefault("char", oid) RETURNS aclitem[] LANGUAGE sql
       AS $$ SELECT '{}'::aclitem[] $$""",
    """CREATE FUNCTION evil.has_database_privilege(oid, text) RETURNS boolean LANGUAGE sql
       AS $$ SELECT false $$""",
    "CREATE FUNCTION evil.format_type(oid, integer) RETURNS text LANGUAGE sql AS $$ SELECT 'TROJAN' $$",
    "CREATE FUNCTION evil.quote_ident(text) RETURNS text LANGUAGE sql AS $$ SELECT 'TROJAN' $$",
    "CREATE FUNCTION evil.never(oid, oid) RETURNS boolean LANGUAGE sql AS $$ SELECT false $$",
    "CREATE OPERATOR evil.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = evil.never)",
    """CREATE FUNCTION evil.never_char("char", "char") RETURNS boolean LANGUAGE sql
       AS $$ SELECT false $$""",
    'CREATE OPERATOR evil.= (LEFTARG = "char", RIGHTARG = "char", FUNCTION = evil.never_char)',
    "CREATE TABLE evil.pg_class (relname name)",
    "CREATE TABLE evil.pg_auth_members (roleid oid)",
    "CREATE TABLE public.secret_tbl (x int)",
    "GRANT SELECT ON public.secret_tbl TO PUBLIC",
    "CREATE FUNCTION public.g(public.secret_tbl) RETURNS int LANGUAGE sql AS 'SELECT 1'",
]


def tenant_world(server: PgServer) -> Scenario:
    """A tenant owning two databases: `a` (booby-trapped) and `b` (closed with CONNECTION LIMIT 0)."""
    p = live.unique("wf_ht")
    sc = Scenario(server, p, f"{p}_a", [f"{p}_tenant", f"{p}_reader"], f"{p}_mon", live.unique("Pw"))
    tenant = f"{p}_tenant"
    sc.run(
        "postgres",
        f"CREATE ROLE {tenant} LOGIN",
        f"CREATE ROLE {p}_reader NOLOGIN",
        f"CREATE ROLE {sc.monitor} LOGIN PASSWORD '{sc.password}'",
        f"CREATE DATABASE {p}_a OWNER {tenant}",
        f"CREATE DATABASE {p}_b OWNER {tenant}",
    )
    with server.connect(f"{p}_a", user=tenant) as conn:
        live.run(
            conn,
            *EVIL,
            f"GRANT SELECT ON public.secret_tbl TO {p}_reader WITH GRANT OPTION",
            f"ALTER DATABASE {p}_a SET search_path = evil, pg_catalog",
        )
    with server.connect(f"{p}_b", user=tenant) as conn:
        live.run(conn, f"ALTER DATABASE {p}_b CONNECTION LIMIT 0")
    sc.objects = [
        (Scope.of("database", sc.db), "postgres",
         f"SELECT datacl, datdba, 'd' FROM pg_catalog.pg_database WHERE datname = '{sc.db}'"),
        (Scope.of("table", sc.db, "public", "secret_tbl"), sc.db,
         "SELECT relacl, relowner, 'r' FROM pg_catalog.pg_class WHERE oid = 'public.secret_tbl'::pg_catalog.regclass"),
        (Scope.of("schema", sc.db, "evil"), sc.db,
         "SELECT nspacl, nspowner, 'n' FROM pg_catalog.pg_namespace WHERE nspname = 'evil'"),
        (Scope.of("function", sc.db, "evil", "aclexplode(aclitem[])"), sc.db,
         "SELECT proacl, proowner, 'f' FROM pg_catalog.pg_proc"
         " WHERE oid = 'evil.aclexplode(aclitem[])'::pg_catalog.regprocedure"),
        (Scope.of("function", sc.db, "public", "g(public.secret_tbl)"), sc.db,
         "SELECT proacl, proowner, 'f' FROM pg_catalog.pg_proc"
         " WHERE oid = 'public.g(public.secret_tbl)'::pg_catalog.regprocedure"),
    ]  # fmt: skip
    return sc


def drop_world(sc: Scenario) -> None:
    sc.run(
        "postgres",
        f"DROP DATABASE IF EXISTS {sc.prefix}_a WITH (FORCE)",
        f"DROP DATABASE IF EXISTS {sc.prefix}_b WITH (FORCE)",
        *(f"DROP ROLE IF EXISTS {r}" for r in [*sc.roles, sc.monitor]),
    )


@pytest.fixture
def world(pg_server: PgServer) -> Iterator[Scenario]:
    sc = tenant_world(pg_server)
    try:
        yield sc
    finally:
        drop_world(sc)


@pytest.fixture
def hostile_sessions(monkeypatch: Any) -> None:
    """Every connection the adapter opens starts with the tenant's schema first in search_path,
    as if no connection option pinned it: only schema-qualified queries stay truthful."""
    real = Connection._connect

    def connect(self: Connection) -> Any:
        conn = real(self)
        with conn.cursor() as cur:
            cur.execute("SET search_path = evil, pg_catalog")
        return conn

    monkeypatch.setattr(Connection, "_connect", connect)


def _collect(sc: Scenario, database: str = "postgres") -> tuple[postgresql.Adapter, Any]:
    params = ConnectionParams(sc.server.host, sc.server.port, sc.monitor, sc.password, database=database)
    with Connection(params).connect() as conn:
        adapter = postgresql.Adapter(conn)
        return adapter, adapter.collect_permissions(adapter.list_accounts())


def _no_trojan(collected: Any) -> None:
    text = repr(dict(collected))
    assert "TROJAN" not in text


def test_catalog_lookalikes_change_nothing_recorded(world: Scenario, hostile_sessions: None) -> None:
    # the instance connection itself sits in the booby-trapped database: server-wide reads too
    adapter, collected = _collect(world, database=world.db)
    _no_trojan(collected)
    recorded = {
        (who, g.scope, g.privilege, g.grantable)
        for who in world.accounts
        for g in collected.structured[who].grants
        if g.scope in {s for s, _, _ in world.objects}
    }
    truth = truth_acl(world)
    assert recorded == truth
    assert ("PUBLIC", Scope.of("table", world.db, "public", "secret_tbl"), "SELECT", False) in truth
    assert world.db not in adapter.notes["databases_unreadable"]
    # the server-wide catalog reads were not fooled either
    assert collected[f"{world.prefix}_tenant"][f"database {world.db}"][0] == "CONNECT"
    assert list(adapter.notes["databases_unreadable"]) == [f"{world.prefix}_b"] or (
        f"{world.prefix}_b" in adapter.notes["databases_unreadable"]
    )


def test_connection_limit_zero_closes_only_that_database(world: Scenario) -> None:
    adapter, collected = _collect(world)
    closed = f"{world.prefix}_b"
    assert "too many connections" in adapter.notes["databases_unreadable"][closed]
    assert (
        closed in adapter.notes["databases_skipped"] and world.db not in adapter.notes["databases_unreadable"]
    )
    _no_trojan(collected)
    assert collected[f"{world.prefix}_reader"][f"table {world.db}.public.secret_tbl"] == [
        "SELECT WITH GRANT OPTION"
    ]


def test_any_read_error_makes_one_database_unreadable(world: Scenario, monkeypatch: Any) -> None:
    """A statement timeout (or any error) while reading one database: that database alone."""
    real = Connection.fetch_rows  # every query goes through it (fetch_all too)

    def flaky(self: Connection, sql: str, params: Any = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        if self.params.database == world.db and "pg_default_acl" in sql:
            raise ConnectorError(ErrorKind.TIMEOUT, "canceling statement due to statement timeout")
        return real(self, sql, params)

    monkeypatch.setattr(Connection, "fetch_rows", flaky)
    adapter, collected = _collect(world)
    assert (
        adapter.notes["databases_unreadable"][world.db]
        == "timeout: canceling statement due to statement timeout"
    )
    assert not any(f" {world.db}." in scope for perms in collected.values() for scope in perms)
    assert "CONNECT" in collected["PUBLIC"]["database postgres"]  # the others were read


@pytest.mark.django_db
def test_the_sync_completes_and_records_the_truth(pg_instance: Any, sync_scoped: Any) -> None:
    """Through the coordinator on the system server, with the plain LOGIN monitoring role."""
    sc = tenant_world(system_server())
    try:
        with live.pg_superuser() as su:
            live.run(su, f"GRANT CONNECT ON DATABASE {sc.db} TO {pg_instance.credential.username}")
        result, _ = sync_scoped(pg_instance, f"{sc.prefix}\\_%")
        assert result.status == "completed", result.error
        unreadable = result.sync_details["collection"]["databases_unreadable"]
        assert f"{sc.prefix}_b" in unreadable and sc.db not in unreadable
        accounts = Account.objects.filter(instance=pg_instance).select_related("snapshot")
        stored = {a.identity: a.snapshot.permissions for a in accounts if a.identity.startswith(sc.prefix)}
        assert "TROJAN" not in repr(stored)
        truth = truth_acl(sc)
        expected: dict[tuple[str, str], set[str]] = {}
        for who, scope, priv, grantable in truth:
            if who != "PUBLIC":
                token = priv + (" WITH GRANT OPTION" if grantable else "")
                expected.setdefault((who, scope.render()), set()).add(token)
        for (who, scope), tokens in expected.items():
            assert set(stored[who][scope]) == tokens, (who, scope)
    finally:
        drop_world(sc)
