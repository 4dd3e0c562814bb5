"""Work handed from the web (admin actions) to the scheduler process, never run in a request."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class TaskRequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    REFUSED = "refused", "Refused (already running)"


class TaskRequestQuerySet(models.QuerySet["TaskRequest"]):
    def pending(self) -> TaskRequestQuerySet:
        return self.filter(status=TaskRequestStatus.PENDING).order_by("requested_at")


class TaskRequest(models.Model):
    """A request to run a task function (dotted path) with keyword arguments, once.

    `runscheduler` claims pending rows with a conditional UPDATE (so two schedulers never take
    the same one), runs them in its executor and writes the outcome back.
    """

    task = models.CharField(max_length=255, help_text="Dotted path of the task function.")
    kwargs = models.JSONField(default=dict, blank=True)
    job_id = models.CharField(max_length=255, blank=True, default="", help_text="Scheduler job, if any.")
    requested_by = models.CharField(max_length=150, blank=True, default="")
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=16, choices=TaskRequestStatus.choices, default=TaskRequestStatus.PENDING
    )
    claimed_by = models.CharField(max_length=200, blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    result = models.JSONField(default=dict, blank=True)

    objects = TaskRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["status", "requested_at"])]

    def __str__(self) -> str:
        return f"{self.task} ({self.status})"
