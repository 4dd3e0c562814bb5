"""Migrations that rewrite what is already stored: severities and first-seen sessions, and the
last-seen time when going back from last-seen-by-listing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from whalefall.tests.factories import InstanceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def around(suffix: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The accounts migration named `*_<suffix>` and the one before it, found by name (migrations
    are renumbered when branches merge)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    (key,) = [k for k in loader.disk_migrations if k[0] == "accounts_sync" and k[1].endswith(suffix)]
    (parent,) = [p for p in loader.graph.node_map[key].parents if p.key[0] == "accounts_sync"]
    return [parent.key], [key]


def migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def latest_schema_after() -> Any:
    """Every later test expects the schema of the newest migrations: put it back."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_stored_changes_get_their_severity_and_accounts_their_first_session() -> None:
    before, after = around("_baseline_entry_and_change_severity")
    old = migrate(before)
    try:
        Account = old.get_model("accounts_sync", "Account")
        AccountChange = old.get_model("accounts_sync", "AccountChange")
        instance_id = InstanceFactory().pk  # today's instance: only its id is needed here
        added_in, later = uuid.uuid4(), uuid.uuid4()
        root = Account.objects.create(instance_id=instance_id, identity="root@%", username="root")
        app = Account.objects.create(instance_id=instance_id, identity="app@%", username="app")
        for account, kind, details, session in (
            (root, "add", {"is_superuser": True, "can_login": True}, added_in),
            (
                app,
                "add",
                {"is_superuser": False, "can_login": True, "permissions": {"global": ["SELECT"]}},
                added_in,
            ),
            (app, "modify_other", {"changes": {"is_locked": {"before": True, "after": False}}}, later),
        ):
            AccountChange.objects.create(
                account=account,
                instance_id=instance_id,
                change_type=kind,
                details=details,
                session_uuid=session,
            )
    finally:
        new = migrate(after)
    AccountChange = new.get_model("accounts_sync", "AccountChange")
    Account = new.get_model("accounts_sync", "Account")
    assert list(AccountChange.objects.order_by("id").values_list("severity", flat=True)) == [
        "critical",  # a new superuser
        "normal",  # a new login that can only read
        "high",  # an unlock
    ]
    assert set(Account.objects.values_list("first_seen_session_uuid", flat=True)) == {added_in}


def test_going_back_from_last_seen_by_listing_writes_the_time_each_empty_one_stands_for() -> None:
    before, after = around("_account_last_seen_by_listing")
    new = migrate(after)
    Account = new.get_model("accounts_sync", "Account")
    AccountSyncState = new.get_model("accounts_sync", "AccountSyncState")
    listed, other = InstanceFactory(), InstanceFactory()
    stamp = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
    own = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    first = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    AccountSyncState.objects.create(instance_id=listed.pk, listed_at=stamp)
    for instance, identity, last_seen in (
        (listed, "follows", None),
        (listed, "own", own),
        (other, "unstamped", None),  # no listing recorded: its first sighting is all that is known
    ):
        Account.objects.create(
            instance_id=instance.pk,
            identity=identity,
            username=identity,
            first_seen_at=first,
            last_seen_at=last_seen,
        )
    old = migrate(before)
    Account = old.get_model("accounts_sync", "Account")
    assert dict(Account.objects.values_list("identity", "last_seen_at")) == {
        "follows": stamp,
        "own": own,
        "unstamped": first,
    }
