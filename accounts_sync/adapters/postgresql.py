"""PostgreSQL: roles from `pg_roles`, memberships, and ACLs of databases, schemas, relations and
columns. Role attributes and database ACLs are server-wide; schema, table and column ACLs are
read once per database the monitoring account may connect to (three queries per database,
whatever the number of roles). Grants to PUBLIC are kept apart on a pseudo-account `PUBLIC`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from accounts_sync.adapters.base import AccountAdapter, Collected, Grants, RemoteAccount, Scope
from whalefall.connections.base import ConnectorError, DatabaseConnection

PUBLIC = "PUBLIC"
ROLES_SQL = """
SELECT oid::bigint AS oid, rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
       rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil::text AS valid_until,
       (rolvaliduntil IS NOT NULL AND rolvaliduntil <> 'infinity' AND rolvaliduntil < now()) AS expired
FROM pg_roles
"""
MEMBERS_SQL = """
SELECT am.roleid::bigint AS roleid, am.member::bigint AS member, am.admin_option
FROM pg_auth_members am
"""
DATABASES_SQL = """
SELECT d.datname, d.datdba::bigint AS owner, d.datallowconn, d.datistemplate,
       has_database_privilege(d.datname, 'CONNECT') AS can_connect,
       a.grantee::bigint AS grantee, a.privilege_type, a.is_grantable
FROM pg_database d
LEFT JOIN LATERAL aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a ON true
ORDER BY d.datname
"""
SYSTEM_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
SCHEMAS_SQL = f"""
SELECT n.nspname, n.nspowner::bigint AS owner, a.grantee::bigint AS grantee, a.privilege_type, a.is_grantable
FROM pg_namespace n
LEFT JOIN LATERAL aclexplode(COALESCE(n.nspacl, acldefault('n', n.nspowner))) a ON true
WHERE {SYSTEM_SCHEMAS}
"""
RELATIONS_SQL = f"""
SELECT n.nspname, c.relname, c.relkind::text AS relkind, c.relowner::bigint AS owner,
       a.grantee::bigint AS grantee, a.privilege_type, a.is_grantable
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL aclexplode(c.relacl) a ON true
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND {SYSTEM_SCHEMAS}
"""
COLUMNS_SQL = f"""
SELECT n.nspname, c.relname, att.attname, a.grantee::bigint AS grantee, a.privilege_type, a.is_grantable
FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(att.attacl) a
WHERE att.attacl IS NOT NULL AND NOT att.attisdropped AND {SYSTEM_SCHEMAS}
"""
RELKIND_SCOPE = {"r": "table", "p": "table", "f": "table", "v": "view", "m": "view", "S": "sequence"}


def privilege(row: dict[str, Any]) -> str:
    return row["privilege_type"] + (" WITH GRANT OPTION" if row["is_grantable"] else "")


class Adapter(AccountAdapter):
    db_type = "postgresql"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.names: dict[int, str] = {0: PUBLIC}

    # --- inventory ----------------------------------------------------------------------------
    def list_accounts(self) -> list[RemoteAccount]:
        rows = self.fetch(ROLES_SQL)
        self.names.update({r["oid"]: r["rolname"] for r in rows})
        public = RemoteAccount(
            PUBLIC, PUBLIC, is_role=True, can_login=False, attributes={"pseudo_role": True}
        )
        return [self._account(r) for r in rows] + [public]

    def _account(self, row: dict[str, Any]) -> RemoteAccount:
        attrs = {
            "superuser": row["rolsuper"],
            "inherit": row["rolinherit"],
            "createrole": row["rolcreaterole"],
            "createdb": row["rolcreatedb"],
            "login": row["rolcanlogin"],
            "replication": row["rolreplication"],
            "bypassrls": row["rolbypassrls"],
            "connection_limit": row["rolconnlimit"],
            "valid_until": row["valid_until"],  # text: 'infinity' stays 'infinity'
        }
        return RemoteAccount(
            identity=row["rolname"],
            username=row["rolname"],
            is_role=not row["rolcanlogin"],
            attributes=attrs,
            is_superuser=bool(row["rolsuper"]),
            can_login=bool(row["rolcanlogin"]),
            is_expired=bool(row["expired"]),
        )

    # --- collection ---------------------------------------------------------------------------
    def collect_permissions(self, accounts: Sequence[RemoteAccount]) -> Collected:
        if len(self.names) == 1:
            self.list_accounts()
        grants = Grants(a.identity for a in accounts)
        self._memberships(grants)
        for database in self._databases(grants):
            self._per_database(grants, database)
        return grants.result()

    def _memberships(self, grants: Grants) -> None:
        """Direct memberships (with admin option) and the effective closure."""
        direct: dict[str, set[str]] = defaultdict(set)
        for r in self.fetch(MEMBERS_SQL):
            member, role = self.names.get(r["member"]), self.names.get(r["roleid"])
            if member and role:
                direct[member].add(role)
                grants.member(member, role, scope="member of", admin=bool(r["admin_option"]))
        for member in direct:
            seen: set[str] = set()
            stack = list(direct[member])
            while stack:
                role = stack.pop()
                if role not in seen:
                    seen.add(role)
                    stack.extend(direct.get(role, ()))
            grants.add(member, "member of (effective)", *seen)

    def _databases(self, grants: Grants) -> list[str]:
        """Database ACLs and owners; returns the databases whose objects can be read."""
        readable: dict[str, bool] = {}
        skipped: set[str] = set()
        for r in self.fetch(DATABASES_SQL):
            db = r["datname"]
            scope = Scope.of("database", db)
            grants.add(self.names.get(r["owner"], ""), scope, "OWNER")
            if r["grantee"] is not None:
                grants.add(self.names.get(r["grantee"], ""), scope, privilege(r))
            if r["datallowconn"] and not r["datistemplate"] and r["can_connect"]:
                readable[db] = True
            elif r["datallowconn"] and not r["datistemplate"]:
                skipped.add(db)
        self.notes["databases_skipped"] = sorted(skipped)
        return sorted(readable)

    def _per_database(self, grants: Grants, database: str) -> None:
        try:
            conn = self._connection_to(database)
        except ConnectorError as exc:
            if "does not exist" not in exc.message:
                raise
            self.notes["databases_skipped"].append(database)  # dropped since it was listed
            return
        try:
            self._schemas(grants, database, conn.fetch_all(SCHEMAS_SQL))
            self._relations(grants, database, conn.fetch_all(RELATIONS_SQL))
            for r in conn.fetch_all(COLUMNS_SQL):
                scope = Scope.of("column", database, r["nspname"], r["relname"], r["attname"])
                grants.add(self.names.get(r["grantee"], ""), scope, privilege(r))
        finally:
            if conn is not self.connection:
                conn.close()

    def _connection_to(self, database: str) -> DatabaseConnection:
        if database == (self.connection.params.database or "postgres"):
            return self.connection
        return self.connection.connect_to(database)  # type: ignore[attr-defined]

    def _schemas(self, grants: Grants, database: str, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            scope = Scope.of("schema", database, r["nspname"])
            grants.add(self.names.get(r["owner"], ""), scope, "OWNER")
            if r["grantee"] is not None:
                grants.add(self.names.get(r["grantee"], ""), scope, privilege(r))

    def _relations(self, grants: Grants, database: str, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            kind = RELKIND_SCOPE.get(r["relkind"], "table")
            scope = Scope.of(kind, database, r["nspname"], r["relname"])
            grants.add(self.names.get(r["owner"], ""), scope, "OWNER")
            if r["grantee"] is not None:
                grants.add(self.names.get(r["grantee"], ""), scope, privilege(r))
