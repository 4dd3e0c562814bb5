"""The two commands and tasks: sessions recorded, JSON summaries, clear errors, exit codes."""

from __future__ import annotations

import json
from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from capacity.models import DatabaseSizeStat, InstanceDatabase, InstanceSizeAggregation
from capacity.tasks import calculate_database_size_aggregations
from whalefall.models import Instance, SyncSession
from whalefall.tests import live
from whalefall.tests.factories import InstanceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_rejects_unknown_instances_and_bad_dates() -> None:
    with pytest.raises(CommandError, match="unknown instance"):
        call_command("collect_database_sizes", "--instance", "nope")
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("calculate_database_size_aggregations", "--date", "31/12/2024")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("calculate_database_size_aggregations", "--period", "yearly")
    assert not SyncSession.objects.exists()


def test_it_exits_non_zero_when_the_session_failed() -> None:
    instance = InstanceFactory(db_type="postgresql", port=live.closed_port())
    out = StringIO()
    with pytest.raises(SystemExit) as excinfo:
        call_command("collect_database_sizes", "--instance", instance.name, "--json", stdout=out)
    assert excinfo.value.code == 1
    summary = json.loads(out.getvalue())
    assert summary["status"] == "failed"
    assert summary["instances"][0]["failed_phase"] == "connection"
    assert "s3cret-pass" not in out.getvalue()
    session = SyncSession.objects.get(session_id=summary["session_id"])
    assert (session.category, session.trigger, session.created_by) == ("capacity", "manual_single", "cli")


def test_it_records_an_aggregation_session_and_recomputes_a_named_period() -> None:
    instance = InstanceFactory()
    db = InstanceDatabase.objects.create(instance=instance, name="Sales")
    for day, size in (("2024-03-30", 100), ("2024-04-02", 300)):
        DatabaseSizeStat.objects.create(
            database=db, instance=instance, collected_date=date.fromisoformat(day), size_bytes=size
        )
    from capacity.models import InstanceSizeStat

    InstanceSizeStat.objects.create(instance=instance, collected_date=date(2024, 4, 2), size_bytes=300)
    out = StringIO()
    call_command(
        "calculate_database_size_aggregations",
        "--period",
        "quarterly",
        "--date",
        "2024-05-01",
        "--json",
        stdout=out,
    )
    summary = json.loads(out.getvalue())
    session = SyncSession.objects.get(session_id=summary["session_id"])
    assert (session.category, session.status) == ("aggregation", "completed")
    assert session.trigger == "manual"  # every instance: not a single-instance run
    assert session.parameters["periods"] == [["quarterly", "2024-04-01"]]
    details = summary["instances"][0]["sync_details"]["aggregation"]
    assert details["quarterly"] == {"period_start": "2024-04-01", "databases": 1, "instance": 1}
    agg = InstanceSizeAggregation.objects.get(instance=instance)
    assert (agg.period_start, agg.avg_size_bytes) == (date(2024, 4, 1), 300)

    again = calculate_database_size_aggregations(period="quarterly", date="2024-05-01", trigger="manual")
    assert again["instances"][0]["items_updated"] == 0  # nothing changed, nothing rewritten

    out = StringIO()
    call_command("calculate_database_size_aggregations", "--instance", instance.name, "--json", stdout=out)
    named = SyncSession.objects.get(session_id=json.loads(out.getvalue())["session_id"])
    assert named.trigger == "manual_single"  # recorded as every sync command records one instance


def test_the_scheduled_run_covers_the_last_complete_period_of_each_kind() -> None:
    InstanceFactory()
    result = calculate_database_size_aggregations()
    session = SyncSession.objects.get(session_id=result["session_id"])
    assert [k for k, _ in session.parameters["periods"]] == ["daily", "weekly", "monthly", "quarterly"]
    assert result["status"] == "completed"


@pytest.mark.parametrize(
    ("service", "options"),
    [
        ("aggregate_changes", {}),
        ("aggregate_changes", {"full": True}),
        ("aggregate_periods", {"period": "daily"}),
    ],
)
def test_a_failing_aggregation_pass_fails_every_record_with_its_reason(
    monkeypatch: pytest.MonkeyPatch, service: str, options: dict
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(f"capacity.services.shared_aggregation.{service}", boom)
    InstanceFactory()
    InstanceFactory()
    result = calculate_database_size_aggregations(trigger="manual", **options)
    assert result["status"] == "failed"
    assert {(r["status"], r["failed_phase"], r["error"]) for r in result["instances"]} == {
        ("failed", "collection", "RuntimeError: disk full")
    }


def test_full_recomputes_every_period_and_takes_no_named_period() -> None:
    with pytest.raises(CommandError, match="--full"):
        call_command("calculate_database_size_aggregations", "--full", "--period", "daily")
    instance = InstanceFactory()
    db = InstanceDatabase.objects.create(instance=instance, name="Sales")
    DatabaseSizeStat.objects.create(
        database=db, instance=instance, collected_date=date(2024, 3, 30), size_bytes=100
    )
    out = StringIO()
    call_command("calculate_database_size_aggregations", "--full", "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert SyncSession.objects.get(session_id=summary["session_id"]).parameters["mode"] == "full"
    details = summary["instances"][0]["sync_details"]["aggregation"]
    kinds = ("daily", "weekly", "monthly", "quarterly")
    assert {k: details[k]["databases"] for k in kinds} == dict.fromkeys(kinds, 1)
    again = calculate_database_size_aggregations(trigger="manual")  # incremental: nothing new
    assert again["instances"][0]["items_updated"] == 0


def test_it_exits_zero_when_every_instance_succeeds_and_one_when_the_session_is_partial(
    mysql_instance: Instance,
) -> None:
    out = StringIO()
    call_command("collect_database_sizes", "--instance", mysql_instance.name, "--json", stdout=out)
    assert json.loads(out.getvalue())["status"] == "completed"
    broken = InstanceFactory(db_type="postgresql", port=live.closed_port(), name="broken-one")
    out = StringIO()
    with pytest.raises(SystemExit) as excinfo:
        names = ("--instance", mysql_instance.name, "--instance", broken.name)
        call_command("collect_database_sizes", *names, "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert excinfo.value.code == 1 and summary["status"] == "partial"
    assert {i["instance"]: i["status"] for i in summary["instances"]} == {
        mysql_instance.name: "completed",
        "broken-one": "failed",
    }
