"""Severity of account changes: the rules table, one case per rule and the look-alikes it must not take."""

from __future__ import annotations

from typing import Any

import pytest

from accounts_sync import risk
from accounts_sync.models import Account, AccountChange, ChangeType
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory

ADD, PRIV, OTHER = ChangeType.ADD, ChangeType.MODIFY_PRIVILEGE, ChangeType.MODIFY_OTHER


def grant(*tokens: str, action: str = "GRANT", scope: str = "global") -> dict[str, Any]:
    return {"entries": [{"action": action, "scope": scope, "privileges": list(tokens)}]}


def added(*tokens: str, login: bool = True, superuser: bool = False) -> dict[str, Any]:
    return {"can_login": login, "is_superuser": superuser, "permissions": {"database shop": list(tokens)}}


def changed(name: str, before: Any, after: Any) -> dict[str, Any]:
    return {"changes": {name: {"before": before, "after": after}}}


CASES = [
    # (change type, details, severity, reason)
    (ADD, added(superuser=True), "critical", "new superuser"),
    (OTHER, changed("is_superuser", False, True), "critical", "became superuser"),
    (ADD, added("ALL PRIVILEGES"), "critical", "new account with ALL / SUPER / CONTROL"),
    (
        ADD,
        added("SELECT WITH GRANT OPTION", login=False),
        "critical",
        "new account with a grant or admin option",
    ),
    (PRIV, grant("SUPER"), "critical", "ALL / SUPER / CONTROL granted"),
    (PRIV, grant("sysadmin", scope="server role"), "critical", "ALL / SUPER / CONTROL granted"),
    (PRIV, grant("r_app@ WITH ADMIN OPTION", scope="role"), "critical", "grant or admin option granted"),
    (PRIV, grant("SELECT WITH GRANT OPTION (via r_app)"), "critical", "grant or admin option granted"),
    (ADD, added("INSERT"), "high", "new login with write privileges"),
    (ADD, added("UPDATE (via r_app ← r_write)"), "high", "new login with write privileges"),
    (OTHER, changed("is_locked", True, False), "high", "unlocked"),
    (OTHER, changed("can_login", False, True), "high", "can log in again"),
    (ChangeType.REACTIVATE, {}, "high", "listed again after it was gone"),
    # look-alikes that are not risky
    (ADD, added("SELECT"), "normal", None),
    (ADD, added("INSERT", login=False), "normal", None),  # a role: it writes only once granted
    (ADD, added("CREATE SESSION"), "normal", None),  # Oracle's right to log in
    (ADD, added("DENY INSERT"), "normal", None),
    (PRIV, grant("SUPER", action="REVOKE"), "normal", None),
    (PRIV, grant("SELECT"), "normal", None),
    (PRIV, grant("DENY CONTROL SERVER", scope="server"), "normal", None),
    (PRIV, grant("SUPERVISOR_ROLE@"), "normal", None),  # contains "SUPER", is not it
    (OTHER, changed("is_superuser", True, False), "normal", None),
    (OTHER, changed("is_locked", False, True), "normal", None),
    (ChangeType.DEACTIVATE, {}, "normal", None),
    (ChangeType.BASELINE, {"accounts": 324, "superusers": 3}, "normal", None),
]


@pytest.mark.parametrize(("kind", "details", "level", "reason"), CASES)
def test_each_rule_and_its_look_alikes(kind: str, details: dict, level: str, reason: str | None) -> None:
    got, reasons = risk.assess(kind, details)
    assert got == level
    assert reasons == ([reason] if reason else [])


def test_every_rule_of_the_table_has_a_case() -> None:
    covered = {reason for *_, reason in CASES if reason}
    assert {str(r.reason) for r in risk.RULES} == covered


@pytest.mark.django_db
def test_a_stored_change_keeps_its_severity_and_the_filter_reads_it() -> None:
    instance = InstanceFactory()
    session = SyncSessionFactory(category="account")
    account = Account.objects.create(instance=instance, identity="app", username="app")
    for kind, details, *_ in CASES:
        AccountChange.objects.create(
            account=account,
            instance=instance,
            change_type=kind,
            details=details,
            session=session,
            session_uuid=session.session_id,
        )
    expected = [level for _, _, level, _ in CASES]
    stored = list(AccountChange.objects.order_by("id").values_list("severity", flat=True))
    assert stored == expected
    assert AccountChange.objects.filter(risk.risky()).count() == expected.count("critical") + expected.count(
        "high"
    )
    assert AccountChange.objects.filter(risk.CRITICAL_ONLY).count() == expected.count("critical")
