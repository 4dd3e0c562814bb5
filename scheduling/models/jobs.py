"""A scheduled job as operators see and edit it; the scheduler reconciles APScheduler with it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from scheduling.models.commands import SchedulerCommand


class JobState(models.TextChoices):
    SCHEDULED = "scheduled", pgettext_lazy("job state", "Scheduled")
    PAUSED = "paused", _("Paused")
    DISABLED = "disabled", _("Disabled")
    UNAVAILABLE = "unavailable", _("Unavailable")


class JobConfigQuerySet(models.QuerySet["JobConfig"]):
    def with_runs(self) -> JobConfigQuerySet:
        """Next run time and the latest execution, as columns (no query per row in lists)."""
        from django_apscheduler.models import DjangoJob, DjangoJobExecution

        latest = DjangoJobExecution.objects.filter(job_id=models.OuterRef("pk")).order_by("-run_time")
        return self.annotate(
            next_run_at=models.Subquery(
                DjangoJob.objects.filter(pk=models.OuterRef("pk")).values("next_run_time")[:1]
            ),
            last_run_at=models.Subquery(latest.values("run_time")[:1]),
            last_run_status=models.Subquery(latest.values("status")[:1]),
            last_run_duration=models.Subquery(latest.values("duration")[:1]),
        ).select_related("last_session")


class JobConfig(models.Model):
    """The wanted state of one job: function, trigger, enabled, paused.

    Built-in jobs are the declared tasks' own, as `scheduler_tasks.yaml` changes them; `customized`
    remembers that an operator edited the trigger, so a restart keeps the edit (only "reload from
    YAML" resets it).
    Changes are saved here and a SchedulerCommand tells the running scheduler to apply them.
    """

    id = models.CharField(_("ID"), max_length=255, primary_key=True, help_text=_("{action}_{frequency}"))
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True, default="")
    function = models.CharField(
        _("function"), max_length=255, help_text=_("Dotted path of the task function.")
    )
    trigger_type = models.CharField(
        _("trigger type"), max_length=16, choices=[(t, t) for t in ("cron", "interval", "date")]
    )
    trigger_params = models.JSONField(_("trigger parameters"), default=dict)
    kwargs = models.JSONField(_("arguments"), default=dict, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    paused = models.BooleanField(_("paused"), default=False)
    builtin = models.BooleanField(
        _("built-in"),
        default=False,
        help_text=_("Declared with its task or in scheduler_tasks.yaml; cannot be deleted."),
    )
    customized = models.BooleanField(
        _("customized"), default=False, help_text=_("Trigger edited in the admin.")
    )
    applied_fingerprint = models.CharField(
        _("applied fingerprint"), max_length=64, blank=True, default="", editable=False
    )
    last_session = models.ForeignKey(
        "whalefall.SyncSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("last session"),
    )
    last_result = models.JSONField(_("last result"), default=dict, blank=True)
    last_finished_at = models.DateTimeField(_("last finished at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = JobConfigQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        verbose_name = _("scheduled job")
        verbose_name_plural = _("scheduled jobs")
        permissions = [("manage_jobconfig", "Can manage scheduled jobs (run, pause, edit, reload)")]

    def __str__(self) -> str:
        return self.id

    @property
    def display_name(self) -> str:
        """The name as the admin shows it: a built-in task's label in the reader's language (the
        English stays stored, so the fingerprint and the YAML comparison do not depend on it)."""
        from whalefall.task_registry import displayed

        return displayed(self.function, self.name) or self.id

    @property
    def display_description(self) -> str:
        from whalefall.task_registry import displayed

        return displayed(self.function, self.description, "description")

    @property
    def unavailable_reason(self) -> str:
        from scheduling.functions import unavailable_reason

        return unavailable_reason(self.function) or self.trigger_error

    @property
    def trigger_error(self) -> str:
        """Why the stored trigger cannot be scheduled ("" when it can): shown, never hidden."""
        from scheduling.triggers import TriggerError, build_trigger

        try:
            build_trigger(self.trigger_type, self.trigger_params)
        except TriggerError as exc:
            return gettext("invalid trigger: %(error)s") % {"error": exc}
        return ""

    @property
    def state(self) -> str:
        if not self.enabled:
            return JobState.DISABLED
        if self.unavailable_reason:
            return JobState.UNAVAILABLE
        return JobState.PAUSED if self.paused else JobState.SCHEDULED

    def fingerprint(self) -> str:
        """Hash of what APScheduler stores; a change means the job must be re-applied."""
        data = [self.name, self.function, self.trigger_type, self.trigger_params, self.kwargs]
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()

    def describe_trigger(self) -> str:
        from scheduling.triggers import describe

        error = self.trigger_error
        if error:
            return f"{error} ({self.trigger_type} {json.dumps(self.trigger_params, sort_keys=True)})"
        return describe(self.trigger_type, self.trigger_params)

    # --- state transitions (each saves only its columns and notifies the scheduler) -----------
    def _change(self, action: str, by: str, **values: Any) -> SchedulerCommand:
        for key, value in values.items():
            setattr(self, key, value)
        self.save(update_fields=[*values, "updated_at"])
        return SchedulerCommand.queue(action, self.id, by)

    def pause(self, by: str = "") -> SchedulerCommand:
        return self._change("pause", by, paused=True)

    def resume(self, by: str = "") -> SchedulerCommand:
        return self._change("resume", by, paused=False)

    def enable(self, by: str = "") -> SchedulerCommand:
        return self._change("enable", by, enabled=True)

    def disable(self, by: str = "") -> SchedulerCommand:
        return self._change("disable", by, enabled=False)

    def set_trigger(self, trigger_type: str, params: dict[str, Any], by: str = "") -> SchedulerCommand:
        """Validate, then save: an invalid trigger raises TriggerError and changes nothing (the job
        keeps running on its old trigger and the admin keeps showing it truly)."""
        from scheduling.triggers import build_trigger

        build_trigger(trigger_type, params)
        return self._change("modify", by, trigger_type=trigger_type, trigger_params=params, customized=True)

    def request_run(self, by: str = "") -> Any:
        """Queue one run now, executed by the scheduler process (never in the web request)."""
        from whalefall.dispatch import submit

        return submit(self.function, requested_by=by, job_id=self.id, **self.kwargs)

    def remove(self, by: str = "") -> SchedulerCommand:
        """Delete a custom job; built-in jobs are refused (disable them instead)."""
        if self.builtin:
            raise PermissionError(f"{self.id} is a built-in job: disable it instead of deleting it")
        job_id = self.id
        self.delete()
        return SchedulerCommand.queue("delete", job_id, by)
