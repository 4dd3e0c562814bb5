"""Alert rule kind of the accounts app: account changes that matter, one message per sync session.

Which changes matter is the rule's choice (`options["events"]`): a new superuser, a new grant or
admin option, a new account, a dropped account, or any privilege change on a watched object
(`options["watched"]`, SQL LIKE patterns on the scope, e.g. `table shop.%`). All the matching
changes of one session go out together, so a sync that changes a hundred accounts sends one
message, not a hundred.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from accounts_sync.models import AccountChange, ChangeType, like
from whalefall.alerts.registry import Event, register
from whalefall.models import AlertRule
from whalefall.textsafe import safe_text

EVENTS = ("new_superuser", "new_grant_option", "new_account", "dropped_account", "watched")
DEFAULT_EVENTS = ("new_superuser", "new_grant_option", "dropped_account", "watched")
MAX_LINES = 50
GRANTING = (" WITH GRANT OPTION", " WITH ADMIN OPTION")


def _granting(privileges: list[str]) -> list[str]:
    return [p for p in privileges if any(marker in p for marker in GRANTING)]


def classify(change: AccountChange, events: set[str], watched: list[str]) -> list[str]:
    """What about this change matters to the rule, as readable phrases (empty: nothing)."""
    details: dict[str, Any] = change.details or {}
    out: list[str] = []
    if change.change_type == ChangeType.BASELINE:
        return out  # a first sync found these accounts: none of them is new to the server
    if change.change_type == ChangeType.ADD:
        if "new_account" in events:
            out.append("new account")
        if "new_superuser" in events and details.get("is_superuser"):
            out.append("new account is a SUPERUSER")
        perms = details.get("permissions", {})
        granting = [f"{p} ON {s}" for s, privs in perms.items() for p in _granting(privs)]
        if "new_grant_option" in events and granting:
            out.append("new account can grant: " + ", ".join(granting[:5]))
    elif change.change_type == ChangeType.DEACTIVATE and "dropped_account" in events:
        out.append("account dropped (no longer listed)")
    elif change.change_type == ChangeType.MODIFY_OTHER and "new_superuser" in events:
        superuser = details.get("changes", {}).get("is_superuser")
        if superuser and superuser.get("after") and not superuser.get("before"):
            out.append("became SUPERUSER")
    elif change.change_type == ChangeType.MODIFY_PRIVILEGE:
        for entry in details.get("entries", []):
            if entry.get("action") != "GRANT" and not watched:
                continue
            scope, privileges = entry.get("scope", ""), entry.get("privileges", [])
            if "new_grant_option" in events and entry.get("action") == "GRANT" and _granting(privileges):
                out.append(f"GRANT {', '.join(_granting(privileges))} ON {scope}")
            elif "watched" in events and any(like(scope, pattern) for pattern in watched):
                out.append(f"{entry['action']} {', '.join(privileges)} ON {scope} (watched)")
    return out


def risky_changes(rule: AlertRule, since: datetime, now: datetime) -> list[Event]:
    options = rule.options or {}
    events = set(options.get("events") or DEFAULT_EVENTS) & set(EVENTS)
    watched = [str(p) for p in options.get("watched", [])]
    changes = (
        AccountChange.objects.filter(created_at__gt=since, created_at__lte=now)
        .select_related("account", "instance")
        .order_by("created_at", "id")
    )
    by_session: dict[str, list[str]] = defaultdict(list)
    for change in changes.iterator(chunk_size=2000):
        for what in classify(change, events, watched):
            account = f"{change.instance.name} {change.account.identity}"
            by_session[str(change.session_uuid)].append(safe_text(f"{account}: {what}"))
    out = []
    for session, lines in by_session.items():
        shown = lines[:MAX_LINES] + (
            [f"... and {len(lines) - MAX_LINES} more"] if len(lines) > MAX_LINES else []
        )
        severity = "critical" if any("SUPERUSER" in line for line in lines) else "warning"
        title = f"{len(lines)} account change(s) that matter"
        out.append(Event(f"account_changes:{session}", title, shown, severity))
    return out


def register_kinds() -> None:
    register(
        "account_change",
        "Account changes that matter",
        risky_changes,
        'options: {"events": [' + ", ".join(f'"{e}"' for e in EVENTS) + '], "watched": ["table shop.%"]}',
    )
