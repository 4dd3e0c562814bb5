"""Oracle (12.2 to 23ai): users and roles, role grants, system, schema, object and column
privileges, and tablespace quotas, each one query for the whole database.

Roles are accounts (`is_role`) and role grants are memberships, role-to-role ones included, so
`effective()` carries a role's privileges to its grantees: default roles are inherited, other
roles need `SET ROLE`. Grants to PUBLIC land on the pseudo-account `PUBLIC`. A user reaching the
DBA role through any chain of roles is a superuser.

What is read is detected, not assumed: `DBA_SCHEMA_PRIVS` (23ai) only where the dictionary lists
it; connected to a CDB root (CON_ID 1) the `CDB_*` views are read instead, each scope names its
container, and local users and roles of a PDB are `NAME@PDB` (common ones keep their name).
The monitoring user needs SELECT on these views (SELECT_CATALOG_ROLE; in a CDB root a common user
with CONTAINER_DATA for all containers).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from accounts_sync.adapters.base import AccountAdapter, Collected, Grants, RemoteAccount, Scope, yes

CONTAINER_SQL = "SELECT SYS_CONTEXT('USERENV', 'CON_ID') AS con_id, SYS_CONTEXT('USERENV', 'CON_NAME') AS con_name FROM SYS.DUAL"
DICTIONARY_SQL = (
    "SELECT table_name FROM SYS.DICTIONARY WHERE table_name IN ('DBA_SCHEMA_PRIVS', 'CDB_SCHEMA_PRIVS')"
)
USERS_SQL = """
SELECT u.username, u.user_id, u.account_status, u.lock_date, u.expiry_date, u.default_tablespace,
       u.temporary_tablespace, u.profile, u.authentication_type, u.created, u.oracle_maintained,
       u.common, {con} AS con_name
FROM {v}_users u{join}
"""
ROLES_SQL = """
SELECT r.role, r.authentication_type, r.common, r.oracle_maintained, {con} AS con_name
FROM {v}_roles r{join}
"""
ROLE_PRIVS_SQL = """
SELECT r.grantee, r.granted_role, r.admin_option, r.default_role, {con} AS con_name
FROM {v}_role_privs r{join}
"""
SYS_PRIVS_SQL = """
SELECT r.grantee, r.privilege, r.admin_option, {con} AS con_name
FROM {v}_sys_privs r{join}
"""
SCHEMA_PRIVS_SQL = """
SELECT r.grantee, r.privilege, r.schema, r.admin_option, {con} AS con_name
FROM {v}_schema_privs r{join}
"""
TAB_PRIVS_SQL = """
SELECT r.grantee, r.owner, r.table_name, r.privilege, r.grantable, {con} AS con_name
FROM {v}_tab_privs r{join}
"""
COL_PRIVS_SQL = """
SELECT r.grantee, r.owner, r.table_name, r.column_name, r.privilege, r.grantable, {con} AS con_name
FROM {v}_col_privs r{join}
"""
QUOTAS_SQL = """
SELECT r.username, r.tablespace_name, r.max_bytes, {con} AS con_name
FROM {v}_ts_quotas r{join}
"""
# (query, scope kind, the columns naming the object, the "may pass it on" column, its option word)
PRIVILEGE_READS = (
    (SYS_PRIVS_SQL, "system", (), "admin_option", "ADMIN"),
    (SCHEMA_PRIVS_SQL, "schema", ("schema",), "admin_option", "ADMIN"),
    (TAB_PRIVS_SQL, "object", ("owner", "table_name"), "grantable", "GRANT"),
    (COL_PRIVS_SQL, "column", ("owner", "table_name", "column_name"), "grantable", "GRANT"),
)
PUBLIC = "PUBLIC"
ROOT = "CDB$ROOT"
SUPERUSER_ROLE = "DBA"


def _text(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def login_facts(status: str, authentication_type: str) -> dict[str, bool]:
    """DBA_USERS.ACCOUNT_STATUS and AUTHENTICATION_TYPE, as the Database Reference defines them.

    LOCKED and LOCKED(TIMED) refuse the login; EXPIRED lets the user log in to change the password;
    EXPIRED(GRACE) still logs in (the grace period runs); NONE is a schema-only account.
    """
    locked = "LOCKED" in status
    schema_only = authentication_type.upper() == "NONE"
    return {
        "is_locked": locked,
        "can_login": not locked and not schema_only,
        "is_expired": "EXPIRED" in status,
        "must_change_password": "EXPIRED" in status and "EXPIRED(GRACE)" not in status,
        "schema_only": schema_only,
    }


class Adapter(AccountAdapter):
    db_type = "oracle"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.detected = self.listed = False
        self.cdb_root = False
        self.schema_privs = False
        self.ids: dict[tuple[str, str], str] = {}  # (name, container) -> identity
        self.role_rows: list[dict[str, Any]] = []
        self.role_ids: set[str] = set()  # followed by effective() even when excluded from accounts

    # --- what this server offers ------------------------------------------------------------------
    def detect(self) -> None:
        """CDB root or not (CON_ID 1), and whether the schema-privilege view exists (23ai)."""
        if self.detected:
            return
        row = next(iter(self.fetch(CONTAINER_SQL)), {})
        self.cdb_root = str(row.get("con_id") or "") == "1"
        views = {str(r["table_name"]).upper() for r in self.fetch(DICTIONARY_SQL)}
        self.schema_privs = ("CDB_SCHEMA_PRIVS" if self.cdb_root else "DBA_SCHEMA_PRIVS") in views
        self.notes["container"] = "CDB root: all containers" if self.cdb_root else row.get("con_name") or ""
        self.detected = True

    def sql(self, template: str, alias: str = "r") -> str:
        if self.cdb_root:
            join = f" LEFT JOIN SYS.V_$CONTAINERS c ON c.con_id = {alias}.con_id"
            return template.format(v="SYS.CDB", con="c.name", join=join)
        # Owner-qualified: a table or private synonym named DBA_USERS in the login's own schema
        # would otherwise shadow the dictionary view; no public synonym is assumed either.
        return template.format(v="SYS.DBA", con="NULL", join="")

    def users_sql(self) -> str:
        return self.sql(USERS_SQL, "u")

    # --- inventory ----------------------------------------------------------------------------
    def list_accounts(self) -> list[RemoteAccount]:
        self.detect()
        users, roles = self.fetch(self.users_sql()), self.fetch(self.sql(ROLES_SQL, "r"))
        self.role_rows = self.fetch(self.sql(ROLE_PRIVS_SQL))
        self.ids = {}
        for row in [*users, *roles]:
            name = str(row.get("username") or row.get("role")).upper()
            self.ids[(name, row["con_name"] or "")] = self.identity(name, row)
        self.role_ids = {self.identity(str(r["role"]).upper(), r) for r in roles}
        dba = self.reaching(SUPERUSER_ROLE)
        accounts: dict[str, RemoteAccount] = {}
        for row in sorted(users, key=lambda r: r["con_name"] != ROOT):
            account = self._user(row, dba)
            accounts.setdefault(account.identity, account)
        for row in roles:
            identity = self.identity(str(row["role"]).upper(), row)
            attrs = {
                "authentication_type": row["authentication_type"],
                "common": yes(row["common"]),
                "oracle_maintained": yes(row["oracle_maintained"]),
            }
            accounts.setdefault(
                identity, RemoteAccount(identity, identity, is_role=True, attributes=attrs, can_login=False)
            )
        self.listed = True
        public = RemoteAccount(
            PUBLIC, PUBLIC, is_role=True, can_login=False, attributes={"pseudo_role": True}
        )
        return [*accounts.values(), public]

    def identity(self, name: str, row: dict[str, Any]) -> str:
        """A name, or `NAME@PDB` for a local user or role read from a CDB root."""
        if name == PUBLIC or not self.cdb_root or yes(row.get("common")) or not row.get("con_name"):
            return name
        return f"{name}@{row['con_name']}"

    def who(self, name: Any, container: Any) -> str:
        name = str(name).upper()
        return self.ids.get((name, container or ""), name)

    def reaching(self, role: str) -> set[str]:
        """Every grantee that holds `role`, directly or through other roles."""
        holders: dict[str, set[str]] = defaultdict(set)
        for r in self.role_rows:
            holders[self.who(r["granted_role"], r["con_name"])].add(self.who(r["grantee"], r["con_name"]))
        found, todo = set(), [role]
        while todo:
            for grantee in holders.get(todo.pop(), ()):
                if grantee not in found:
                    found.add(grantee)
                    todo.append(grantee)
        return found

    def _user(self, row: dict[str, Any], dba: set[str]) -> RemoteAccount:
        status = str(row["account_status"] or "").upper()
        facts: dict[str, Any] = login_facts(status, str(row["authentication_type"] or ""))
        identity = self.identity(str(row["username"]).upper(), row)
        attrs = {
            "account_status": status,
            "lock_date": _text(row["lock_date"]),
            "expiry_date": _text(row["expiry_date"]),
            "profile": row["profile"],
            "default_tablespace": row["default_tablespace"],
            "temporary_tablespace": row["temporary_tablespace"],
            "authentication_type": row["authentication_type"],
            "oracle_maintained": yes(row["oracle_maintained"]),
            "common": yes(row["common"]),
            "must_change_password": facts.pop("must_change_password"),
            "schema_only": facts.pop("schema_only"),
        }
        if self.cdb_root:
            attrs["container"] = row["con_name"]
        return RemoteAccount(identity, identity, attributes=attrs, is_superuser=identity in dba, **facts)

    # --- collection ---------------------------------------------------------------------------
    def collect_permissions(self, accounts: Sequence[RemoteAccount]) -> Collected:
        if not self.listed:
            self.list_accounts()
        grants = Grants({*(a.identity for a in accounts), *self.role_ids, PUBLIC})
        for r in self.role_rows:
            self._membership(grants, r)
        for template, kind, columns, flag, option in PRIVILEGE_READS:
            if template is SCHEMA_PRIVS_SQL and not self.schema_privs:
                continue
            for r in self.fetch(self.sql(template)):
                scope = self.scope(kind, r["con_name"], *(r[c] for c in columns))
                grantee = self.who(r["grantee"], r["con_name"])
                grants.grant(grantee, scope, r["privilege"], grantable=yes(r[flag]), option=option)
        for r in self.fetch(self.sql(QUOTAS_SQL)):
            limit = "UNLIMITED" if int(r["max_bytes"]) == -1 else f"{int(r['max_bytes'])} BYTES"
            where = f"quota {r['con_name']}" if self.cdb_root else "quota"
            grants.add(self.who(r["username"], r["con_name"]), where, f"{r['tablespace_name']} {limit}")
        return grants.result()

    def _membership(self, grants: Grants, row: dict[str, Any]) -> None:
        grantee = self.who(row["grantee"], row["con_name"])
        role = self.who(row["granted_role"], row["con_name"])
        # A role granted to a role is enabled with it; a user's non-default role needs SET ROLE.
        default = yes(row["default_role"]) or grantee in self.role_ids or grantee == PUBLIC
        scope = f"container {row['con_name']} role" if self.cdb_root else "role"
        grants.member(
            grantee, role, scope=scope, admin=yes(row["admin_option"]), default=default, inherit=default
        )
        if yes(row["default_role"]) and grantee not in self.role_ids and grantee != PUBLIC:
            grants.add(
                grantee,
                "default role" if not self.cdb_root else f"container {row['con_name']} default role",
                role,
            )

    def scope(self, kind: str, container: Any, *path: Any) -> Scope:
        """Scopes as before outside a CDB root; there, the container comes first."""
        if not self.cdb_root:
            return Scope.of(kind, *path) if path else Scope(kind)
        return Scope.of("container" if kind == "system" else kind, str(container), *path)
