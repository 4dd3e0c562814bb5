"""Capacity data: database inventory, daily sizes, period aggregations, limits.

Sizes are bytes. One `DatabaseSizeStat` per database per local day and one `InstanceSizeStat`
per instance per day (the sum over its active databases); a re-run on the same day overwrites
them (unique constraints + update_or_create in bulk). Aggregations are written by SQL upserts
(`capacity.services.aggregation`), never row by row.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.formats import date_format


class PeriodType(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly (Monday start)"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"


class Trend(models.TextChoices):
    GROWING = "growing", "Growing"
    SHRINKING = "shrinking", "Shrinking"
    STABLE = "stable", "Stable"


class InstanceDatabaseQuerySet(models.QuerySet["InstanceDatabase"]):
    def active(self) -> InstanceDatabaseQuerySet:
        return self.filter(is_active=True)

    def for_instance(self, instance_id: int) -> InstanceDatabaseQuerySet:
        return self.filter(instance_id=instance_id)


class InstanceDatabase(models.Model):
    """A database (Oracle: tablespace) of an instance, as the last inventory saw it.

    Rows are never deleted when a database disappears: it is deactivated so its size history
    stays, and reactivated if it comes back. The name keeps its case (MySQL on Linux, PG quoted).
    """

    instance = models.ForeignKey("whalefall.Instance", on_delete=models.CASCADE, related_name="databases")
    name = models.CharField(max_length=255)
    is_active = models.BooleanField(default=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    capacity_limit_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="Optional limit (bytes) for the 'days until full' forecast."
    )

    objects = InstanceDatabaseQuerySet.as_manager()

    class Meta:
        ordering = ["instance_id", "name"]
        constraints = [models.UniqueConstraint(fields=["instance", "name"], name="capacity_db_unique_name")]
        indexes = [models.Index(fields=["instance", "is_active"])]
        verbose_name = "database"

    def __str__(self) -> str:
        """'instance / database', as a DBA names it (select the instance with lists of these)."""
        return f"{self.instance.name} / {self.name}"

    def mark_seen(self, now: timezone.datetime) -> str:
        """Record a sighting; returns 'reactivated' or 'refreshed' for the phase counters."""
        was_active = self.is_active
        self.is_active, self.last_seen_at, self.deactivated_at = True, now, None
        return "refreshed" if was_active else "reactivated"

    def mark_gone(self, now: timezone.datetime) -> None:
        self.is_active, self.deactivated_at = False, now


class InstanceCapacity(models.Model):
    """Capacity settings of an instance (kept out of the core `Instance` model)."""

    instance = models.OneToOneField("whalefall.Instance", on_delete=models.CASCADE, related_name="capacity")
    capacity_limit_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="Disk or quota limit (bytes) for the 'days until full' forecast."
    )

    class Meta:
        verbose_name = "instance capacity limit"

    def __str__(self) -> str:
        return self.instance.name


class DatabaseSizeStat(models.Model):
    """The size of one database on one local day (the last collection of that day wins)."""

    database = models.ForeignKey(InstanceDatabase, on_delete=models.CASCADE, related_name="size_stats")
    instance = models.ForeignKey("whalefall.Instance", on_delete=models.CASCADE, related_name="+")
    collected_date = models.DateField()
    collected_at = models.DateTimeField(default=timezone.now)
    size_bytes = models.BigIntegerField()
    data_bytes = models.BigIntegerField(null=True, blank=True)
    log_bytes = models.BigIntegerField(null=True, blank=True)
    allocated_bytes = models.BigIntegerField(null=True, blank=True, help_text="On-disk, where known.")

    class Meta:
        ordering = ["database_id", "collected_date"]
        constraints = [
            models.UniqueConstraint(fields=["database", "collected_date"], name="capacity_dbstat_one_per_day")
        ]
        # by instance for per-instance reads, by day for the aggregation's date-range scans, by
        # write time for the rows written since the aggregation's watermark
        indexes = [
            models.Index(fields=["instance", "collected_date"]),
            models.Index(fields=["collected_date"]),
            models.Index(fields=["collected_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.database} · {date_format(self.collected_date)}"


class InstanceSizeStat(models.Model):
    """An instance's total on one local day: the sum over its active databases."""

    instance = models.ForeignKey("whalefall.Instance", on_delete=models.CASCADE, related_name="+")
    collected_date = models.DateField()
    collected_at = models.DateTimeField(default=timezone.now)
    size_bytes = models.BigIntegerField()
    data_bytes = models.BigIntegerField(null=True, blank=True)
    log_bytes = models.BigIntegerField(null=True, blank=True)
    allocated_bytes = models.BigIntegerField(null=True, blank=True, help_text="On-disk, where known.")
    database_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["instance_id", "collected_date"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "collected_date"], name="capacity_inststat_one_per_day"
            )
        ]
        indexes = [models.Index(fields=["collected_at"])]  # rows written since the watermark

    def __str__(self) -> str:
        return f"{self.instance.name} · {date_format(self.collected_date)}"


class AggregationFields(models.Model):
    """Columns shared by the database and instance aggregations (written by SQL upserts)."""

    period_type = models.CharField(max_length=16, choices=PeriodType.choices)
    period_start = models.DateField()
    period_end = models.DateField()
    avg_size_bytes = models.BigIntegerField()
    max_size_bytes = models.BigIntegerField()
    min_size_bytes = models.BigIntegerField()
    sample_count = models.PositiveIntegerField()
    change_bytes = models.BigIntegerField(default=0, help_text="avg minus the previous period's avg")
    change_percent = models.FloatField(default=0.0)
    trend = models.CharField(max_length=16, choices=Trend.choices, default=Trend.STABLE)
    calculated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


# Aggregates are derived from the size rows (whose foreign keys are enforced) by set-based SQL:
# no database-level FK constraints on them, which would fire two triggers per written row (the
# ORM still cascades deletes). The unique constraint's leading column indexes `database`.
class DatabaseSizeAggregation(AggregationFields):
    database = models.ForeignKey(
        InstanceDatabase,
        on_delete=models.CASCADE,
        related_name="aggregations",
        db_constraint=False,
        db_index=False,
    )
    instance = models.ForeignKey(
        "whalefall.Instance", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )

    class Meta:
        ordering = ["database_id", "period_type", "-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["database", "period_type", "period_start"], name="capacity_dbagg_unique_period"
            )
        ]
        indexes = [models.Index(fields=["period_type", "period_start"])]

    def __str__(self) -> str:
        return f"{self.database} · {self.get_period_type_display()} {date_format(self.period_start)}"


class InstanceSizeAggregation(AggregationFields):
    instance = models.ForeignKey(
        "whalefall.Instance", on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )

    class Meta:
        ordering = ["instance_id", "period_type", "-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "period_type", "period_start"], name="capacity_instagg_unique_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instance.name} · {self.get_period_type_display()} {date_format(self.period_start)}"


class AggregationWatermark(models.Model):
    """How far the scheduled aggregation has read one instance's size rows.

    `collected_until` is the latest `collected_at` of the size rows (database and instance) it has
    aggregated: a row written later (a late or corrected day) marks its periods for recompute.
    `complete_through` is the last day whose periods were complete at the last run: periods that
    have ended since are computed next time. Saved in the aggregation's own transaction, so a
    failed run leaves it where it was and the next run reads the same rows again.
    """

    instance = models.OneToOneField(
        "whalefall.Instance", on_delete=models.CASCADE, related_name="+", primary_key=True
    )
    collected_until = models.DateTimeField(null=True, blank=True)
    complete_through = models.DateField()
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.instance_id}: {self.collected_until} / {self.complete_through}"
