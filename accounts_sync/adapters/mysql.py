"""MySQL 5.7 / 8.x and MariaDB: accounts from `mysql.*` grant tables, read in bulk.

What exists is detected from the catalog, not assumed from the version string: MariaDB 10.4+
keeps accounts in `mysql.global_priv` (one JSON document per account, with the full privilege
bitmask) and `mysql.user` is only a view decoding part of it, so the adapter reads the JSON;
MySQL and older MariaDB keep reading `mysql.user`. MySQL 8 has `role_edges`, `default_roles` and
`global_grants` (dynamic privileges); MariaDB has `roles_mapping`. The monitoring account needs
only SELECT on `mysql.*`.

Reading at the floor: every query names only the columns it needs, and the privilege columns of a
row travel as one string (`CONCAT` of the Y/N columns) decoded through a cache, because the
same few privilege patterns repeat over thousands of accounts. The grant option is a flag on
each privilege of its scope (MySQL keeps it per scope), never a privilege named GRANT.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from accounts_sync.adapters.base import (
    AccountAdapter,
    Collected,
    Grants,
    GrantSet,
    RemoteAccount,
    Scope,
    paused_gc,
    yes,
)
from accounts_sync.canonical import json_documents
from accounts_sync.privileges import GRANT_OPTION, parse_token

Version = tuple[int, ...]
ALWAYS: Version = ()  # every version compares >= the empty tuple

# MariaDB's `global_priv.Priv.access` bits, in bit order, with the server version each name holds
# from (and until, when a later version renamed the bit). Bit 10 is the grant option (a flag).
# Source of the order: MariaDB's `privilege_t` enum; names as SHOW GRANTS prints them.
MARIADB_BITS: tuple[tuple[int, str, Version, Version | None], ...] = (
    (0, "SELECT", ALWAYS, None),
    (1, "INSERT", ALWAYS, None),
    (2, "UPDATE", ALWAYS, None),
    (3, "DELETE", ALWAYS, None),
    (4, "CREATE", ALWAYS, None),
    (5, "DROP", ALWAYS, None),
    (6, "RELOAD", ALWAYS, None),
    (7, "SHUTDOWN", ALWAYS, None),
    (8, "PROCESS", ALWAYS, None),
    (9, "FILE", ALWAYS, None),
    (11, "REFERENCES", ALWAYS, None),
    (12, "INDEX", ALWAYS, None),
    (13, "ALTER", ALWAYS, None),
    (14, "SHOW DATABASES", ALWAYS, None),
    (15, "SUPER", ALWAYS, None),
    (16, "CREATE TEMPORARY TABLES", ALWAYS, None),
    (17, "LOCK TABLES", ALWAYS, None),
    (18, "EXECUTE", ALWAYS, None),
    (19, "REPLICATION SLAVE", ALWAYS, None),
    (20, "REPLICATION CLIENT", ALWAYS, (10, 5, 2)),
    (20, "BINLOG MONITOR", (10, 5, 2), None),
    (21, "CREATE VIEW", ALWAYS, None),
    (22, "SHOW VIEW", ALWAYS, None),
    (23, "CREATE ROUTINE", ALWAYS, None),
    (24, "ALTER ROUTINE", ALWAYS, None),
    (25, "CREATE USER", ALWAYS, None),
    (26, "EVENT", ALWAYS, None),
    (27, "TRIGGER", ALWAYS, None),
    (28, "CREATE TABLESPACE", ALWAYS, None),
    (29, "DELETE VERSIONING ROWS", (10, 3, 4), (10, 4, 13)),
    (29, "DELETE HISTORY", (10, 4, 13), None),
    (30, "SET USER", (10, 5, 2), None),
    (31, "FEDERATED ADMIN", (10, 5, 2), None),
    (32, "CONNECTION ADMIN", (10, 5, 2), None),
    (33, "READ_ONLY ADMIN", (10, 5, 2), None),
    (34, "REPLICATION SLAVE ADMIN", (10, 5, 2), None),
    (35, "REPLICATION MASTER ADMIN", (10, 5, 2), None),
    (36, "BINLOG ADMIN", (10, 5, 2), None),
    (37, "BINLOG REPLAY", (10, 5, 2), None),
    (38, "SLAVE MONITOR", (10, 5, 8), None),
    (39, "IGNORE DENIES", (13, 1), None),  # with DENY
)
GRANT_BIT = 1 << 10
# `ssl_type` as the `mysql.user` view spells the JSON's number.
SSL_TYPES = ("", "ANY", "X509", "SPECIFIED")
# Attributes kept for every account, in the formats earlier versions stored (so that reading
# `global_priv` instead of the view logs no change that did not happen on the server).
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
# Kept only when set (absent means: none / unlimited), for the same reason.
OPTIONAL_ATTRIBUTES = ("ssl_cipher", "x509_issuer", "x509_subject", "max_statement_time")
LIMITS = ("max_connections", "max_user_connections", "max_questions", "max_updates")
# What the `mysql.user` view shows for a key the `global_priv` document leaves out.
VIEW_DEFAULTS = {"is_role": "N", "password_expired": "N", **dict.fromkeys(LIMITS, 0)}
# Document keys kept as text whenever present (the view's JSON_VALUE), and all keys read.
AS_TEXT = frozenset({"account_locked", "password_last_changed", "password_lifetime"})
DOCUMENT_ATTRIBUTES = frozenset(
    {*AS_TEXT, *LIMITS, "is_role", "ssl_type", "max_statement_time"}
    | {"plugin", "default_role", "ssl_cipher", "x509_issuer", "x509_subject"}
)
# Privilege column -> privilege name, where stripping `_priv` is not enough.
PRIV_NAMES = {
    "Create_tmp_table_priv": "CREATE TEMPORARY TABLES",
    "Show_db_priv": "SHOW DATABASES",
    "Repl_slave_priv": "REPLICATION SLAVE",
    "Repl_client_priv": "REPLICATION CLIENT",
    "Lock_tables_priv": "LOCK TABLES",
}
USAGE = "USAGE"  # what SHOW GRANTS names a grant option held without any privilege


def priv_name(column: str) -> str:
    return PRIV_NAMES.get(column) or column[: -len("_priv")].replace("_", " ").upper()


def identity(user: str, host: str) -> str:
    return f"{user}@{host}"


def account_text(user: str, host: str) -> str:
    """`'user'@'host'` as in SQL (an empty user stays visible as `''`)."""
    return "'{}'@'{}'".format(str(user).replace("'", "''"), str(host).replace("'", "''"))


def set_items(value: Any) -> list[str]:
    """A MySQL SET column ('Select,Insert' or a Python set from the driver) as privilege names."""
    if not value:
        return []
    items = value if isinstance(value, set | frozenset | list) else str(value).split(",")
    return [str(i).strip().upper() for i in items if str(i).strip()]


def with_option(names: Iterable[str], grantable: bool) -> tuple[str, ...]:
    """Tokens of one scope: the grant option on each privilege (USAGE when it is all there is)."""
    names = tuple(names)
    if not grantable:
        return names
    return tuple(n + GRANT_OPTION for n in (names or (USAGE,)))


def mariadb_bits(version: Version) -> tuple[tuple[int, str], ...]:
    """(bit mask, name) of the privileges this MariaDB version knows, in bit order."""
    return tuple(
        (1 << bit, name)
        for bit, name, since, until in MARIADB_BITS
        if version >= since and (until is None or version < until)
    )


def fingerprint(methods: Iterable[tuple[Any, Any]]) -> str | None:
    """sha256 of the (plugin, authentication string) pairs; None when no string is set.

    Kept in memory only, to link a RENAME USER (same password hash) -- an account without a
    password gives no evidence, hence None.
    """
    pairs = [(str(p or ""), a.hex() if isinstance(a, bytes) else str(a or "")) for p, a in methods]
    if not any(a for _, a in pairs):
        return None
    return hashlib.sha256("\n".join(f"{p}\0{a}" for p, a in pairs).encode()).hexdigest()


class Adapter(AccountAdapter):
    db_type = "mysql"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tables: set[str] = set()
        self.columns: dict[str, list[str]] = {}
        self.privs: dict[str, list[str]] = {}  # privilege columns of `user` and `db`, in order
        self._decoded: dict[Any, tuple[str, ...]] = {}  # privilege pattern -> tokens
        self._access: dict[int, tuple[str, ...]] = {}  # `global_priv` access bitmask -> tokens
        self._edges: list[dict[str, Any]] | None = None
        self._sets: dict[tuple[Any, ...], GrantSet] = {}  # (tokens, kind, *path) -> prepared grants
        self._superuser: dict[tuple[str, ...], bool] = {}  # global tokens -> whether SUPER is among them

    # --- detection ----------------------------------------------------------------------------
    def detect(self) -> None:
        """Which grant tables, and which privilege columns of `user` / `db`, this server has."""
        if self.tables:
            return
        rows = self.fetch(
            "SELECT LOWER(TABLE_NAME) AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'mysql'"
        )
        self.tables = {r["t"] for r in rows}
        cols = self.fetch(
            "SELECT LOWER(TABLE_NAME) AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME IN ('user', 'db') "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION"
        )
        for r in cols:
            self.columns.setdefault(r["t"], []).append(r["c"])
        for table in ("user", "db"):
            self.privs[table] = [c for c in self.columns.get(table, []) if c.endswith("_priv")]

    @property
    def uses_global_priv(self) -> bool:
        """MariaDB 10.4+: `global_priv` is the truth, `mysql.user` a partial view of it."""
        return "global_priv" in self.tables

    @property
    def user_columns(self) -> list[str]:
        return self.columns.get("user", [])

    @property
    def priv_columns(self) -> list[str]:
        return self.privs.get("user", [])

    def _version(self) -> Version:
        return tuple(self.server.version) if self.server and self.server.version else (0,)

    # --- decoding (cached: the same patterns repeat over thousands of rows) -------------------
    def _flags(self, table: str, pattern: str) -> tuple[str, ...]:
        """'YNY…' (one letter per privilege column of `table`) -> tokens; Grant_priv is the flag."""
        key = (table, pattern)
        tokens = self._decoded.get(key)
        if tokens is None:
            on = [c for c, flag in zip(self.privs.get(table, ()), pattern, strict=False) if flag == "Y"]
            names = sorted(priv_name(c) for c in on if c.lower() != "grant_priv")
            tokens = self._decoded[key] = with_option(names, any(c.lower() == "grant_priv" for c in on))
        return tokens

    def _set_tokens(self, value: Any) -> tuple[str, ...]:
        """A SET column ('Select,Grant') -> tokens; its `Grant` is the option flag."""
        key = value if isinstance(value, str) else frozenset(value or ())
        tokens = self._decoded.get(key)
        if tokens is None:
            items = set_items(value)
            names = sorted(i for i in items if i != "GRANT")
            tokens = self._decoded[key] = with_option(names, "GRANT" in items)
        return tokens

    def _access_tokens(self, access: int) -> tuple[str, ...]:
        """A MariaDB `access` bitmask -> tokens for this server version (unknown bits ignored)."""
        tokens = self._access.get(access)
        if tokens is None:
            names = sorted(name for mask, name in mariadb_bits(self._version()) if access & mask)
            tokens = self._access[access] = with_option(names, bool(access & GRANT_BIT))
        return tokens

    def _granted(self, tokens: tuple[str, ...], kind: str, *path: str) -> GrantSet:
        """The prepared grants of `tokens` on one object: thousands of rows name the same
        object with the same privileges, so each pair is parsed and built once."""
        key = (tokens, kind, *path)
        granted = self._sets.get(key)
        if granted is None:
            parsed = (parse_token(t)[:2] for t in tokens)
            granted = self._sets[key] = GrantSet.of(Scope.of(kind, *path), parsed)
        return granted

    # --- inventory ----------------------------------------------------------------------------
    @paused_gc()
    def list_accounts(self) -> list[RemoteAccount]:
        self.detect()
        if self.uses_global_priv:
            rows = self.fetch_rows(
                "SELECT User AS user, Host AS host, Priv AS priv FROM mysql.global_priv",
                ("user", "host", "priv"),
            )
            docs = json_documents([r[2] for r in rows])
            account = self._global_priv_account
            return [account(r[0], r[1], doc) for r, doc in zip(rows, docs, strict=True)]
        role_sources = self._role_sources()
        return [self._user_account(row, role_sources) for row in self._user_rows()]

    def _global_priv_account(self, user: str, host: str, doc: dict[str, Any]) -> RemoteAccount:
        """One `global_priv` document, decoded as the `mysql.user` view would (same attribute
        values). It runs once per account and is most of the listing's cost, so only the keys
        the document has are visited."""
        attrs: dict[str, Any] = dict(VIEW_DEFAULTS)
        for key in doc.keys() & DOCUMENT_ATTRIBUTES:
            value = doc[key]
            if key in AS_TEXT:
                if value is not None:  # JSON_VALUE text, as the earlier reader kept them
                    attrs[key] = str(int(value)) if isinstance(value, bool) else str(value)
            elif key in LIMITS:
                attrs[key] = int(value or 0)
            elif not value:
                continue
            elif key == "is_role":
                attrs[key] = "Y"
            elif key == "ssl_type":
                attrs[key] = SSL_TYPES[int(value)]
            elif key == "max_statement_time":  # seconds, as the view's DECIMAL(12,6) reads; 0: none
                attrs[key] = f"{float(value):.6f}"
            else:  # plugin, default role, TLS requirements: text, kept when set
                attrs[key] = value
        if doc.get("password_last_changed") == 0:
            attrs["password_expired"] = "Y"
        print_ = None
        if doc.get("authentication_string") or "auth_or" in doc:
            methods = [(doc.get("plugin"), doc.get("authentication_string"))]
            methods += [
                (m.get("plugin"), m.get("authentication_string")) for m in doc.get("auth_or", ()) if m
            ]
            print_ = fingerprint(methods)
        return self._remote(user, host, attrs, self._access_tokens(int(doc.get("access") or 0)), print_)

    def _user_rows(self) -> list[dict[str, Any]]:
        """`mysql.user` (MySQL, MariaDB before 10.4): needed columns, privileges as one string."""
        lower = {c.lower(): c for c in self.user_columns}
        wanted = [lower[a] for a in (*ATTRIBUTE_COLUMNS, *OPTIONAL_ATTRIBUTES) if a in lower]
        secret = [lower[c] for c in ("password", "authentication_string") if c in lower]
        parts = ["`User` AS user", "`Host` AS host", *(f"`{c}`" for c in wanted)]
        if self.priv_columns:
            parts.append("CONCAT({}) AS privs".format(", ".join(f"`{c}`" for c in self.priv_columns)))
        if secret:
            # The hash never leaves the server: only its digest and whether it is set.
            plugin = "`plugin`" if "plugin" in lower else "''"
            auth = ", ':', ".join(f"IFNULL(`{c}`, '')" for c in secret)
            parts.append(f"SHA2(CONCAT({plugin}, ':', {auth}), 256) AS secret_digest")
            parts.append("({}) AS has_secret".format(" OR ".join(f"IFNULL(`{c}`, '') <> ''" for c in secret)))
        return self.fetch(f"SELECT {', '.join(parts)} FROM mysql.user")

    def _user_account(self, row: dict[str, Any], role_sources: set[str]) -> RemoteAccount:
        user, host = row["user"], row["host"]
        attrs = {a: _plain(row.get(a)) for a in (*ATTRIBUTE_COLUMNS, *OPTIONAL_ATTRIBUTES)}
        attrs = {k: v for k, v in attrs.items() if v not in (None, "")}
        if "max_statement_time" in attrs and not float(attrs["max_statement_time"]):
            del attrs["max_statement_time"]  # 0: no limit
        if "is_role" not in row and identity(user, host) in role_sources:
            attrs["is_role"] = "Y"  # MySQL 8: a role is an account granted to others
        tokens = self._flags("user", row.get("privs") or "")
        print_ = row["secret_digest"] if yes(row.get("has_secret")) else None
        return self._remote(user, host, attrs, tokens, print_)

    def _remote(
        self, user: str, host: str, attrs: dict[str, Any], tokens: tuple[str, ...], print_: str | None
    ) -> RemoteAccount:
        """Runs once per account: what depends on the privileges alone is worked out once per
        set of them, and the account is built positionally (half the cost of keywords)."""
        is_role = attrs.get("is_role") == "Y"
        locked = "account_locked" in attrs and yes(attrs["account_locked"])
        if not is_role and print_ is None:
            attrs["empty_authentication_string"] = True  # only when so: absent means set
        superuser = self._superuser.get(tokens)
        if superuser is None:
            superuser = self._superuser[tokens] = "SUPER" in tokens or "SUPER" + GRANT_OPTION in tokens
        return RemoteAccount(
            f"{user}@{host}",  # identity
            user,  # username
            host,
            is_role,
            attrs,  # attributes
            superuser,  # is_superuser
            locked,  # is_locked
            not is_role and not locked and attrs.get("plugin") != "mysql_no_login",  # can_login
            attrs.get("password_expired") == "Y"  # is_expired
            or ("password_lifetime" in attrs and self._lifetime_over(attrs)),
            {"global": list(tokens)} if tokens else {},  # preloaded
            print_,  # fingerprint
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
    @paused_gc()
    def collect_permissions(self, accounts: Sequence[RemoteAccount]) -> Collected:
        self.detect()
        grants = Grants(a.identity for a in accounts)
        granted = self._granted
        grants.grant_sets(
            (acc.identity, granted(tuple(tokens), scope))
            for acc in accounts
            for scope, tokens in acc.preloaded.items()
        )
        self._database_privileges(grants)
        table_option = self._table_privileges(grants)
        self._column_privileges(grants, table_option)
        self._routine_privileges(grants)
        self._proxy_privileges(grants)
        self._roles(grants, accounts)
        self._dynamic_privileges(grants)
        return grants.result()

    def _database_privileges(self, grants: Grants) -> None:
        # Queried even when no column was detected: a login that cannot read `mysql.db` must fail
        # the collection loudly rather than report no database privileges.
        privs = ", ".join(f"`{c}`" for c in self.privs.get("db", [])) or "''"
        rows = self.fetch_rows(
            f"SELECT Host AS host, Db AS db, User AS user, CONCAT({privs}) AS p FROM mysql.db",
            ("host", "db", "user", "p"),
        )
        prepared: dict[tuple[str, str], GrantSet] = {}  # (database, flags) -> grants

        def pairs() -> Iterator[tuple[str, GrantSet]]:
            for host, db, user, flags in rows:
                granted = prepared.get((db, flags))
                if granted is None:
                    granted = prepared[db, flags] = self._granted(self._flags("db", flags), "database", db)
                yield f"{user}@{host}", granted

        grants.grant_sets(pairs())

    def _table_privileges(self, grants: Grants) -> set[tuple[str, str, str]]:
        """Table privileges; returns the tables whose grant option also covers column grants."""
        option: set[tuple[str, str, str]] = set()
        rows = self.fetch_rows(
            "SELECT Host AS host, Db AS db, User AS user, Table_name AS table_name, "
            "Table_priv AS table_priv, Column_priv AS column_priv FROM mysql.tables_priv",
            ("host", "db", "user", "table_name", "table_priv", "column_priv"),
        )
        # (database, table, privileges) -> grants, whether they carry the option, USAGE only
        prepared: dict[tuple[str, str, Any], tuple[GrantSet, bool, bool]] = {}

        def pairs() -> Iterator[tuple[str, GrantSet]]:
            for host, db, user, table, privs, column_privs in rows:
                who = f"{user}@{host}"
                key = (db, table, privs if isinstance(privs, str) else frozenset(privs or ()))
                known = prepared.get(key)
                if known is None:
                    tokens = self._set_tokens(privs)
                    grantable = bool(tokens) and tokens[-1].endswith(GRANT_OPTION)
                    granted = self._granted(tokens, "table", db, table)
                    known = prepared[key] = (granted, grantable, tokens == (USAGE + GRANT_OPTION,))
                granted, grantable, usage_only = known
                if grantable:
                    option.add((who, db, table))
                    if usage_only and column_privs:
                        continue  # SHOW GRANTS puts the option on the column grants of that table
                yield who, granted

        grants.grant_sets(pairs())
        return option

    def _column_privileges(self, grants: Grants, table_option: set[tuple[str, str, str]]) -> None:
        rows = self.fetch(
            "SELECT Host AS host, Db AS db, User AS user, Table_name AS table_name, "
            "Column_name AS column_name, Column_priv AS column_priv FROM mysql.columns_priv"
        )
        for r in rows:
            who = identity(r["user"], r["host"])
            tokens = self._set_tokens(r["column_priv"])
            if (who, r["db"], r["table_name"]) in table_option:
                tokens = with_option(tokens, True)
            grants.grant_set(who, self._granted(tokens, "column", r["db"], r["table_name"], r["column_name"]))

    def _routine_privileges(self, grants: Grants) -> None:
        if "procs_priv" not in self.tables:
            return
        rows = self.fetch(
            "SELECT Host AS host, Db AS db, User AS user, Routine_name AS routine_name, "
            "Routine_type AS routine_type, Proc_priv AS proc_priv FROM mysql.procs_priv"
        )
        for r in rows:
            tokens = self._set_tokens(r["proc_priv"])
            granted = self._granted(tokens, str(r["routine_type"]).lower(), r["db"], r["routine_name"])
            grants.grant_set(identity(r["user"], r["host"]), granted)

    def _proxy_privileges(self, grants: Grants) -> None:
        if "proxies_priv" not in self.tables:
            return
        rows = self.fetch(
            "SELECT Host AS host, User AS user, Proxied_host AS proxied_host, "
            "Proxied_user AS proxied_user, With_grant AS with_grant FROM mysql.proxies_priv"
        )
        any_host = "%" if self.server and self.server.flavor == "MariaDB" else ""
        for r in rows:
            # MariaDB reads an empty proxied host as any host: SHOW GRANTS prints ''@'%'.
            target = Scope.of("proxy", account_text(r["proxied_user"], r["proxied_host"] or any_host))
            grants.grant(identity(r["user"], r["host"]), target, "PROXY", grantable=yes(r["with_grant"]))

    def _role_sources(self) -> set[str]:
        """MySQL 8: accounts granted to others are roles (CREATE ROLE makes plain accounts)."""
        if "role_edges" not in self.tables:
            return set()
        self._edges = self.fetch(
            "SELECT FROM_HOST AS from_host, FROM_USER AS from_user, TO_HOST AS to_host, "
            "TO_USER AS to_user, WITH_ADMIN_OPTION AS with_admin_option FROM mysql.role_edges"
        )
        return {identity(r["from_user"], r["from_host"]) for r in self._edges}

    def _roles(self, grants: Grants, accounts: Sequence[RemoteAccount]) -> None:
        """Memberships: MariaDB `roles_mapping` or MySQL 8 `role_edges` + `default_roles`.

        A role's privileges are the member's at login only when it is a default role (MySQL:
        or `activate_all_roles_on_login` is on); any other granted role needs SET ROLE.
        """
        if "roles_mapping" in self.tables:
            default = {a.identity: a.attributes.get("default_role") for a in accounts}
            roles = {a.identity for a in accounts if a.is_role}
            for r in self.fetch(
                "SELECT Host AS host, User AS user, Role AS role, Admin_option AS admin_option "
                "FROM mysql.roles_mapping"
            ):
                member, role = identity(r["user"], r["host"]), identity(r["role"], "")
                is_default = default.get(member) == r["role"]
                # A role granted to a role is active whenever that role is.
                inherit = is_default or member in roles
                options = {"admin": yes(r["admin_option"]), "inherit": inherit, "default": is_default}
                grants.member(member, role, set=True, **options)
            for acc in accounts:  # MariaDB keeps the default role in the account itself
                if acc.attributes.get("default_role"):
                    grants.add(acc.identity, "default role", identity(acc.attributes["default_role"], ""))
        if "role_edges" not in self.tables:
            return
        defaults: set[tuple[str, str]] = set()
        if "default_roles" in self.tables:
            for r in self.fetch(
                "SELECT HOST AS host, USER AS user, DEFAULT_ROLE_HOST AS default_role_host, "
                "DEFAULT_ROLE_USER AS default_role_user FROM mysql.default_roles"
            ):
                member = identity(r["user"], r["host"])
                role = identity(r["default_role_user"], r["default_role_host"])
                defaults.add((member, role))
                grants.add(member, "default role", role)
        # MySQL 8: every granted role active at login, default or not.
        all_active = yes(self.fetch("SELECT @@GLOBAL.activate_all_roles_on_login AS v")[0]["v"])
        if self._edges is None:
            self._role_sources()
        roles = {a.identity for a in accounts if a.is_role}
        for r in self._edges or ():
            member, role = identity(r["to_user"], r["to_host"]), identity(r["from_user"], r["from_host"])
            is_default = (member, role) in defaults
            grants.member(
                member,
                role,
                admin=yes(r["with_admin_option"]),
                inherit=is_default or all_active or member in roles,
                set=True,
                default=is_default,
            )

    def _dynamic_privileges(self, grants: Grants) -> None:
        """MySQL 8 dynamic privileges (BACKUP_ADMIN, ...) in `global_grants`."""
        if "global_grants" not in self.tables:
            return
        rows = self.fetch(
            "SELECT USER AS user, HOST AS host, PRIV AS priv, WITH_GRANT_OPTION AS with_grant_option "
            "FROM mysql.global_grants"
        )
        for r in rows:
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
