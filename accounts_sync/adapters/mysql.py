"""MySQL 5.7 / 8.x and MariaDB: accounts from `mysql.*` grant tables, read in bulk.

What exists is detected from the catalog, not assumed from the version string: MariaDB 10.4+
keeps accounts in `mysql.global_priv` (JSON) with `mysql.user` a view over it; MySQL 8 has
`role_edges`, `default_roles` and `global_grants` (dynamic privileges); MariaDB has
`roles_mapping`. The monitoring account needs only SELECT on `mysql.*`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from accounts_sync.adapters.base import AccountAdapter, Collected, Grants, RemoteAccount, Scope, yes

# Privilege column -> privilege name, where stripping `_priv` is not enough.
PRIV_NAMES = {
    "Create_tmp_table_priv": "CREATE TEMPORARY TABLES",
    "Grant_priv": "GRANT OPTION",
    "Show_db_priv": "SHOW DATABASES",
    "Repl_slave_priv": "REPLICATION SLAVE",
    "Repl_client_priv": "REPLICATION CLIENT",
    "Lock_tables_priv": "LOCK TABLES",
}
ATTRIBUTE_COLUMNS = (
    "plugin",
    "password_expired",
    "account_locked",
    "password_last_changed",
    "password_lifetime",
    "is_role",
    "default_role",
    "max_connections",
    "max_user_connections",
    "max_questions",
    "max_updates",
    "ssl_type",
)


def priv_name(column: str) -> str:
    return PRIV_NAMES.get(column) or column[: -len("_priv")].replace("_", " ").upper()


def identity(user: str, host: str) -> str:
    return f"{user}@{host}"


def set_items(value: Any) -> list[str]:
    """A MySQL SET column ('Select,Insert' or a Python set from the driver) as privilege names."""
    if not value:
        return []
    items = value if isinstance(value, set | frozenset | list) else str(value).split(",")
    return [str(i).strip().upper() for i in items if str(i).strip()]


class Adapter(AccountAdapter):
    db_type = "mysql"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tables: set[str] = set()
        self.user_columns: list[str] = []

    # --- detection ----------------------------------------------------------------------------
    def detect(self) -> None:
        """Which grant tables and `mysql.user` columns this server has (two catalog reads)."""
        if self.tables:
            return
        rows = self.fetch(
            "SELECT LOWER(TABLE_NAME) AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'mysql'"
        )
        self.tables = {r["t"] for r in rows}
        cols = self.fetch(
            "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'user' ORDER BY ORDINAL_POSITION"
        )
        self.user_columns = [r["c"] for r in cols]

    @property
    def uses_global_priv(self) -> bool:
        """MariaDB 10.4+: locked/password dates live only in `global_priv` JSON."""
        return "global_priv" in self.tables

    @property
    def priv_columns(self) -> list[str]:
        return [c for c in self.user_columns if c.endswith("_priv")]

    # --- inventory ----------------------------------------------------------------------------
    def list_accounts(self) -> list[RemoteAccount]:
        self.detect()
        lower = {c.lower(): c for c in self.user_columns}
        attrs = [lower[a] for a in ATTRIBUTE_COLUMNS if a in lower]
        cols = ", ".join(f"`{c}`" for c in ["User", "Host", *attrs, *self.priv_columns])
        rows = self.fetch(f"SELECT {cols} FROM mysql.user")
        extra = self._global_priv_json() if self.uses_global_priv else {}
        return [self._account(row, extra.get((row["user"], row["host"]), {})) for row in rows]

    def _global_priv_json(self) -> dict[tuple[str, str], dict[str, Any]]:
        rows = self.fetch(
            "SELECT User AS user, Host AS host, "
            "JSON_VALUE(Priv, '$.account_locked') AS account_locked, "
            "JSON_VALUE(Priv, '$.password_last_changed') AS password_last_changed, "
            "JSON_VALUE(Priv, '$.password_lifetime') AS password_lifetime "
            "FROM mysql.global_priv"
        )
        return {(r["user"], r["host"]): r for r in rows}

    def _account(self, row: dict[str, Any], extra: dict[str, Any]) -> RemoteAccount:
        user, host = row["user"], row["host"]
        merged = {**row, **{k: v for k, v in extra.items() if v is not None}}
        attrs = {a: _plain(merged[a]) for a in ATTRIBUTE_COLUMNS if merged.get(a) not in (None, "")}
        is_role = yes(attrs.get("is_role", "N"))
        locked = yes(attrs.get("account_locked", "N")) or attrs.get("account_locked") in ("true", 1)
        privs = [priv_name(c) for c in self.priv_columns if yes(row.get(c.lower()))]
        return RemoteAccount(
            identity=identity(user, host),
            username=user,
            host=host,
            is_role=is_role,
            attributes=attrs,
            preloaded={"global": sorted(privs)},
            is_superuser="SUPER" in privs,
            is_locked=bool(locked),
            can_login=not is_role and not locked and attrs.get("plugin") != "mysql_no_login",
            is_expired=yes(attrs.get("password_expired", "N")) or self._lifetime_over(attrs),
        )

    @staticmethod
    def _lifetime_over(attrs: dict[str, Any]) -> bool:
        """MariaDB keeps password_last_changed as epoch seconds and lifetime in days."""
        changed, lifetime = attrs.get("password_last_changed"), attrs.get("password_lifetime")
        try:
            changed_s, days = float(changed), float(lifetime)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        return days > 0 and changed_s > 0 and changed_s + days * 86400 < time.time()

    # --- collection ---------------------------------------------------------------------------
    def collect_permissions(self, accounts: Sequence[RemoteAccount]) -> Collected:
        self.detect()
        grants = Grants(a.identity for a in accounts)
        for acc in accounts:
            for scope, privs in acc.preloaded.items():
                grants.add(acc.identity, Scope.of(scope), *privs)
            default_role = acc.attributes.get("default_role", "")  # MariaDB
            grants.add(acc.identity, "default role", default_role)
        self._database_privileges(grants)
        self._table_privileges(grants)
        self._column_privileges(grants)
        self._routine_privileges(grants)
        self._proxy_privileges(grants)
        self._roles(grants)
        self._dynamic_privileges(grants)
        return grants.result()

    def _database_privileges(self, grants: Grants) -> None:
        for row in self.fetch("SELECT * FROM mysql.db"):
            privs = [
                priv_name(k[:1].upper() + k[1:]) for k, v in row.items() if k.endswith("_priv") and yes(v)
            ]
            grants.add(identity(row["user"], row["host"]), Scope.of("database", row["db"]), *privs)

    def _table_privileges(self, grants: Grants) -> None:
        rows = self.fetch("SELECT Host, Db, User, Table_name, Table_priv FROM mysql.tables_priv")
        for r in rows:
            scope = Scope.of("table", r["db"], r["table_name"])
            grants.add(identity(r["user"], r["host"]), scope, *set_items(r["table_priv"]))

    def _column_privileges(self, grants: Grants) -> None:
        rows = self.fetch(
            "SELECT Host, Db, User, Table_name, Column_name, Column_priv FROM mysql.columns_priv"
        )
        for r in rows:
            scope = Scope.of("column", r["db"], r["table_name"], r["column_name"])
            grants.add(identity(r["user"], r["host"]), scope, *set_items(r["column_priv"]))

    def _routine_privileges(self, grants: Grants) -> None:
        if "procs_priv" not in self.tables:
            return
        rows = self.fetch(
            "SELECT Host, Db, User, Routine_name, Routine_type, Proc_priv FROM mysql.procs_priv"
        )
        for r in rows:
            scope = Scope.of(str(r["routine_type"]).lower(), r["db"], r["routine_name"])
            grants.add(identity(r["user"], r["host"]), scope, *set_items(r["proc_priv"]))

    def _proxy_privileges(self, grants: Grants) -> None:
        if "proxies_priv" not in self.tables:
            return
        rows = self.fetch("SELECT Host, User, Proxied_host, Proxied_user, With_grant FROM mysql.proxies_priv")
        for r in rows:
            priv = "PROXY WITH GRANT OPTION" if yes(r["with_grant"]) else "PROXY"
            target = identity(r["proxied_user"], r["proxied_host"])
            grants.add(identity(r["user"], r["host"]), Scope.of("proxy", target), priv)

    def _roles(self, grants: Grants) -> None:
        """MariaDB `roles_mapping` or MySQL 8 `role_edges` + `default_roles`."""
        if "roles_mapping" in self.tables:
            for r in self.fetch("SELECT Host, User, Role, Admin_option FROM mysql.roles_mapping"):
                grants.member(identity(r["user"], r["host"]), r["role"], admin=yes(r["admin_option"]))
        if "role_edges" in self.tables:
            rows = self.fetch(
                "SELECT FROM_HOST, FROM_USER, TO_HOST, TO_USER, WITH_ADMIN_OPTION FROM mysql.role_edges"
            )
            for r in rows:
                role = identity(r["from_user"], r["from_host"])
                grants.member(identity(r["to_user"], r["to_host"]), role, admin=yes(r["with_admin_option"]))
        if "default_roles" in self.tables:
            rows = self.fetch(
                "SELECT HOST, USER, DEFAULT_ROLE_HOST, DEFAULT_ROLE_USER FROM mysql.default_roles"
            )
            for r in rows:
                role = identity(r["default_role_user"], r["default_role_host"])
                grants.add(identity(r["user"], r["host"]), "default role", role)

    def _dynamic_privileges(self, grants: Grants) -> None:
        """MySQL 8 dynamic privileges (BACKUP_ADMIN, ...) in `global_grants`."""
        if "global_grants" not in self.tables:
            return
        for r in self.fetch("SELECT USER, HOST, PRIV, WITH_GRANT_OPTION FROM mysql.global_grants"):
            grantable = yes(r["with_grant_option"])
            grants.grant(
                identity(r["user"], r["host"]), Scope("global"), str(r["priv"]).upper(), grantable=grantable
            )


def _plain(value: Any) -> Any:
    """JSON-able attribute values (dates and decimals as text, bytes decoded)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
