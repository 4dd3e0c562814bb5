"""The sync-session ledger: one session per run, one record per instance."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from whalefall.choices import (
    RecordStatus,
    SessionStatus,
    SyncCategory,
    SyncPhase,
    SyncTrigger,
)

if TYPE_CHECKING:
    from whalefall.sync.phases import InstanceResult


class SyncSessionQuerySet(models.QuerySet["SyncSession"]):
    def running(self) -> SyncSessionQuerySet:
        return self.filter(status=SessionStatus.RUNNING)

    def unread_failures(self) -> SyncSessionQuerySet:
        """Unread sessions that need a look: failed, partial, or cut off when their process died."""
        return self.filter(
            is_read=False,
            status__in=[SessionStatus.FAILED, SessionStatus.PARTIAL, SessionStatus.INTERRUPTED],
        )

    def unread(self) -> SyncSessionQuerySet:
        return self.filter(is_read=False)

    def mark_read(self) -> int:
        return self.filter(is_read=False).update(is_read=True, read_at=timezone.now())


class SyncSession(models.Model):
    """One run of a sync (scheduled, manual or single-instance) over a set of instances."""

    session_id = models.UUIDField(_("session ID"), default=uuid.uuid4, unique=True, editable=False)
    category = models.CharField(_("category"), max_length=16, choices=SyncCategory.choices)
    trigger = models.CharField(_("trigger"), max_length=16, choices=SyncTrigger.choices)
    created_by = models.CharField(_("created by"), max_length=150, blank=True, default="")
    owner = models.CharField(_("owner"), max_length=200, blank=True, default="", help_text=_("host-pid"))
    status = models.CharField(
        _("status"), max_length=16, choices=SessionStatus.choices, default=SessionStatus.RUNNING
    )
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    total_instances = models.PositiveIntegerField(_("total instances"), default=0)
    successful_instances = models.PositiveIntegerField(_("successful instances"), default=0)
    failed_instances = models.PositiveIntegerField(_("failed instances"), default=0)
    error = models.TextField(_("error"), blank=True, default="")
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    is_read = models.BooleanField(_("read"), default=False)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    objects = SyncSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["category", "-started_at"]),
            models.Index(fields=["status"]),
            models.Index(fields=["is_read", "status"]),
        ]
        permissions = [("manage_syncsession", "Can manage sync sessions (mark read, rerun)")]
        verbose_name = _("sync session")
        verbose_name_plural = _("sync sessions")

    def __str__(self) -> str:
        from whalefall.formats import local_datetime

        return f"{self.get_category_display()} {local_datetime(self.started_at)} ({self.status})"

    @property
    def duration(self) -> float | None:
        if not self.finished_at:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def summary(self) -> dict[str, Any]:
        """The JSON-able result every sync task returns and `--json` prints."""
        return {
            "session_id": str(self.session_id),
            "category": self.category,
            "trigger": self.trigger,
            "status": self.status,
            "error": self.error,
            "total_instances": self.total_instances,
            "successful_instances": self.successful_instances,
            "failed_instances": self.failed_instances,
            "instances": [record.summary() for record in self.records.order_by("instance_name")],
        }

    def finalize(self) -> None:
        """Count the records and set completed / partial / failed."""
        counts = self.records.aggregate(
            ok=models.Count("id", filter=Q(status__in=[RecordStatus.COMPLETED, RecordStatus.SKIPPED])),
            failed=models.Count("id", filter=Q(status=RecordStatus.FAILED)),
            cancelled=models.Count("id", filter=Q(status=RecordStatus.CANCELLED)),
            total=models.Count("id"),
        )
        self.total_instances = counts["total"]
        self.successful_instances = counts["ok"]
        self.failed_instances = counts["failed"]
        if counts["cancelled"]:
            # Stopped before every instance ran: neither a success nor a failure of the fleet.
            self.status = SessionStatus.CANCELLED
            self.error = self.error or f"cancelled before {counts['cancelled']} instance(s) ran"
        elif counts["failed"] == 0:
            self.status = SessionStatus.COMPLETED
        elif counts["ok"] == 0:
            self.status = SessionStatus.FAILED
        else:
            self.status = SessionStatus.PARTIAL
        self._finish()

    def fail(self, error: str) -> None:
        """The run itself failed (not one instance): close it and its unfinished records."""
        self.records.filter(status__in=[RecordStatus.PENDING, RecordStatus.RUNNING]).update(
            status=RecordStatus.FAILED, error_message=error[:2000], finished_at=timezone.now()
        )
        counts = self.records.aggregate(
            ok=models.Count("id", filter=Q(status__in=[RecordStatus.COMPLETED, RecordStatus.SKIPPED])),
            total=models.Count("id"),
        )
        self.total_instances = counts["total"]
        self.successful_instances = counts["ok"]
        self.failed_instances = counts["total"] - counts["ok"]
        self.status = SessionStatus.FAILED
        self.error = error
        self._finish()

    def interrupt(self, reason: str) -> None:
        """Its process died (killed, machine lost): close it and its unfinished records as such."""
        self.records.filter(status__in=[RecordStatus.PENDING, RecordStatus.RUNNING]).update(
            status=RecordStatus.INTERRUPTED, error_message=reason[:2000], finished_at=timezone.now()
        )
        counts = self.records.aggregate(
            ok=models.Count("id", filter=Q(status__in=[RecordStatus.COMPLETED, RecordStatus.SKIPPED])),
            failed=models.Count("id", filter=Q(status=RecordStatus.FAILED)),
            total=models.Count("id"),
        )
        self.total_instances = counts["total"]
        self.successful_instances = counts["ok"]
        self.failed_instances = counts["failed"]
        self.status = SessionStatus.INTERRUPTED
        self.error = reason
        self._finish()

    def skip(self, reason: str) -> None:
        self.status = SessionStatus.SKIPPED
        self.error = reason
        self._finish()

    def _finish(self) -> None:
        self.finished_at = timezone.now()
        self.save(
            update_fields=[
                "status",
                "error",
                "finished_at",
                "total_instances",
                "successful_instances",
                "failed_instances",
            ]
        )


class SyncInstanceRecord(models.Model):
    """What happened to one instance in one session, with its counters."""

    session = models.ForeignKey(
        SyncSession, on_delete=models.CASCADE, related_name="records", verbose_name=_("session")
    )
    # No index of its own: the (instance, -started_at) index below serves every lookup by
    # instance, and the only one lets "the instance's latest record" walk it newest first.
    instance = models.ForeignKey(
        "whalefall.Instance",
        on_delete=models.SET_NULL,
        null=True,
        db_index=False,
        related_name="sync_records",
        verbose_name=_("instance"),
    )
    instance_name = models.CharField(_("instance name"), max_length=128)
    status = models.CharField(
        _("status"), max_length=16, choices=RecordStatus.choices, default=RecordStatus.PENDING
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    items_synced = models.PositiveIntegerField(_("items synced"), default=0)
    items_created = models.PositiveIntegerField(_("items created"), default=0)
    items_updated = models.PositiveIntegerField(_("items updated"), default=0)
    items_deleted = models.PositiveIntegerField(_("items deleted"), default=0)
    sync_details = models.JSONField(_("sync details"), default=dict, blank=True)
    error_message = models.TextField(_("error message"), blank=True, default="")
    failed_phase = models.CharField(
        _("failed phase"), max_length=16, choices=SyncPhase.choices, blank=True, default=""
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    attempt_history = models.JSONField(
        _("attempt history"),
        default=list,
        blank=True,
        help_text=_("Every failed attempt: number, phase, error, times."),
    )

    class Meta:
        ordering = ["instance_name"]
        verbose_name = _("sync instance record")
        verbose_name_plural = _("sync instance records")
        indexes = [models.Index(fields=["instance", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.instance_name}: {self.status}"

    @property
    def duration(self) -> float | None:
        if not (self.started_at and self.finished_at):
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def warnings(self) -> list[str]:
        """What a successful instance could not do (e.g. one database skipped): the
        coordinators list it under `sync_details["warnings"]`."""
        found = (self.sync_details or {}).get("warnings") or []
        return [str(w) for w in found] if isinstance(found, list) else [str(found)]

    def summary(self) -> dict[str, Any]:
        return {
            "instance": self.instance_name,
            "instance_id": self.instance_id,
            "status": self.status,
            "failed_phase": self.failed_phase,
            "error": self.error_message,
            "attempts": self.attempts,
            "attempt_history": self.attempt_history,
            "duration": self.duration,
            "items_synced": self.items_synced,
            "items_created": self.items_created,
            "items_updated": self.items_updated,
            "items_deleted": self.items_deleted,
            "sync_details": self.sync_details,
        }

    # Each outcome sets its fields and names them: `whalefall.sync.ledger` writes the same
    # outcome for many records in one statement.
    def start(self) -> None:
        """One attempt begins; the start time is the first attempt's, so durations include retries."""
        self.save(update_fields=self.mark_started())

    def mark_started(self) -> list[str]:
        self.status = RecordStatus.RUNNING
        if self.started_at is None or self.attempts == 0:
            self.started_at = timezone.now()
        self.attempts += 1
        return ["status", "started_at", "attempts"]

    def note_attempt_failed(self, *, phase: str, error: str, transient: bool) -> None:
        """Keep this attempt's phase and error: the record's last error alone hides the first cause."""
        self.save(update_fields=self.mark_attempt_failed(phase=phase, error=error, transient=transient))

    def mark_attempt_failed(self, *, phase: str, error: str, transient: bool) -> list[str]:
        self.attempt_history = [
            *self.attempt_history,
            {
                "attempt": self.attempts,
                "phase": phase,
                "error": error[:1000],
                "transient": transient,
                "at": timezone.now().isoformat(),
            },
        ]
        return ["attempt_history"]

    def cancel(self, reason: str) -> None:
        """Not run (or not retried) because the run was stopped."""
        self.save(update_fields=self.mark_cancelled(reason))

    def mark_cancelled(self, reason: str) -> list[str]:
        self.status = RecordStatus.CANCELLED
        self.finished_at = timezone.now()
        self.error_message = reason[:2000]
        return ["status", "finished_at", "error_message"]

    def complete(self, result: InstanceResult) -> None:
        """Store the counters and details the instance's phases gathered (skipped: nothing to collect)."""
        self.save(update_fields=self.mark_completed(result))

    def mark_completed(self, result: InstanceResult) -> list[str]:
        self.status = RecordStatus.SKIPPED if result.status == "skipped" else RecordStatus.COMPLETED
        self.finished_at = timezone.now()
        self.items_synced = result.items_synced
        self.items_created = result.items_created
        self.items_updated = result.items_updated
        self.items_deleted = result.items_deleted
        self.sync_details = result.sync_details or {}
        self.error_message = ""
        self.failed_phase = ""
        return [
            "status",
            "finished_at",
            "items_synced",
            "items_created",
            "items_updated",
            "items_deleted",
            "sync_details",
            "error_message",
            "failed_phase",
        ]

    def fail(self, message: str, *, phase: str = "", sync_details: dict[str, Any] | None = None) -> None:
        self.save(update_fields=self.mark_failed(message, phase=phase, sync_details=sync_details))

    def mark_failed(
        self, message: str, *, phase: str = "", sync_details: dict[str, Any] | None = None
    ) -> list[str]:
        self.status = RecordStatus.FAILED
        self.finished_at = timezone.now()
        self.error_message = message[:2000]
        self.failed_phase = phase
        if sync_details is not None:
            self.sync_details = sync_details
        return ["status", "finished_at", "error_message", "failed_phase", "sync_details"]
