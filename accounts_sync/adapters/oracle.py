"""Oracle: users from DBA_USERS with status, lock/expiry dates, profile and tablespaces; roles,
system, object and column privileges, and tablespace quotas, each one query for all users.
The monitoring user needs SELECT on these DBA_ views (or SELECT_CATALOG_ROLE).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from accounts_sync.adapters.base import AccountAdapter, Collected, Grants, RemoteAccount, Scope, yes

USERS_SQL = """
SELECT u.username, u.user_id, u.account_status, u.lock_date, u.expiry_date, u.default_tablespace,
       u.temporary_tablespace, u.profile, u.authentication_type, u.created{extra},
       CASE WHEN EXISTS (
           SELECT 1 FROM dba_role_privs r WHERE r.grantee = u.username AND r.granted_role = 'DBA'
       ) THEN 1 ELSE 0 END AS is_dba
FROM dba_users u
"""
EXTRA_12C = ", u.oracle_maintained, u.common"
ROLE_PRIVS_SQL = "SELECT grantee, granted_role, admin_option, default_role FROM dba_role_privs"
SYS_PRIVS_SQL = "SELECT grantee, privilege, admin_option FROM dba_sys_privs"
TAB_PRIVS_SQL = "SELECT grantee, owner, table_name, privilege, grantable FROM dba_tab_privs"
COL_PRIVS_SQL = "SELECT grantee, owner, table_name, column_name, privilege, grantable FROM dba_col_privs"
QUOTAS_SQL = "SELECT username, tablespace_name, max_bytes FROM dba_ts_quotas"


def _text(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


class Adapter(AccountAdapter):
    db_type = "oracle"

    @property
    def has_maintained_flag(self) -> bool:
        """ORACLE_MAINTAINED and COMMON exist from 12c on."""
        return self.server.version[:1] >= (12,)

    def users_sql(self) -> str:
        return USERS_SQL.format(extra=EXTRA_12C if self.has_maintained_flag else "")

    def list_accounts(self) -> list[RemoteAccount]:
        return [self._account(r) for r in self.fetch(self.users_sql())]

    def _account(self, row: dict[str, Any]) -> RemoteAccount:
        status = str(row["account_status"] or "").upper()
        attrs = {
            "account_status": status,
            "lock_date": _text(row["lock_date"]),
            "expiry_date": _text(row["expiry_date"]),
            "profile": row["profile"],
            "default_tablespace": row["default_tablespace"],
            "temporary_tablespace": row["temporary_tablespace"],
            "authentication_type": row["authentication_type"],
        }
        if "oracle_maintained" in row:
            attrs["oracle_maintained"] = yes(row["oracle_maintained"])
            attrs["common"] = yes(row["common"])
        locked = "LOCKED" in status
        name = str(row["username"]).upper()
        return RemoteAccount(
            identity=name,
            username=name,
            attributes=attrs,
            is_superuser=bool(row["is_dba"]),
            is_locked=locked,
            can_login=not locked and "EXPIRED" not in status.replace("EXPIRED(GRACE)", ""),
            is_expired="EXPIRED" in status,
        )

    def collect_permissions(self, accounts: Sequence[RemoteAccount]) -> Collected:
        grants = Grants(a.identity for a in accounts)
        for r in self.fetch(ROLE_PRIVS_SQL):
            default = yes(r["default_role"])
            grants.member(r["grantee"], r["granted_role"], admin=yes(r["admin_option"]), default=default)
            if default:
                grants.add(r["grantee"], "default role", r["granted_role"])
        for r in self.fetch(SYS_PRIVS_SQL):
            grants.grant(
                r["grantee"],
                Scope("system"),
                r["privilege"],
                grantable=yes(r["admin_option"]),
                option="ADMIN",
            )
        for r in self.fetch(TAB_PRIVS_SQL):
            scope = Scope.of("object", r["owner"], r["table_name"])
            grants.grant(r["grantee"], scope, r["privilege"], grantable=yes(r["grantable"]))
        for r in self.fetch(COL_PRIVS_SQL):
            scope = Scope.of("column", r["owner"], r["table_name"], r["column_name"])
            grants.grant(r["grantee"], scope, r["privilege"], grantable=yes(r["grantable"]))
        for r in self.fetch(QUOTAS_SQL):
            limit = "UNLIMITED" if int(r["max_bytes"]) == -1 else f"{int(r['max_bytes'])} BYTES"
            grants.add(r["username"], "quota", f"{r['tablespace_name']} {limit}")
        return grants.result()
