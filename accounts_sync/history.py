"""An account's versions, rebuilt from its change log, and the difference between any two.

The sync keeps the current state only (snapshot, attributes, facts) and logs each change with what
it was before and after: GRANT / REVOKE entries per scope, before/after values of attributes and
facts, deactivation and reactivation. Walking the log backwards from the current state gives the
state after each change; those states are the versions, oldest first. The first version is the
account as first seen: the state its `add` entry recorded, or, for an account found by an
instance's first sync (its baseline) or older than the kept log, what undoing every kept change
leaves. A version is named by the change that made it (`first` for the first one), which stays
valid when older entries are cleaned up by the retention job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accounts_sync.models import Account, AccountChange, ChangeType

FIRST = "first"
FACTS = ("is_superuser", "is_locked", "can_login", "is_expired")


@dataclass
class Version:
    key: str  # the id of the change that made it, or FIRST
    number: int  # 1 = as first seen
    at: datetime
    change: AccountChange | None
    permissions: dict[str, set[str]]
    attributes: dict[str, Any]  # attributes and facts (is_superuser ...), and is_active

    @property
    def complete(self) -> bool:
        """False when the first kept entry is not the account's beginning (log cleaned up)."""
        return self.change is None or self.change.change_type in (ChangeType.ADD, ChangeType.RENAME)


@dataclass
class Row:
    sign: str  # "+" or "-"
    scope: str
    token: str


@dataclass
class Diff:
    old: Version
    new: Version
    added: list[Row] = field(default_factory=list)
    removed: list[Row] = field(default_factory=list)
    attributes: list[tuple[str, Any, Any]] = field(default_factory=list)  # key, before, after

    @property
    def rows(self) -> list[Row]:
        """Privileges by scope, what was taken away before what was given."""
        return sorted([*self.removed, *self.added], key=lambda r: (r.scope, r.sign != "-", r.token))

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.attributes)


def current_state(account: Account) -> tuple[dict[str, set[str]], dict[str, Any]]:
    snapshot = getattr(account, "snapshot", None)
    permissions = {s: set(p) for s, p in (snapshot.permissions if snapshot else {}).items()}
    attributes = {**(account.attributes or {}), **{f: getattr(account, f) for f in FACTS}}
    attributes["is_active"] = account.is_active
    return permissions, attributes


def versions(account: Account, changes: list[AccountChange] | None = None) -> list[Version]:
    """Every version of the account, oldest first (the last one is the current state)."""
    if changes is None:
        changes = list(account.changes.order_by("-created_at", "-id"))
    else:
        changes = sorted(changes, key=lambda c: (c.created_at, c.pk), reverse=True)
    permissions, attributes = current_state(account)
    states: list[Version] = []
    for change in changes:  # newest first: record the state after it, then undo it
        states.append(
            Version(str(change.pk), 0, change.created_at, change, _copy(permissions), dict(attributes))
        )
        if change.change_type in (ChangeType.ADD, ChangeType.RENAME):
            break  # the account's beginning: nothing came before it
        _undo(change, permissions, attributes)
    else:
        start = min([account.first_seen_at, *(c.created_at for c in changes)])
        states.append(Version(FIRST, 0, start, None, permissions, attributes))
    states.reverse()
    for number, version in enumerate(states, start=1):
        version.number = number
    return states


def _copy(permissions: dict[str, set[str]]) -> dict[str, set[str]]:
    return {scope: set(tokens) for scope, tokens in permissions.items()}


def _undo(change: AccountChange, permissions: dict[str, set[str]], attributes: dict[str, Any]) -> None:
    details = change.details or {}
    if change.change_type == ChangeType.MODIFY_PRIVILEGE:
        for entry in reversed(details.get("entries", [])):
            tokens = permissions.setdefault(entry["scope"], set())
            if entry["action"] == "GRANT":
                tokens.difference_update(entry["privileges"])
            else:
                tokens.update(entry["privileges"])
            if not tokens:
                del permissions[entry["scope"]]
    elif change.change_type == ChangeType.MODIFY_OTHER:
        for key, values in (details.get("changes") or {}).items():
            before = values.get("before")
            if before is None and key not in FACTS:
                attributes.pop(key, None)
            else:
                attributes[key] = before
    elif change.change_type == ChangeType.DEACTIVATE:
        attributes["is_active"] = True
    elif change.change_type == ChangeType.REACTIVATE:
        attributes["is_active"] = False


def pick(found: list[Version], key: str | None, default: int) -> Version:
    """The version named `key`, or the one at index `default` (clamped)."""
    for version in found:
        if version.key == key:
            return version
    return found[max(0, min(default, len(found) - 1)) if default >= 0 else max(0, len(found) + default)]


def diff(old: Version, new: Version) -> Diff:
    out = Diff(old, new)
    for scope in sorted(set(old.permissions) | set(new.permissions)):
        before, after = old.permissions.get(scope, set()), new.permissions.get(scope, set())
        out.added += [Row("+", scope, t) for t in sorted(after - before)]
        out.removed += [Row("-", scope, t) for t in sorted(before - after)]
    for key in sorted(set(old.attributes) | set(new.attributes)):
        a, b = old.attributes.get(key), new.attributes.get(key)
        if a != b:
            out.attributes.append((key, a, b))
    return out
