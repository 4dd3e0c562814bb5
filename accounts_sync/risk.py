"""How much an account change matters: critical, high or normal.

Critical: a new superuser (a new account that is one, or an account that became one), or a grant
of ALL / SUPER / anything with the grant or admin option. High: a new account that can log in,
an account unlocked or reactivated. Normal: the rest. The rules are data (the Q objects below),
so the admin's "risky changes" filter, the home page and the alerts agree.
"""

from __future__ import annotations

from django.db.models import Q

from accounts_sync.models import AccountChange, ChangeType

CRITICAL = (
    Q(change_type=ChangeType.ADD, details__is_superuser=True)
    | Q(change_type=ChangeType.MODIFY_OTHER, details__changes__is_superuser__after=True)
    | Q(change_type=ChangeType.MODIFY_PRIVILEGE, summary__contains="WITH GRANT OPTION")
    | Q(change_type=ChangeType.MODIFY_PRIVILEGE, summary__contains="WITH ADMIN OPTION")
    | Q(change_type=ChangeType.MODIFY_PRIVILEGE, summary__contains="GRANT ALL")
    | Q(change_type=ChangeType.MODIFY_PRIVILEGE, summary__contains="ALL PRIVILEGES")
    | Q(change_type=ChangeType.MODIFY_PRIVILEGE, summary__contains="SUPER")
)
HIGH = (
    Q(change_type=ChangeType.ADD, details__can_login=True)
    | Q(change_type=ChangeType.MODIFY_OTHER, details__changes__is_locked__after=False)
    | Q(change_type=ChangeType.REACTIVATE)
)


def risky() -> Q:
    return CRITICAL | HIGH


def severity(change: AccountChange) -> str:
    """The same rules in Python, for one change already loaded."""
    details = change.details or {}
    kind, summary = change.change_type, change.summary or ""
    if (
        (kind == ChangeType.ADD and details.get("is_superuser") is True)
        or (
            kind == ChangeType.MODIFY_OTHER
            and (details.get("changes", {}).get("is_superuser") or {}).get("after") is True
        )
        or (
            kind == ChangeType.MODIFY_PRIVILEGE
            and any(
                m in summary
                for m in ("WITH GRANT OPTION", "WITH ADMIN OPTION", "GRANT ALL", "ALL PRIVILEGES", "SUPER")
            )
        )
    ):
        return "critical"
    if (
        (kind == ChangeType.ADD and details.get("can_login") is True)
        or (
            kind == ChangeType.MODIFY_OTHER
            and (details.get("changes", {}).get("is_locked") or {}).get("after") is False
        )
        or kind == ChangeType.REACTIVATE
    ):
        return "high"
    return "normal"
