"""A small reader of MariaDB/MySQL `SHOW GRANTS` output, the engine's own account of an account.

It turns each line into facts of the privilege model, so that a test can compare what the server
says with what the adapter read, fact for fact:

    GRANT privs ON scope TO account [... WITH GRANT OPTION ...]
    GRANT PROXY ON account TO account [WITH GRANT OPTION]
    GRANT role TO account [WITH ADMIN OPTION]
    SET DEFAULT ROLE role FOR account
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from accounts_sync.adapters.mysql import account_text, identity
from accounts_sync.canonical import direct_only
from accounts_sync.privileges import Scope

TOKEN = re.compile(
    r"\s*(?:(?P<id>`(?:[^`]|``)*`)|(?P<str>'(?:[^'\\]|\\.|'')*')|(?P<punct>[(),.@*])"
    r"|(?P<num>\d+(?:\.\d+)?)|(?P<word>[A-Za-z_][A-Za-z0-9_$]*))"
)
ROUTINES = {"PROCEDURE", "FUNCTION", "PACKAGE"}


@dataclass(frozen=True)
class Tok:
    kind: str
    text: str

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


def tokenize(line: str) -> list[Tok]:
    out, pos = [], 0
    while pos < len(line):
        m = TOKEN.match(line, pos)
        if not m or m.end() == pos:
            if line[pos:].strip():
                raise ValueError(f"cannot read SHOW GRANTS text at {line[pos : pos + 30]!r}")
            break
        kind = m.lastgroup or ""
        text = m.group(kind)
        if kind == "id":
            text = text[1:-1].replace("``", "`")
        elif kind == "str":
            text = text[1:-1].replace("''", "'")
        out.append(Tok(kind, text))
        pos = m.end()
    return out


@dataclass(frozen=True, order=True)
class Fact:
    """One fact as SHOW GRANTS states it, in the snapshot's terms."""

    scope: str  # rendered scope text ("global", "table db.t", "role", "default role", ...)
    token: str  # "SELECT WITH GRANT OPTION", "r@ WITH ADMIN OPTION", ...


class Reader:
    def __init__(self, all_global: Iterable[str]) -> None:
        # What `ALL PRIVILEGES ON *.*` means on this server (from SHOW PRIVILEGES).
        self.all_global = sorted(all_global)

    def facts(self, lines: Iterable[str]) -> dict[str, set[Fact]]:
        """Facts per grantee identity. SHOW GRANTS FOR a MariaDB role also lists the grants of
        the roles granted to it, under their own names: those belong to those roles."""
        out: dict[str, set[Fact]] = {}
        for line in lines:
            who, facts = self.line(tokenize(line))
            out.setdefault(who, set()).update(facts)
        return out

    def line(self, t: list[Tok]) -> tuple[str, set[Fact]]:
        if t[0].is_word("SET"):  # SET DEFAULT ROLE r FOR account
            who, _ = self.account(t, t.index(next(x for x in t if x.is_word("FOR"))) + 1)
            return who, {Fact("default role", identity(t[3].text, ""))}
        assert t[0].is_word("GRANT"), t
        to = next(i for i, x in enumerate(t) if x.is_word("TO"))
        who, end = self.account(t, to + 1)
        rest = t[end:]
        option = any(a.is_word("GRANT") and b.is_word("OPTION") for a, b in itertools.pairwise(rest))
        admin = any(a.is_word("ADMIN") and b.is_word("OPTION") for a, b in itertools.pairwise(rest))
        if to == 2 and t[1].kind == "id":  # GRANT role TO account
            return who, {Fact("role", identity(t[1].text, "") + (" WITH ADMIN OPTION" if admin else ""))}
        suffix = " WITH GRANT OPTION" if option else ""
        on = next(i for i, x in enumerate(t) if x.is_word("ON"))
        if t[1].is_word("PROXY") and on == 2:
            (user, host), _ = self.parts(t, on + 1)
            return who, {Fact(Scope.of("proxy", account_text(user, host)).render(), "PROXY" + suffix)}
        scope = self.scope(t[on + 1 : to])
        facts = set()
        for name, columns in self.privileges(t[1:on]):
            if name == "ALL PRIVILEGES" and scope.kind == "global":
                facts |= {Fact("global", p + suffix) for p in self.all_global}
            elif name == "USAGE":
                if suffix:
                    facts.add(Fact(scope.render(), "USAGE" + suffix))
            elif columns:
                facts |= {Fact(Scope.of("column", *scope.path, c).render(), name + suffix) for c in columns}
            else:
                facts.add(Fact(scope.render(), name + suffix))
        return who, facts

    @staticmethod
    def privileges(t: list[Tok]) -> list[tuple[str, list[str]]]:
        """`SELECT (`c`, `d`), UPDATE` -> [("SELECT", ["c", "d"]), ("UPDATE", [])]."""
        out: list[tuple[str, list[str]]] = []
        words: list[str] = []
        columns: list[str] = []
        depth = 0
        for x in [*t, Tok("punct", ",")]:
            if x.text == "(" and x.kind == "punct":
                depth += 1
            elif x.text == ")" and x.kind == "punct":
                depth -= 1
            elif depth:
                if x.kind == "id":
                    columns.append(x.text)
            elif x.kind == "punct" and x.text == ",":
                out.append((" ".join(words).upper(), columns))
                words, columns = [], []
            else:
                words.append(x.text)
        return out

    @staticmethod
    def scope(t: list[Tok]) -> Scope:
        """`*.*`, `db`.*, `db`.`t`, PROCEDURE `db`.`p`."""
        kind = ""
        if t[0].is_word(*ROUTINES):
            kind, t = t[0].text.lower(), t[1:]
        names = [x.text for x in t if x.text != "."]
        if names == ["*", "*"]:
            return Scope("global")
        if names[1] == "*":
            return Scope.of("database", names[0])
        return Scope.of(kind or "table", names[0], names[1])

    def account(self, t: list[Tok], i: int) -> tuple[str, int]:
        (user, host), end = self.parts(t, i)
        return identity(user, host), end

    @staticmethod
    def parts(t: list[Tok], i: int) -> tuple[tuple[str, str], int]:
        """`user`@`host` (a role: `name` alone, host '') -> ((user, host), next index)."""
        user = t[i].text
        if i + 2 < len(t) and t[i + 1].kind == "punct" and t[i + 1].text == "@":
            return (user, t[i + 2].text), i + 3
        return (user, ""), i + 1


def snapshot_facts(permissions: dict[str, list[str]]) -> set[Fact]:
    """The stored direct grants (privileges held through roles are SHOW GRANTS' concern only
    for the role itself)."""
    return {Fact(scope, token) for scope, tokens in direct_only(permissions).items() for token in tokens}


# SHOW CREATE USER option -> the account attribute that keeps it.
LIMIT_ATTRIBUTES = {
    "MAX_QUERIES_PER_HOUR": "max_questions",
    "MAX_UPDATES_PER_HOUR": "max_updates",
    "MAX_CONNECTIONS_PER_HOUR": "max_connections",
    "MAX_USER_CONNECTIONS": "max_user_connections",
    "MAX_STATEMENT_TIME": "max_statement_time",
}
REQUIRE_ATTRIBUTES = {"ISSUER": "x509_issuer", "SUBJECT": "x509_subject", "CIPHER": "ssl_cipher"}


def create_user_facts(line: str) -> dict[str, object]:
    """Attributes stated by `SHOW CREATE USER`: REQUIRE values, limits, lock, expiry."""
    t = tokenize(line)
    out: dict[str, object] = {"locked": False, "expired": False}
    for i, x in enumerate(t):
        nxt = t[i + 1] if i + 1 < len(t) else Tok("", "")
        if x.kind == "word" and x.text.upper() in REQUIRE_ATTRIBUTES and nxt.kind == "str":
            out[REQUIRE_ATTRIBUTES[x.text.upper()]] = nxt.text
        elif x.kind == "word" and x.text.upper() in LIMIT_ATTRIBUTES and nxt.kind == "num":
            out[LIMIT_ATTRIBUTES[x.text.upper()]] = nxt.text
        elif x.is_word("ACCOUNT") and nxt.is_word("LOCK"):
            out["locked"] = True
        elif x.is_word("PASSWORD") and nxt.is_word("EXPIRE"):
            after = t[i + 2] if i + 2 < len(t) else Tok("", "")
            out["expired"] = not after.is_word("INTERVAL", "NEVER", "DEFAULT")
    return out
