"""Canonical permission snapshots and their differences.

A snapshot is `{scope: [privilege, ...]}`: scopes are strings such as `global`,
`database shop`, `table shop.orders`, `column shop.orders.total`, `role`; privileges are
upper-case tokens, with ` WITH GRANT OPTION` / ` WITH ADMIN OPTION` / `DENY ` where they apply.
Sorted keys, sorted unique lists and compact JSON make equal permissions hash equally.

Format 2 (`PermissionSnapshot.FORMAT`) makes the snapshot the account's *effective* privileges:
besides its direct grants (unchanged tokens), every privilege it holds through a role appears
under the same scope text with the path it came through, outermost role first:

    "table shop.orders": ["INSERT", "SELECT (via r_app ← r_read)",
                          "DELETE (via r_admin, after SET ROLE)"]

and a superuser holds `"server": ["ALL (as superuser)"]` rather than an expansion of every object.
Because the cause is part of the token, a change of a role's grants changes each member's
snapshot, and `diff()` yields "GRANT SELECT (via r_app ← r_read) ON table shop.orders" for
every member that gains it (REVOKE for those that lose it), while the role itself logs the plain
direct change. Grants to PUBLIC stay on the PUBLIC pseudo-account: they are not copied here.
A snapshot of an older format is rewritten by the next sync without change entries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

from accounts_sync.privileges import EffectiveGrant

GRANT_MARKERS = ("GRANT OPTION", "ADMIN OPTION")


def canonical(permissions: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Sorted scopes, sorted unique privileges, empty scopes dropped."""
    return {scope: sorted(set(privs)) for scope, privs in sorted(permissions.items()) if privs}


def with_effective(
    direct: Mapping[str, list[str]], derived: Iterable[EffectiveGrant]
) -> dict[str, list[str]]:
    """The format-2 snapshot: `direct` (canonical) plus a token per role-derived privilege."""
    extra: dict[str, set[str]] = {}
    for g in derived:
        if g.via:
            extra.setdefault(g.scope.render(), set()).add(g.token())
    if not extra:
        return dict(direct)
    merged = {scope: set(tokens) for scope, tokens in direct.items()}
    for scope, tokens in extra.items():
        merged.setdefault(scope, set()).update(tokens)
    return canonical(merged)


def is_derived(token: str) -> bool:
    """A format-2 token held through a role or as superuser, not granted to the account itself."""
    return token.endswith(")") and (" (via " in token or token.endswith(" (as superuser)"))


def direct_only(permissions: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The account's own grants: what the engine's SHOW GRANTS / aclexplode() list for it."""
    out = {scope: [t for t in tokens if not is_derived(t)] for scope, tokens in permissions.items()}
    return {scope: tokens for scope, tokens in out.items() if tokens}


PLAIN = (str, int, float, bool, type(None))
PLAIN_TYPES = frozenset(PLAIN)


def canonical_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Sorted keys and JSON-plain values, so stored and listed attributes compare equal."""
    if PLAIN_TYPES.issuperset(map(type, attributes.values())):
        return dict(sorted(attributes.items()))
    return json.loads(dumps(dict(sorted(attributes.items()))))


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
# The C encoder json.dumps() itself uses, made once: building an encoder per call is most of
# encoding a small snapshot (two calls per account per sync). No circular-reference check:
# snapshots and attributes are trees.
_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_encode = (
    _make_encoder(None, str, json.encoder.encode_basestring, None, ":", ",", True, False, True)
    if _make_encoder is not None
    else None
)


def dumps(data: Any) -> str:
    """Compact JSON with sorted keys: the text that is hashed and stored."""
    if _encode is None:
        return _ENCODER.encode(data)
    return "".join(_encode(data, 0))


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
    # One substring search over all tokens: a marker has no newline, so none spans two tokens.
    text = "\n".join(chain.from_iterable(permissions.values()))
    return any(marker in text for marker in GRANT_MARKERS)


def summarize(entries: list[dict[str, Any]], limit: int = 480) -> str:
    text = "; ".join(f"{e['action']} {', '.join(e['privileges'])} ON {e['scope']}" for e in entries)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_documents(texts: Sequence[str | bytes | None]) -> list[dict[str, Any]]:
    """Many small JSON objects decoded by one `json.loads` of an array of them: the fixed cost
    of each call is most of decoding a small document. Should the array not hold one object per
    text, each is decoded alone (and an invalid one fails as it would have)."""
    if not texts:
        return []
    try:
        docs = json.loads("[" + ",".join(t or "{}" for t in texts) + "]")  # type: ignore[misc]
    except (TypeError, ValueError):
        docs = None
    if docs is not None and len(docs) == len(texts) and all(type(d) is dict for d in docs):
        return docs
    return [json.loads(t) if t else {} for t in texts]
