"""An account's permissions as its engine's own statements, built from the structured facts.

A DBA reads `GRANT SELECT, INSERT ON `shop`.* TO `app`@`%`` faster than a table of scopes, and
can paste it. The statements are rendered from facts, never from stored text: the direct grants of
the `AccountPrivilege` store (scope kind + path of names, privilege, grant option, DENY), the
memberships and per-account settings the snapshot keeps under its own scopes (`role`,
`member of`, `server role`, `default role`, `quota`...), and the account's attributes.

Each engine quotes names its own way (backticks, double quotes, brackets), so a name holding
quotes, dots or markup stays one name. Statements that only make sense inside one database
(PostgreSQL, SQL Server) or container (Oracle CDB root) carry it as `context`; the page groups
them under the engine's way of getting there (`USE [db]`, a `-- in database` note,
`ALTER SESSION SET CONTAINER`).

`statements()` renders an account's current permissions; `entry_statements()` renders the
GRANT / REVOKE entries of a change (what a version diff shows), resolving scope texts back to
their parts through the store or, for a scope no longer held, through the kind's known shape.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from accounts_sync.adapters.sqlserver import FIXED_DATABASE_ROLES, FIXED_SERVER_ROLES
from accounts_sync.canonical import is_derived
from accounts_sync.privileges import SUPERUSER, parse_token
from whalefall.textsafe import safe_text

GRANT, REVOKE = "GRANT", "REVOKE"


@dataclass(frozen=True, order=True)
class Privilege:
    """One direct grant, as the store keeps it."""

    kind: str
    path: tuple[str, ...]
    privilege: str
    grantable: bool = False
    denied: bool = False


@dataclass(frozen=True)
class Member:
    """A membership as the snapshot token states it (`r WITH ADMIN OPTION WITH INHERIT FALSE`)."""

    scope: str
    role: str
    admin: bool = False
    inherit: bool = True
    set: bool = True

    @classmethod
    def parse(cls, scope: str, token: str) -> Member:
        flags = {"admin": " WITH ADMIN OPTION", "inherit": " WITH INHERIT FALSE", "set": " WITH SET FALSE"}
        found = dict.fromkeys(flags, False)
        changed = True
        while changed:  # the options trail the name in a fixed order; peel them off the end
            changed = False
            for name, suffix in flags.items():
                if token.endswith(suffix):
                    token, found[name], changed = token[: -len(suffix)], True, True
        return cls(scope, token, found["admin"], not found["inherit"], not found["set"])


@dataclass(frozen=True)
class Statement:
    sql: str
    context: str = ""  # the database (or container) it runs in; "" at server level
    note: str = ""  # why it is a comment rather than a statement, or what it stands for
    ownership: bool = False  # ALTER ... OWNER TO: running it takes the object from its owner


@dataclass
class Account:
    """What rendering needs of an account (the model or a stand-in built by a test)."""

    db_type: str
    identity: str
    username: str
    host: str = ""
    is_role: bool = False
    is_locked: bool = False
    is_expired: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)
    version: str = ""  # the instance's version text

    @classmethod
    def of(cls, account: Any) -> Account:
        return cls(
            db_type=account.instance.db_type,
            identity=account.identity,
            username=account.username,
            host=account.host,
            is_role=account.is_role,
            is_locked=account.is_locked,
            is_expired=account.is_expired,
            attributes=dict(account.attributes or {}),
            version=account.instance.version or "",
        )

    @property
    def major(self) -> int:
        """The first number of the version text (PostgreSQL 16 grants take INHERIT / SET options)."""
        found = re.search(r"\d+", self.version)
        return int(found.group()) if found else 0

    @property
    def mariadb(self) -> bool:
        return "mariadb" in self.version.lower() or "default_role" in self.attributes


# --- the four engines -------------------------------------------------------------------------------
class Engine:
    """How one engine writes names, scopes, grants and memberships."""

    # scope kind -> number of names in its path (None: any), for reading a scope text back
    kinds: dict[str, int] = {}
    # scopes of the snapshot that hold memberships (exact texts or patterns)
    member_scopes: tuple[str, ...] = ()
    member_patterns: tuple[re.Pattern[str], ...] = ()
    option_word = "GRANT"
    revoke_word = "FROM"
    settings_first = False  # settings (default roles, quotas, user mappings) before the grants?
    free_tail: frozenset[str] = frozenset()  # kinds whose last path part may hold dots

    def __init__(self, account: Account, grantee: str | None = None) -> None:
        self.account = account
        self.override = grantee  # render for another grantee (a test's fresh role)

    # names
    def q(self, name: str) -> str:
        raise NotImplementedError

    def who(self, context: str = "") -> str:
        raise NotImplementedError

    # scopes: (context, ON clause or "", column suffix for the privilege or "")
    def target(self, kind: str, path: tuple[str, ...]) -> tuple[str, str] | None:
        raise NotImplementedError

    def context_line(self, context: str) -> str:
        return f"-- in {safe_text(context)}"

    # grants
    def grants(self, privileges: Iterable[Privilege], action: str = GRANT) -> list[Statement]:
        """One statement per scope and flags, privileges joined; column grants join their table's."""
        groups: dict[tuple[str, str, bool, bool], list[str]] = defaultdict(list)
        comments: list[Statement] = []
        rank = {kind: i for i, kind in enumerate(self.kinds)}
        for p in sorted(set(privileges), key=lambda p: (rank.get(p.kind, len(rank)), p)):
            if p.kind == "column":
                table = self.target(self.column_table_kind, p.path[:-1])
                if table is None:
                    comments.append(self.unknown(p, action))
                    continue
                context, on = table
                groups[(context, on, p.grantable, p.denied)].append(f"{p.privilege} ({self.q(p.path[-1])})")
                continue
            if p.privilege == "OWNER":
                comments.append(self.owner(p, action))
                continue
            found = self.target(p.kind, p.path)
            if found is None:
                comments.append(self.unknown(p, action))
                continue
            context, on = found
            groups[(context, on, p.grantable, p.denied)].append(p.privilege)
        out = [
            self.statement(action, self.join(privs), on, context, grantable, denied)
            for (context, on, grantable, denied), privs in groups.items()
        ]
        return out + comments

    column_table_kind = "table"

    def join(self, privileges: list[str]) -> str:
        """`SELECT (a), SELECT (b)` -> `SELECT (a, b)`, plain privileges first, order kept."""
        plain = [p for p in privileges if not p.endswith(")")]
        columns: dict[str, list[str]] = {}
        for p in privileges:
            if p.endswith(")"):
                name, _sep, column = p.partition(" (")
                columns.setdefault(name, []).append(column[:-1])
        return ", ".join([*plain, *(f"{n} ({', '.join(cs)})" for n, cs in columns.items())])

    def statement(
        self, action: str, privileges: str, on: str, context: str, grantable: bool, denied: bool
    ) -> Statement:
        where = f" ON {on}" if on else ""
        who = self.who(context)
        if action == REVOKE:
            return Statement(f"REVOKE {privileges}{where} {self.revoke_word} {who}", context)
        option = f" WITH {self.option_word} OPTION" if grantable else ""
        return Statement(f"{'DENY' if denied else 'GRANT'} {privileges}{where} TO {who}{option}", context)

    def owner(self, p: Privilege, action: str) -> Statement:
        what = safe_text(" ".join([p.kind, *p.path]))
        return Statement(
            "-- " + _("owner of %(object)s") % {"object": what},
            note=pgettext("owner of an object", "owner"),
            ownership=True,
        )

    def unknown(self, p: Privilege, action: str) -> Statement:
        text = f"{action} {p.privilege} ON {p.kind} {'.'.join(p.path)}"
        return Statement(f"-- {safe_text(text)}", note=_("no statement for this kind of object"))

    # memberships and per-account settings held as snapshot scopes
    def is_member_scope(self, scope: str) -> bool:
        return scope in self.member_scopes or any(p.fullmatch(scope) for p in self.member_patterns)

    def membership(self, m: Member, action: str = GRANT) -> Statement:
        raise NotImplementedError

    def setting(self, scope: str, tokens: list[str], action: str = GRANT) -> list[Statement]:
        """Statements for the other snapshot scopes an engine keeps (default roles, quotas)."""
        return []

    def attributes(self) -> list[Statement]:
        return []

    # reading a scope text back into its parts
    def parse_scope(self, text: str) -> tuple[str, tuple[str, ...]] | None:
        for kind in sorted(self.kinds, key=len, reverse=True):
            if text == kind and self.kinds[kind] == 0:
                return kind, ()
            if text.startswith(kind + " ") and self.kinds[kind]:
                arity, rest = self.kinds[kind], text[len(kind) + 1 :]
                # a dot inside a name makes the text ambiguous, unless the kind's last part is
                # free text (a routine's argument list)
                parts = tuple(rest.split(".", arity - 1) if kind in self.free_tail else rest.split("."))
                if len(parts) == arity and all(parts):
                    return kind, parts
                return None
        return None


def _mysql_string(value: Any) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"


class MySQL(Engine):
    kinds = {
        "global": 0,
        "database": 1,
        "table": 2,
        "column": 3,
        "procedure": 2,
        "function": 2,
        "package": 2,
        "package body": 2,
        "proxy": 1,
    }
    member_scopes = ("role",)

    def q(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def account_name(self, identity: str) -> str:
        """`user@host` (split at the last @) as `user`@`host`; a MariaDB role (no host) as `role`."""
        user, _at, host = identity.rpartition("@")
        return self.q(user) if not host else f"{self.q(user)}@{self.q(host)}"

    def who(self, context: str = "") -> str:
        if self.override:
            return self.override
        a = self.account
        if a.is_role and not a.host:
            # MariaDB's PUBLIC (10.11+) is a keyword in GRANT ... TO PUBLIC, as SHOW GRANTS writes it
            return "PUBLIC" if a.username == "PUBLIC" else self.q(a.username)
        return f"{self.q(a.username)}@{self.q(a.host)}"

    def target(self, kind: str, path: tuple[str, ...]) -> tuple[str, str] | None:
        if kind == "global":
            return "", "*.*"
        if kind == "database" and len(path) == 1:
            return "", f"{self.q(path[0])}.*"
        if kind == "table" and len(path) == 2:
            return "", f"{self.q(path[0])}.{self.q(path[1])}"
        if kind in ("procedure", "function", "package", "package body") and len(path) == 2:
            return "", f"{kind.upper()} {self.q(path[0])}.{self.q(path[1])}"
        if kind == "proxy" and len(path) == 1:
            return "", path[0]  # the adapter wrote it as SQL: 'user'@'host', quotes doubled
        return None

    def statement(
        self, action: str, privileges: str, on: str, context: str, grantable: bool, denied: bool
    ) -> Statement:
        if action == REVOKE and grantable:  # the grant option is a privilege of its own here
            privileges += ", GRANT OPTION"
        return super().statement(action, privileges, on, context, grantable, denied)

    def membership(self, m: Member, action: str = GRANT) -> Statement:
        role = self.account_name(m.role)
        if action == REVOKE:
            return Statement(f"REVOKE {role} FROM {self.who()}")
        return Statement(f"GRANT {role} TO {self.who()}" + (" WITH ADMIN OPTION" if m.admin else ""))

    def setting(self, scope: str, tokens: list[str], action: str = GRANT) -> list[Statement]:
        if scope != "default role":
            return []
        word = "FOR" if self.account.mariadb else "TO"
        if action == REVOKE:
            return [Statement(f"SET DEFAULT ROLE NONE {word} {self.who()}")]
        return [Statement(f"SET DEFAULT ROLE {self.account_name(t)} {word} {self.who()}") for t in tokens]

    def attributes(self) -> list[Statement]:
        a, attrs = self.account, self.account.attributes
        if a.is_role and self.who() == "PUBLIC":
            return []  # the server's own pseudo-role: it exists with its first grant
        if a.is_role:
            return [Statement(f"CREATE ROLE {self.who()}")]
        parts = [f"CREATE USER {self.who()}"]
        ssl = attrs.get("ssl_type") or ""
        if ssl == "ANY":
            parts.append("REQUIRE SSL")
        elif ssl == "X509":
            parts.append("REQUIRE X509")
        elif ssl == "SPECIFIED":
            required = [
                f"{word} {_mysql_string(attrs[key])}"
                for word, key in (
                    ("SUBJECT", "x509_subject"),
                    ("ISSUER", "x509_issuer"),
                    ("CIPHER", "ssl_cipher"),
                )
                if attrs.get(key)
            ]
            parts.append("REQUIRE " + " AND ".join(required) if required else "REQUIRE SSL")
        limits = [
            f"{word} {_number(attrs.get(key))}"
            for word, key in (
                ("MAX_QUERIES_PER_HOUR", "max_questions"),
                ("MAX_UPDATES_PER_HOUR", "max_updates"),
                ("MAX_CONNECTIONS_PER_HOUR", "max_connections"),
                ("MAX_USER_CONNECTIONS", "max_user_connections"),
                ("MAX_STATEMENT_TIME", "max_statement_time"),
            )
            if _number(attrs.get(key)) not in ("", "0")
        ]
        if limits:
            parts.append("WITH " + " ".join(limits))
        if a.is_locked:
            parts.append("ACCOUNT LOCK")
        if attrs.get("password_expired") == "Y":
            parts.append("PASSWORD EXPIRE")
        elif str(attrs.get("password_lifetime", "")) == "0":
            parts.append("PASSWORD EXPIRE NEVER")
        elif _number(attrs.get("password_lifetime")) not in ("", "0"):
            parts.append(f"PASSWORD EXPIRE INTERVAL {_number(attrs['password_lifetime'])} DAY")
        return [Statement(" ".join(parts))]


def _number(value: Any) -> str:
    """A limit as SQL text: digits and one dot only ('' when it is none)."""
    if value is None or value == "":
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return str(int(number)) if number == int(number) else repr(number)


# Reserved key words of PostgreSQL (those a name must be quoted for), from the SQL Key Words appendix.
PG_RESERVED = frozenset(
    """all analyse analyze and any array as asc asymmetric authorization binary both case cast check
    collate collation column concurrently constraint create cross current_catalog current_date
    current_role current_schema current_time current_timestamp current_user default deferrable desc
    distinct do else end except false fetch for foreign freeze from full grant group having ilike in
    initially inner intersect into is isnull join lateral leading left like limit localtime
    localtimestamp natural not notnull null offset on only or order outer overlaps placing primary
    references returning right select session_user similar some symmetric system_user table tablesample
    then to trailing true union unique user using variadic verbose when where window with""".split()
)
PG_KEYWORD_ON = {
    "database": "DATABASE",
    "tablespace": "TABLESPACE",
    "schema": "SCHEMA",
    "table": "TABLE",
    "view": "TABLE",
    "materialized view": "TABLE",
    "foreign table": "TABLE",
    "sequence": "SEQUENCE",
    "function": "FUNCTION",
    "procedure": "PROCEDURE",
    "aggregate": "ROUTINE",
    "type": "TYPE",
    "domain": "DOMAIN",
    "foreign data wrapper": "FOREIGN DATA WRAPPER",
    "foreign server": "FOREIGN SERVER",
    "language": "LANGUAGE",
    "large object": "LARGE OBJECT",
}
PG_KEYWORD_OWNER = {
    **PG_KEYWORD_ON,
    "view": "VIEW",
    "materialized view": "MATERIALIZED VIEW",
    "foreign table": "FOREIGN TABLE",
    "aggregate": "AGGREGATE",
    "foreign server": "SERVER",
}
SERVER_WIDE_PG = ("database", "tablespace", "parameter")


class PostgreSQL(Engine):
    kinds = {
        "database": 1,
        "tablespace": 1,
        "parameter": 1,
        "schema": 2,
        "table": 3,
        "view": 3,
        "materialized view": 3,
        "foreign table": 3,
        "sequence": 3,
        "column": 4,
        "function": 3,
        "procedure": 3,
        "aggregate": 3,
        "type": 3,
        "domain": 3,
        "foreign data wrapper": 2,
        "foreign server": 2,
        "language": 2,
        "large object": 2,
        "default privileges": 4,
    }
    member_scopes = ("member of",)
    free_tail = frozenset({"function", "procedure", "aggregate"})

    def q(self, name: str) -> str:
        if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) and name not in PG_RESERVED:
            return name
        return '"' + name.replace('"', '""') + '"'

    def role(self, name: str) -> str:
        return "PUBLIC" if name == "PUBLIC" else self.q(name)

    def who(self, context: str = "") -> str:
        return self.override or self.role(self.account.username)

    def context_line(self, context: str) -> str:
        return f"-- in database {safe_text(self.q(context))}"

    def routine(self, text: str) -> str:
        """`name(arg types)`: the name quoted, the argument list as the catalog wrote it."""
        depth, start = 0, -1
        for i in range(len(text) - 1, -1, -1):
            if text[i] == ")":
                depth += 1
            elif text[i] == "(":
                depth -= 1
                if depth == 0:
                    start = i
                    break
        if start <= 0 or not text.endswith(")"):
            return self.q(text)
        return self.q(text[:start]) + text[start:]

    def target(self, kind: str, path: tuple[str, ...]) -> tuple[str, str] | None:
        if kind in ("database", "tablespace") and len(path) == 1:
            return "", f"{PG_KEYWORD_ON[kind]} {self.q(path[0])}"
        if kind == "parameter" and len(path) == 1:
            return "", "PARAMETER " + ".".join(self.q(p) for p in path[0].split("."))
        if kind == "schema" and len(path) == 2:
            return path[0], f"SCHEMA {self.q(path[1])}"
        if kind in ("function", "procedure", "aggregate") and len(path) == 3:
            return path[0], f"{PG_KEYWORD_ON[kind]} {self.q(path[1])}.{self.routine(path[2])}"
        if kind in PG_KEYWORD_ON and len(path) == 3:
            return path[0], f"{PG_KEYWORD_ON[kind]} {self.q(path[1])}.{self.q(path[2])}"
        if kind in ("foreign data wrapper", "foreign server", "language") and len(path) == 2:
            return path[0], f"{PG_KEYWORD_ON[kind]} {self.q(path[1])}"
        if kind == "large object" and len(path) == 2 and path[1].isdigit():
            return path[0], f"LARGE OBJECT {path[1]}"
        return None

    def grants(self, privileges: Iterable[Privilege], action: str = GRANT) -> list[Statement]:
        privileges = list(privileges)
        defaults = [p for p in privileges if p.kind == "default privileges"]
        out = super().grants([p for p in privileges if p.kind != "default privileges"], action)
        groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for p in sorted(defaults):
            if len(p.path) == 4:
                groups[(*p.path, str(p.grantable))].append(p.privilege)
            else:
                out.append(self.unknown(p, action))
        for (database, schema, objects, owner, grantable), privs in groups.items():
            head = f"ALTER DEFAULT PRIVILEGES FOR ROLE {self.role(owner)}"
            head += f" IN SCHEMA {self.q(schema)}" if schema else ""
            if action == REVOKE:
                body = f"REVOKE {', '.join(privs)} ON {objects.upper()} FROM {self.who()}"
            else:
                option = " WITH GRANT OPTION" if grantable == "True" else ""
                body = f"GRANT {', '.join(privs)} ON {objects.upper()} TO {self.who()}{option}"
            out.append(Statement(f"{head} {body}", database))
        return out

    def owner(self, p: Privilege, action: str) -> Statement:
        found = self.target(p.kind, p.path)
        if found is None or p.kind not in PG_KEYWORD_OWNER:
            return self.unknown(p, action)
        context, on = found
        what = on.split(" ", len(PG_KEYWORD_ON[p.kind].split()))[-1]
        note = pgettext("owner of an object", "owner") if action == GRANT else _("owner until this change")
        sql = f"ALTER {PG_KEYWORD_OWNER[p.kind]} {what} OWNER TO {self.who()}"
        return Statement(sql, context, note, ownership=True)

    def membership(self, m: Member, action: str = GRANT) -> Statement:
        if action == REVOKE:
            return Statement(f"REVOKE {self.role(m.role)} FROM {self.who()}")
        options = ["ADMIN OPTION"] if m.admin else []
        if self.account.major >= 16 or not self.account.major:
            options += [o for o, on in (("INHERIT FALSE", not m.inherit), ("SET FALSE", not m.set)) if on]
        tail = f" WITH {', '.join(options)}" if options else ""
        return Statement(f"GRANT {self.role(m.role)} TO {self.who()}{tail}")

    def attributes(self) -> list[Statement]:
        attrs = self.account.attributes
        if attrs.get("pseudo_role"):
            return []
        words = [
            word
            for word, key in (
                ("SUPERUSER", "superuser"),
                ("LOGIN", "login"),
                ("CREATEDB", "createdb"),
                ("CREATEROLE", "createrole"),
                ("REPLICATION", "replication"),
                ("BYPASSRLS", "bypassrls"),
            )
            if attrs.get(key) is True
        ]
        if attrs.get("inherit") is False:
            words.append("NOINHERIT")
        limit = attrs.get("connection_limit")
        if isinstance(limit, int) and limit != -1:
            words.append(f"CONNECTION LIMIT {limit}")
        until = attrs.get("valid_until")
        if until and until != "infinity":
            words.append("VALID UNTIL '" + str(until).replace("'", "''") + "'")
        if not words:
            return []
        return [Statement(f"ALTER ROLE {self.who()} WITH {' '.join(words)}")]


SQLSERVER_SCOPED = {
    "role": "ROLE",
    "application role": "APPLICATION ROLE",
    "user": "USER",
    "certificate": "CERTIFICATE",
}
SQLSERVER_SERVER = {"endpoint": "ENDPOINT", "login": "LOGIN", "availability group": "AVAILABILITY GROUP"}


class SQLServer(Engine):
    kinds = {
        "server": 0,
        "endpoint": 1,
        "login": 1,
        "availability group": 1,
        "database": 1,
        "schema": 2,
        "object": 3,
        "column": 4,
        "role": 2,
        "application role": 2,
        "user": 2,
        "certificate": 2,
    }
    member_scopes = ("server role",)
    member_patterns = (re.compile(r"database (.+) role", re.DOTALL),)
    settings_first = True  # CREATE USER ... FOR LOGIN before what is granted to that user
    column_table_kind = "object"

    def __init__(
        self, account: Account, grantee: str | None = None, users: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(account, grantee)
        self.users = dict(users or {})  # database -> this login's user there

    def q(self, name: str) -> str:
        return "[" + name.replace("]", "]]") + "]"

    @property
    def database(self) -> str:
        """The database of a database principal ('' for a login or a server role)."""
        return str(self.account.attributes.get("database") or "")

    def who(self, context: str = "") -> str:
        if self.override:
            return self.override
        attrs = self.account.attributes
        if self.database:
            return self.q(str(attrs.get("name") or self.account.username))
        if context and context in self.users:
            return self.q(self.users[context])
        return self.q(self.account.username)

    def context_line(self, context: str) -> str:
        return f"USE {self.q(context)}"

    def target(self, kind: str, path: tuple[str, ...]) -> tuple[str, str] | None:
        if kind == "server":
            return "", ""
        if kind in SQLSERVER_SERVER and len(path) == 1:
            return "", f"{SQLSERVER_SERVER[kind]}::{self.q(path[0])}"
        if kind == "database" and len(path) == 1:
            return path[0], ""
        if kind == "schema" and len(path) == 2:
            return path[0], f"SCHEMA::{self.q(path[1])}"
        if kind == "object" and len(path) == 3:
            return path[0], f"OBJECT::{self.q(path[1])}.{self.q(path[2])}"
        if kind in SQLSERVER_SCOPED and len(path) == 2:
            return path[0], f"{SQLSERVER_SCOPED[kind]}::{self.q(path[1])}"
        return None

    def grants(self, privileges: Iterable[Privilege], action: str = GRANT) -> list[Statement]:
        privileges = list(privileges)
        built_in = self.fixed()
        out = [
            Statement(f"-- {safe_text(p.privilege)}", self.database, _("built into the fixed role"))
            for p in privileges
            if (p.privilege, p.grantable, p.denied) in built_in
        ]
        return out + super().grants(
            [p for p in privileges if (p.privilege, p.grantable, p.denied) not in built_in], action
        )

    def fixed(self) -> set[tuple[str, bool, bool]]:
        """What a fixed role holds by definition (nothing to GRANT: the server gives it)."""
        if not self.account.is_role:
            return set()
        if self.database:
            name = str(self.account.attributes.get("name") or "")
            return set(FIXED_DATABASE_ROLES.get(name, ()))
        return set(FIXED_SERVER_ROLES.get(self.account.username, ()))

    def membership(self, m: Member, action: str = GRANT) -> Statement:
        verb = "ADD" if action == GRANT else "DROP"
        if m.scope == "server role":
            return Statement(f"ALTER SERVER ROLE {self.q(m.role)} {verb} MEMBER {self.who()}")
        found = self.member_patterns[0].fullmatch(m.scope)
        database = found.group(1) if found else ""
        return Statement(f"ALTER ROLE {self.q(m.role)} {verb} MEMBER {self.who(database)}", database)

    def setting(self, scope: str, tokens: list[str], action: str = GRANT) -> list[Statement]:
        found = re.fullmatch(r"database (.+) user", scope, re.DOTALL)
        if not found:
            return []
        database = found.group(1)
        if action == REVOKE:
            return [Statement(f"DROP USER {self.q(t)}", database) for t in tokens]
        login = self.q(self.account.username)
        return [Statement(f"CREATE USER {self.q(t)} FOR LOGIN {login}", database) for t in tokens]

    def attributes(self) -> list[Statement]:
        if self.database or self.account.is_role:
            return []
        out = []
        if self.account.attributes.get("disabled"):
            out.append(Statement(f"ALTER LOGIN {self.who()} DISABLE"))
        attrs = self.account.attributes
        # A new login has CONNECT SQL: without it, it was taken away (a DENY is stated as a grant).
        if attrs.get("connect_sql_not_granted") and not attrs.get("connect_sql_denied"):
            out.append(Statement(f"REVOKE CONNECT SQL FROM {self.who()}"))
        return out


ORACLE_RESERVED = frozenset(
    """ACCESS ADD ALL ALTER AND ANY AS ASC AUDIT BETWEEN BY CHAR CHECK CLUSTER COLUMN COMMENT COMPRESS
    CONNECT CREATE CURRENT DATE DECIMAL DEFAULT DELETE DESC DISTINCT DROP ELSE EXCLUSIVE EXISTS FILE FLOAT
    FOR FROM GRANT GROUP HAVING IDENTIFIED IMMEDIATE IN INCREMENT INDEX INITIAL INSERT INTEGER INTERSECT
    INTO IS LEVEL LIKE LOCK LONG MAXEXTENTS MINUS MLSLABEL MODE MODIFY NOAUDIT NOCOMPRESS NOT NOWAIT NULL
    NUMBER OF OFFLINE ON ONLINE OPTION OR ORDER PCTFREE PRIOR PUBLIC RAW RENAME RESOURCE REVOKE ROW ROWID
    ROWNUM ROWS SELECT SESSION SET SHARE SIZE SMALLINT START SUCCESSFUL SYNONYM SYSDATE TABLE THEN TO
    TRIGGER UID UNION UNIQUE UPDATE USER VALIDATE VALUES VARCHAR VARCHAR2 VIEW WHENEVER WHERE WITH""".split()
)
ORACLE_ADMIN_KINDS = ("system", "schema", "container")


class Oracle(Engine):
    kinds = {"system": 0, "container": 1, "schema": 1, "object": 2, "column": 3}
    member_scopes = ("role",)
    member_patterns = (re.compile(r"container (.+) role", re.DOTALL),)
    column_table_kind = "object"

    def q(self, name: str) -> str:
        if re.fullmatch(r"[A-Z][A-Z0-9_$#]*", name) and name not in ORACLE_RESERVED:
            return name
        return '"' + name.replace('"', '""') + '"'

    def name_of(self, identity: str) -> str:
        """`NAME@PDB` (a local user read from a CDB root) -> NAME; other names as they are."""
        container = self.account.attributes.get("container")
        if container and identity.endswith(f"@{container}"):
            return identity[: -len(container) - 1]
        return identity

    def role(self, name: str) -> str:
        """A role's name; the predefined CONNECT and RESOURCE as Oracle's own scripts write them."""
        base, at, container = name.rpartition("@")
        name = base if at and container and base else name
        return name if name in ("CONNECT", "RESOURCE") else self.q(name)

    def who(self, context: str = "") -> str:
        if self.override:
            return self.override
        return "PUBLIC" if self.account.username == "PUBLIC" else self.q(self.name_of(self.account.username))

    def context_line(self, context: str) -> str:
        return f"ALTER SESSION SET CONTAINER = {self.q(context)}"

    def cdb(self, kind: str, path: tuple[str, ...]) -> bool:
        return len(path) == {"schema": 2, "object": 3, "column": 4}.get(kind, -1)

    def target(self, kind: str, path: tuple[str, ...]) -> tuple[str, str] | None:
        context = ""
        if kind == "container" and len(path) == 1:
            return path[0], ""
        if self.cdb(kind, path):
            context, path = path[0], path[1:]
        if kind == "system" and not path:
            return context, ""
        if kind == "schema" and len(path) == 1:
            return context, f"SCHEMA {self.q(path[0])}"
        if kind == "object" and len(path) == 2:
            return context, f"{self.q(path[0])}.{self.q(path[1])}"
        return None

    def grants(self, privileges: Iterable[Privilege], action: str = GRANT) -> list[Statement]:
        """System and schema privileges are passed on WITH ADMIN OPTION, objects' WITH GRANT OPTION."""
        privileges = list(privileges)
        out = []
        for word, kinds in (("ADMIN", True), ("GRANT", False)):
            self.option_word = word
            out += super().grants([p for p in privileges if (p.kind in ORACLE_ADMIN_KINDS) == kinds], action)
        return out

    def membership(self, m: Member, action: str = GRANT) -> Statement:
        found = self.member_patterns[0].fullmatch(m.scope)
        context = found.group(1) if found else ""
        if action == REVOKE:
            return Statement(f"REVOKE {self.role(m.role)} FROM {self.who()}", context)
        return Statement(
            f"GRANT {self.role(m.role)} TO {self.who()}" + (" WITH ADMIN OPTION" if m.admin else ""), context
        )

    def setting(self, scope: str, tokens: list[str], action: str = GRANT) -> list[Statement]:
        found = re.fullmatch(r"(?:container (.+) )?(default role|quota)", scope, re.DOTALL)
        if not found:
            return []
        context, what = found.group(1) or "", found.group(2)
        if what == "default role":
            if action == REVOKE:
                roles = safe_text(", ".join(tokens))
                return [
                    Statement("-- " + _("no longer a default role: %(roles)s") % {"roles": roles}, context)
                ]
            roles = ", ".join(self.role(t) for t in tokens)
            return [Statement(f"ALTER USER {self.who()} DEFAULT ROLE {roles}", context)]
        out = []
        for token in tokens:
            if token.endswith(" UNLIMITED"):
                space, limit = token[: -len(" UNLIMITED")], "UNLIMITED"
            elif token.endswith(" BYTES") and token.count(" ") >= 2:
                space, _sep, limit = token[: -len(" BYTES")].rpartition(" ")
            else:
                continue
            limit = "0" if action == REVOKE else limit
            out.append(Statement(f"ALTER USER {self.who()} QUOTA {limit} ON {self.q(space)}", context))
        return out

    def attributes(self) -> list[Statement]:
        a, attrs = self.account, self.account.attributes
        if a.is_role or attrs.get("pseudo_role"):
            return []
        parts = []
        for word, key in (
            ("DEFAULT TABLESPACE", "default_tablespace"),
            ("TEMPORARY TABLESPACE", "temporary_tablespace"),
        ):
            if attrs.get(key):
                parts.append(f"{word} {self.q(str(attrs[key]))}")
        if attrs.get("profile") and attrs.get("profile") != "DEFAULT":
            parts.append(f"PROFILE {self.q(str(attrs['profile']))}")
        if a.is_locked:
            parts.append("ACCOUNT LOCK")
        if attrs.get("must_change_password"):
            parts.append("PASSWORD EXPIRE")
        if not parts:
            return []
        return [Statement(f"ALTER USER {self.who()} {' '.join(parts)}")]


ENGINES: dict[str, type[Engine]] = {
    "mysql": MySQL,
    "postgresql": PostgreSQL,
    "sqlserver": SQLServer,
    "oracle": Oracle,
}


def engine_for(
    account: Account, permissions: Mapping[str, list[str]] | None = None, grantee: str | None = None
) -> Engine:
    cls = ENGINES[account.db_type]
    if cls is SQLServer:
        users = {}
        for scope, tokens in (permissions or {}).items():
            found = re.fullmatch(r"database (.+) user", scope, re.DOTALL)
            if found and tokens:
                users[found.group(1)] = tokens[0]
        return SQLServer(account, grantee, users)
    return cls(account, grantee)


# --- the account's current permissions --------------------------------------------------------------
def direct_privileges(rows: Iterable[Any]) -> list[Privilege]:
    """Store rows (models or `values()` dicts) of direct grants as `Privilege`s (derived ones left out)."""
    out = []
    for r in rows:
        get: Callable[[str], Any] = r.get if isinstance(r, dict) else partial(getattr, r)
        if get("via"):
            continue
        out.append(
            Privilege(
                get("scope_kind"), tuple(get("path")), get("privilege"), get("grantable"), get("denied")
            )
        )
    return out


def statements(
    account: Account,
    privileges: Iterable[Privilege],
    permissions: Mapping[str, list[str]],
    *,
    grantee: str | None = None,
    with_attributes: bool = True,
) -> list[Statement]:
    """The account's attributes, memberships, direct grants and settings as statements, in an
    order that runs: a SQL Server user exists before its grants, a default role is granted first."""
    engine = engine_for(account, permissions, grantee)
    members: list[Statement] = []
    settings: list[Statement] = []
    for scope, tokens in sorted(permissions.items()):
        direct = [t for t in tokens if not is_derived(t)]
        if engine.is_member_scope(scope):
            members += [engine.membership(Member.parse(scope, t)) for t in direct]
        else:
            settings += engine.setting(scope, direct)
    out = list(engine.attributes()) if with_attributes else []
    if engine.settings_first:
        return out + settings + members + engine.grants(privileges)
    return out + members + engine.grants(privileges) + settings


def grouped(account: Account, items: Iterable[Statement]) -> list[tuple[str, list[Statement]]]:
    """Statements by context, server level first: [(the line that enters the context, statements)]."""
    engine = ENGINES[account.db_type](account)
    groups: dict[str, list[Statement]] = {}
    for s in items:
        groups.setdefault(s.context, []).append(s)
    ordered = sorted(groups.items(), key=lambda kv: (kv[0] != "", kv[0]))
    return [(engine.context_line(c) if c else "", group) for c, group in ordered]


# --- the entries of a change --------------------------------------------------------------------------
def entry_statements(
    account: Account,
    action: str,
    scope: str,
    token: str,
    *,
    paths: Mapping[str, tuple[str, tuple[str, ...]]] | None = None,
    permissions: Mapping[str, list[str]] | None = None,
) -> list[Statement]:
    """What one GRANT / REVOKE entry token means as statements (empty when it has none:
    a privilege held through a role is the role's grant, not the account's)."""
    if is_derived(token):
        return []
    engine = engine_for(account, permissions)
    if engine.is_member_scope(scope):
        return [engine.membership(Member.parse(scope, token), action)]
    settings = engine.setting(scope, [token], action)
    if settings:
        return settings
    found = (paths or {}).get(scope) or engine.parse_scope(scope)
    if found is None:
        return []
    name, grantable, denied, _option = parse_token(token)
    if name == SUPERUSER:
        return []
    kind, path = found
    return engine.grants([Privilege(kind, path, name, grantable, denied)], action)
