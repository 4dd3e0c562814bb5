"""Capacity data: database inventory, daily sizes, period aggregations, limits.

Sizes are bytes. One `DatabaseSizeStat` per database per local day and one `InstanceSizeStat`
per instance per day (the sum over its active databases); a re-run on the same day overwrites
them (unique constraints + update_or_create in bulk). Aggregations are written by SQL upserts
(`capacity.services.aggregation`), never row by row.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class PeriodType(models.TextChoices):
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly (Monday start)")
    MONTHLY = "monthly", _("Monthly")
    QUARTERLY = "quarterly", _("Quarterly")


class Trend(models.TextChoices):
    GROWING = "growing", _("Growing")
    SHRINKING = "shrinking", _("Shrinking")
    STABLE = "stable", _("Stable")


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

    # Indexed by the unique (instance, name) constraint, which leads with it.
    instance = models.ForeignKey(
        "whalefall.Instance",
        on_delete=models.CASCADE,
        related_name="databases",
        db_index=False,
        verbose_name=_("instance"),
    )
    name = models.CharField(_("name"), max_length=255)
    is_active = models.BooleanField(pgettext_lazy("still on the server", "active"), default=True)
    first_seen_at = models.DateTimeField(_("first seen at"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen at"), default=timezone.now)
    deactivated_at = models.DateTimeField(_("deactivated at"), null=True, blank=True)
    capacity_limit_bytes = models.BigIntegerField(
        _("capacity limit (bytes)"),
        null=True,
        blank=True,
        help_text=_("Optional limit (bytes) for the 'days until full' forecast."),
    )

    objects = InstanceDatabaseQuerySet.as_manager()

    class Meta:
        ordering = ["instance_id", "name"]
        constraints = [models.UniqueConstraint(fields=["instance", "name"], name="capacity_db_unique_name")]
        indexes = [models.Index(fields=["instance", "is_active"])]
        verbose_name = _("database")
        verbose_name_plural = _("databases")

    def __str__(self) -> str:
        """'instance / database', as a DBA names it (select the instance with lists of these)."""
        return f"{self.instance.name} / {self.name}"

    def mark_seen(self, now: datetime) -> str:
        """Record a sighting; returns 'reactivated' or 'refreshed' for the phase counters."""
        was_active = self.is_active
        self.is_active, self.last_seen_at, self.deactivated_at = True, now, None
        return "refreshed" if was_active else "reactivated"

    def mark_gone(self, now: datetime) -> None:
        self.is_active, self.deactivated_at = False, now


class InstanceCapacity(models.Model):
    """Capacity settings of an instance (kept out of the core `Instance` model)."""

    instance = models.OneToOneField(
        "whalefall.Instance", on_delete=models.CASCADE, related_name="capacity", verbose_name=_("instance")
    )
    capacity_limit_bytes = models.BigIntegerField(
        _("capacity limit (bytes)"),
        null=True,
        blank=True,
        help_text=_("Disk or quota limit (bytes) for the 'days until full' forecast."),
    )

    class Meta:
        verbose_name = _("instance capacity limit")
        verbose_name_plural = _("instance capacity limits")

    def __str__(self) -> str:
        return self.instance.name


class DatabaseSizeStat(models.Model):
    """The size of one database on one local day (the last collection of that day wins)."""

    # Both indexed by the unique (database, day) constraint and the (instance, day) index below,
    # which lead with them: no index of their own (the nightly collection writes a row per database).
    database = models.ForeignKey(
        InstanceDatabase,
        on_delete=models.CASCADE,
        related_name="size_stats",
        db_index=False,
        verbose_name=_("database"),
    )
    instance = models.ForeignKey(
        "whalefall.Instance",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        verbose_name=_("instance"),
    )
    collected_date = models.DateField(_("collected on"))
    collected_at = models.DateTimeField(_("collected at"), default=timezone.now)
    size_bytes = models.BigIntegerField(_("size (bytes)"))
    data_bytes = models.BigIntegerField(_("data (bytes)"), null=True, blank=True)
    log_bytes = models.BigIntegerField(_("log (bytes)"), null=True, blank=True)
    allocated_bytes = models.BigIntegerField(
        _("allocated (bytes)"), null=True, blank=True, help_text=_("On-disk, where known.")
    )

    class Meta:
        ordering = ["database_id", "collected_date"]
        verbose_name = _("database size")
        verbose_name_plural = _("database sizes")
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

    # Indexed by the unique (instance, day) constraint, which leads with it.
    instance = models.ForeignKey(
        "whalefall.Instance",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        verbose_name=_("instance"),
    )
    collected_date = models.DateField(_("collected on"))
    collected_at = models.DateTimeField(_("collected at"), default=timezone.now)
    size_bytes = models.BigIntegerField(_("size (bytes)"))
    data_bytes = models.BigIntegerField(_("data (bytes)"), null=True, blank=True)
    log_bytes = models.BigIntegerField(_("log (bytes)"), null=True, blank=True)
    allocated_bytes = models.BigIntegerField(
        _("allocated (bytes)"), null=True, blank=True, help_text=_("On-disk, where known.")
    )
    database_count = models.PositiveIntegerField(_("databases"), default=0)

    class Meta:
        ordering = ["instance_id", "collected_date"]
        verbose_name = _("instance size")
        verbose_name_plural = _("instance sizes")
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

    period_type = models.CharField(_("period"), max_length=16, choices=PeriodType.choices)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    avg_size_bytes = models.BigIntegerField(_("average size (bytes)"))
    max_size_bytes = models.BigIntegerField(_("maximum size (bytes)"))
    min_size_bytes = models.BigIntegerField(_("minimum size (bytes)"))
    sample_count = models.PositiveIntegerField(_("samples"))
    change_bytes = models.BigIntegerField(
        _("change (bytes)"), default=0, help_text=_("avg minus the previous period's avg")
    )
    change_percent = models.FloatField(_("change (%)"), default=0.0)
    trend = models.CharField(_("trend"), max_length=16, choices=Trend.choices, default=Trend.STABLE)
    calculated_at = models.DateTimeField(_("calculated at"), default=timezone.now)

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
        verbose_name=_("database"),
    )
    instance = models.ForeignKey(
        "whalefall.Instance",
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        verbose_name=_("instance"),
    )

    class Meta:
        ordering = ["database_id", "period_type", "-period_start"]
        verbose_name = _("database size aggregation")
        verbose_name_plural = _("database size aggregations")
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
        "whalefall.Instance",
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
        verbose_name=_("instance"),
    )

    class Meta:
        ordering = ["instance_id", "period_type", "-period_start"]
        verbose_name = _("instance size aggregation")
        verbose_name_plural = _("instance size aggregations")
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
        "whalefall.Instance",
        on_delete=models.CASCADE,
        related_name="+",
        primary_key=True,
        verbose_name=_("instance"),
    )
    collected_until = models.DateTimeField(_("collected until"), null=True, blank=True)
    complete_through = models.DateField(_("complete through"))
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("aggregation watermark")
        verbose_name_plural = _("aggregation watermarks")

    def __str__(self) -> str:
        return f"{self.instance_id}: {self.collected_until} / {self.complete_through}"
