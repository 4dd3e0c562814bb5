"""SQL Server: logins and server roles, then per readable database its roles, users and permissions.

Accounts are the logins, the server roles (`is_role`), every database role as `[db].[role]`
(`is_role`) and the database users no login maps to: contained users (they log in to their
database directly) and orphaned users (their login is gone), each with a `finding` attribute.
A database user mapped to a login adds its facts to that login.

Roles are memberships (`server role`, `database <db> role`), so `effective()` carries a role's
permissions to its members, through nested roles too; `public` (server and database) is an implicit
membership of everyone. The fixed roles' built-in permissions are listed on the role as the server
documentation charts them. A login is a superuser when it reaches `sysadmin` through roles or holds
CONTROL SERVER (not denied). Rows in state `R` (REVOKE) grant nothing.

Server-wide: four queries. Per database: its principals while listing, role members and
permissions while collecting; a database that fails (offline, an availability-group secondary,
access lost) is reported in `notes["databases_unreadable"]` and the others are still read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from accounts_sync.adapters.base import AccountAdapter, Collected, Grants, RemoteAccount, Scope, yes
from whalefall.connections.base import ConnectorError

LOGIN_TYPES = ("S", "U", "G", "E", "X")  # SQL login, Windows user/group, Entra user/group
PRINCIPALS_SQL = """
SELECT sp.principal_id, sp.name, sp.type, sp.type_desc, sp.is_disabled, sp.is_fixed_role,
       sp.default_database_name, sl.is_policy_checked, sl.is_expiration_checked,
       CAST(LOGINPROPERTY(sp.name, 'IsLocked') AS INT) AS is_locked,
       CAST(LOGINPROPERTY(sp.name, 'IsExpired') AS INT) AS is_expired,
       CAST(LOGINPROPERTY(sp.name, 'IsMustChange') AS INT) AS is_must_change
FROM sys.server_principals AS sp
LEFT JOIN sys.sql_logins AS sl ON sl.principal_id = sp.principal_id
WHERE sp.type IN ('S', 'U', 'G', 'E', 'X', 'R')
"""
SERVER_ROLES_SQL = """
SELECT r.name AS role_name, m.name AS member_name
FROM sys.server_role_members AS rm
JOIN sys.server_principals AS r ON r.principal_id = rm.role_principal_id
JOIN sys.server_principals AS m ON m.principal_id = rm.member_principal_id
"""
SERVER_PERMISSIONS_SQL = """
SELECT p.class, p.class_desc, p.major_id, p.permission_name, p.state, pr.name AS grantee_name,
       ep.name AS endpoint_name, tp.name AS target_name, ag.name AS availability_group_name
FROM sys.server_permissions AS p
JOIN sys.server_principals AS pr ON pr.principal_id = p.grantee_principal_id
LEFT JOIN sys.endpoints AS ep ON p.class = 105 AND ep.endpoint_id = p.major_id
LEFT JOIN sys.server_principals AS tp ON p.class = 101 AND tp.principal_id = p.major_id
LEFT JOIN sys.availability_replicas AS ar ON p.class = 108 AND ar.replica_metadata_id = p.major_id
LEFT JOIN sys.availability_groups AS ag ON ag.group_id = ar.group_id
"""
DATABASES_SQL = """
SELECT name, database_id, state_desc, containment, HAS_DBACCESS(name) AS has_access
FROM sys.databases
ORDER BY name
"""
DB_PRINCIPALS_SQL = """
SELECT dp.principal_id, dp.name, dp.type, dp.authentication_type_desc, sp.name AS login_name
FROM {db}.sys.database_principals AS dp
LEFT JOIN sys.server_principals AS sp ON sp.sid = dp.sid
WHERE dp.type IN ('S', 'U', 'G', 'E', 'X', 'R', 'A')
"""
# Azure SQL Database (EngineEdition 5): no server-level views and no three-part names; only the
# connected database is read, and a user's login (in master) cannot be seen from it.
AZURE_DATABASES_SQL = """
SELECT name, database_id, state_desc, containment, 1 AS has_access
FROM sys.databases
WHERE database_id = DB_ID()
"""
AZURE_DB_PRINCIPALS_SQL = """
SELECT dp.principal_id, dp.name, dp.type, dp.authentication_type_desc, NULL AS login_name
FROM sys.database_principals AS dp
WHERE dp.type IN ('S', 'U', 'G', 'E', 'X', 'R', 'A')
"""
DB_ROLE_MEMBERS_SQL = """
SELECT rm.role_principal_id, rm.member_principal_id
FROM {db}.sys.database_role_members AS rm
"""
DB_PERMISSIONS_SQL = """
SELECT p.class, p.class_desc, p.major_id, p.grantee_principal_id, p.permission_name, p.state,
       s.name AS schema_name, o.name AS object_name, os.name AS object_schema, c.name AS column_name,
       tp.name AS principal_name, tp.type AS principal_type, cert.name AS certificate_name
FROM {db}.sys.database_permissions AS p
LEFT JOIN {db}.sys.schemas AS s ON p.class = 3 AND s.schema_id = p.major_id
LEFT JOIN {db}.sys.all_objects AS o ON p.class = 1 AND o.object_id = p.major_id
LEFT JOIN {db}.sys.schemas AS os ON os.schema_id = o.schema_id
LEFT JOIN {db}.sys.all_columns AS c
       ON p.class = 1 AND p.minor_id > 0 AND c.object_id = p.major_id AND c.column_id = p.minor_id
LEFT JOIN {db}.sys.database_principals AS tp ON p.class = 4 AND tp.principal_id = p.major_id
LEFT JOIN {db}.sys.certificates AS cert ON p.class = 25 AND cert.certificate_id = p.major_id
"""

# What the fixed roles may do without a row in sys.*_permissions, as Microsoft Learn charts them
# ("Permissions of Fixed Server Roles", "Permissions of Fixed Database Roles"):
# (privilege, grantable, denied). A member of db_ddladmin holds every DDL permission listed.
FIXED_SERVER_ROLES: dict[str, tuple[tuple[str, bool, bool], ...]] = {
    "sysadmin": (("CONTROL SERVER", True, False),),
    "securityadmin": (("ALTER ANY LOGIN", False, False),),
    "serveradmin": tuple(
        (p, False, False)
        for p in (
            "ALTER ANY ENDPOINT",
            "ALTER RESOURCES",
            "ALTER SERVER STATE",
            "ALTER SETTINGS",
            "SHUTDOWN",
            "VIEW SERVER STATE",
        )
    ),
    "setupadmin": (("ALTER ANY LINKED SERVER", False, False),),
    "processadmin": (("ALTER ANY CONNECTION", False, False), ("ALTER SERVER STATE", False, False)),
    "diskadmin": (("ALTER RESOURCES", False, False),),
    "dbcreator": (("CREATE ANY DATABASE", False, False),),
    "bulkadmin": (("ADMINISTER BULK OPERATIONS", False, False),),
}
FIXED_DATABASE_ROLES: dict[str, tuple[tuple[str, bool, bool], ...]] = {
    "db_owner": (("CONTROL", True, False),),
    "db_accessadmin": (
        ("ALTER ANY USER", False, False),
        ("CREATE SCHEMA", False, False),
        ("CONNECT", True, False),
    ),
    "db_backupoperator": (
        ("BACKUP DATABASE", False, False),
        ("BACKUP LOG", False, False),
        ("CHECKPOINT", False, False),
    ),
    "db_datareader": (("SELECT", False, False),),
    "db_datawriter": (("DELETE", False, False), ("INSERT", False, False), ("UPDATE", False, False)),
    "db_ddladmin": tuple(
        (p, False, False)
        for p in (
            "ALTER ANY ASSEMBLY",
            "ALTER ANY ASYMMETRIC KEY",
            "ALTER ANY CERTIFICATE",
            "ALTER ANY CONTRACT",
            "ALTER ANY DATABASE DDL TRIGGER",
            "ALTER ANY DATABASE EVENT NOTIFICATION",
            "ALTER ANY DATASPACE",
            "ALTER ANY FULLTEXT CATALOG",
            "ALTER ANY MESSAGE TYPE",
            "ALTER ANY REMOTE SERVICE BINDING",
            "ALTER ANY ROUTE",
            "ALTER ANY SCHEMA",
            "ALTER ANY SERVICE",
            "ALTER ANY SYMMETRIC KEY",
            "CHECKPOINT",
            "CREATE AGGREGATE",
            "CREATE DEFAULT",
            "CREATE FUNCTION",
            "CREATE PROCEDURE",
            "CREATE QUEUE",
            "CREATE RULE",
            "CREATE SYNONYM",
            "CREATE TABLE",
            "CREATE TYPE",
            "CREATE VIEW",
            "CREATE XML SCHEMA COLLECTION",
            "REFERENCES",
        )
    ),
    "db_denydatareader": (("SELECT", False, True),),
    "db_denydatawriter": (("DELETE", False, True), ("INSERT", False, True), ("UPDATE", False, True)),
    "db_securityadmin": (
        ("ALTER ANY APPLICATION ROLE", False, False),
        ("ALTER ANY ROLE", False, False),
        ("CREATE SCHEMA", False, False),
        ("VIEW DEFINITION", False, False),
    ),
}
PUBLIC = "public"
# Logins that connect only on their own CONNECT SQL (SQL logins, certificate- and key-mapped).
OWN_CONNECT_TYPES = ("S", "C", "K")
CONTAINED = "contained database user: logs in to this database directly, without a server login"
ORPHANED = "orphaned user: no server login has its SID, so no one can log in as it"
NO_OWN_LOGIN = "Windows user without a login of its own: reaches the database only through a group login"
AZURE_LOGIN_USER = "user for a server login in master (not visible from this Azure SQL database)"


def quote(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def unquote_first(identity: str) -> str | None:
    """The first bracketed part of `[a]]b].[c]` (`a]b`), or None when it is not one."""
    if not identity.startswith("["):
        return None
    i, out = 1, []
    while i < len(identity):
        if identity[i] == "]":
            if identity[i + 1 : i + 2] == "]":
                out.append("]")
                i += 2
                continue
            return "".join(out) if identity[i + 1 : i + 3] == ".[" else None
        out.append(identity[i])
        i += 1
    return None


def qualified(database: str, name: str) -> str:
    """The identity of a database principal that no login stands for: `[Sales].[db_datareader]`."""
    return f"{quote(database)}.{quote(name)}"


def token(permission: str, state: str) -> str:
    """sys.*_permissions.state: G grant, W grant with grant option, D deny ('' for R, revoke)."""
    state = (state or "G").strip().upper()
    if state == "R":
        return ""
    if state == "D":
        return f"DENY {permission}"
    return permission + (" WITH GRANT OPTION" if state == "W" else "")


class Adapter(AccountAdapter):
    db_type = "sqlserver"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.roles: set[str] = set()  # role identities, followed by effective() even when excluded
        self.db_principals: dict[str, dict[int, dict[str, Any]]] = {}
        self.unreadable: dict[str, str] = {}
        self.server_rows: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        self.listed = False

    # --- inventory ----------------------------------------------------------------------------
    @property
    def azure_database(self) -> bool:
        """Azure SQL Database: the connector names it from SERVERPROPERTY('EngineEdition') = 5."""
        return self.server.flavor.startswith("Azure SQL Database")

    def in_database(self, template: str, database: str) -> str:
        """A per-database query: `[db].sys.x` on SQL Server, the connected `sys.x` on Azure SQL Database."""
        if self.azure_database:
            return (AZURE_DB_PRINCIPALS_SQL if template is DB_PRINCIPALS_SQL else template).replace(
                "{db}.", ""
            )
        return template.format(db=quote(database))

    def listed_in(self, identity: str) -> str | None:
        """`[Sales].[app_user]` (a database principal without a login) is listed from Sales."""
        return unquote_first(identity)

    def list_accounts(self) -> list[RemoteAccount]:
        azure = self.azure_database
        principals = [] if azure else self.fetch(PRINCIPALS_SQL)
        members = [] if azure else self.fetch(SERVER_ROLES_SQL)
        permissions = [] if azure else self.fetch(SERVER_PERMISSIONS_SQL)
        self.server_rows = (members, permissions)
        reach = role_closure((r["member_name"], r["role_name"]) for r in members)
        states = server_states(permissions)
        accounts = [self._server_account(r, reach, states) for r in principals]
        self.roles = {a.identity for a in accounts if a.is_role}
        self.unreadable, self.db_principals = {}, {}
        for database, containment in self._readable_databases():
            try:
                rows = self.fetch(self.in_database(DB_PRINCIPALS_SQL, database))
            except ConnectorError as exc:
                self.unreadable[database] = exc.message
                continue
            self.db_principals[database] = {r["principal_id"]: r for r in rows}
            accounts += self._database_accounts(database, containment, rows)
        self._note_unreadable()
        self.listed = True
        return accounts

    def _server_account(
        self, row: dict[str, Any], reach: dict[str, set[str]], states: dict[tuple[str, str], set[str]]
    ) -> RemoteAccount:
        name, is_role = row["name"], row["type"] == "R"
        if is_role:
            attrs = {"type": row["type_desc"], "fixed_role": bool(row["is_fixed_role"])}
            return RemoteAccount(name, name, is_role=True, attributes=attrs, can_login=False)
        holders = {name, PUBLIC} | reach.get(name, set())
        sysadmin = "sysadmin" in holders
        control = server_state(states, holders, "CONTROL SERVER")
        locked, expired = bool(row["is_locked"]), bool(row["is_expired"])
        must_change, disabled = bool(row["is_must_change"]), bool(row["is_disabled"])
        connect = server_state(states, holders, "CONNECT SQL")
        connect_denied = not sysadmin and connect == "D"
        # CREATE LOGIN grants CONNECT SQL; once revoked, the login fails (error 18456) unless a
        # role, CONTROL SERVER or sysadmin gives it. A Windows or Entra login may still hold it
        # through a group login its token carries, which the catalog cannot tell.
        connect_missing = (
            row["type"] in OWN_CONNECT_TYPES and not sysadmin and control != "G" and connect != "G"
        )
        attrs = {
            "type": row["type_desc"],
            "disabled": disabled,
            "default_database": row["default_database_name"],
            "policy_checked": row["is_policy_checked"],
            "expiration_checked": row["is_expiration_checked"],
            "must_change": must_change,
            "connect_sql_denied": connect_denied,
        }
        if connect_missing:  # only then: the logins that have it keep the facts they had
            attrs["connect_sql_not_granted"] = True
        return RemoteAccount(
            identity=name,
            username=name,
            attributes=attrs,
            is_superuser=sysadmin or control == "G",
            is_locked=locked or disabled,
            can_login=not (locked or disabled or expired or must_change or connect_denied or connect_missing),
            is_expired=expired,
        )

    def _readable_databases(self) -> list[tuple[str, int]]:
        readable = []
        for db in self.fetch(AZURE_DATABASES_SQL if self.azure_database else DATABASES_SQL):
            if db["state_desc"] != "ONLINE":
                self.unreadable[db["name"]] = f"database is {db['state_desc']}"
            elif not yes(db["has_access"]):
                self.unreadable[db["name"]] = "the monitoring login has no access (HAS_DBACCESS = 0)"
            else:
                readable.append((db["name"], int(db["containment"] or 0)))
        return readable

    def _database_accounts(
        self, database: str, containment: int, rows: list[dict[str, Any]]
    ) -> list[RemoteAccount]:
        accounts = []
        for r in rows:
            identity = qualified(database, r["name"])
            attrs: dict[str, Any] = {"database": database, "name": r["name"], "type": r["type"]}
            if r["type"] in ("R", "A"):
                self.roles.add(identity)
                attrs["application_role"] = r["type"] == "A"
                accounts.append(
                    RemoteAccount(identity, r["name"], is_role=True, attributes=attrs, can_login=False)
                )
                continue
            finding = user_finding(r, containment, self.azure_database)
            if finding:
                attrs |= {"authentication_type": r["authentication_type_desc"], "finding": finding}
                accounts.append(
                    RemoteAccount(identity, r["name"], attributes=attrs, can_login=finding != ORPHANED)
                )
        return accounts

    # --- collection ---------------------------------------------------------------------------
    def collect_permissions(self, accounts: Sequence[RemoteAccount]) -> Collected:
        if not self.listed:
            self.list_accounts()
        logins = [a.identity for a in accounts if not a.is_role and "finding" not in a.attributes]
        grants = Grants({*(a.identity for a in accounts), *self.roles})
        members, permissions = self.server_rows
        for r in members:
            grants.member(r["member_name"], r["role_name"], scope="server role")
        for login in logins:
            grants.member(login, PUBLIC, scope="server role", implicit=True)
        for role, privileges in FIXED_SERVER_ROLES.items():
            for name, grantable, denied in privileges:
                grants.grant(role, Scope("server"), name, grantable=grantable, denied=denied)
        for r in permissions:
            grants.add(r["grantee_name"], server_scope(r), token(r["permission_name"], r["state"]))
        for database, principals in self.db_principals.items():
            try:
                self._database(grants, database, principals)
            except ConnectorError as exc:
                self.unreadable[database] = exc.message
        self._note_unreadable()
        return grants.result()

    def _database(self, grants: Grants, database: str, principals: dict[int, dict[str, Any]]) -> None:
        role_members = self.fetch(self.in_database(DB_ROLE_MEMBERS_SQL, database))
        permissions = self.fetch(self.in_database(DB_PERMISSIONS_SQL, database))
        identity = {pid: principal_identity(database, p) for pid, p in principals.items()}
        scope = f"database {database} role"
        for pid, p in principals.items():
            if p["type"] == "R" and p["name"] in FIXED_DATABASE_ROLES:
                for name, grantable, denied in FIXED_DATABASE_ROLES[p["name"]]:
                    grants.grant(
                        identity[pid],
                        Scope.of("database", database),
                        name,
                        grantable=grantable,
                        denied=denied,
                    )
            elif p["type"] not in ("R", "A") and identity[pid]:
                if p["login_name"]:
                    grants.add(p["login_name"], f"database {database} user", p["name"])
                grants.member(
                    identity[pid], qualified(database, PUBLIC), scope=scope, label=PUBLIC, implicit=True
                )
        for r in role_members:
            role, member = principals.get(r["role_principal_id"]), identity.get(r["member_principal_id"])
            if role and member:
                grants.member(member, qualified(database, role["name"]), scope=scope, label=role["name"])
        for r in permissions:
            grantee = identity.get(r["grantee_principal_id"])
            if grantee:
                grants.add(grantee, database_scope(database, r), token(r["permission_name"], r["state"]))

    def _note_unreadable(self) -> None:
        self.notes["databases_unreadable"] = dict(sorted(self.unreadable.items()))
        self.notes["databases_skipped"] = sorted(self.unreadable)


def role_closure(edges: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """member -> every server role it reaches through nested memberships."""
    direct: dict[str, set[str]] = defaultdict(set)
    for member, role in edges:
        direct[member].add(role)
    closure: dict[str, set[str]] = {}
    for member in direct:
        seen: set[str] = set()
        todo = list(direct[member])
        while todo:
            role = todo.pop()
            if role not in seen:
                seen.add(role)
                todo.extend(direct.get(role, ()))
        closure[member] = seen
    return closure


def server_states(rows: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """(grantee, permission) -> states of its server-class (100) rows, looked up per login."""
    states: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in rows:
        if r["class"] == 100:
            states[(r["grantee_name"], r["permission_name"])].add(str(r["state"]).strip().upper())
    return states


def server_state(index: dict[tuple[str, str], set[str]], holders: set[str], permission: str) -> str:
    """'D' when a holder is denied the server permission, 'G' when granted, '' otherwise."""
    states = set().union(*(index.get((h, permission), set()) for h in holders))
    if "D" in states:
        return "D"
    return "G" if states & {"G", "W"} else ""


def user_finding(row: dict[str, Any], containment: int, azure: bool) -> str:
    """Why a database user with no login is an account of its own ('' when it is not one)."""
    if row["login_name"]:
        return ""
    kind = str(row["authentication_type_desc"] or "").upper()
    if kind in ("DATABASE", "EXTERNAL") or (kind == "WINDOWS" and containment):
        return CONTAINED
    if kind == "INSTANCE":
        return AZURE_LOGIN_USER if azure else ORPHANED
    return NO_OWN_LOGIN if kind == "WINDOWS" else ""  # NONE: users without login, guest, sys


def principal_identity(database: str, row: dict[str, Any]) -> str:
    """Who a database principal's facts belong to: its login, or itself when no login maps to it."""
    if row["type"] not in ("R", "A") and row["login_name"]:
        return str(row["login_name"])
    if row["type"] in ("R", "A") or row.get("authentication_type_desc") not in (None, "NONE"):
        return qualified(database, row["name"])
    return ""


def server_scope(row: dict[str, Any]) -> Scope:
    cls = row["class"]
    if cls == 105:
        return Scope.of("endpoint", row["endpoint_name"])
    if cls == 101:
        return Scope.of("login", row["target_name"])
    if cls == 108:
        return Scope.of("availability group", row["availability_group_name"] or str(row["major_id"]))
    return Scope("server")


PRINCIPAL_KINDS = {"R": "role", "A": "application role"}


def database_scope(database: str, row: dict[str, Any]) -> Scope:
    cls = row["class"]
    if cls == 3:
        return Scope.of("schema", database, row["schema_name"])
    if cls == 1 and row["column_name"]:
        return Scope.of("column", database, row["object_schema"], row["object_name"], row["column_name"])
    if cls == 1:
        return Scope.of("object", database, row["object_schema"], row["object_name"])
    if cls == 0:
        return Scope.of("database", database)
    if cls == 4:
        kind = PRINCIPAL_KINDS.get(str(row["principal_type"]), "user")
        return Scope.of(kind, database, row["principal_name"] or str(row["major_id"]))
    if cls == 25:
        return Scope.of("certificate", database, row["certificate_name"] or str(row["major_id"]))
    return Scope.of(str(row["class_desc"]).lower(), database, str(row["major_id"]))
