"""How much an account change matters: critical, high or normal.

The rules are data: `RULES` below, one line per rule (severity, change type, condition, reason),
read top to bottom. The sync assesses each change once, when it writes it, and stores the
outcome in `AccountChange.severity`; the admin's "risky changes" filter, the home page panel and
the change pages read that column, so they agree and cost one indexed lookup with any number of
changes. Editing a rule changes what new changes get; a data migration re-assesses old ones.

What the conditions look at is the change's own record: the `add` details (facts and the
permission snapshot the account arrived with), the before/after of changed attributes, and the
GRANT entries of a privilege change. A REVOKE never raises the severity, nor does a DENY.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts_sync.models import ChangeType, Severity

CRITICAL, HIGH, NORMAL = Severity.CRITICAL.value, Severity.HIGH.value, Severity.NORMAL.value
RANK = {CRITICAL: 0, HIGH: 1, NORMAL: 2}

# Privileges (or roles) that hand over a whole server or a whole scope, whoever holds them.
SWEEPING = frozenset(
    {
        "ALL",
        "ALL PRIVILEGES",
        "SUPER",  # MySQL / MariaDB
        "CONTROL SERVER",  # SQL Server
        "CONTROL",
        "sysadmin",
        "securityadmin",
        "db_owner",
        "GRANT ANY PRIVILEGE",  # Oracle
        "GRANT ANY OBJECT PRIVILEGE",
        "GRANT ANY ROLE",
        "DBA",
        "pg_execute_server_program",  # PostgreSQL roles that reach the server's own account
        "pg_write_server_files",
    }
)
# First words of privileges that change data, schema or accounts.
WRITE_WORDS = frozenset(
    {
        "INSERT",
        "UPDATE",
        "DELETE",
        "TRUNCATE",
        "MERGE",
        "CREATE",
        "DROP",
        "ALTER",
        "INDEX",
        "TRIGGER",
        "EVENT",
        "OWNER",
        "CONTROL",
        "TAKE",  # TAKE OWNERSHIP
        "FILE",
        "ALL",
        "SUPER",
    }
)
NOT_WRITES = frozenset({"CREATE SESSION"})  # Oracle's "may log in"
OPTIONS = (" WITH GRANT OPTION", " WITH ADMIN OPTION")
DERIVED = (" (via ", " (as superuser)")

Details = Mapping[str, Any]
Condition = Callable[[Details], bool]


def base_name(token: str) -> tuple[str, bool]:
    """`SELECT WITH GRANT OPTION (via r_app)` -> ('SELECT', grant option?); DENY tokens -> ('', False)."""
    if token.startswith("DENY "):
        return "", False
    for marker in DERIVED:
        if marker in token:
            token = token[: token.index(marker)]
    option = any(marker in token for marker in OPTIONS)
    for marker in OPTIONS:
        if marker in token:
            token = token[: token.index(marker)]
    return token, option


def sweeping(token: str) -> bool:
    name, _option = base_name(token)
    return name in SWEEPING


def with_option(token: str) -> bool:
    return base_name(token)[1]


def writes(token: str) -> bool:
    name, _option = base_name(token)
    return bool(name) and name not in NOT_WRITES and name.split(" ", 1)[0].upper() in WRITE_WORDS


# --- conditions -----------------------------------------------------------------------------------
def fact(name: str, value: Any) -> Condition:
    """The new account arrived with this fact (`is_superuser` True, ...)."""
    return lambda details: details.get(name) is value


def became(name: str, value: Any) -> Condition:
    """An attribute or fact changed to `value` from something else."""

    def check(details: Details) -> bool:
        change = (details.get("changes") or {}).get(name) or {}
        return change.get("after") is value and change.get("before") is not value

    return check


def holds(test: Callable[[str], bool], *, login: bool = False) -> Condition:
    """The new account's snapshot has a token passing `test` (and it can log in, if asked)."""

    def check(details: Details) -> bool:
        if login and details.get("can_login") is not True:
            return False
        return any(test(t) for tokens in (details.get("permissions") or {}).values() for t in tokens)

    return check


def granted(test: Callable[[str], bool]) -> Condition:
    """A GRANT entry of a privilege change has a token passing `test`."""

    def check(details: Details) -> bool:
        return any(
            test(t)
            for entry in details.get("entries") or ()
            if entry.get("action") == "GRANT"
            for t in entry.get("privileges") or ()
        )

    return check


def back_on_the_server(details: Details) -> bool:
    """A reactivation the server made, not one an exclusion rule's removal made."""
    return not details.get("included")


@dataclass(frozen=True)
class Rule:
    severity: str
    change_type: str
    condition: Condition
    reason: str | Promise


RULES: tuple[Rule, ...] = (
    Rule(CRITICAL, ChangeType.ADD, fact("is_superuser", True), _("new superuser")),
    Rule(CRITICAL, ChangeType.MODIFY_OTHER, became("is_superuser", True), _("became superuser")),
    Rule(CRITICAL, ChangeType.ADD, holds(sweeping), _("new account with ALL / SUPER / CONTROL")),
    Rule(CRITICAL, ChangeType.ADD, holds(with_option), _("new account with a grant or admin option")),
    Rule(CRITICAL, ChangeType.MODIFY_PRIVILEGE, granted(sweeping), _("ALL / SUPER / CONTROL granted")),
    Rule(CRITICAL, ChangeType.MODIFY_PRIVILEGE, granted(with_option), _("grant or admin option granted")),
    Rule(HIGH, ChangeType.ADD, holds(writes, login=True), _("new login with write privileges")),
    Rule(HIGH, ChangeType.MODIFY_OTHER, became("is_locked", False), _("unlocked")),
    Rule(HIGH, ChangeType.MODIFY_OTHER, became("can_login", True), _("can log in again")),
    Rule(HIGH, ChangeType.REACTIVATE, back_on_the_server, _("listed again after it was gone")),
)


def assess(change_type: str, details: Details | None, rules: Iterable[Rule] = RULES) -> tuple[str, list[str]]:
    """The severity of a change and the reasons of the rules that gave it (the most severe)."""
    matched = [r for r in rules if r.change_type == change_type and r.condition(details or {})]
    if not matched:
        return NORMAL, []
    level = min((r.severity for r in matched), key=RANK.__getitem__)
    return level, [str(r.reason) for r in matched if r.severity == level]


def reasons(change: Any) -> list[str]:
    """Why a stored change has its severity (evaluated again, for display)."""
    return assess(change.change_type, change.details)[1]


def risky() -> Q:
    """Critical or high."""
    return Q(severity__in=(CRITICAL, HIGH))


CRITICAL_ONLY = Q(severity=CRITICAL)
