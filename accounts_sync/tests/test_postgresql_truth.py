"""The PostgreSQL account record against the engine's own answers, on PostgreSQL 15, 16 and 18.

A rich scenario is built as superuser on each server and read by a plain LOGIN monitoring role.
The truth is never typed by hand: it is what the server says, run as superuser for every object
of the scenario — `aclexplode()` of the object's ACL (or its built-in default), the owner, the
membership catalog, `pg_has_role(..., 'USAGE')` and `has_*_privilege()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from accounts_sync.adapters import postgresql
from accounts_sync.privileges import Collected, Scope, _reachable, effective
from accounts_sync.tests.pgservers import PgServer
from whalefall.connections.base import ConnectionParams
from whalefall.connections.postgresql import Connection
from whalefall.tests import live

pytestmark = [pytest.mark.live]

TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT", "UPDATE")
COLUMN_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "REFERENCES")


@dataclass
class Scenario:
    server: PgServer
    prefix: str
    db: str
    roles: list[str]
    monitor: str
    password: str
    # (scope, SQL returning one row: acl, owner oid, acldefault kind or NULL), run in `db` or postgres
    objects: list[tuple[Scope, str, str]] = field(default_factory=list)
    relations: dict[Scope, str] = field(default_factory=dict)  # scope -> regclass text
    routines: dict[Scope, str] = field(default_factory=dict)  # scope -> regprocedure text

    @property
    def accounts(self) -> set[str]:
        return {*self.roles, "PUBLIC"}

    def run(self, database: str, *statements: str) -> None:
        with self.server.connect(database) as conn:
            live.run(conn, *statements)

    def query(self, database: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.server.connect(database, pinned=True) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()


def build(server: PgServer) -> Scenario:
    """Roles nested (one NOINHERIT), admin options, PG16+ membership options, and every kind of
    object with grants and grant options, owners and default privileges."""
    p = live.unique("wf_pt")
    db = f"{p}_db"
    names = ("read", "write", "app", "admin", "owner", "alice", "bob", "carol", "dave", "eve")
    roles = [f"{p}_{n}" for n in names]
    r = {n: f"{p}_{n}" for n in names}
    sc = Scenario(server, p, db, roles, f"{p}_mon", live.unique("Pw"))
    modern = server.major >= 16
    sc.run(
        "postgres",
        *(f"CREATE ROLE {r[n]} NOLOGIN" for n in ("read", "write", "app", "admin")),
        f"CREATE ROLE {r['owner']} LOGIN",
        f"CREATE ROLE {r['alice']} LOGIN",
        f"CREATE ROLE {r['bob']} LOGIN NOINHERIT",
        f"CREATE ROLE {r['carol']} LOGIN",
        f"CREATE ROLE {r['dave']} LOGIN",
        f"CREATE ROLE {r['eve']} LOGIN",
        f"CREATE ROLE {sc.monitor} LOGIN PASSWORD '{sc.password}'",
        f"GRANT {r['read']} TO {r['write']}",
        f"GRANT {r['write']} TO {r['app']} WITH ADMIN OPTION",
        f"GRANT {r['app']} TO {r['alice']}",
        f"GRANT {r['read']}, {r['app']} TO {r['bob']}",
        f"GRANT {r['app']} TO {r['admin']} WITH ADMIN OPTION",
        *(
            (
                f"GRANT {r['read']} TO {r['carol']} WITH INHERIT FALSE",
                f"GRANT {r['write']} TO {r['dave']} WITH SET FALSE",
                f"GRANT {r['app']} TO {r['dave']} GRANTED BY {r['admin']}",
                f"GRANT {r['write']} TO {r['eve']} WITH INHERIT FALSE, SET FALSE, ADMIN TRUE",
            )
            if modern
            else (f"GRANT {r['read']} TO {r['carol']}", f"GRANT {r['write']} TO {r['dave']}")
        ),
        f"CREATE DATABASE {db} OWNER {r['owner']}",
        f"REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC",
        f"GRANT CREATE ON DATABASE {db} TO {r['app']} WITH GRANT OPTION",
        f"GRANT CREATE ON TABLESPACE pg_default TO {r['app']}",
        f"GRANT SET ON PARAMETER wf_truth.{p} TO {r['alice']}",
        f"GRANT SET, ALTER SYSTEM ON PARAMETER wf_truth.{p} TO {r['admin']} WITH GRANT OPTION",
    )
    sc.run(
        db,
        f"CREATE SCHEMA s AUTHORIZATION {r['owner']}",
        f"GRANT USAGE ON SCHEMA s TO {r['read']}",
        f"GRANT CREATE ON SCHEMA s TO {r['write']} WITH GRANT OPTION",
        "CREATE TABLE s.t (a int, b int)",
        f"ALTER TABLE s.t OWNER TO {r['owner']}",
        f"GRANT SELECT ON s.t TO {r['read']}",
        f"GRANT INSERT, UPDATE ON s.t TO {r['write']} WITH GRANT OPTION",
        f"GRANT UPDATE (b) ON s.t TO {r['carol']}",
        f"GRANT SELECT (a) ON s.t TO {r['dave']}",
        "CREATE VIEW s.v AS SELECT a FROM s.t",
        f"GRANT SELECT ON s.v TO {r['app']}",
        "CREATE MATERIALIZED VIEW s.mv AS SELECT 1 AS x",
        f"GRANT SELECT ON s.mv TO {r['alice']}",
        "CREATE SEQUENCE s.seq",
        f"GRANT USAGE ON SEQUENCE s.seq TO {r['write']}",
        "CREATE TABLE s.parted (k int) PARTITION BY RANGE (k)",
        f"GRANT SELECT, DELETE ON s.parted TO {r['read']}",
        "CREATE FUNCTION s.f(int) RETURNS int LANGUAGE sql AS 'SELECT $1'",
        "CREATE FUNCTION s.f(text, s.t) RETURNS text LANGUAGE sql AS 'SELECT $1'",
        "REVOKE EXECUTE ON FUNCTION s.f(int) FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION s.f(int) TO {r['app']}",
        f"ALTER FUNCTION s.f(text, s.t) OWNER TO {r['owner']}",
        "CREATE PROCEDURE s.p() LANGUAGE sql AS ''",
        "REVOKE EXECUTE ON PROCEDURE s.p() FROM PUBLIC",
        f"GRANT EXECUTE ON PROCEDURE s.p() TO {r['write']} WITH GRANT OPTION",
        "CREATE AGGREGATE s.agg(int) (sfunc = int4pl, stype = int)",
        "CREATE TYPE s.mood AS ENUM ('a', 'b')",
        "REVOKE USAGE ON TYPE s.mood FROM PUBLIC",
        f"GRANT USAGE ON TYPE s.mood TO {r['read']}",
        "CREATE DOMAIN s.posint AS int CHECK (VALUE > 0)",
        f"ALTER DOMAIN s.posint OWNER TO {r['owner']}",
        f"GRANT USAGE ON DOMAIN s.posint TO {r['write']} WITH GRANT OPTION",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {r['owner']} IN SCHEMA s GRANT SELECT ON TABLES TO {r['read']}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {r['owner']} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {r['owner']} GRANT USAGE ON TYPES TO {r['app']} WITH GRANT OPTION",
        f"CREATE FOREIGN DATA WRAPPER {p}_fdw",
        f"GRANT USAGE ON FOREIGN DATA WRAPPER {p}_fdw TO {r['owner']} WITH GRANT OPTION",
        f"CREATE SERVER {p}_srv FOREIGN DATA WRAPPER {p}_fdw",
        f"GRANT USAGE ON FOREIGN SERVER {p}_srv TO {r['app']}",
        "REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC",
        f"GRANT USAGE ON LANGUAGE plpgsql TO {r['app']}",
    )
    (lo,) = sc.query(db, "SELECT pg_catalog.lo_create(0)::pg_catalog.int8")[0]
    sc.run(
        db,
        f"ALTER LARGE OBJECT {lo} OWNER TO {r['owner']}",
        f"GRANT SELECT ON LARGE OBJECT {lo} TO {r['read']}",
    )

    def rel(kind: str, name: str) -> None:
        scope = Scope.of(kind, db, "s", name)
        sc.relations[scope] = f"s.{name}"
        default = "s" if kind == "sequence" else "r"
        sc.objects.append(
            (
                scope,
                db,
                f"SELECT relacl, relowner, '{default}' FROM pg_catalog.pg_class WHERE oid = 's.{name}'::regclass",
            )
        )

    for kind, name in [
        ("table", "t"),
        ("view", "v"),
        ("materialized view", "mv"),
        ("sequence", "seq"),
        ("table", "parted"),
    ]:
        rel(kind, name)
    for kind, shown, regproc in [
        ("function", "f(integer)", "s.f(int)"),
        ("function", "f(text, s.t)", "s.f(text, s.t)"),
        ("procedure", "p()", "s.p()"),
        ("aggregate", "agg(integer)", "s.agg(int)"),
    ]:
        scope = Scope.of(kind, db, "s", shown)
        sc.routines[scope] = regproc
        sc.objects.append(
            (
                scope,
                db,
                f"SELECT proacl, proowner, 'f' FROM pg_catalog.pg_proc WHERE oid = '{regproc}'::regprocedure",
            )
        )
    sc.objects += [
        (
            Scope.of("database", db),
            "postgres",
            f"SELECT datacl, datdba, 'd' FROM pg_catalog.pg_database WHERE datname = '{db}'",
        ),
        (
            Scope.of("tablespace", "pg_default"),
            "postgres",
            "SELECT spcacl, spcowner, 't' FROM pg_catalog.pg_tablespace WHERE spcname = 'pg_default'",
        ),
        (
            Scope.of("parameter", f"wf_truth.{p}"),
            "postgres",
            f"SELECT paracl, NULL::oid, NULL::\"char\" FROM pg_catalog.pg_parameter_acl WHERE parname = 'wf_truth.{p}'",
        ),
        (
            Scope.of("schema", db, "s"),
            db,
            "SELECT nspacl, nspowner, 'n' FROM pg_catalog.pg_namespace WHERE nspname = 's'",
        ),
        (
            Scope.of("column", db, "s", "t", "a"),
            db,
            "SELECT attacl, NULL::oid, NULL::\"char\" FROM pg_catalog.pg_attribute WHERE attrelid = 's.t'::regclass AND attname = 'a'",
        ),
        (
            Scope.of("column", db, "s", "t", "b"),
            db,
            "SELECT attacl, NULL::oid, NULL::\"char\" FROM pg_catalog.pg_attribute WHERE attrelid = 's.t'::regclass AND attname = 'b'",
        ),
        (
            Scope.of("type", db, "s", "mood"),
            db,
            "SELECT typacl, typowner, 'T' FROM pg_catalog.pg_type WHERE oid = 's.mood'::regtype",
        ),
        (
            Scope.of("domain", db, "s", "posint"),
            db,
            "SELECT typacl, typowner, 'T' FROM pg_catalog.pg_type WHERE oid = 's.posint'::regtype",
        ),
        (
            Scope.of("foreign data wrapper", db, f"{p}_fdw"),
            db,
            f"SELECT fdwacl, fdwowner, 'F' FROM pg_catalog.pg_foreign_data_wrapper WHERE fdwname = '{p}_fdw'",
        ),
        (
            Scope.of("foreign server", db, f"{p}_srv"),
            db,
            f"SELECT srvacl, srvowner, 'S' FROM pg_catalog.pg_foreign_server WHERE srvname = '{p}_srv'",
        ),
        (
            Scope.of("language", db, "plpgsql"),
            db,
            "SELECT lanacl, lanowner, 'l' FROM pg_catalog.pg_language WHERE lanname = 'plpgsql'",
        ),
        (
            Scope.of("large object", db, str(lo)),
            db,
            f"SELECT lomacl, lomowner, 'L' FROM pg_catalog.pg_largeobject_metadata WHERE oid = {lo}",
        ),
    ]
    for schema, objtype, word in [("s", "r", "tables"), ("", "f", "functions"), ("", "T", "types")]:
        where = "defaclnamespace = 's'::regnamespace" if schema else "defaclnamespace = 0"
        sc.objects.append(
            (
                Scope.of("default privileges", db, schema, word, r["owner"]),
                db,
                'SELECT defaclacl, NULL::oid, NULL::"char" FROM pg_catalog.pg_default_acl'
                f" WHERE defaclrole = '{r['owner']}'::regrole AND defaclobjtype = '{objtype}' AND {where}",
            )
        )
    return sc


def drop(sc: Scenario) -> None:
    sc.run("postgres", f"DROP DATABASE IF EXISTS {sc.db} WITH (FORCE)")
    for role in [*sc.roles, sc.monitor]:
        sc.run("postgres", f"DROP OWNED BY {role}")  # shared objects: tablespace, parameter ACLs
    sc.run("postgres", *(f"DROP ROLE IF EXISTS {role}" for role in [*sc.roles, sc.monitor]))


@pytest.fixture
def scenario(pg_server: PgServer) -> Iterator[Scenario]:
    sc = build(pg_server)
    try:
        yield sc
    finally:
        drop(sc)


def collect(sc: Scenario) -> tuple[postgresql.Adapter, Collected, set[str]]:
    """Sync the way the coordinator reads: the adapter on the monitoring login's connection."""
    params = ConnectionParams(sc.server.host, sc.server.port, sc.monitor, sc.password, database="postgres")
    with Connection(params).connect() as conn:
        adapter = postgresql.Adapter(conn)
        accounts = adapter.list_accounts()
        supers = {a.identity for a in accounts if a.is_superuser}
        return adapter, adapter.collect_permissions(accounts), supers


def truth_acl(sc: Scenario) -> set[tuple[str, Scope, str, bool]]:
    """aclexplode() of every scenario object, as superuser: (grantee, scope, privilege, grantable)."""
    names = dict(sc.query("postgres", "SELECT oid, rolname FROM pg_catalog.pg_roles"))
    names[0] = "PUBLIC"
    held: dict[tuple[str, Scope, str], bool] = {}
    for scope, database, sql in sc.objects:
        rows = sc.query(
            database,
            f"""SELECT o.owner, a.grantee, a.privilege_type, a.is_grantable FROM ({sql}) AS o(acl, owner, k)
            LEFT JOIN LATERAL pg_catalog.aclexplode(COALESCE(o.acl, pg_catalog.acldefault(o.k::pg_catalog."char", o.owner))) a ON true""",
        )
        assert rows, f"scenario object {scope} not found"
        for owner, grantee, priv, grantable in rows:
            if owner is not None:
                held[(names[owner], scope, "OWNER")] = False
            if grantee is not None:
                key = (names[grantee], scope, priv)
                held[key] = held.get(key, False) or grantable
    return {(who, scope, priv, g) for (who, scope, priv), g in held.items() if who in sc.accounts}


def recorded(sc: Scenario, collected: Collected) -> set[tuple[str, Scope, str, bool]]:
    scopes = {scope for scope, _, _ in sc.objects}
    return {
        (who, g.scope, g.privilege, g.grantable)
        for who in sc.accounts
        for g in collected.structured[who].grants
        if g.scope in scopes
    }


def test_direct_grants_equal_aclexplode_fact_for_fact(scenario: Scenario) -> None:
    adapter, collected, _ = collect(scenario)
    truth = truth_acl(scenario)
    assert recorded(scenario, collected) == truth
    # the scenario really covers every kind (a silent empty read would not do)
    assert {s.kind for _, s, _, _ in truth} >= {
        "database", "tablespace", "parameter", "schema", "table", "view", "materialized view",
        "sequence", "column", "function", "procedure", "aggregate", "type", "domain",
        "foreign data wrapper", "foreign server", "language", "large object", "default privileges",
    }  # fmt: skip
    public = collected["PUBLIC"]
    db = scenario.db
    assert f"function {db}.s.f(integer)" not in public  # REVOKE EXECUTE ... FROM PUBLIC
    assert public[f"function {db}.s.f(text, s.t)"] == ["EXECUTE"]  # the default PUBLIC EXECUTE
    assert scenario.db not in adapter.notes["databases_unreadable"]


def test_memberships_keep_the_catalog_options(scenario: Scenario) -> None:
    _, collected, _ = collect(scenario)
    modern = scenario.server.major >= 16
    inherit = "am.inherit_option" if modern else "m.rolinherit"
    set_option = "am.set_option" if modern else "true"
    grantor = "g.rolname" if modern else "''"
    rows = scenario.query(
        "postgres",
        f"""SELECT m.rolname, r.rolname, am.admin_option, {inherit}, {set_option}, {grantor}
        FROM pg_catalog.pg_auth_members am JOIN pg_catalog.pg_roles m ON m.oid = am.member
        JOIN pg_catalog.pg_roles r ON r.oid = am.roleid JOIN pg_catalog.pg_roles g ON g.oid = am.grantor
        WHERE m.rolname LIKE %s""",
        (f"{scenario.prefix}\\_%",),
    )
    truth = {(m, r, a, i, s, g) for m, r, a, i, s, g in rows}
    got = {
        (who, ms.role, ms.admin, ms.inherit, ms.set, ms.grantor)
        for who in scenario.roles
        for ms in collected.structured[who].memberships.values()
    }
    assert got == truth
    bob = collected[f"{scenario.prefix}_bob"]["member of"]
    assert all("WITH INHERIT FALSE" in token for token in bob)  # NOINHERIT: inherits nothing
    assert not any("(effective)" in scope for perms in collected.values() for scope in perms)
    if modern:
        carol = collected[f"{scenario.prefix}_carol"]["member of"]
        assert carol == [f"{scenario.prefix}_read WITH INHERIT FALSE"]
        eve = collected[f"{scenario.prefix}_eve"]["member of"]
        assert eve == [f"{scenario.prefix}_write WITH ADMIN OPTION WITH INHERIT FALSE WITH SET FALSE"]


def test_role_usage_equals_pg_has_role(scenario: Scenario) -> None:
    _, collected, _ = collect(scenario)
    facts = collected.structured
    for account in scenario.roles:
        inherited = {role for role, _, needs_set in _reachable(account, facts, "PUBLIC") if not needs_set}
        for role in scenario.roles:
            (engine,) = scenario.query(
                "postgres", "SELECT pg_catalog.pg_has_role(%s, %s, 'USAGE')", (account, role)
            )[0]
            assert (role in inherited) == engine, (account, role, engine)


def test_effective_privileges_equal_has_privilege(scenario: Scenario) -> None:
    _, collected, supers = collect(scenario)
    held = effective(collected.structured, superusers=supers, public="PUBLIC")
    checks: list[tuple[Scope, str, str]] = []  # (scope, privilege, SQL)
    for scope, regclass in scenario.relations.items():
        privileges = SEQUENCE_PRIVILEGES if scope.kind == "sequence" else TABLE_PRIVILEGES
        fn = "has_sequence_privilege" if scope.kind == "sequence" else "has_table_privilege"
        for priv in privileges:
            checks.append((scope, priv, f"pg_catalog.{fn}(%s, '{regclass}'::regclass, %s)"))
    for scope, regproc in scenario.routines.items():
        checks.append(
            (scope, "EXECUTE", f"pg_catalog.has_function_privilege(%s, '{regproc}'::regprocedure, %s)")
        )
    db, p = scenario.db, scenario.prefix
    for column in ("a", "b"):  # one with a column grant of its own per role, both under the table's
        checks += [
            (
                Scope.of("column", db, "s", "t", column),
                priv,
                f"pg_catalog.has_column_privilege(%s, 's.t'::regclass, '{column}', %s)",
            )
            for priv in COLUMN_PRIVILEGES
        ]
    for scope, privileges, sql in [
        (Scope.of("database", db), ("CONNECT", "CREATE", "TEMPORARY"), f"has_database_privilege(%s, '{db}', %s)"),
        (Scope.of("schema", db, "s"), ("USAGE", "CREATE"), "has_schema_privilege(%s, 's', %s)"),
        (Scope.of("type", db, "s", "mood"), ("USAGE",), "has_type_privilege(%s, 's.mood'::regtype, %s)"),
        (Scope.of("domain", db, "s", "posint"), ("USAGE",), "has_type_privilege(%s, 's.posint'::regtype, %s)"),
        (Scope.of("foreign data wrapper", db, f"{p}_fdw"), ("USAGE",),
         f"has_foreign_data_wrapper_privilege(%s, '{p}_fdw', %s)"),
        (Scope.of("foreign server", db, f"{p}_srv"), ("USAGE",), f"has_server_privilege(%s, '{p}_srv', %s)"),
        (Scope.of("language", db, "plpgsql"), ("USAGE",), "has_language_privilege(%s, 'plpgsql', %s)"),
        (Scope.of("tablespace", "pg_default"), ("CREATE",), "has_tablespace_privilege(%s, 'pg_default', %s)"),
        (Scope.of("parameter", f"wf_truth.{p}"), ("SET", "ALTER SYSTEM"),
         f"has_parameter_privilege(%s, 'wf_truth.{p}', %s)"),
    ]:  # fmt: skip
        checks += [(scope, priv, f"pg_catalog.{sql}") for priv in privileges]
    mismatches = []
    for account in sorted(scenario.accounts):
        mine = {(e.scope, e.privilege, e.grantable) for e in held[account] if not e.needs_set_role}
        owned = {e.scope for e in held[account] if e.privilege == "OWNER" and not e.needs_set_role}
        who = "public" if account == "PUBLIC" else account
        for scope, priv, sql in checks:
            (plain, with_option) = scenario.query(
                scenario.db, f"SELECT {sql}, {sql}", (who, priv, who, f"{priv} WITH GRANT OPTION")
            )[0]
            # a column is covered by its own grant and by the table's (as has_column_privilege says)
            covering = [scope, Scope.of("table", *scope.path[:3])] if scope.kind == "column" else [scope]
            has = any((c, priv, g) in mine for c in covering for g in (False, True))
            # the owner (and whoever inherits the owner role) may always grant what it holds
            grantable = any((c, priv, True) in mine for c in covering) or (
                has and any(c in owned for c in covering)
            )
            if (has, grantable) != (plain, with_option):
                mismatches.append((account, scope.render(), priv, (has, grantable), (plain, with_option)))
    assert not mismatches


def test_a_database_without_connect_is_unreadable_not_empty(scenario: Scenario) -> None:
    sc = scenario
    sc.run("postgres", f"REVOKE CONNECT ON DATABASE {sc.db} FROM PUBLIC")
    adapter, collected, _ = collect(sc)
    assert adapter.notes["databases_unreadable"][sc.db] == "no CONNECT privilege"
    assert sc.db in adapter.notes["databases_skipped"]
    # the server-wide facts are still read; nothing inside the database is claimed
    assert f"database {sc.db}" in collected[f"{sc.prefix}_app"]
    assert not any(f" {sc.db}." in scope for perms in collected.values() for scope in perms)
    sc.run("postgres", f"GRANT CONNECT ON DATABASE {sc.db} TO {sc.monitor}")
    adapter, collected, _ = collect(sc)
    assert sc.db not in adapter.notes["databases_unreadable"]
    assert collected[f"{sc.prefix}_read"][f"table {sc.db}.s.t"] == ["SELECT"]


def test_the_query_count_is_fixed_per_database(scenario: Scenario, monkeypatch: Any) -> None:
    """Four server-wide queries, then exactly one per database, whatever the number of objects
    (plus one session setting per connection)."""
    scenario.run(scenario.db, *(f"CREATE TABLE s.x{i} (a int)" for i in range(30)))
    executed: list[tuple[str, str]] = []
    real = Connection.fetch_rows  # every query goes through it (fetch_all too)

    def counting(self: Connection, sql: str, params: Any = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        executed.append((self.params.database, sql))
        return real(self, sql, params)

    monkeypatch.setattr(Connection, "fetch_rows", counting)
    collect(scenario)
    per_database = [db for db, sql in executed if "pg_catalog.pg_default_acl" in sql]
    server_wide = [
        sql
        for db, sql in executed
        if "pg_catalog.pg_default_acl" not in sql and "server_version" not in sql and "set_config" not in sql
    ]
    assert len(server_wide) == 4
    assert sorted(per_database) == sorted(set(per_database)) and scenario.db in per_database


@pytest.mark.parametrize("own", ["postgres", None])  # None: the connection's default, postgres
def test_each_database_gets_its_own_connection_closed_after_its_read(
    scenario: Scenario, monkeypatch: Any, own: str | None
) -> None:
    """The monitoring connection reads its own database itself and stays open for the sync;
    every other database is read over a connection of its own, with JIT off (a catalog query
    must not pay for compiling), and closed once read: nothing is left open."""
    opened: list[Connection] = []
    jit_off: list[str] = []
    real_connect_to, real_rows = Connection.connect_to, Connection.fetch_rows

    def connect_to(self: Connection, database: str) -> Connection:
        conn = real_connect_to(self, database)
        opened.append(conn)
        return conn

    def rows(self: Connection, sql: str, params: Any = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        if "set_config('jit', 'off'" in sql:
            jit_off.append(self.params.database or "postgres")
        return real_rows(self, sql, params)

    monkeypatch.setattr(Connection, "connect_to", connect_to)
    monkeypatch.setattr(Connection, "fetch_rows", rows)
    params = ConnectionParams(
        scenario.server.host, scenario.server.port, scenario.monitor, scenario.password, database=own
    )
    with Connection(params).connect() as conn:
        adapter = postgresql.Adapter(conn)
        adapter.collect_permissions(adapter.list_accounts())
        assert conn._conn is not None and conn.fetch_value("SELECT 1") == 1  # still open, usable
    read_elsewhere = [c.params.database for c in opened]
    assert "postgres" not in read_elsewhere and scenario.db in read_elsewhere
    assert "template1" not in read_elsewhere  # a template allows connections but holds no data
    assert all(c._conn is None for c in opened)  # each closed after its read
    assert sorted(jit_off) == sorted(["postgres", *read_elsewhere])


def test_public_is_listed_as_a_role_nobody_logs_in_as(scenario: Scenario) -> None:
    _, collected, _ = collect(scenario)
    params = ConnectionParams(
        scenario.server.host, scenario.server.port, scenario.monitor, scenario.password, database="postgres"
    )
    with Connection(params).connect() as conn:
        (public,) = [a for a in postgresql.Adapter(conn).list_accounts() if a.identity == "PUBLIC"]
    assert (public.is_role, public.can_login, public.is_superuser) == (True, False, False)
    assert public.attributes == {"pseudo_role": True}  # what the admin shows instead of role flags
    assert "PUBLIC" in collected


@pytest.mark.parametrize(
    ("version", "reads_parameters"), [((14, 11), False), ((15, 0), True), ((18, 1), True)]
)
def test_parameter_acls_are_read_from_postgresql_15_on(
    version: tuple[int, ...], reads_parameters: bool
) -> None:
    """`pg_parameter_acl` (GRANT SET / ALTER SYSTEM ON PARAMETER) exists from PostgreSQL 15:
    asked of a 14 the query would fail the whole server-wide read."""
    from accounts_sync.tests.fakes import FakeConnection
    from whalefall.connections.base import ServerInfo

    server = ServerInfo("postgresql", "PostgreSQL", version, ".".join(map(str, version)))
    conn = FakeConnection([("pg_catalog.pg_tablespace", [])], server)
    postgresql.Adapter(conn)._server_objects(postgresql.Grants([]))  # type: ignore[arg-type]
    (sql,) = conn.executed
    assert ("pg_catalog.pg_parameter_acl" in sql) is reads_parameters


def test_permissions_collected_without_a_listing_first_name_the_grantees(scenario: Scenario) -> None:
    """`collect_permissions` on a fresh adapter reads the role names itself: grants keyed by
    role OID would otherwise land on no account."""
    listed_first = collect(scenario)[1]
    params = ConnectionParams(
        scenario.server.host, scenario.server.port, scenario.monitor, scenario.password, database="postgres"
    )
    with Connection(params).connect() as conn:
        accounts = postgresql.Adapter(conn).list_accounts()
        fresh = postgresql.Adapter(conn).collect_permissions(accounts)
    assert dict(fresh) == dict(listed_first) and any(fresh.values())


def test_a_membership_naming_a_role_the_listing_did_not_see_is_left_out() -> None:
    """A role dropped between the listing and the membership read (or one the listing cannot
    see) leaves an OID with no name: that membership is skipped, never recorded for a nameless
    member or role; a membership with both ends named is kept with its grantor."""
    from accounts_sync.tests.fakes import FakeConnection
    from whalefall.connections.base import ServerInfo

    row = {"admin_option": False, "inherit_option": True, "set_option": True, "grantor": 10}
    conn = FakeConnection(
        [
            (
                "pg_catalog.pg_auth_members",
                [
                    {**row, "member": 11, "roleid": 99},  # alice in a role nobody listed
                    {**row, "member": 98, "roleid": 12},  # an unlisted member of r_read
                    {**row, "member": 11, "roleid": 12},  # alice in r_read: read past the others
                ],
            )
        ],
        ServerInfo("postgresql", "PostgreSQL", (16, 4), "16.4"),
    )
    adapter = postgresql.Adapter(conn)  # type: ignore[arg-type]
    adapter.names.update({10: "postgres", 11: "alice", 12: "r_read"})
    grants = postgresql.Grants(["alice", "r_read", "postgres"])
    adapter._memberships(grants)
    collected = grants.result()
    (membership,) = collected.structured["alice"].memberships.values()
    assert (membership.role, membership.grantor) == ("r_read", "postgres")
    assert not collected.structured["r_read"].memberships and not collected.structured["postgres"].memberships
