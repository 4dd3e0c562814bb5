"""SQL Server: logins, server roles and permissions, then per accessible database its users,
roles and permissions (database / schema / object / column), names resolved in that database.

Three server-wide queries and three per database, whatever the number of logins. Databases the
monitoring login cannot enter (HAS_DBACCESS = 0) or that are offline are skipped and reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from accounts_sync.adapters.base import AccountAdapter, Collected, Grants, RemoteAccount, Scope, yes

LOGIN_TYPES = "('S', 'U', 'G', 'E', 'X')"  # SQL login, Windows user/group, Entra user/group
LOGINS_SQL = f"""
SELECT sp.principal_id, sp.name, sp.type, sp.type_desc, sp.is_disabled, sp.default_database_name,
       sl.is_policy_checked, sl.is_expiration_checked,
       CAST(LOGINPROPERTY(sp.name, 'IsLocked') AS INT) AS is_locked,
       CAST(LOGINPROPERTY(sp.name, 'IsExpired') AS INT) AS is_expired,
       CAST(LOGINPROPERTY(sp.name, 'IsMustChange') AS INT) AS is_must_change,
       CASE WHEN EXISTS (
           SELECT 1 FROM sys.server_role_members AS rm
           JOIN sys.server_principals AS r ON r.principal_id = rm.role_principal_id
           WHERE rm.member_principal_id = sp.principal_id AND r.name = 'sysadmin'
       ) THEN 1 ELSE 0 END AS is_sysadmin
FROM sys.server_principals AS sp
LEFT JOIN sys.sql_logins AS sl ON sl.principal_id = sp.principal_id
WHERE sp.type IN {LOGIN_TYPES}
"""
SERVER_ROLES_SQL = """
SELECT r.name AS role_name, m.name AS member_name
FROM sys.server_role_members AS rm
JOIN sys.server_principals AS r ON r.principal_id = rm.role_principal_id
JOIN sys.server_principals AS m ON m.principal_id = rm.member_principal_id
"""
SERVER_PERMISSIONS_SQL = """
SELECT p.class_desc, p.permission_name, p.state, pr.name AS grantee_name,
       ep.name AS endpoint_name, tp.name AS target_name
FROM sys.server_permissions AS p
JOIN sys.server_principals AS pr ON pr.principal_id = p.grantee_principal_id
LEFT JOIN sys.endpoints AS ep ON p.class = 105 AND ep.endpoint_id = p.major_id
LEFT JOIN sys.server_principals AS tp ON p.class = 101 AND tp.principal_id = p.major_id
"""
DATABASES_SQL = """
SELECT name, database_id, state_desc, HAS_DBACCESS(name) AS has_access
FROM sys.databases
ORDER BY name
"""
DB_PRINCIPALS_SQL = """
SELECT dp.principal_id, dp.name, dp.type, sp.name AS login_name
FROM {db}.sys.database_principals AS dp
LEFT JOIN sys.server_principals AS sp ON sp.sid = dp.sid
WHERE dp.type IN ('S', 'U', 'G', 'E', 'X', 'R', 'A')
"""
DB_ROLE_MEMBERS_SQL = """
SELECT rm.role_principal_id, rm.member_principal_id
FROM {db}.sys.database_role_members AS rm
"""
DB_PERMISSIONS_SQL = """
SELECT p.class, p.class_desc, p.grantee_principal_id, p.permission_name, p.state,
       s.name AS schema_name, o.name AS object_name, os.name AS object_schema, c.name AS column_name
FROM {db}.sys.database_permissions AS p
LEFT JOIN {db}.sys.schemas AS s ON p.class = 3 AND s.schema_id = p.major_id
LEFT JOIN {db}.sys.all_objects AS o ON p.class = 1 AND o.object_id = p.major_id
LEFT JOIN {db}.sys.schemas AS os ON os.schema_id = o.schema_id
LEFT JOIN {db}.sys.all_columns AS c
       ON p.class = 1 AND p.minor_id > 0 AND c.object_id = p.major_id AND c.column_id = p.minor_id
"""


def quote(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def token(permission: str, state: str) -> str:
    """sys.*_permissions.state: G grant, W grant with grant option, D deny, R revoke."""
    state = (state or "G").strip().upper()
    if state == "D":
        return f"DENY {permission}"
    return permission + (" WITH GRANT OPTION" if state == "W" else "")


class Adapter(AccountAdapter):
    db_type = "sqlserver"

    def list_accounts(self) -> list[RemoteAccount]:
        return [self._account(r) for r in self.fetch(LOGINS_SQL)]

    def _account(self, row: dict[str, Any]) -> RemoteAccount:
        attrs = {
            "type": row["type_desc"],
            "disabled": bool(row["is_disabled"]),
            "default_database": row["default_database_name"],
            "policy_checked": row["is_policy_checked"],
            "expiration_checked": row["is_expiration_checked"],
            "must_change": bool(row["is_must_change"]),
        }
        locked = bool(row["is_locked"])
        return RemoteAccount(
            identity=row["name"],
            username=row["name"],
            attributes=attrs,
            is_superuser=bool(row["is_sysadmin"]),
            is_locked=locked or bool(row["is_disabled"]),
            can_login=not (locked or row["is_disabled"]),
            is_expired=bool(row["is_expired"]),
        )

    def collect_permissions(self, accounts: Sequence[RemoteAccount]) -> Collected:
        grants = Grants(a.identity for a in accounts)
        for r in self.fetch(SERVER_ROLES_SQL):
            grants.member(r["member_name"], r["role_name"], scope="server role")
        for r in self.fetch(SERVER_PERMISSIONS_SQL):
            grants.add(r["grantee_name"], self._server_scope(r), token(r["permission_name"], r["state"]))
        skipped = []
        for db in self.fetch(DATABASES_SQL):
            if db["state_desc"] != "ONLINE" or not yes(db["has_access"]):
                skipped.append(db["name"])
                continue
            self._database(grants, db["name"])
        self.notes["databases_skipped"] = sorted(skipped)
        return grants.result()

    @staticmethod
    def _server_scope(row: dict[str, Any]) -> Scope:
        if row["class_desc"] == "ENDPOINT":
            return Scope.of("endpoint", row["endpoint_name"])
        if row["class_desc"] == "SERVER_PRINCIPAL":
            return Scope.of("login", row["target_name"])
        return Scope("server")

    def _database(self, grants: Grants, database: str) -> None:
        db = quote(database)
        principals = {r["principal_id"]: r for r in self.fetch(DB_PRINCIPALS_SQL.format(db=db))}
        login_of = {
            pid: p["login_name"] for pid, p in principals.items() if p["type"] != "R" and p["login_name"]
        }
        for pid, login in login_of.items():
            grants.add(login, f"database {database} user", principals[pid]["name"])
        roles_of: dict[int, set[str]] = defaultdict(set)
        for r in self.fetch(DB_ROLE_MEMBERS_SQL.format(db=db)):
            role = principals.get(r["role_principal_id"])
            if role and r["member_principal_id"] in login_of:
                roles_of[r["member_principal_id"]].add(role["name"])
        for pid, roles in roles_of.items():
            for role in roles:
                grants.member(login_of[pid], role, scope=f"database {database} role")
        for r in self.fetch(DB_PERMISSIONS_SQL.format(db=db)):
            login = login_of.get(r["grantee_principal_id"])
            if login:
                grants.add(login, self._db_scope(database, r), token(r["permission_name"], r["state"]))

    @staticmethod
    def _db_scope(database: str, row: dict[str, Any]) -> Scope:
        if row["class"] == 3:
            return Scope.of("schema", database, row["schema_name"])
        if row["class"] == 1 and row["column_name"]:
            return Scope.of("column", database, row["object_schema"], row["object_name"], row["column_name"])
        if row["class"] == 1:
            return Scope.of("object", database, row["object_schema"], row["object_name"])
        if row["class"] == 0:
            return Scope.of("database", database)
        return Scope.of(str(row["class_desc"]).lower(), database)
