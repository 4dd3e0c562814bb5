"""Every command that runs a sync session follows the same rules for inactive instances and for
its exit status, in both apps (the live outcomes: accounts_sync and capacity command tests)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command, load_command_class

from whalefall.management.sync_command import SyncSessionCommand, exit_for
from whalefall.models import SyncSession
from whalefall.tests import live
from whalefall.tests.factories import InstanceFactory

COMMANDS = [
    ("accounts_sync", "sync_accounts"),
    ("capacity", "collect_database_sizes"),
    ("capacity", "calculate_database_size_aggregations"),
]
NAMES = [name for _, name in COMMANDS]


@pytest.mark.parametrize(("app", "name"), COMMANDS)
def test_every_sync_command_shares_the_rules_and_states_them_in_its_help(app: str, name: str) -> None:
    command = load_command_class(app, name)
    assert isinstance(command, SyncSessionCommand)
    text = " ".join(command.create_parser("manage.py", name).format_help().split())
    assert "--include-inactive" in text
    assert "a named instance that is inactive is refused unless --include-inactive is given" in text
    assert "Exit status: 0 when the session completed" in text
    assert "1 when it was partial, failed, cancelled or skipped" in text


@pytest.mark.django_db
@pytest.mark.parametrize("name", NAMES)
def test_a_named_inactive_instance_is_refused_before_any_session(name: str) -> None:
    active = InstanceFactory(name="kept")
    InstanceFactory(name="retired", is_active=False)
    with pytest.raises(CommandError, match=r"inactive instance\(s\): retired; pass --include-inactive"):
        call_command(name, "--instance", active.name, "--instance", "retired", stdout=StringIO())
    with pytest.raises(CommandError, match=r"unknown instance\(s\): ghost"):
        call_command(name, "--instance", "ghost", "--instance", "retired", stdout=StringIO())
    assert not SyncSession.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["sync_accounts", "collect_database_sizes"])
def test_include_inactive_syncs_it_and_a_failed_session_exits_one(name: str) -> None:
    retired = InstanceFactory(name="retired", is_active=False, db_type="mysql", port=live.closed_port())
    out = StringIO()
    with pytest.raises(SystemExit) as excinfo:
        call_command(name, "--instance", "retired", "--include-inactive", "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert excinfo.value.code == 1 and summary["status"] == "failed"
    assert [(i["instance_id"], i["failed_phase"]) for i in summary["instances"]] == [
        (retired.pk, "connection")
    ]
    session = SyncSession.objects.get(session_id=summary["session_id"])
    assert session.trigger == "manual_single" and session.parameters["instance_ids"] == [retired.pk]


@pytest.mark.django_db(transaction=True)
def test_include_inactive_aggregates_it_and_a_completed_session_exits_zero() -> None:
    retired = InstanceFactory(name="retired", is_active=False)
    out = StringIO()
    call_command(
        "calculate_database_size_aggregations",
        "--instance",
        "retired",
        "--include-inactive",
        "--json",
        stdout=out,
    )
    summary = json.loads(out.getvalue())
    assert summary["status"] == "completed"
    assert [i["instance_id"] for i in summary["instances"]] == [retired.pk]


@pytest.mark.parametrize(
    ("status", "exits"),
    [("completed", False), ("partial", True), ("failed", True), ("cancelled", True), ("skipped", True)],
)
def test_only_a_completed_session_exits_zero(status: str, exits: bool) -> None:
    summary = {"session_id": "s-1", "status": status, "failed_instances": 1, "total_instances": 3}
    if not exits:
        exit_for(summary)
        return
    with pytest.raises(SystemExit) as excinfo:
        exit_for(summary)
    assert excinfo.value.code == 1
