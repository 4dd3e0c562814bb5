"""`whalefall.bulk.update_objects`: each object's own values, in one statement, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from whalefall import bulk
from whalefall.models import SyncInstanceRecord
from whalefall.sync import ledger
from whalefall.tests.factories import InstanceFactory

pytestmark = pytest.mark.django_db


def test_each_object_gets_its_own_values_and_other_rows_are_untouched() -> None:
    session = ledger.create_session("aggregation", "manual")
    records = ledger.add_instance_records(session, [InstanceFactory() for _ in range(3)])
    first, second, untouched = records
    at = timezone.now().replace(microsecond=123456)
    first.items_synced, first.sync_details, first.finished_at = 7, {"k": ["a", "b"], "n": 1.5}, at
    second.items_synced, second.sync_details, second.finished_at = (
        0,
        {"name": '它\'s "x"'},
        at + timedelta(days=1),
    )
    first.error_message, second.error_message = "", "line 1\nline 2"
    fields = ["items_synced", "sync_details", "finished_at", "error_message"]
    with CaptureQueriesContext(connection) as queries:
        bulk.update_objects([first, second], fields)
    assert len(queries) == 1
    stored = {r.pk: r for r in SyncInstanceRecord.objects.all()}
    for record in (first, second):
        assert [getattr(stored[record.pk], f) for f in fields] == [getattr(record, f) for f in fields]
    assert (stored[untouched.pk].items_synced, stored[untouched.pk].sync_details) == (0, {})
    assert stored[untouched.pk].finished_at is None


def test_nothing_to_write_runs_no_statement() -> None:
    with CaptureQueriesContext(connection) as queries:
        bulk.update_objects([], ["items_synced"])
    assert len(queries) == 0
