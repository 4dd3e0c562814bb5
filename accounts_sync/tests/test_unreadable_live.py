"""Live PostgreSQL: when the monitoring login loses CONNECT on a database, nothing is revoked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from accounts_sync.models import AccountChange, AccountPrivilege, ChangeType
from whalefall.tests import live

pytestmark = [pytest.mark.live, pytest.mark.django_db]


@pytest.fixture
def guarded(pg_instance: Any, prefix: str) -> Iterator[dict[str, str]]:
    """A database only the monitoring login and the test roles may connect to, with grants."""
    db, login = f"{prefix}_db", pg_instance.credential.username
    with live.pg_superuser() as su:
        live.run(
            su,
            f"CREATE ROLE {prefix}_r NOLOGIN",
            f"CREATE ROLE {prefix}_reader LOGIN",
            f"GRANT {prefix}_r TO {prefix}_reader",
            f"CREATE DATABASE {db}",
            f"REVOKE CONNECT ON DATABASE {db} FROM PUBLIC",
            f"GRANT CONNECT ON DATABASE {db} TO {login}, {prefix}_reader",
        )
    with live.pg_superuser(db) as su:
        live.run(
            su,
            "CREATE SCHEMA s",
            "CREATE TABLE s.t (a int)",
            f"GRANT USAGE ON SCHEMA s TO {prefix}_r",
            f"GRANT SELECT ON s.t TO {prefix}_r",
            f"GRANT UPDATE ON s.t TO {prefix}_reader",
        )
    try:
        yield {"db": db, "login": login}
    finally:
        with live.pg_superuser() as su:
            live.run(su, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            live.run(su, f"DROP ROLE IF EXISTS {prefix}_reader", f"DROP ROLE IF EXISTS {prefix}_r")


def test_losing_and_regaining_connect_logs_nothing_and_marks_rows_unverified(
    pg_instance: Any, guarded: dict[str, str], prefix: str, sync_scoped: Any
) -> None:
    pattern, db = f"{prefix}\\_%", guarded["db"]
    sync_scoped(pg_instance, pattern)
    in_db = AccountPrivilege.objects.filter(instance=pg_instance, target__startswith=f"{db}.s")
    held = set(in_db.values_list("account__identity", "target", "privilege", "via"))
    assert (f"{prefix}_reader", f"{db}.s.t", "SELECT", f"{prefix}_r") in held
    assert (f"{prefix}_reader", f"{db}.s.t", "UPDATE", "") in held

    with live.pg_superuser() as su:
        live.run(su, f"REVOKE CONNECT ON DATABASE {db} FROM {guarded['login']}")
    blind, session = sync_scoped(pg_instance, pattern)
    assert blind.status == "completed"
    assert blind.sync_details["collection"]["unverified"] == {db: "no CONNECT privilege"}
    assert not AccountChange.objects.filter(session=session, change_type=ChangeType.MODIFY_PRIVILEGE).exists()
    assert set(in_db.values_list("account__identity", "target", "privilege", "via")) == held
    assert not in_db.filter(verified=True).exists()

    with live.pg_superuser() as su:
        live.run(su, f"GRANT CONNECT ON DATABASE {db} TO {guarded['login']}")
    seen, session = sync_scoped(pg_instance, pattern)
    assert "unverified" not in seen.sync_details["collection"]
    assert seen.sync_details["collection"]["baseline"]["databases"] == [db]
    assert not AccountChange.objects.filter(session=session).exists()
    assert set(in_db.values_list("account__identity", "target", "privilege", "via")) == held
    assert not in_db.filter(verified=False).exists()

    # a real revoke, now that the database is readable, is logged as usual
    with live.pg_superuser(db) as su:
        live.run(su, f"REVOKE UPDATE ON s.t FROM {prefix}_reader")
    _, session = sync_scoped(pg_instance, pattern)
    (change,) = AccountChange.objects.filter(session=session)
    assert change.summary == f"REVOKE UPDATE ON table {db}.s.t"
