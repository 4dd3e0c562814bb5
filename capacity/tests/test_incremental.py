"""The incremental aggregation: same results as a full recompute, only what changed or ended."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from capacity.models import (
    AggregationWatermark,
    DatabaseSizeAggregation,
    DatabaseSizeStat,
    InstanceDatabase,
    InstanceSizeAggregation,
    InstanceSizeStat,
)
from capacity.services import incremental
from capacity.services.incremental import aggregate_changes
from capacity.tests.test_aggregation import HISTORY_A, HISTORY_B, HISTORY_C, fill, run_all
from whalefall.models import Instance
from whalefall.tests.factories import InstanceFactory

pytestmark = pytest.mark.django_db

D = date.fromisoformat
TODAY = D("2025-04-01")  # every period of the histories is complete


@pytest.fixture
def dbs() -> dict[str, InstanceDatabase]:
    first, second = InstanceFactory(), InstanceFactory()
    found = {
        "a": fill(first, "a", HISTORY_A),
        "b": fill(first, "b", HISTORY_B),
        "c": fill(second, "c", HISTORY_C),
    }
    for instance in (first, second):
        totals: dict[date, int] = {}
        for stat in DatabaseSizeStat.objects.filter(instance=instance):
            totals[stat.collected_date] = totals.get(stat.collected_date, 0) + stat.size_bytes
        InstanceSizeStat.objects.bulk_create(
            InstanceSizeStat(instance=instance, collected_date=d, size_bytes=b) for d, b in totals.items()
        )
    return found


def stored() -> dict[tuple, tuple]:
    """Every aggregate row's values (not when it was written)."""
    rows = {}
    for model, key in ((DatabaseSizeAggregation, "database_id"), (InstanceSizeAggregation, "instance_id")):
        for a in model.objects.all():
            rows[(model.__name__, getattr(a, key), a.period_type, a.period_start)] = (
                a.period_end,
                a.avg_size_bytes,
                a.max_size_bytes,
                a.min_size_bytes,
                a.sample_count,
                a.change_bytes,
                a.change_percent,
                a.trend,
                a.instance_id,
            )
    return rows


def written_at() -> dict[tuple, object]:
    return {
        (a.database_id, a.period_type, str(a.period_start)): a.calculated_at
        for a in DatabaseSizeAggregation.objects.all()
    }


def totals(result: dict) -> int:
    return sum(v["databases"] + v["instance"] for per_kind in result.values() for v in per_kind.values())


def recomputed_from_scratch(last: date = TODAY - timedelta(days=1)) -> dict[tuple, tuple]:
    DatabaseSizeAggregation.objects.all().delete()
    InstanceSizeAggregation.objects.all().delete()
    run_all("2023-10-01", str(last))
    return stored()


def test_the_first_run_computes_every_complete_period_as_the_full_range_does(dbs: dict) -> None:
    result = aggregate_changes(TODAY)
    incremental_rows = stored()
    assert len(incremental_rows) > 60
    assert totals(result) == len(incremental_rows)
    assert incremental_rows == recomputed_from_scratch()
    marks = AggregationWatermark.objects.all()
    assert {m.complete_through for m in marks} == {TODAY - timedelta(days=1)}
    assert {m.instance_id for m in marks} == set(Instance.objects.values_list("pk", flat=True))


def test_a_rerun_with_nothing_new_writes_nothing_in_a_few_queries(dbs: dict) -> None:
    aggregate_changes(TODAY)
    before = written_at()
    with CaptureQueriesContext(connection) as queries:
        result = aggregate_changes(TODAY)
    assert totals(result) == 0
    assert written_at() == before
    statements = [q["sql"] for q in queries.captured_queries]
    assert not any("INSERT INTO capacity_" in s for s in statements)
    assert len(statements) <= 8, statements  # watermarks, instances, two indexed scans, their save


def record_calls(monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
    """What the run computes: named periods (dirty) and ranges."""
    dirty: list = []
    ranges: list = []
    real_dirty, real_range = incremental.dirty_sql, incremental.aggregate

    def spy_dirty(vendor: str, kind: str, target: object, periods: list) -> str:
        dirty.extend((target.name, kind, key, str(start)) for key, start in periods)
        return real_dirty(vendor, kind, target, periods)

    def spy_range(kind: str, first: date, last: date, **kwargs: object) -> object:
        ranges.append((kind, first, last))
        return real_range(kind, first, last, **kwargs)

    monkeypatch.setattr(incremental, "dirty_sql", spy_dirty)
    monkeypatch.setattr(incremental, "aggregate", spy_range)
    return dirty, ranges


def test_a_late_row_for_an_old_day_recomputes_exactly_its_periods_and_their_successors(
    dbs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    aggregate_changes(TODAY)
    before = written_at()
    a = dbs["a"]
    # a Saturday that was missing: between 2024-01-02 (400) and 2024-01-07 (600)
    DatabaseSizeStat.objects.create(
        database=a, instance=a.instance, collected_date=D("2024-01-06"), size_bytes=500
    )
    dirty, ranges = record_calls(monkeypatch)

    result = aggregate_changes(TODAY)

    # each period containing the day, and the next one (its change is measured against it)
    assert sorted(dirty) == sorted(
        [
            ("databases", "daily", a.pk, "2024-01-06"),
            ("databases", "daily", a.pk, "2024-01-07"),
            ("databases", "weekly", a.pk, "2024-01-01"),
            ("databases", "weekly", a.pk, "2024-01-08"),
            ("databases", "monthly", a.pk, "2024-01-01"),
            ("databases", "monthly", a.pk, "2024-02-01"),
            ("databases", "quarterly", a.pk, "2024-01-01"),
            ("databases", "quarterly", a.pk, "2024-04-01"),
        ]
    )
    assert ranges == []  # no period ended since the last run
    after = written_at()
    changed = {k for k in after if after[k] != before.get(k)}
    # written: the new day, the day after (change now against 500), the week, January and
    # February, Q1 and Q2 (no row in the week of 01-08, so nothing there)
    assert changed == {
        (a.pk, "daily", "2024-01-06"),
        (a.pk, "daily", "2024-01-07"),
        (a.pk, "weekly", "2024-01-01"),
        (a.pk, "monthly", "2024-01-01"),
        (a.pk, "monthly", "2024-02-01"),
        (a.pk, "quarterly", "2024-01-01"),
        (a.pk, "quarterly", "2024-04-01"),
    }
    assert result[a.instance_id]["daily"] == {"last_complete": "2025-03-31", "databases": 2, "instance": 0}
    assert stored() == recomputed_from_scratch()  # exactly what a full recompute gives


def test_a_late_instance_total_recomputes_only_the_instance_periods(
    dbs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    aggregate_changes(TODAY)
    instance = dbs["c"].instance
    InstanceSizeStat.objects.filter(instance=instance, collected_date=D("2025-01-02")).update(
        size_bytes=40, collected_at=timezone.now()
    )
    dirty, _ = record_calls(monkeypatch)
    result = aggregate_changes(TODAY)
    assert {(table, key) for table, _, key, _ in dirty} == {("instance", instance.pk)}
    assert result[instance.pk]["monthly"]["instance"] == 1  # January only (no row in February)
    assert stored() == recomputed_from_scratch()


def test_periods_are_computed_the_night_after_they_end_and_missed_nights_are_caught_up(
    dbs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    aggregate_changes(TODAY)
    b = dbs["b"]
    for n in range(4):  # four days of collection from TODAY on
        day = TODAY + timedelta(days=n)
        DatabaseSizeStat.objects.create(
            database=b, instance=b.instance, collected_date=day, size_bytes=2000 + n
        )

    assert totals(aggregate_changes(TODAY)) == 0  # today's row: its periods are still in progress
    dirty, ranges = record_calls(monkeypatch)
    result = aggregate_changes(TODAY + timedelta(days=3))  # two nights missed
    assert dirty == []
    assert ("daily", D("2025-04-01"), D("2025-04-03")) in ranges
    assert result[b.instance_id]["daily"]["databases"] == 3
    days = DatabaseSizeAggregation.objects.filter(database=b, period_type="daily", period_start__gte=TODAY)
    assert [(str(r.period_start), r.avg_size_bytes) for r in days.order_by("period_start")] == [
        ("2025-04-01", 2000),
        ("2025-04-02", 2001),
        ("2025-04-03", 2002),
    ]


@pytest.mark.parametrize("named", [False, True], ids=["every instance", "named instance"])
def test_a_period_ending_tonight_is_measured_against_its_predecessor_as_corrected_tonight(
    dbs: dict, named: bool
) -> None:
    night = D("2025-07-01")  # June 30 ended a day, a month and a quarter
    b = dbs["b"]
    days = [D("2025-03-20") + timedelta(days=n) for n in range(102)]  # through June 29
    DatabaseSizeStat.objects.bulk_create(
        DatabaseSizeStat(database=b, instance=b.instance, collected_date=d, size_bytes=5000 + 10 * n)
        for n, d in enumerate(days)
    )
    aggregate_changes(night - timedelta(days=1))
    # tonight's collection, and late corrections of the day, the month and the quarter before
    DatabaseSizeStat.objects.create(
        database=b, instance=b.instance, collected_date=D("2025-06-30"), size_bytes=9000
    )
    for day, size in (("2025-06-29", 8000), ("2025-05-15", 1), ("2025-03-28", 90000)):
        DatabaseSizeStat.objects.filter(database=b, collected_date=D(day)).update(
            size_bytes=size, collected_at=timezone.now()
        )

    aggregate_changes(night, [b.instance_id] if named else None)

    june_30 = DatabaseSizeAggregation.objects.get(
        database=b, period_type="daily", period_start=D("2025-06-30")
    )
    assert june_30.change_bytes == 9000 - 8000
    nightly = stored()
    complete = {k: v for k, v in recomputed_from_scratch(night - timedelta(days=1)).items() if v[0] < night}
    assert nightly == complete  # (the range also holds the week still in progress)


@pytest.mark.parametrize("full", [False, True], ids=["first run", "full repair"])
def test_without_an_earlier_run_the_period_before_is_read_from_its_days_never_a_stored_row(
    full: bool,
) -> None:
    instance = InstanceFactory()
    db = fill(instance, "q1", {"2025-01-02": 30, "2025-02-03": 40, "2025-03-03": 50})  # Q1 only
    # An aggregate of the quarter before whose days are gone (deleted, or their dates corrected):
    # what a repair, or an instance seen for the first time, must not measure against.
    DatabaseSizeAggregation.objects.create(
        database=db,
        instance=instance,
        period_type="quarterly",
        period_start=D("2024-10-01"),
        period_end=D("2024-12-31"),
        avg_size_bytes=10,
        max_size_bytes=10,
        min_size_bytes=10,
        sample_count=1,
    )
    aggregate_changes(TODAY, full=full)  # the history starts inside the last complete quarter
    q1 = DatabaseSizeAggregation.objects.get(
        database=db, period_type="quarterly", period_start=D("2025-01-01")
    )
    assert (q1.avg_size_bytes, q1.change_bytes, q1.change_percent, q1.trend) == (40, 0, 0, "stable")


def test_the_watermark_survives_a_failed_run_and_the_next_run_reads_the_same_rows(
    dbs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    aggregate_changes(TODAY)
    marks = {
        (m.instance_id, m.collected_until, m.complete_through) for m in AggregationWatermark.objects.all()
    }
    a = dbs["a"]
    DatabaseSizeStat.objects.create(
        database=a, instance=a.instance, collected_date=D("2024-01-06"), size_bytes=500
    )
    real = incremental.dirty_sql

    def fail_on_monthly(vendor: str, kind: str, target: object, periods: list) -> str:
        return "SELECT no_such_column" if kind == "monthly" else real(vendor, kind, target, periods)

    monkeypatch.setattr(incremental, "dirty_sql", fail_on_monthly)
    with pytest.raises(Exception, match="no_such_column"):
        aggregate_changes(TODAY + timedelta(days=1))
    # the daily and weekly rows written before the failure went with it, and so did the watermark
    assert not DatabaseSizeAggregation.objects.filter(database=a, period_start=D("2024-01-06")).exists()
    assert {
        (m.instance_id, m.collected_until, m.complete_through) for m in AggregationWatermark.objects.all()
    } == marks

    monkeypatch.setattr(incremental, "dirty_sql", real)
    result = aggregate_changes(TODAY + timedelta(days=1))
    assert result[a.instance_id]["monthly"]["databases"] == 2
    assert DatabaseSizeAggregation.objects.get(database=a, period_type="daily", period_start=D("2024-01-06"))
    assert stored() == recomputed_from_scratch()


def test_full_recomputes_what_an_edit_behind_the_watermark_changed(dbs: dict) -> None:
    aggregate_changes(TODAY)
    a = dbs["a"]
    # an edit that keeps collected_at (raw SQL, a restore): invisible to the watermark ...
    DatabaseSizeStat.objects.filter(database=a, collected_date=D("2024-04-01")).update(size_bytes=6000)
    assert totals(aggregate_changes(TODAY)) == 0
    # ... and repaired by the full recompute, which writes only the rows that differ
    result = aggregate_changes(TODAY, full=True)
    assert result[a.instance_id]["quarterly"]["databases"] == 1
    assert result[a.instance_id]["daily"]["databases"] == 1
    assert stored() == recomputed_from_scratch()


def test_a_run_for_named_instances_moves_only_their_watermarks(dbs: dict) -> None:
    first, second = dbs["a"].instance_id, dbs["c"].instance_id
    aggregate_changes(TODAY, [first])
    assert set(AggregationWatermark.objects.values_list("instance_id", flat=True)) == {first}
    assert not DatabaseSizeAggregation.objects.filter(instance_id=second).exists()
    result = aggregate_changes(TODAY)  # the other instance is new: all its history
    assert result[first]["daily"]["databases"] == 0
    assert result[second]["daily"]["databases"] == len(HISTORY_C)
    assert stored() == recomputed_from_scratch()
