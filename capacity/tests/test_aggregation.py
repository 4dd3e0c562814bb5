"""Aggregation SQL on generated history: exact values at week, month, quarter and year boundaries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection

from capacity.models import (
    DatabaseSizeAggregation,
    DatabaseSizeStat,
    InstanceDatabase,
    InstanceSizeAggregation,
    InstanceSizeStat,
)
from capacity.periods import last_complete_period, period_end, period_sql, period_start
from capacity.services import aggregation
from capacity.services.aggregation import aggregate, aggregate_periods, plan_periods
from whalefall.models import Instance
from whalefall.tests.factories import InstanceFactory

pytestmark = pytest.mark.django_db

D = date.fromisoformat
# db "a": growth with gaps, spanning 2023-12 .. 2024-04 (2024-01-01 is a Monday, 2024 a leap year)
HISTORY_A = {
    "2023-12-31": 100,
    "2024-01-01": 200,
    "2024-01-02": 400,
    "2024-01-07": 600,
    "2024-01-31": 1000,
    "2024-02-01": 2000,
    "2024-02-29": 3000,
    "2024-03-31": 4000,
    "2024-04-01": 5000,
}
HISTORY_B = {"2024-01-01": 1000, "2024-01-02": 990, "2024-01-03": 990}  # shrinking, then stable
HISTORY_C = {"2024-12-31": 10, "2025-01-02": 30, "2025-01-06": 31}  # across a year end


def fill(instance: Instance, name: str, history: dict[str, int]) -> InstanceDatabase:
    db = InstanceDatabase.objects.create(instance=instance, name=name)
    DatabaseSizeStat.objects.bulk_create(
        DatabaseSizeStat(database=db, instance=instance, collected_date=D(d), size_bytes=b)
        for d, b in history.items()
    )
    return db


@pytest.fixture
def history() -> dict[str, InstanceDatabase]:
    instance = InstanceFactory()
    dbs = {n: fill(instance, n, h) for n, h in (("a", HISTORY_A), ("b", HISTORY_B), ("c", HISTORY_C))}
    totals: dict[str, int] = {}
    for h in (HISTORY_A, HISTORY_B):
        for d, b in h.items():
            totals[d] = totals.get(d, 0) + b
    InstanceSizeStat.objects.bulk_create(
        InstanceSizeStat(instance=instance, collected_date=D(d), size_bytes=b) for d, b in totals.items()
    )
    return dbs


PERIOD_STARTS = [
    ("daily", "2024-01-02"),
    ("weekly", "2024-01-01"),
    ("monthly", "2024-02-01"),
    ("quarterly", "2024-01-01"),
]
AGG_VALUES = ("database_id", "period_type", "period_start", *aggregation.VALUE_COLUMNS)


def run_all(first: str = "2023-10-01", last: str = "2025-03-31") -> None:
    for kind in ("daily", "weekly", "monthly", "quarterly"):
        aggregate(kind, D(first), D(last))


def row(db: InstanceDatabase, kind: str, start: str) -> tuple:
    agg = DatabaseSizeAggregation.objects.get(database=db, period_type=kind, period_start=D(start))
    return (
        str(agg.period_end),
        agg.avg_size_bytes,
        agg.max_size_bytes,
        agg.min_size_bytes,
        agg.sample_count,
        agg.change_bytes,
        agg.change_percent,
        agg.trend,
    )


@pytest.mark.parametrize(
    ("kind", "start", "expected"),
    [
        ("weekly", "2023-12-25", ("2023-12-31", 100, 100, 100, 1, 0, 0.0, "stable")),
        ("weekly", "2024-01-01", ("2024-01-07", 400, 600, 200, 3, 300, 300.0, "growing")),
        ("weekly", "2024-01-29", ("2024-02-04", 1500, 2000, 1000, 2, 0, 0.0, "stable")),  # no previous week
        ("weekly", "2024-04-01", ("2024-04-07", 5000, 5000, 5000, 1, 1000, 25.0, "growing")),
        ("monthly", "2023-12-01", ("2023-12-31", 100, 100, 100, 1, 0, 0.0, "stable")),
        ("monthly", "2024-01-01", ("2024-01-31", 550, 1000, 200, 4, 450, 450.0, "growing")),
        ("monthly", "2024-02-01", ("2024-02-29", 2500, 3000, 2000, 2, 1950, 354.55, "growing")),
        ("monthly", "2024-03-01", ("2024-03-31", 4000, 4000, 4000, 1, 1500, 60.0, "growing")),
        ("quarterly", "2023-10-01", ("2023-12-31", 100, 100, 100, 1, 0, 0.0, "stable")),
        ("quarterly", "2024-01-01", ("2024-03-31", 1600, 4000, 200, 7, 1500, 1500.0, "growing")),
        ("quarterly", "2024-04-01", ("2024-06-30", 5000, 5000, 5000, 1, 3400, 212.5, "growing")),
        ("daily", "2024-01-01", ("2024-01-01", 200, 200, 200, 1, 100, 100.0, "growing")),
        ("daily", "2024-01-07", ("2024-01-07", 600, 600, 600, 1, 0, 0.0, "stable")),  # 01-06 missing
        ("daily", "2024-02-29", ("2024-02-29", 3000, 3000, 3000, 1, 0, 0.0, "stable")),
    ],
)
def test_it_computes_exact_values_per_period(history: dict, kind: str, start: str, expected: tuple) -> None:
    run_all()
    assert row(history["a"], kind, start) == expected


def test_it_marks_shrinking_and_stable_days(history: dict) -> None:
    run_all()
    assert row(history["b"], "daily", "2024-01-02")[5:] == (-10, -1.0, "shrinking")
    assert row(history["b"], "daily", "2024-01-03")[5:] == (0, 0.0, "stable")


def test_it_handles_year_ends(history: dict) -> None:
    run_all()
    c = history["c"]
    assert row(c, "weekly", "2024-12-30") == ("2025-01-05", 20, 30, 10, 2, 0, 0.0, "stable")
    assert row(c, "weekly", "2025-01-06")[4:] == (1, 11, 55.0, "growing")
    assert row(c, "monthly", "2025-01-01")[4:] == (2, 21, 210.0, "growing")  # avg 31 (30.5 rounds up) vs 10
    assert row(c, "quarterly", "2025-01-01")[:5] == ("2025-03-31", 31, 31, 30, 2)
    assert row(c, "quarterly", "2025-01-01")[5:] == (21, 210.0, "growing")


def test_it_aggregates_instance_totals(history: dict) -> None:
    run_all()
    agg = InstanceSizeAggregation.objects.get(period_type="weekly", period_start=D("2024-01-01"))
    # days 01-01: 1200, 01-02: 1390, 01-03: 990, 01-07: 600
    assert (agg.avg_size_bytes, agg.max_size_bytes, agg.min_size_bytes, agg.sample_count) == (
        1045,
        1390,
        600,
        4,
    )
    assert (agg.change_bytes, agg.change_percent, agg.trend) == (945, 945.0, "growing")


@pytest.mark.parametrize(
    ("kind", "start"),
    [
        ("daily", "2024-01-02"),
        ("weekly", "2024-01-01"),
        ("monthly", "2024-02-01"),
        ("quarterly", "2024-01-01"),
    ],
)
def test_a_single_period_matches_the_full_run(history: dict, kind: str, start: str) -> None:
    # alone (previous period never aggregated; the row's period is a CASE over constants) ...
    aggregate(kind, D(start) + timedelta(days=0 if kind == "daily" else 5))
    alone = row(history["a"], kind, start)
    DatabaseSizeAggregation.objects.all().delete()
    run_all()  # ... and in a long range (the backend's date functions)
    assert row(history["a"], kind, start) == alone


def test_a_rerun_changes_nothing(history: dict) -> None:
    run_all()
    before = {
        (a.database_id, a.period_type, a.period_start): (a.avg_size_bytes, a.calculated_at)
        for a in DatabaseSizeAggregation.objects.all()
    }
    written = [
        aggregate(k, D("2023-10-01"), D("2025-03-31")) for k in ("daily", "weekly", "monthly", "quarterly")
    ]
    after = {
        (a.database_id, a.period_type, a.period_start): (a.avg_size_bytes, a.calculated_at)
        for a in DatabaseSizeAggregation.objects.all()
    }
    assert after == before
    assert all(sum(w["databases"].values()) + sum(w["instance"].values()) == 0 for w in written)


def test_rows_written_meanwhile_turn_the_fresh_insert_into_the_upsert(
    history: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty range is filled with a plain INSERT; if another run wrote some of its periods
    between the check and the write, the INSERT fails on the unique key and the upsert runs
    instead, in the same transaction, with the same result."""
    run_all()
    expected = {kind: row(history["a"], kind, start) for kind, start in PERIOD_STARTS}
    DatabaseSizeAggregation.objects.filter(database=history["b"]).delete()  # some rows gone
    DatabaseSizeAggregation.objects.filter(database=history["a"]).update(avg_size_bytes=1)  # some wrong
    monkeypatch.setattr(aggregation, "_is_empty", lambda *args: True)  # "nothing there yet"
    written = [aggregate(k, D("2023-10-01"), D("2025-03-31")) for k, _ in PERIOD_STARTS]
    assert {kind: row(history["a"], kind, start) for kind, start in PERIOD_STARTS} == expected
    assert DatabaseSizeAggregation.objects.filter(database=history["b"], period_type="daily").count() == 3
    assert all(w["databases"][history["a"].instance_id] > 0 for w in written)


def test_an_empty_range_is_written_by_the_insert_and_equals_the_upsert(history: dict) -> None:
    run_all()  # into empty tables: the plain INSERT
    fresh = sorted(DatabaseSizeAggregation.objects.values_list(*AGG_VALUES))
    DatabaseSizeAggregation.objects.update(avg_size_bytes=-1)  # every row there, and all wrong
    run_all()  # the upsert rewrites them all
    assert sorted(DatabaseSizeAggregation.objects.values_list(*AGG_VALUES)) == fresh


@pytest.mark.parametrize(
    ("kind", "start", "expected"),
    [
        # Far into run_all's range: past the few periods written as constants, the backend's own
        # date functions place the rows (HISTORY_C: 2024-12-31 10, 2025-01-02 30, 2025-01-06 31).
        ("weekly", "2024-12-30", ("2025-01-05", 20, 30, 10, 2, 0, 0.0, "stable")),
        ("weekly", "2025-01-06", ("2025-01-12", 31, 31, 31, 1, 11, 55.0, "growing")),
        ("monthly", "2025-01-01", ("2025-01-31", 31, 31, 30, 2, 21, 210.0, "growing")),
        ("quarterly", "2025-01-01", ("2025-03-31", 31, 31, 30, 2, 21, 210.0, "growing")),
    ],
)
def test_periods_far_into_a_long_range_are_exact(
    history: dict, kind: str, start: str, expected: tuple
) -> None:
    run_all()
    assert row(history["c"], kind, start) == expected


def test_a_daily_range_starting_inside_the_history_measures_its_first_day_against_the_day_before(
    history: dict,
) -> None:
    """The day before the range is read for the first day's change, but not written."""
    aggregate("daily", D("2024-01-02"), D("2024-01-31"))
    assert row(history["a"], "daily", "2024-01-02")[5:] == (200, 100.0, "growing")  # 200 -> 400
    assert not DatabaseSizeAggregation.objects.filter(period_start=D("2024-01-01")).exists()


def test_a_range_of_months_starting_inside_the_history_measures_its_first_month_against_the_one_before(
    history: dict,
) -> None:
    aggregate("monthly", D("2024-02-01"), D("2024-03-31"))
    assert row(history["a"], "monthly", "2024-02-01")[5:] == (1950, 354.55, "growing")  # January: 550
    assert not DatabaseSizeAggregation.objects.filter(period_start=D("2024-01-01")).exists()


def test_named_instances_get_their_periods_and_no_other(history: dict) -> None:
    other = InstanceFactory()
    lone = fill(other, "z", {"2024-01-01": 7})
    written = aggregate("monthly", D("2024-01-01"), D("2024-01-31"), instance_ids=[other.pk])
    assert written["databases"] == {other.pk: 1}
    assert list(DatabaseSizeAggregation.objects.values_list("database_id", flat=True)) == [lone.pk]


def test_planned_periods_for_named_instances_touch_no_other_unless_unrestricted(history: dict) -> None:
    other = InstanceFactory()
    fill(other, "z", {"2024-01-01": 7})
    result = aggregate_periods([("monthly", D("2024-01-01"))], [other.pk], restrict=True)
    assert result == {other.pk: {"monthly": {"period_start": "2024-01-01", "databases": 1, "instance": 0}}}
    assert set(DatabaseSizeAggregation.objects.values_list("instance_id", flat=True)) == {other.pk}
    aggregate_periods([("monthly", D("2024-01-01"))], [other.pk], restrict=False)  # the scheduled run
    assert history["a"].instance_id in set(
        DatabaseSizeAggregation.objects.values_list("instance_id", flat=True)
    )


def test_a_changed_sample_updates_only_its_periods(history: dict) -> None:
    run_all()
    DatabaseSizeStat.objects.filter(database=history["a"], collected_date=D("2024-04-01")).update(
        size_bytes=6000
    )
    written = aggregate("quarterly", D("2023-10-01"), D("2025-03-31"))
    assert row(history["a"], "quarterly", "2024-04-01")[5:] == (4400, 275.0, "growing")
    assert written["databases"] == {history["a"].instance_id: 1}


def test_period_sql_matches_python_for_three_years() -> None:
    instance = InstanceFactory()
    db = InstanceDatabase.objects.create(instance=instance, name="x")
    days = [date(2023, 1, 1) + timedelta(days=i) for i in range(3 * 366)]
    DatabaseSizeStat.objects.bulk_create(
        DatabaseSizeStat(database=db, instance=instance, collected_date=d, size_bytes=1) for d in days
    )
    for kind in ("daily", "weekly", "monthly", "quarterly"):
        exprs = period_sql(connection.vendor, kind)
        start = exprs.start.format(col="collected_date")
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT collected_date, {start}, {exprs.end.format(col=start)}, {exprs.previous.format(col=start)} "
                "FROM capacity_databasesizestat WHERE database_id = %s ORDER BY collected_date",
                [db.pk],
            )
            got = [tuple(str(v) for v in r) for r in cur.fetchall()]
        want = []
        for d in days:
            s = period_start(kind, d)
            want.append((str(d), str(s), str(period_end(kind, s)), str(last_complete_period(kind, s))))
        assert got == want, kind


def test_it_plans_the_last_complete_period_of_each_kind() -> None:
    today = D("2025-01-01")  # a Wednesday
    assert plan_periods(None, None, today) == [
        ("daily", D("2024-12-31")),
        ("weekly", D("2024-12-23")),
        ("monthly", D("2024-12-01")),
        ("quarterly", D("2024-10-01")),
    ]
    assert plan_periods("weekly", D("2024-03-31"), today) == [("weekly", D("2024-03-25"))]
    assert plan_periods(None, D("2024-05-15"), today)[3] == ("quarterly", D("2024-04-01"))
