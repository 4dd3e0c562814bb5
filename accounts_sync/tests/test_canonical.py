"""Canonical snapshots, diffs and LIKE semantics of the exclusion rules (no servers needed)."""

from __future__ import annotations

import importlib

import pytest

from accounts_sync import canonical
from accounts_sync.models import ExclusionRule, like

seed = importlib.import_module("accounts_sync.migrations.0002_seed_exclusion_rules")


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        ("pg_monitor", "pg\\_%", True),
        ("pgxmonitor", "pg\\_%", False),  # escaped _ is literal
        ("pgxmonitor", "pg_%", True),  # bare _ is any one character
        ("PG_monitor", "pg\\_%", False),  # case-sensitive
        ("mysql.sys@localhost", "mysql.sys@localhost", True),
        ("mysqlxsys@localhost", "mysql.sys@localhost", False),  # . is not a wildcard
        ("NT SERVICE\\SQLWriter", "NT SERVICE\\\\%", True),
        ("##MS_PolicyTsqlExecutionLogin##", "##%##", True),
        ("100%", "100\\%", True),
        ("1000", "100\\%", False),
        ("a\nb", "a%b", True),
    ],
)
def test_it_matches_like_patterns_exactly(value: str, pattern: str, expected: bool) -> None:
    assert like(value, pattern) is expected


def test_it_seeds_system_account_rules_for_every_engine() -> None:
    engines = {db_type for db_type, _, _ in seed.RULES}
    assert engines == {"mysql", "postgresql", "sqlserver", "oracle"}
    rule = ExclusionRule(db_type="oracle", pattern="GSMADMIN\\_INTERNAL")
    assert rule.matches("GSMADMIN_INTERNAL") and not rule.matches("GSMADMINXINTERNAL")


def test_it_hashes_equal_permissions_equally() -> None:
    a = canonical.canonical({"global": ["SELECT", "INSERT", "SELECT"], "empty": []})
    b = canonical.canonical({"global": ["INSERT", "SELECT"]})
    assert a == b == {"global": ["INSERT", "SELECT"]}
    assert canonical.digest(a) == canonical.digest(b)
    assert canonical.digest(a) != canonical.digest({"global": ["INSERT"]})


def test_it_diffs_grants_and_revokes_per_scope() -> None:
    before = {"global": ["PROCESS"], "database x": ["SELECT"]}
    after = {"database x": ["INSERT", "SELECT"], "role": ["r1"]}
    assert canonical.diff(before, after) == [
        {"action": "GRANT", "scope": "database x", "privileges": ["INSERT"]},
        {"action": "REVOKE", "scope": "global", "privileges": ["PROCESS"]},
        {"action": "GRANT", "scope": "role", "privileges": ["r1"]},
    ]
    assert canonical.summarize(canonical.diff(before, after)).startswith("GRANT INSERT ON database x")


def test_it_reads_grant_option_from_any_engine() -> None:
    assert canonical.has_grant_option({"table t": ["SELECT WITH GRANT OPTION"]})
    assert canonical.has_grant_option({"member of": ["r WITH ADMIN OPTION"]})
    assert not canonical.has_grant_option({"table t": ["SELECT", "DENY UPDATE"]})


@pytest.mark.django_db
def test_it_registers_a_change_log_retention_cleaner(settings: object) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from accounts_sync.models import Account, AccountChange
    from whalefall import retention
    from whalefall.tests.factories import InstanceFactory, SyncSessionFactory

    settings.WHALEFALL_CHANGELOG_RETENTION_DAYS = 30  # type: ignore[attr-defined]
    session, instance = SyncSessionFactory(), InstanceFactory()
    account = Account.objects.create(instance=instance, identity="a", username="a")
    for age in (10, 40):
        AccountChange.objects.create(
            account=account,
            instance=instance,
            change_type="add",
            session=session,
            session_uuid=session.session_id,
            created_at=timezone.now() - timedelta(days=age),
        )
    assert retention.run_cleanups()["accounts_sync.changes"] == 1
    assert AccountChange.objects.count() == 1
