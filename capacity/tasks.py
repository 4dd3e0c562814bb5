"""Capacity tasks, kept thin: set up the run, hand each instance to its unit of work, return a summary.

Both are recorded as sessions through `whalefall.sync.session_runner.run_sync`, which takes the
category's sync lock, creates the per-instance records and drives them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_noop

from capacity.coordinator import MODULE, sync_instance
from capacity.services.aggregation import plan_periods
from capacity.services.shared_aggregation import MODULE as AGGREGATION_MODULE
from capacity.services.shared_aggregation import aggregate_instance, aggregate_session, aggregation_parameters
from whalefall.choices import SyncCategory, SyncTrigger
from whalefall.models import Instance
from whalefall.structured_logging import get_logger
from whalefall.sync.session_runner import ProgressCallback, run_sync
from whalefall.task_registry import ScheduledTask

logger = get_logger(__name__)


def collect_database_sizes(
    *,
    instance_ids: list[int] | None = None,
    trigger: str = SyncTrigger.SCHEDULED,
    created_by: str = "",
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Inventory and today's sizes of every (or the named) active instance: one session."""
    session = run_sync(
        category=SyncCategory.CAPACITY,
        module=MODULE,
        instances=Instance.objects.for_sync(instance_ids),
        unit=sync_instance,
        trigger=trigger,
        created_by=created_by,
        parameters={"instance_ids": instance_ids},
        progress=progress,
    )
    return session.summary()


def calculate_database_size_aggregations(
    *,
    period: str | None = None,
    date: date | str | None = None,
    full: bool = False,
    today: date | str | None = None,
    trigger: str = SyncTrigger.SCHEDULED,
    created_by: str = "",
    instance_ids: list[int] | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Daily/weekly/monthly/quarterly aggregates. Without `period` / `date`: incremental, every
    period that has ended or whose size rows changed since the last run (`full`: every period
    from the first row, for repair); with them: the named period(s), recomputed. `today`
    (default: the local date) says which periods are complete."""
    day, today = _parse_date(date), _parse_date(today) or timezone.localdate()
    if full and (period or day):
        raise ValueError("a full recompute covers every period: name no period or date")
    named = period is not None or day is not None
    periods = plan_periods(period, day, today)
    mode = "periods" if named else "full" if full else "incremental"
    session = run_sync(
        category=SyncCategory.AGGREGATION,
        module=AGGREGATION_MODULE,
        instances=Instance.objects.for_sync(instance_ids),
        unit=aggregate_instance,
        together=aggregate_session,
        trigger=trigger,
        created_by=created_by,
        parameters=aggregation_parameters(mode=mode, periods=periods, instance_ids=instance_ids, today=today),
        progress=progress,
    )
    logger.info("capacity_aggregation_periods", mode=mode, periods=[f"{k}:{s}" for k, s in periods])
    return session.summary()


def _parse_date(value: date | str | None) -> date | None:
    # Dates arrive as strings from the scheduler's JSON kwargs and from the command line.
    return date.fromisoformat(value) if isinstance(value, str) else value


COLLECT_DATABASE_SIZES = ScheduledTask(
    name="collect_database_sizes",
    function=collect_database_sizes,
    label=gettext_noop("Capacity collection"),
    description=gettext_noop("Database inventory and one size row per database for the day."),
    job_id="collect_database_sizes_daily",
    trigger_type="cron",
    trigger_params={"hour": 3, "minute": 0},
    category=SyncCategory.CAPACITY,
)
CALCULATE_DATABASE_SIZE_AGGREGATIONS = ScheduledTask(
    name="calculate_database_size_aggregations",
    function=calculate_database_size_aggregations,
    label=gettext_noop("Capacity aggregation"),
    description=gettext_noop(
        "Daily, weekly, monthly and quarterly size statistics for the last complete periods."
    ),
    job_id="calculate_database_size_aggregations_daily",
    trigger_type="cron",
    trigger_params={"hour": 4, "minute": 0},
    category=SyncCategory.AGGREGATION,
)
TASKS = (COLLECT_DATABASE_SIZES, CALCULATE_DATABASE_SIZE_AGGREGATIONS)
