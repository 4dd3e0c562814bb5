"""The aggregation's unit of work is a plain function of (session id, instance id): it reads what
to aggregate from the session, so any executor can run it, in one process or several."""

from __future__ import annotations

from datetime import date

import pytest

from capacity.models import DatabaseSizeAggregation, DatabaseSizeStat, InstanceDatabase
from capacity.services import shared_aggregation
from capacity.services.aggregation import plan_periods
from capacity.services.shared_aggregation import aggregate_instance, aggregation_parameters
from whalefall.choices import SyncCategory
from whalefall.models import Instance, SyncInstanceRecord
from whalefall.sync.session_runner import run_sync
from whalefall.tests.factories import InstanceFactory

pytestmark = pytest.mark.django_db(transaction=True)  # the runner's pool closes connections


def _fleet() -> list[Instance]:
    instances = [InstanceFactory(), InstanceFactory()]
    for n, instance in enumerate(instances):
        db = InstanceDatabase.objects.create(instance=instance, name=f"db{n}")
        for day, size in ((date(2024, 3, 4), 100 + n), (date(2024, 3, 5), 300 + n)):
            DatabaseSizeStat.objects.create(
                database=db, instance=instance, collected_date=day, size_bytes=size
            )
    return instances


def _run(unit: object, instances: list[Instance]) -> dict[int, SyncInstanceRecord]:
    periods = plan_periods("weekly", date(2024, 3, 5), date(2024, 4, 1))
    session = run_sync(
        category=SyncCategory.AGGREGATION,
        module=shared_aggregation.MODULE,
        instances=Instance.objects.filter(pk__in=[i.pk for i in instances]),
        unit=unit,  # type: ignore[arg-type]
        parameters=aggregation_parameters(
            mode="periods", periods=periods, instance_ids=[i.pk for i in instances], today=date(2024, 4, 1)
        ),
        max_workers=1,
    )
    return {r.instance_id: r for r in SyncInstanceRecord.objects.filter(session=session)}


def test_each_unit_in_a_process_of_its_own_gives_the_same_aggregates() -> None:
    instances = _fleet()

    def in_a_fresh_process(session_id: int, instance_id: int) -> SyncInstanceRecord:
        shared_aggregation._passes.clear()  # nothing shared with the unit before
        return aggregate_instance(session_id, instance_id)

    records = _run(in_a_fresh_process, instances)
    assert {r.status for r in records.values()} == {"completed"}
    averages = dict(
        DatabaseSizeAggregation.objects.filter(period_type="weekly").values_list(
            "instance_id", "avg_size_bytes"
        )
    )
    assert averages == {instances[0].pk: 200, instances[1].pk: 201}
    # The first unit's pass wrote both instances' rows; the second's found them as they should be.
    first, second = (records[i.pk] for i in instances)
    assert first.items_updated == 1 and second.items_updated == 0  # one database row each


def test_in_one_process_one_pass_serves_every_unit_and_old_passes_are_dropped() -> None:
    instances = _fleet()
    records = _run(aggregate_instance, instances)
    assert [records[i.pk].items_updated for i in instances] == [1, 1]  # each its share of one pass
    for _ in range(6):
        _run(aggregate_instance, instances)
    assert len(shared_aggregation._passes) <= shared_aggregation._KEPT_PASSES
