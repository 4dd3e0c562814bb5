"""The first sync of an instance is one baseline entry; later syncs log changes one by one.

Against the live MariaDB: the first sync of an instance writes ONE change-log entry of kind
`baseline` (with the number of accounts found) instead of an `add` per account, while each
account still records when and in which session it was first seen. No "new account" alert is
raised for the baseline. The next sync after a CREATE USER logs exactly one `add`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts_sync.alerts import risky_changes
from accounts_sync.models import Account, AccountChange, ChangeType
from whalefall.models import AlertRule
from whalefall.tests import live

pytestmark = [pytest.mark.live, pytest.mark.django_db]


@pytest.fixture
def users(prefix: str) -> Iterator[list[str]]:
    names = [f"'{prefix}_{n}'@'%'" for n in ("a", "b", "c", "late")]
    with live.mysql_root() as root:
        live.run(
            root,
            *(f"CREATE USER {n} IDENTIFIED BY 'Pw_{prefix}'" for n in names[:3]),
            f"CREATE ROLE {prefix}_role",
            f"GRANT ALL PRIVILEGES ON *.* TO {names[0]} WITH GRANT OPTION",  # a superuser in the baseline
        )
    try:
        yield names
    finally:
        with live.mysql_root() as root:
            live.run(root, *(f"DROP USER IF EXISTS {n}" for n in names), f"DROP ROLE IF EXISTS {prefix}_role")


def test_first_sync_is_one_baseline_entry_and_later_syncs_log_each_change(
    mysql_instance: Any, users: list[str], prefix: str, sync_scoped: Any
) -> None:
    rule = AlertRule(
        name="accounts", kind="account_change", options={"events": ["new_account", "new_superuser"]}
    )
    start = timezone.now() - timedelta(seconds=1)
    pattern = f"{prefix}\\_%"

    result, first = sync_scoped(mysql_instance, pattern)
    assert result.items_created == 4  # the counters still say what was found
    logged = list(AccountChange.objects.filter(instance=mysql_instance))
    assert len(logged) == 1
    baseline = logged[0]
    assert (baseline.change_type, baseline.account_id, baseline.severity) == (
        ChangeType.BASELINE,
        None,
        "normal",
    )
    assert baseline.details == {"accounts": 4, "roles": 1, "superusers": 1, "logins": 3}
    assert baseline.session_id == first.pk
    accounts = Account.objects.filter(instance=mysql_instance)
    assert accounts.count() == 4
    assert {(a.first_seen_session_uuid, a.first_seen_at) for a in accounts} == {
        (first.session_id, baseline.created_at)
    }
    first.finalize()  # the rule reads the changes of finished sessions
    assert risky_changes(rule, start, timezone.now()) == []  # nothing is "new" in a baseline

    with live.mysql_root() as root:
        live.run(root, f"CREATE USER {users[3]}", f"GRANT INSERT ON *.* TO {users[3]}")
    _, second = sync_scoped(mysql_instance, pattern)
    later = list(AccountChange.objects.filter(session=second))
    assert [(c.change_type, c.account.identity, c.severity) for c in later] == [
        (ChangeType.ADD, f"{prefix}_late@%", "high")  # a new login that can write
    ]
    late = Account.objects.get(instance=mysql_instance, identity=f"{prefix}_late@%")
    assert late.first_seen_session_uuid == second.session_id
    second.finalize()
    events = risky_changes(rule, start, timezone.now())
    assert [e.lines for e in events] == [[f"{mysql_instance.name} {prefix}_late@%: new account"]]
    # the baseline stays the only entry of the first session
    assert AccountChange.objects.filter(session=first).count() == 1
