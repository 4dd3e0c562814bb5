"""Canonical permission snapshots and their differences.

A snapshot is `{scope: [privilege, ...]}`: scopes are strings such as `global`,
`database shop`, `table shop.orders`, `column shop.orders.total`, `role`; privileges are
upper-case tokens, with ` WITH GRANT OPTION` / ` WITH ADMIN OPTION` / `DENY ` where they apply.
Sorted keys, sorted unique lists and compact JSON make equal permissions hash equally.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

GRANT_MARKERS = ("GRANT OPTION", "ADMIN OPTION")


def canonical(permissions: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Sorted scopes, sorted unique privileges, empty scopes dropped."""
    return {scope: sorted(set(privs)) for scope, privs in sorted(permissions.items()) if privs}


PLAIN = (str, int, float, bool, type(None))


def canonical_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Sorted keys and JSON-plain values, so stored and listed attributes compare equal."""
    if all(isinstance(v, PLAIN) for v in attributes.values()):
        return dict(sorted(attributes.items()))
    return json.loads(dumps(dict(sorted(attributes.items()))))


def dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(permissions: Mapping[str, list[str]]) -> str:
    return hashlib.sha256(dumps(permissions).encode()).hexdigest()


def diff(before: Mapping[str, list[str]], after: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    """GRANT / REVOKE entries per scope, sorted by scope then action."""
    entries: list[dict[str, Any]] = []
    for scope in sorted(set(before) | set(after)):
        old, new = set(before.get(scope, ())), set(after.get(scope, ()))
        if new - old:
            entries.append({"action": "GRANT", "scope": scope, "privileges": sorted(new - old)})
        if old - new:
            entries.append({"action": "REVOKE", "scope": scope, "privileges": sorted(old - new)})
    return entries


def attribute_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def has_grant_option(permissions: Mapping[str, list[str]]) -> bool:
    return any(marker in priv for privs in permissions.values() for priv in privs for marker in GRANT_MARKERS)


def summarize(entries: list[dict[str, Any]], limit: int = 480) -> str:
    text = "; ".join(f"{e['action']} {', '.join(e['privileges'])} ON {e['scope']}" for e in entries)
    return text if len(text) <= limit else text[: limit - 1] + "…"
