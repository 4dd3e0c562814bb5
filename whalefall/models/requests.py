"""Work handed from the web (admin actions) to the scheduler process, never run in a request."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TaskRequestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    REFUSED = "refused", _("Refused (already running)")
    SKIPPED = "skipped", _("Skipped (another run held the lock)")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired (no scheduler took it in time)")

    @classmethod
    def open(cls) -> list[str]:
        return [cls.PENDING, cls.RUNNING]


def _default_expiry() -> datetime:
    from whalefall.sync.conf import task_request_ttl

    return timezone.now() + timedelta(seconds=task_request_ttl())


class TaskRequestQuerySet(models.QuerySet["TaskRequest"]):
    def pending(self) -> TaskRequestQuerySet:
        """Pending and not expired: what a scheduler may still claim."""
        return self.filter(status=TaskRequestStatus.PENDING, expires_at__gt=timezone.now()).order_by(
            "requested_at"
        )

    def expire(self) -> int:
        """Close pending requests nobody claimed in time (a run hours later surprises everyone)."""
        return self.filter(status=TaskRequestStatus.PENDING, expires_at__lte=timezone.now()).update(
            status=TaskRequestStatus.EXPIRED,
            finished_at=timezone.now(),
            error="expired: no scheduler claimed it in time",
        )


class TaskRequest(models.Model):
    """A request to run a task function (dotted path) with keyword arguments, once.

    `runscheduler` claims pending rows with a conditional UPDATE (so two schedulers never take
    the same one), runs them in its executor and writes the outcome back.
    """

    task = models.CharField(_("task"), max_length=255, help_text=_("Dotted path of the task function."))
    kwargs = models.JSONField(_("arguments"), default=dict, blank=True)
    job_id = models.CharField(
        _("job ID"), max_length=255, blank=True, default="", help_text=_("Scheduler job, if any.")
    )
    requested_by = models.CharField(_("requested by"), max_length=150, blank=True, default="")
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    expires_at = models.DateTimeField(
        _("expires at"), default=_default_expiry, help_text=_("Not started after this: expired, never run.")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=TaskRequestStatus.choices, default=TaskRequestStatus.PENDING
    )
    claimed_by = models.CharField(_("claimed by"), max_length=200, blank=True, default="")
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True, default="")
    result = models.JSONField(_("result"), default=dict, blank=True)
    session = models.ForeignKey(
        "whalefall.SyncSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("session"),
    )

    objects = TaskRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at"]
        verbose_name = _("run request")
        verbose_name_plural = _("run requests")
        indexes = [models.Index(fields=["status", "requested_at"])]

    def __str__(self) -> str:
        return f"{self.task} ({self.status})"

    @property
    def effective_status(self) -> str:
        """Pending past its expiry reads as expired even before a scheduler closes it."""
        if self.status == TaskRequestStatus.PENDING and self.expires_at <= timezone.now():
            return TaskRequestStatus.EXPIRED
        return self.status

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.pk,
            "task": self.task,
            "job_id": self.job_id,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "status": self.effective_status,
            "claimed_by": self.claimed_by,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "error": self.error,
            "session_id": str(self.session.session_id) if self.session is not None else None,
        }
