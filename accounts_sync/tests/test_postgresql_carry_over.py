"""End to end: the monitoring login losing or regaining CONNECT on a database changes nothing in
the change log. The adapter reports the database as unreadable; the coordinator carries its
earlier records over as unverified instead of revoking them (that part lives in the coordinator).
"""

from __future__ import annotations

from typing import Any

import pytest

from accounts_sync.models import Account, AccountChange, ChangeType
from whalefall.tests import live

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db,
]


def test_losing_and_regaining_connect_logs_no_change(pg_instance: Any, prefix: str, sync_scoped: Any) -> None:
    db, role = f"{prefix}_db", f"{prefix}_reader"
    with live.pg_superuser() as su:
        live.run(su, f"CREATE ROLE {role} NOLOGIN", f"CREATE DATABASE {db}")
    try:
        with live.pg_superuser(db) as su:
            live.run(su, "CREATE TABLE t (a int)", f"GRANT SELECT ON t TO {role}")
        pattern = f"{prefix}\\_%"
        sync_scoped(pg_instance, pattern)
        scope = f"table {db}.public.t"
        assert Account.objects.get(instance=pg_instance, identity=role).snapshot.permissions[scope] == [
            "SELECT"
        ]
        for statement in (
            f"REVOKE CONNECT ON DATABASE {db} FROM PUBLIC",
            f"GRANT CONNECT ON DATABASE {db} TO PUBLIC",
        ):
            with live.pg_superuser() as su:
                live.run(su, statement)
            result, session = sync_scoped(pg_instance, pattern)
            assert result.status == "completed"
            changes = AccountChange.objects.filter(session=session, change_type=ChangeType.MODIFY_PRIVILEGE)
            assert not changes.exists(), [c.details for c in changes]
            account = Account.objects.get(instance=pg_instance, identity=role)
            assert account.snapshot.permissions[scope] == ["SELECT"]
    finally:
        with live.pg_superuser() as su:
            live.run(su, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", f"DROP ROLE IF EXISTS {role}")
