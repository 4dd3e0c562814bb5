"""The migration that brings severities and first-seen sessions assesses what is already stored."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from whalefall.tests.factories import InstanceFactory

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("accounts_sync", "0004_account_sync_state_rename_fingerprint")]
AFTER = [("accounts_sync", "0005_baseline_entry_and_change_severity")]


def migrate(targets: list[tuple[str, str]]) -> object:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_stored_changes_get_their_severity_and_accounts_their_first_session() -> None:
    old = migrate(BEFORE)
    try:
        Account = old.get_model("accounts_sync", "Account")
        AccountChange = old.get_model("accounts_sync", "AccountChange")
        instance = old.get_model("whalefall", "Instance").objects.get(pk=InstanceFactory().pk)
        added_in, later = uuid.uuid4(), uuid.uuid4()
        root = Account.objects.create(instance=instance, identity="root@%", username="root")
        app = Account.objects.create(instance=instance, identity="app@%", username="app")
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
                account=account, instance=instance, change_type=kind, details=details, session_uuid=session
            )
    finally:
        new = migrate(AFTER)
    AccountChange = new.get_model("accounts_sync", "AccountChange")
    Account = new.get_model("accounts_sync", "Account")
    assert list(AccountChange.objects.order_by("id").values_list("severity", flat=True)) == [
        "critical",  # a new superuser
        "normal",  # a new login that can only read
        "high",  # an unlock
    ]
    assert set(Account.objects.values_list("first_seen_session_uuid", flat=True)) == {added_in}
