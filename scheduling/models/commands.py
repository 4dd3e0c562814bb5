"""Admin -> scheduler hand-off for job changes (pause, trigger edits, reload...)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CommandStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPLIED = "applied", _("Applied")
    FAILED = "failed", _("Failed")


class SchedulerCommand(models.Model):
    """Tells the running scheduler to re-apply a job's configuration (or all of them).

    The admin writes the wanted state to `JobConfig` and queues a command; the active scheduler
    polls every second, claims the command with a conditional UPDATE and reconciles its
    in-memory scheduler with the stored configuration. Without a scheduler, the next one to
    start applies the same state, so nothing is lost.
    """

    ACTIONS = ["add", "modify", "pause", "resume", "enable", "disable", "delete", "reload"]

    action = models.CharField(_("action"), max_length=16, choices=[(a, a) for a in ACTIONS])
    job_id = models.CharField(
        _("job ID"), max_length=255, blank=True, default="", help_text=_("Empty: all jobs.")
    )
    requested_by = models.CharField(_("requested by"), max_length=150, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    status = models.CharField(
        _("status"), max_length=16, choices=CommandStatus.choices, default=CommandStatus.PENDING
    )
    applied_by = models.CharField(_("applied by"), max_length=200, blank=True, default="")
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    message = models.TextField(_("message"), blank=True, default="")

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("scheduler command")
        verbose_name_plural = _("scheduler commands")
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.job_id or '*'} ({self.status})"

    @classmethod
    def queue(cls, action: str, job_id: str = "", requested_by: str = "") -> SchedulerCommand:
        return cls.objects.create(action=action, job_id=job_id, requested_by=requested_by)
