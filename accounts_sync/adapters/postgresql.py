"""PostgreSQL: roles, memberships and every ACL the catalogs keep, as the engine means them.

Server-wide (four queries on the instance connection): `pg_roles`, `pg_auth_members` (with the
PostgreSQL 16+ INHERIT / SET options and grantor), database ACLs and owners, tablespace ACLs and
owners and, from 15, parameter ACLs (`GRANT SET / ALTER SYSTEM ON PARAMETER`).

Per database the monitoring login may connect to, ONE query (a `UNION ALL` over the kinds) reads
the ACLs and owners of schemas, tables / views / materialized views / foreign tables / sequences,
columns, functions / procedures / aggregates, types and domains, foreign data wrappers, foreign
servers, languages, large objects, and the default privileges of `ALTER DEFAULT PRIVILEGES`.
A NULL ACL means the built-in default, which is expanded with `acldefault()`, so the record says
what `has_*_privilege()` answers (PUBLIC EXECUTE on a new function, PUBLIC USAGE on a type).
Grants to PUBLIC are kept apart on a pseudo-account `PUBLIC`.

A database that cannot be read this time (no CONNECT, connection limit, timeout, dropped, any
error) is reported in `notes["databases_unreadable"]` with the reason and never stops the others:
its earlier records are carried over by the coordinator, not revoked.

The database owner is not trusted: it can set the database's `search_path` and create functions,
operators and types named like catalog ones. Every function, operator, type and relation below is
therefore schema-qualified (`pg_catalog.`), whatever `search_path` the session ends up with.

Scopes (names kept as separate parts):

| kind | path |
| --- | --- |
| database, tablespace, parameter | name (server-wide catalogs) |
| schema | database, schema |
| table, view, materialized view, foreign table, sequence | database, schema, relation |
| column | database, schema, relation, column |
| function, procedure, aggregate | database, schema, `name(argument types)` |
| type, domain | database, schema, type |
| foreign data wrapper, foreign server, language | database, name |
| large object | database, oid |
| default privileges | database, schema (`''`: every schema), object type (`tables`, `sequences`, `functions`, `types`, `schemas`, `large objects`), role whose new objects get them |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from accounts_sync.adapters.base import (
    AccountAdapter,
    Collected,
    Grants,
    GrantSet,
    RemoteAccount,
    Scope,
    fetch_rows,
    paused_gc,
)
from whalefall.connections.base import ConnectorError, DatabaseConnection
from whalefall.structured_logging import get_logger

log = get_logger(__name__)

PUBLIC = "PUBLIC"
EQ = "OPERATOR(pg_catalog.=)"
NE = "OPERATOR(pg_catalog.<>)"
TEXT = "pg_catalog.text"
INT8 = "pg_catalog.int8"

ROLE_COLUMNS = (
    "oid",
    "rolname",
    "rolsuper",
    "rolinherit",
    "rolcreaterole",
    "rolcreatedb",
    "rolcanlogin",
    "rolreplication",
    "rolbypassrls",
    "rolconnlimit",
    "valid_until",
    "expired",
)
ROLES_SQL = f"""
SELECT r.oid::{INT8} AS oid, r.rolname::{TEXT} AS rolname, r.rolsuper, r.rolinherit, r.rolcreaterole,
       r.rolcreatedb, r.rolcanlogin, r.rolreplication, r.rolbypassrls, r.rolconnlimit,
       r.rolvaliduntil::{TEXT} AS valid_until,
       COALESCE(r.rolvaliduntil {NE} 'infinity'::pg_catalog.timestamptz
                AND r.rolvaliduntil OPERATOR(pg_catalog.<) pg_catalog.now(), false) AS expired
FROM pg_catalog.pg_roles r
"""
# Before 16 a membership's inheritance is the member's INHERIT attribute, and SET ROLE is always
# allowed; from 16 each grant carries its own INHERIT and SET options and its grantor.
MEMBERS_SQL = f"""
SELECT am.roleid::{INT8} AS roleid, am.member::{INT8} AS member, am.admin_option,
       m.rolinherit AS inherit_option, true AS set_option, NULL::{INT8} AS grantor
FROM pg_catalog.pg_auth_members am JOIN pg_catalog.pg_roles m ON m.oid {EQ} am.member
"""
MEMBERS_SQL_16 = f"""
SELECT am.roleid::{INT8} AS roleid, am.member::{INT8} AS member, am.admin_option,
       am.inherit_option, am.set_option, am.grantor::{INT8} AS grantor
FROM pg_catalog.pg_auth_members am
"""
DATABASES_SQL = f"""
SELECT d.datname::{TEXT} AS datname, d.datdba::{INT8} AS owner, d.datallowconn, d.datistemplate,
       pg_catalog.has_database_privilege(d.oid, 'CONNECT') AS can_connect,
       a.grantee::{INT8} AS grantee, a.privilege_type::{TEXT} AS privilege_type, a.is_grantable
FROM pg_catalog.pg_database d
LEFT JOIN LATERAL pg_catalog.aclexplode(COALESCE(d.datacl, pg_catalog.acldefault('d', d.datdba))) a ON true
"""


def _acl(acl: str, kind: str, owner: str) -> str:
    """The ACL items of an object, its built-in default when the ACL is NULL."""
    return f"pg_catalog.aclexplode(COALESCE({acl}, pg_catalog.acldefault('{kind}', {owner})))"


TABLESPACES_SQL = f"""
SELECT 'tablespace'::{TEXT} AS kind, t.spcname::{TEXT} AS name, t.spcowner::{INT8} AS owner,
       a.grantee::{INT8} AS grantee, a.privilege_type::{TEXT} AS privilege_type, a.is_grantable
FROM pg_catalog.pg_tablespace t LEFT JOIN LATERAL {_acl("t.spcacl", "t", "t.spcowner")} a ON true
"""
# Rows exist only for parameters someone granted on; the default ACL of a parameter is empty.
PARAMETERS_SQL = f"""
SELECT 'parameter'::{TEXT} AS kind, p.parname::{TEXT} AS name, NULL::{INT8} AS owner,
       a.grantee::{INT8} AS grantee, a.privilege_type::{TEXT} AS privilege_type, a.is_grantable
FROM pg_catalog.pg_parameter_acl p CROSS JOIN LATERAL pg_catalog.aclexplode(p.paracl) a
"""

# Schemas of the system, left out of every per-database kind.
USER_SCHEMA = "{n}.nspname {NE} 'information_schema' AND NOT {n}.nspname OPERATOR(pg_catalog.~~) 'pg\\_%'"


def _user_schema(alias: str) -> str:
    return USER_SCHEMA.format(n=alias, NE=NE)


# Argument types of a routine, so that overloads differ: built-in types as format_type() names,
# others schema-qualified (independent of the session's search_path).
ARGUMENTS = f"""(
  SELECT COALESCE(pg_catalog.string_agg(
           CASE WHEN t.typnamespace {EQ} 'pg_catalog'::pg_catalog.regnamespace
                THEN pg_catalog.format_type(t.oid, NULL)
                ELSE pg_catalog.concat(pg_catalog.quote_ident(tn.nspname::{TEXT}), '.',
                                       pg_catalog.quote_ident(t.typname::{TEXT})) END,
           ', ' ORDER BY args.n), '')
  FROM pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]) WITH ORDINALITY AS args(type_oid, n)
  JOIN pg_catalog.pg_type t ON t.oid {EQ} args.type_oid
  JOIN pg_catalog.pg_namespace tn ON tn.oid {EQ} t.typnamespace
)"""

OBJECT_COLUMNS = ("kind", "p1", "p2", "p3", "owner", "role_oid", "grantee", "privilege_type", "is_grantable")
COLUMNS = ", ".join(OBJECT_COLUMNS)
ITEM = f"a.grantee::{INT8}, a.privilege_type::{TEXT}, a.is_grantable"


def objects_sql() -> str:
    """The one per-database query: every ACL item (or its default) and owner, by kind."""
    n = _user_schema
    parts = [
        # schemas
        f"""SELECT 'schema'::{TEXT}, n.nspname::{TEXT}, NULL::{TEXT}, NULL::{TEXT}, n.nspowner::{INT8},
               NULL::{INT8}, {ITEM}
        FROM pg_catalog.pg_namespace n LEFT JOIN LATERAL {_acl("n.nspacl", "n", "n.nspowner")} a ON true
        WHERE {n("n")}""",
        # tables, views, materialized views, foreign tables, sequences
        f"""SELECT CASE WHEN c.relkind {EQ} 'v' THEN 'view' WHEN c.relkind {EQ} 'm' THEN 'materialized view'
                   WHEN c.relkind {EQ} 'f' THEN 'foreign table' WHEN c.relkind {EQ} 'S' THEN 'sequence'
                   ELSE 'table' END::{TEXT},
               n.nspname::{TEXT}, c.relname::{TEXT}, NULL::{TEXT}, c.relowner::{INT8}, NULL::{INT8}, {ITEM}
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid {EQ} c.relnamespace
        LEFT JOIN LATERAL pg_catalog.aclexplode(COALESCE(c.relacl, pg_catalog.acldefault(
            CASE WHEN c.relkind {EQ} 'S' THEN 's'::pg_catalog."char" ELSE 'r'::pg_catalog."char" END,
            c.relowner))) a ON true
        WHERE c.relkind {EQ} ANY ('{{r,p,v,m,f,S}}'::pg_catalog."char"[]) AND {n("n")}""",
        # columns (no default: a NULL column ACL grants nothing beyond the table's)
        f"""SELECT 'column'::{TEXT}, n.nspname::{TEXT}, c.relname::{TEXT}, att.attname::{TEXT}, NULL::{INT8},
               NULL::{INT8}, {ITEM}
        FROM pg_catalog.pg_attribute att JOIN pg_catalog.pg_class c ON c.oid {EQ} att.attrelid
        JOIN pg_catalog.pg_namespace n ON n.oid {EQ} c.relnamespace
        CROSS JOIN LATERAL pg_catalog.aclexplode(att.attacl) a
        WHERE att.attacl IS NOT NULL AND NOT att.attisdropped AND {n("n")}""",
        # functions, procedures, aggregates (window functions are functions)
        f"""SELECT CASE WHEN p.prokind {EQ} 'p' THEN 'procedure' WHEN p.prokind {EQ} 'a' THEN 'aggregate'
                   ELSE 'function' END::{TEXT},
               n.nspname::{TEXT}, pg_catalog.concat(p.proname::{TEXT}, '(', {ARGUMENTS}, ')'), NULL::{TEXT},
               p.proowner::{INT8}, NULL::{INT8}, {ITEM}
        FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid {EQ} p.pronamespace
        LEFT JOIN LATERAL {_acl("p.proacl", "f", "p.proowner")} a ON true
        WHERE {n("n")}""",
        # types and domains; not array types, not the row types of tables (composite types are kept)
        f"""SELECT CASE WHEN t.typtype {EQ} 'd' THEN 'domain' ELSE 'type' END::{TEXT},
               n.nspname::{TEXT}, t.typname::{TEXT}, NULL::{TEXT}, t.typowner::{INT8}, NULL::{INT8}, {ITEM}
        FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid {EQ} t.typnamespace
        LEFT JOIN pg_catalog.pg_class rc ON rc.oid {EQ} t.typrelid
        LEFT JOIN pg_catalog.pg_type elem ON elem.oid {EQ} t.typelem
        LEFT JOIN LATERAL {_acl("t.typacl", "T", "t.typowner")} a ON true
        WHERE {n("n")} AND (t.typrelid {EQ} 0::pg_catalog.oid OR rc.relkind {EQ} 'c')
          AND (elem.oid IS NULL OR elem.typarray {NE} t.oid)""",
        f"""SELECT 'foreign data wrapper'::{TEXT}, w.fdwname::{TEXT}, NULL::{TEXT}, NULL::{TEXT},
               w.fdwowner::{INT8}, NULL::{INT8}, {ITEM}
        FROM pg_catalog.pg_foreign_data_wrapper w
        LEFT JOIN LATERAL {_acl("w.fdwacl", "F", "w.fdwowner")} a ON true""",
        f"""SELECT 'foreign server'::{TEXT}, s.srvname::{TEXT}, NULL::{TEXT}, NULL::{TEXT},
               s.srvowner::{INT8}, NULL::{INT8}, {ITEM}
        FROM pg_catalog.pg_foreign_server s
        LEFT JOIN LATERAL {_acl("s.srvacl", "S", "s.srvowner")} a ON true""",
        f"""SELECT 'language'::{TEXT}, l.lanname::{TEXT}, NULL::{TEXT}, NULL::{TEXT},
               l.lanowner::{INT8}, NULL::{INT8}, {ITEM}
        FROM pg_catalog.pg_language l
        LEFT JOIN LATERAL {_acl("l.lanacl", "l", "l.lanowner")} a ON true""",
        f"""SELECT 'large object'::{TEXT}, lo.oid::{TEXT}, NULL::{TEXT}, NULL::{TEXT},
               lo.lomowner::{INT8}, NULL::{INT8}, {ITEM}
        FROM pg_catalog.pg_largeobject_metadata lo
        LEFT JOIN LATERAL {_acl("lo.lomacl", "L", "lo.lomowner")} a ON true""",
        # ALTER DEFAULT PRIVILEGES: the ACL items new objects of that role will get
        f"""SELECT 'default privileges'::{TEXT}, COALESCE(n.nspname::{TEXT}, ''), da.defaclobjtype::{TEXT},
               NULL::{TEXT}, NULL::{INT8}, da.defaclrole::{INT8}, {ITEM}
        FROM pg_catalog.pg_default_acl da
        LEFT JOIN pg_catalog.pg_namespace n ON n.oid {EQ} da.defaclnamespace
        CROSS JOIN LATERAL pg_catalog.aclexplode(da.defaclacl) a""",
    ]
    body = "\nUNION ALL\n".join(parts)
    return f"SELECT {COLUMNS} FROM (\n{body}\n) AS o({COLUMNS})"


DEFAULT_OBJTYPES = {
    "r": "tables",
    "S": "sequences",
    "f": "functions",
    "T": "types",
    "n": "schemas",
    "L": "large objects",
}
# The catalog queries are cheap but estimated expensive (a subquery per routine): JIT would then
# compile them first, which costs about a second per database for a few milliseconds of work.
NO_JIT_SQL = "SELECT pg_catalog.set_config('jit', 'off', false) AS jit"
WITHOUT_SCHEMA = {"foreign data wrapper", "foreign server", "language", "large object"}


class Adapter(AccountAdapter):
    db_type = "postgresql"
    server_catalog_kinds = frozenset({"database", "tablespace", "parameter"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.names: dict[int, str] = {0: PUBLIC}
        self.unreadable: dict[str, str] = {}  # database -> why it could not be read this time

    @property
    def version(self) -> tuple[int, ...]:
        return tuple(self.server.version)

    # --- inventory ----------------------------------------------------------------------------
    @paused_gc()
    def list_accounts(self) -> list[RemoteAccount]:
        rows = self.fetch_rows(ROLES_SQL, ROLE_COLUMNS)
        self.names.update({r[0]: r[1] for r in rows})
        public = RemoteAccount(
            PUBLIC, PUBLIC, is_role=True, can_login=False, attributes={"pseudo_role": True}
        )
        return [self._account(*r) for r in rows] + [public]

    @staticmethod
    def _account(
        oid: int,
        name: str,
        superuser: bool,
        inherit: bool,
        createrole: bool,
        createdb: bool,
        login: bool,
        replication: bool,
        bypassrls: bool,
        connection_limit: int,
        valid_until: str | None,
        expired: bool,
    ) -> RemoteAccount:
        attrs = {
            "superuser": superuser,
            "inherit": inherit,
            "createrole": createrole,
            "createdb": createdb,
            "login": login,
            "replication": replication,
            "bypassrls": bypassrls,
            "connection_limit": connection_limit,
            "valid_until": valid_until,  # text: 'infinity' stays 'infinity'
        }
        # Positionally: it runs once per role, and keywords cost twice as much.
        return RemoteAccount(
            name,  # identity
            name,  # username
            "",  # host
            not login,  # is_role
            attrs,  # attributes
            bool(superuser),  # is_superuser
            False,  # is_locked
            bool(login),  # can_login
            bool(expired),  # is_expired
        )

    # --- collection ---------------------------------------------------------------------------
    @paused_gc()
    def collect_permissions(self, accounts: Sequence[RemoteAccount]) -> Collected:
        if len(self.names) == 1:
            self.list_accounts()
        grants = Grants(a.identity for a in accounts)
        self.unreadable = {}
        self.fetch(NO_JIT_SQL)
        self._memberships(grants)
        databases = self._databases(grants)
        self._server_objects(grants)
        sql = objects_sql()
        for database in databases:
            self._per_database(grants, database, sql)
        self.notes["databases_unreadable"] = dict(sorted(self.unreadable.items()))
        self.notes["databases_skipped"] = sorted(self.unreadable)
        return grants.result()

    def _memberships(self, grants: Grants) -> None:
        """Direct memberships with their options; several grantors of one role merge (any grant
        that passes the option on is enough, which is how the server reads them)."""
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for r in self.fetch(MEMBERS_SQL_16 if self.version >= (16,) else MEMBERS_SQL):
            member, role = self.names.get(r["member"]), self.names.get(r["roleid"])
            if not (member and role):
                continue
            m = merged.setdefault(
                (member, role), {"admin": False, "inherit": False, "set": False, "by": set()}
            )
            m["admin"] |= bool(r["admin_option"])
            m["inherit"] |= bool(r["inherit_option"])
            m["set"] |= bool(r["set_option"])
            if r["grantor"] is not None:
                m["by"].add(self.names.get(r["grantor"], str(r["grantor"])))
        for (member, role), m in merged.items():
            grants.member(
                member,
                role,
                scope="member of",
                admin=m["admin"],
                inherit=m["inherit"],
                set=m["set"],
                grantor=", ".join(sorted(m["by"])),
            )

    def _databases(self, grants: Grants) -> list[str]:
        """Database ACLs and owners; returns the databases whose objects can be read."""
        readable: set[str] = set()
        acls: dict[Scope, Acl] = {}
        for r in self.fetch(DATABASES_SQL):
            db = r["datname"]
            acls.setdefault(Scope.of("database", db), Acl()).add(
                r["owner"], r["grantee"], r["privilege_type"], r["is_grantable"]
            )
            if not r["datallowconn"] or r["datistemplate"]:
                continue  # templates and databases closed to everyone are not data
            if r["can_connect"]:
                readable.add(db)
            else:
                self.unreadable[db] = "no CONNECT privilege"
        self._record(grants, acls)
        return sorted(readable)

    def _server_objects(self, grants: Grants) -> None:
        sql = TABLESPACES_SQL + ("UNION ALL" + PARAMETERS_SQL if self.version >= (15,) else "")
        acls: dict[Scope, Acl] = {}
        for r in self.fetch(sql):
            acls.setdefault(Scope.of(r["kind"], r["name"]), Acl()).add(
                r["owner"], r["grantee"], r["privilege_type"], r["is_grantable"]
            )
        self._record(grants, acls)

    def _per_database(self, grants: Grants, database: str, sql: str) -> None:
        """Read one database in one query; any failure makes it unreadable, never fatal."""
        conn: DatabaseConnection | None = None
        try:
            conn = self._connection_to(database)
            if conn is not self.connection:
                conn.fetch_all(NO_JIT_SQL)
            rows = fetch_rows(conn, sql, OBJECT_COLUMNS)  # tuples: tens of thousands of them
        except ConnectorError as exc:
            self.unreadable[database] = str(exc)
            log.warning("accounts.postgresql.database_unreadable", database=database, reason=str(exc))
            return
        finally:
            if conn is not None and conn is not self.connection:
                conn.close()
        # One pass over the ACL items (tens of thousands): grouped by object on the raw values;
        # an object's Scope is built once, below.
        objects: dict[tuple[Any, ...], Acl] = {}
        for kind, p1, p2, p3, owner, role_oid, grantee, privilege, grantable in rows:
            key = (kind, p1, p2, p3, role_oid)
            acl = objects.get(key)
            if acl is None:
                acl = objects[key] = Acl()
            if owner is not None:
                acl.owners.add(owner)
            if grantee is not None:
                privileges = acl.items.get(grantee)
                if privileges is None:
                    acl.items[grantee] = {privilege: bool(grantable)}
                elif not privileges.get(privilege):
                    privileges[privilege] = bool(grantable)
        self._record(grants, {self._scope(database, *key): acl for key, acl in objects.items()})

    def _scope(self, database: str, kind: str, p1: Any, p2: Any, p3: Any, role_oid: Any) -> Scope:
        if kind == "default privileges":
            objtype = DEFAULT_OBJTYPES.get(p2, p2)
            return Scope.of(kind, database, p1, objtype, self.names.get(role_oid, str(role_oid)))
        if kind in WITHOUT_SCHEMA:
            return Scope.of(kind, database, p1)
        return Scope.of(kind, database, *(p for p in (p1, p2, p3) if p is not None))

    def _connection_to(self, database: str) -> DatabaseConnection:
        if database == (self.connection.params.database or "postgres"):
            return self.connection
        return self.connection.connect_to(database)  # type: ignore[attr-defined]

    def _record(self, grants: Grants, acls: dict[Scope, Acl]) -> None:
        """Owners and ACL items of objects: grantees holding the same privileges on an object
        share one prepared grant set (a table granted to 200 roles is one set, not 200 facts)."""
        names = self.names
        pairs: list[tuple[str, GrantSet]] = []
        for scope, acl in acls.items():
            for owner in acl.owners:
                grants.grant(names.get(owner, ""), scope, "OWNER")
            prepared: dict[tuple[tuple[str, bool], ...], GrantSet] = {}
            for grantee, privileges in acl.items.items():
                key = tuple(privileges.items())
                granted = prepared.get(key)
                if granted is None:
                    granted = prepared[key] = GrantSet.of(scope, key)
                pairs.append((names.get(grantee, ""), granted))
        grants.grant_sets(pairs)


class Acl:
    """The owners and ACL items of one object as its catalog rows list them. An item granted
    by several grantors is one fact, with the grant option if any of them gave it."""

    __slots__ = ("items", "owners")

    def __init__(self) -> None:
        self.owners: set[int] = set()
        self.items: dict[int, dict[str, bool]] = {}  # grantee -> privilege -> grantable

    def add(self, owner: int | None, grantee: int | None, privilege: str, grantable: bool) -> None:
        if owner is not None:
            self.owners.add(owner)
        if grantee is not None:
            privileges = self.items.setdefault(grantee, {})
            privileges[privilege] = privileges.get(privilege, False) or bool(grantable)
