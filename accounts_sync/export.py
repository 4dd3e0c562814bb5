"""Stored accounts with their permissions in a canonical, deterministic form fit for diffing.

Sync timestamps are left out on purpose: two exports differ only when accounts or their
permissions do.
"""

from __future__ import annotations

import json
from typing import Any

from accounts_sync.models import Account
from whalefall.models import Instance
from whalefall.textsafe import safe_json, safe_text


def export_instance(instance: Instance, *, include_inactive: bool = False) -> dict[str, Any]:
    accounts = Account.objects.for_instance(instance.pk).select_related("snapshot").order_by("identity")
    if not include_inactive:
        accounts = accounts.active()
    return {
        "instance": instance.name,
        "db_type": instance.db_type,
        "accounts": [_account(a) for a in accounts],
    }


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
    return "\n".join(lines) + "\n"
