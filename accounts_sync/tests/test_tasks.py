"""The task and command path: sessions, records, failures per phase, lock conflicts (live MariaDB)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from accounts_sync.models import Account, AccountChange, ExclusionRule
from accounts_sync.tasks import sync_accounts
from whalefall.models import SyncInstanceRecord, SyncSession
from whalefall.sync.locks import acquire_lock
from whalefall.tests import live
from whalefall.tests.factories import CredentialFactory, InstanceFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_it_records_a_session_with_counters_and_changes(mysql_instance: Any, mysql_user: Any) -> None:
    mine, _ = mysql_user(grants=("GRANT SELECT ON mysql.db TO {user}",))
    summary = sync_accounts(instance_ids=[mysql_instance.pk], trigger="manual", created_by="tester")
    session = SyncSession.objects.get(session_id=summary["session_id"])
    record = session.records.get()
    assert summary["status"] == session.status == "completed"
    assert session.category == "account" and session.created_by == "tester"
    assert (
        record.status == "completed" and record.items_created == record.sync_details["inventory"]["created"]
    )
    assert record.items_synced == record.sync_details["collection"]["processed_records"] > 0
    assert set(record.sync_details) == {"inventory", "collection"}
    account = Account.objects.get(instance=mysql_instance, identity=f"{mine}@%")
    assert account.snapshot.permissions == {"table mysql.db": ["SELECT"]}
    baseline = AccountChange.objects.get(instance=mysql_instance)  # a first sync: one baseline entry
    assert baseline.change_type == "baseline" and baseline.session_uuid == session.session_id
    assert account.first_seen_session_uuid == session.session_id
    assert account.snapshot.session_uuid == session.session_id
    assert not Account.objects.filter(identity__startswith="mariadb.sys@").exists()  # seeded exclusion
    assert summary["instances"][0]["items_created"] == record.items_created


def test_it_fails_the_connection_phase_and_writes_nothing(caplog: Any) -> None:
    instance = InstanceFactory(db_type="mysql", port=live.closed_port())
    summary = sync_accounts(instance_ids=[instance.pk], trigger="manual")
    record = SyncInstanceRecord.objects.get(session__session_id=summary["session_id"])
    assert summary["status"] == "failed"
    assert record.failed_phase == "connection" and "unreachable" in record.error_message
    assert record.attempts == 4  # transient: retried three times
    assert record.sync_details["inventory"]["status"] == "skipped"
    assert not Account.objects.exists()
    assert "account_sync_connection_failed" in [e["event"] for e in events(caplog)]


def events(caplog: Any) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict)]


def test_it_fails_the_collection_phase_atomically(mysql_user: Any, caplog: Any) -> None:
    name, pwd = mysql_user(
        grants=("GRANT SELECT ON mysql.user TO {user}", "GRANT SELECT ON mysql.global_priv TO {user}")
    )
    instance = InstanceFactory(
        db_type="mysql", port=3306, credential=CredentialFactory(username=name, password=pwd)
    )
    summary = sync_accounts(instance_ids=[instance.pk], trigger="manual")
    record = SyncInstanceRecord.objects.get(session__session_id=summary["session_id"])
    assert record.status == "failed" and record.failed_phase == "collection"
    assert "privilege" in record.error_message and pwd not in record.error_message
    assert record.sync_details["collection"]["status"] == "failed"
    assert record.sync_details["inventory"]["created"] > 0  # listed, but nothing kept
    assert not Account.objects.filter(instance=instance).exists()
    assert not AccountChange.objects.exists()
    failed = [e for e in events(caplog) if e["event"] == "account_sync_collection_failed"]
    assert failed and failed[0]["module"] == "account_sync" and failed[0]["phase"] == "collection"
    assert failed[0]["session_id"] == summary["session_id"] and failed[0]["instance_id"] == instance.pk


def test_it_skips_collection_when_inventory_is_empty(mysql_instance: Any) -> None:
    ExclusionRule.objects.create(db_type="mysql", pattern="%")
    summary = sync_accounts(instance_ids=[mysql_instance.pk], trigger="manual")
    record = SyncInstanceRecord.objects.get(session__session_id=summary["session_id"])
    assert summary["status"] == "completed" and record.status == "skipped"
    assert record.sync_details["collection"]["status"] == "skipped"
    assert record.sync_details["inventory"]["processed_records"] == 0
    assert (record.items_synced, record.items_created, record.items_deleted) == (0, 0, 0)


def test_it_prints_a_json_summary_and_exits_nonzero_on_failure(mysql_instance: Any) -> None:
    broken = InstanceFactory(db_type="mysql", port=live.closed_port(), name="broken-one")
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command(
            "sync_accounts",
            "--instance",
            mysql_instance.name,
            "--instance",
            broken.name,
            "--json",
            stdout=out,
        )
    summary = json.loads(out.getvalue())
    assert exit_info.value.code == 1 and summary["status"] == "partial"
    statuses = {i["instance"]: i["status"] for i in summary["instances"]}
    assert statuses == {mysql_instance.name: "completed", "broken-one": "failed"}
    assert "s3cret" not in out.getvalue()


def test_it_exits_zero_when_every_instance_succeeds(mysql_instance: Any) -> None:
    out = io.StringIO()
    call_command("sync_accounts", "--instance", mysql_instance.name, stdout=out)
    assert f"{mysql_instance.name}: completed" in out.getvalue()
    assert SyncSession.objects.get().trigger == "manual_single"


def test_it_names_the_lock_owner_on_conflict(mysql_instance: Any) -> None:
    handle = acquire_lock("account")
    try:
        with pytest.raises(CommandError, match=handle.owner):
            call_command("sync_accounts", stdout=io.StringIO())
    finally:
        handle.release()


def test_it_rejects_unknown_instances() -> None:
    with pytest.raises(CommandError, match="nope"):
        call_command("sync_accounts", "--instance", "nope")


def test_it_records_a_skipped_session_when_a_scheduled_run_meets_the_lock(mysql_instance: Any) -> None:
    handle = acquire_lock("account")
    try:
        summary = sync_accounts()
    finally:
        handle.release()
    assert summary["status"] == "skipped" and handle.owner in summary["error"]
    assert not Account.objects.exists()
