from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from scheduling.models import SchedulerCommand
from whalefall.tasks import cleanup_history

pytestmark = pytest.mark.django_db


def test_it_deletes_old_executions_and_commands_with_the_history_cleanup(settings: object) -> None:
    settings.WHALEFALL_RETENTION_DAYS = 90  # type: ignore[attr-defined]
    job = DjangoJob.objects.create(id="a_daily", job_state=b"")
    old, new = timezone.now() - timedelta(days=91), timezone.now() - timedelta(days=1)
    DjangoJobExecution.objects.create(job=job, status="Executed", run_time=old)
    DjangoJobExecution.objects.create(job=job, status="Executed", run_time=new)
    SchedulerCommand.objects.create(action="pause", job_id="a_daily", status="applied", created_at=old)
    SchedulerCommand.objects.create(action="pause", job_id="a_daily", status="applied", created_at=new)
    result = cleanup_history()
    assert result["scheduling.executions"] == 1
    assert result["scheduling.commands"] == 1
    assert list(DjangoJobExecution.objects.values_list("run_time", flat=True)) == [new]
