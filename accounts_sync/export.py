"""Stored accounts with their permissions in a canonical, deterministic form fit for diffing.

Sync timestamps are left out on purpose: two exports differ only when accounts or their
permissions do. `effective=True` adds each account's rows of the privilege store: every
privilege it holds, with the path it holds it through (direct, via roles, as superuser) and
whether the last sync could verify it.
"""

from __future__ import annotations

import json
from typing import Any

from accounts_sync.models import Account, AccountPrivilege
from accounts_sync.privileges import VIA_SEPARATOR, EffectiveGrant, Scope
from whalefall.models import Instance
from whalefall.textsafe import safe_json, safe_text


def export_instance(
    instance: Instance, *, include_inactive: bool = False, effective: bool = False
) -> dict[str, Any]:
    accounts = Account.objects.for_instance(instance.pk).select_related("snapshot").order_by("identity")
    if not include_inactive:
        accounts = accounts.active()
    out = [_account(a) for a in accounts]
    if effective:
        held = _effective(instance)
        for acc, account in zip(out, accounts, strict=True):
            acc["effective"] = held.get(account.pk, [])
    return {"instance": instance.name, "db_type": instance.db_type, "accounts": out}


def _effective(instance: Instance) -> dict[int, list[dict[str, Any]]]:
    """The privilege store's rows per account (one query), sorted so the export is stable."""
    rows = AccountPrivilege.objects.for_instance(instance.pk).values_list(
        "account_id", *AccountPrivilege.FACT_FIELDS
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for account_id, kind, path, privilege, grantable, denied, via, needs_set, verified in rows:
        grant = EffectiveGrant(
            Scope.of(kind, *path),
            privilege,
            grantable,
            denied,
            tuple(via.split(VIA_SEPARATOR)) if via else (),
            needs_set,
        )
        out.setdefault(account_id, []).append(
            {
                "scope": grant.scope.render(),
                "path": list(path),
                "privilege": privilege,
                "grantable": grantable,
                "denied": denied,
                "through": grant.path,
                "verified": verified,
            }
        )
    for held in out.values():
        held.sort(
            key=lambda r: (r["scope"], r["path"], r["privilege"], r["through"], r["denied"], r["grantable"])
        )
    return out


def _account(account: Account) -> dict[str, Any]:
    snapshot = getattr(account, "snapshot", None)
    return {
        "identity": account.identity,
        "is_active": account.is_active,
        "is_role": account.is_role,
        **account.facts(),
        "attributes": account.attributes,
        "permissions": snapshot.permissions if snapshot else {},
    }


def render_json(data: dict[str, Any]) -> str:
    """Exact names; the characters that could drive a terminal are `\\uXXXX` escapes."""
    return safe_json(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str))


def render_text(data: dict[str, Any]) -> str:
    """One block per account: flags, attributes, then one line per permission scope.

    Every name is escaped (`safe_text`): a newline, an escape sequence or a direction override
    in a name from the server shows up as `\\n`, `\\x1b`, `\\u202e`, never acts.
    """
    lines = [f"# {safe_text(data['instance'])} ({data['db_type']})"]
    for acc in data["accounts"]:
        flags = [k for k in ("is_role", *Account.FACTS) if acc[k]] + (
            [] if acc["is_active"] else ["inactive"]
        )
        lines.append(
            f"account {safe_text(acc['identity'])}" + (f"  [{', '.join(sorted(flags))}]" if flags else "")
        )
        for key, value in sorted(acc["attributes"].items()):
            lines.append(f"  attr {safe_text(key)} = {json.dumps(value, sort_keys=True, default=str)}")
        for scope, privileges in sorted(acc["permissions"].items()):
            lines.append(f"  {safe_text(scope)}: {', '.join(safe_text(p) for p in privileges)}")
        for held in acc.get("effective", ()):
            flags = [
                f
                for f, on in (("grant option", held["grantable"]), ("unverified", not held["verified"]))
                if on
            ]
            deny = "DENY " if held["denied"] else ""
            lines.append(
                safe_text(f"  effective {deny}{held['privilege']} ON {held['scope']} {held['through']}")
                + (f" [{', '.join(flags)}]" if flags else "")
            )
    return "\n".join(lines) + "\n"
