"""Jobs admin: what is scheduled, what ran, and the controls (all applied by the scheduler process).

Nothing here runs a task: "run now" queues a TaskRequest, every other change is saved on the
JobConfig with a SchedulerCommand that the running scheduler applies within about a second.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from scheduling import job_configs
from scheduling.admin.forms import AddJobForm, TriggerForm
from scheduling.config import ConfigError, load_default_tasks
from scheduling.models import JobConfig, JobRunSession, JobState, SchedulerCommand
from scheduling.models.jobs import JobConfigQuerySet
from scheduling.status import scheduler_status
from scheduling.triggers import build_trigger, describe, next_run_times
from whalefall.admin.display import datetime_cell, human_duration, outcome_badge
from whalefall.formats import local_datetime
from whalefall.sync.admission import refusal

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

STATE_COLOURS = {
    JobState.SCHEDULED: "#2e7d32",
    JobState.PAUSED: "#ef6c00",
    JobState.DISABLED: "#757575",
    JobState.UNAVAILABLE: "#c62828",
}
# An execution row's status (APScheduler's words, or the session outcome the job store wrote
# over "Executed") as the outcome the jobs and executions lists show.
EXECUTION_OUTCOMES = {
    "Executed": "completed",
    "Partial": "partial",
    "Error!": "failed",
    "Started execution": "running",
    "Skipped": "skipped",
    "Cancelled": "cancelled",
    "Interrupted": "interrupted",
    "Max instances!": "skipped",
    "Missed!": "missed",
}


def badge(text: StrOrPromise, colour: str) -> str:
    return format_html(
        '<span style="background:{};color:#fff;padding:1px 6px;border-radius:8px;white-space:nowrap">{}</span>',
        colour,
        text,
    )


def local(value: Any) -> str:
    """Kept for the execution list: one localized ISO format (see whalefall/formats)."""
    return local_datetime(value)


# What a pause / resume / enable / disable action says, by count (each its own sentence to translate).
TRANSITION_MESSAGES = {
    "pause": lambda n: ngettext(
        "Paused %(count)d job; the scheduler applies it within seconds.",
        "Paused %(count)d jobs; the scheduler applies it within seconds.",
        n,
    ),
    "resume": lambda n: ngettext(
        "Resumed %(count)d job; the scheduler applies it within seconds.",
        "Resumed %(count)d jobs; the scheduler applies it within seconds.",
        n,
    ),
    "enable": lambda n: ngettext(
        "Enabled %(count)d job; the scheduler applies it within seconds.",
        "Enabled %(count)d jobs; the scheduler applies it within seconds.",
        n,
    ),
    "disable": lambda n: ngettext(
        "Disabled %(count)d job; the scheduler applies it within seconds.",
        "Disabled %(count)d jobs; the scheduler applies it within seconds.",
        n,
    ),
}


@dataclass(frozen=True)
class LastRun:
    """A job's latest run as the list shows it: outcome word, when, how long, its session."""

    outcome: str
    at: datetime | None
    duration: float | None
    session_pk: int | None
    note: str = ""


def last_run_of(obj: JobConfig) -> LastRun | None:
    """The newer of the latest scheduled execution and the latest run asked for in the admin.

    A scheduled run writes the job's result (last_finished_at) before its execution row records
    `finished`, so a result newer than that row is a later run (a "run now"), and a row newer
    than the result is a run that raised or is still going.
    """
    status = getattr(obj, "last_run_status", None)
    finished = getattr(obj, "last_run_finished", None)
    result_at = obj.last_finished_at
    result_is_newer = result_at is not None and (
        status is None or (finished is not None and result_at.timestamp() > float(finished))
    )
    if result_is_newer:
        session = obj.last_session
        outcome = session.status if session else str((obj.last_result or {}).get("status") or "completed")
        return LastRun(
            outcome if outcome in EXECUTION_OUTCOMES.values() else "completed",
            session.started_at if session else result_at,
            session.duration if session else None,
            session.pk if session else None,
            session.error if session else "",
        )
    if status is None:
        return None
    duration = getattr(obj, "last_run_duration", None)
    return LastRun(
        getattr(obj, "last_run_session_status", None) or EXECUTION_OUTCOMES.get(status, "failed"),
        obj.last_run_at,  # type: ignore[attr-defined]
        float(duration) if isinstance(duration, Decimal | float | int) else None,
        getattr(obj, "last_run_session", None),
        getattr(obj, "last_run_exception", None) or "",
    )


def _stored_job(job_id: str) -> tuple[Any, datetime | None] | None:
    """The trigger and next run time APScheduler keeps for `job_id` (its own pickled state in
    its own table), or None when the scheduler has not stored the job."""
    from django_apscheduler.models import DjangoJob

    row = DjangoJob.objects.filter(pk=job_id).values_list("job_state", "next_run_time").first()
    if row is None or not row[0]:
        return None
    try:
        state = pickle.loads(bytes(row[0]))
    except Exception:  # noqa: BLE001 - an unreadable row falls back to the configured trigger
        return None
    return state.get("trigger"), row[1]


def upcoming_runs_of(obj: JobConfig, count: int = 5) -> tuple[list[datetime], str]:
    """The next runs and where they come from: the scheduler's stored trigger and next run time
    when it has applied the current settings (so the list agrees with "next run"), otherwise the
    configured trigger counted from now, said as such."""
    if obj.state == JobState.PAUSED:
        return [], _("Paused: no run until it is resumed.")
    if obj.state != JobState.SCHEDULED:
        return [], "-"
    stored = _stored_job(obj.pk)
    applied = obj.applied_fingerprint == obj.fingerprint()
    if stored is not None and applied and stored[0] is not None and stored[1] is not None:
        return next_run_times(stored[0], count, first=stored[1]), _("As the scheduler has them.")
    trigger = build_trigger(obj.trigger_type, obj.trigger_params)
    return next_run_times(trigger, count), _(
        "Counted from now: the scheduler has not applied this trigger yet."
    )


class EditedFilter(admin.SimpleListFilter):
    """The `customized` flag in the words the list uses for it."""

    title = gettext_lazy("edited in the admin")
    parameter_name = "edited"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", _("yes")), ("no", _("no"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[JobConfig]) -> QuerySet[JobConfig]:
        if self.value() in ("yes", "no"):
            return queryset.filter(customized=self.value() == "yes")
        return queryset


@admin.register(JobConfig)
class JobConfigAdmin(admin.ModelAdmin):
    list_display = [
        "job_name",
        "trigger_in_words",
        "next_run",
        "state_badge",
        "last_outcome",
        "last_run",
        "last_duration",
    ]
    list_display_links = ["job_name"]
    list_filter = ["enabled", "paused", "builtin", EditedFilter, "trigger_type"]
    search_fields = ["id", "name", "function", "description"]
    actions = ["run_now", "pause_jobs", "resume_jobs", "enable_jobs", "disable_jobs", "delete_custom_jobs"]
    change_list_template = "admin/scheduling/jobconfig/change_list.html"

    class Media:
        css = {"all": ["scheduling/jobs.css"]}

    change_form_template = "admin/scheduling/jobconfig/change_form.html"
    fields = readonly_fields = (
        "id",
        "job_name",
        "job_description",
        "function",
        "availability",
        "trigger_type",
        "trigger_params",
        "trigger_in_words",
        "upcoming_runs",
        "kwargs",
        "state_badge",
        "builtin",
        "edited_in_admin",
        "last_outcome",
        "last_run",
        "last_duration",
        "last_result_pretty",
        "updated_at",
    )

    # --- permissions: view vs manage ----------------------------------------------------------
    def has_manage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("scheduling.manage_jobconfig")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("scheduling.view_jobconfig") or self.has_manage_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_manage_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # edits go through the actions and the trigger form, never a raw model form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # see delete_custom_jobs: built-in jobs are protected

    def _require_manage(self, request: HttpRequest) -> None:
        if not self.has_manage_permission(request):
            raise PermissionDenied

    def get_queryset(self, request: HttpRequest) -> QuerySet[JobConfig]:
        """with_runs() plus the latest execution's end, error and linked session, as columns."""
        from django_apscheduler.models import DjangoJobExecution

        latest = DjangoJobExecution.objects.filter(job_id=OuterRef("pk")).order_by("-run_time")
        link = JobRunSession.objects.filter(job_id=OuterRef("pk"), run_time=OuterRef("last_run_at"))
        return (
            cast(JobConfigQuerySet, super().get_queryset(request))
            .with_runs()
            .annotate(
                last_run_finished=Subquery(latest.values("finished")[:1]),
                last_run_exception=Subquery(latest.values("exception")[:1]),
                last_run_session=Subquery(link.values("session_id")[:1]),
                last_run_session_status=Subquery(link.values("session__status")[:1]),
            )
        )

    # --- columns ------------------------------------------------------------------------------
    @admin.display(description=gettext_lazy("name"), ordering="name")
    def job_name(self, obj: JobConfig) -> str:
        return obj.display_name

    @admin.display(description=gettext_lazy("description"))
    def job_description(self, obj: JobConfig) -> str:
        return obj.display_description

    @admin.display(description=gettext_lazy("trigger"))
    def trigger_in_words(self, obj: JobConfig) -> SafeString:
        if not obj.customized:
            return format_html("{}", obj.describe_trigger())
        return format_html(
            '{} <span class="wf-edited" title="{}">{}</span>',
            obj.describe_trigger(),
            _(
                "Reload from YAML puts back the trigger declared with the task or set in scheduler_tasks.yaml."
            ),
            _("edited in the admin"),
        )

    @admin.display(description=gettext_lazy("next run"), ordering="next_run_at")
    def next_run(self, obj: JobConfig) -> SafeString | str:
        if obj.state != JobState.SCHEDULED:
            return "-"
        when = getattr(obj, "next_run_at", None)
        return datetime_cell(when) if when else _("(not yet applied)")

    @admin.display(description=gettext_lazy("state"))
    def state_badge(self, obj: JobConfig) -> str:
        return badge(JobState(obj.state).label, STATE_COLOURS[JobState(obj.state)])

    @admin.display(description=gettext_lazy("last outcome"))
    def last_outcome(self, obj: JobConfig) -> SafeString | str:
        run = last_run_of(obj)
        if run is None:
            return _("not run yet")
        pill = outcome_badge(run.outcome, run.note[:300])
        if run.session_pk is None:
            return pill
        url = reverse("admin:whalefall_syncsession_change", args=[run.session_pk])
        return format_html('<a href="{}" class="wf-session-link">{}</a>', url, pill)

    @admin.display(description=gettext_lazy("last run"), ordering="last_run_at")
    def last_run(self, obj: JobConfig) -> SafeString | str:
        run = last_run_of(obj)
        return datetime_cell(run.at) if run and run.at else "-"

    @admin.display(description=gettext_lazy("duration"))
    def last_duration(self, obj: JobConfig) -> str:
        run = last_run_of(obj)
        return human_duration(run.duration) if run else "-"

    @admin.display(description=gettext_lazy("edited in the admin"))
    def edited_in_admin(self, obj: JobConfig) -> str:
        if not obj.customized:
            return _("no")
        return _("yes: the trigger was changed here; Reload from YAML puts back the shipped one")

    @admin.display(description=gettext_lazy("function available"))
    def availability(self, obj: JobConfig) -> str:
        return obj.unavailable_reason or _("yes")

    @admin.display(description=gettext_lazy("next five runs"))
    def upcoming_runs(self, obj: JobConfig) -> SafeString | str:
        try:
            times, source = upcoming_runs_of(obj)
        except ValueError as exc:
            return _("invalid trigger: %(error)s") % {"error": exc}
        if not times:
            return source or "-"
        return format_html(
            '<div class="wf-upcoming-source">{}</div><ol class="wf-upcoming">{}</ol>',
            source,
            format_html_join("", "<li>{}</li>", ((local(t),) for t in times)),
        )

    @admin.display(description=gettext_lazy("last result"))
    def last_result_pretty(self, obj: JobConfig) -> str:
        return format_html(
            "<details><summary>{}</summary><pre>{}</pre></details>",
            _("JSON"),
            json.dumps(obj.last_result, indent=2, sort_keys=True),
        )

    # --- actions ------------------------------------------------------------------------------
    def _warn_if_no_scheduler(self, request: HttpRequest) -> None:
        status = scheduler_status()
        if not status.alive:
            self.message_user(request, status.message, messages.WARNING)

    @admin.action(description=gettext_lazy("Run now (in the scheduler process)"), permissions=["manage"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[JobConfig]) -> None:
        queued = 0
        for config in queryset:
            if config.unavailable_reason:
                self.message_user(
                    request,
                    _("Job %(job)s cannot run: %(reason)s")
                    % {"job": config.id, "reason": config.unavailable_reason},
                    messages.ERROR,
                )
                continue
            reason = refusal(config.function, config.id)
            if reason:
                self.message_user(
                    request,
                    _("Job %(job)s was not queued: %(reason)s") % {"job": config.id, "reason": reason},
                    messages.ERROR,
                )
                continue
            config.request_run(by=request.user.get_username())
            queued += 1
        if queued:
            self.message_user(
                request,
                ngettext(
                    "Queued %(count)d run; the scheduler starts it within seconds.",
                    "Queued %(count)d runs; the scheduler starts them within seconds.",
                    queued,
                )
                % {"count": queued},
            )

    def _transition(
        self, request: HttpRequest, queryset: QuerySet[JobConfig], method: str, want: dict[str, bool]
    ) -> None:
        changed = 0
        for config in queryset:
            if all(getattr(config, k) == v for k, v in want.items()):
                continue
            getattr(config, method)(by=request.user.get_username())
            changed += 1
        self.message_user(request, TRANSITION_MESSAGES[method](changed) % {"count": changed})
        self._warn_if_no_scheduler(request)

    @admin.action(description=gettext_lazy("Pause"), permissions=["manage"])
    def pause_jobs(self, request: HttpRequest, queryset: QuerySet[JobConfig]) -> None:
        self._transition(request, queryset, "pause", {"paused": True})

    @admin.action(description=gettext_lazy("Resume"), permissions=["manage"])
    def resume_jobs(self, request: HttpRequest, queryset: QuerySet[JobConfig]) -> None:
        self._transition(request, queryset, "resume", {"paused": False})

    @admin.action(description=gettext_lazy("Enable"), permissions=["manage"])
    def enable_jobs(self, request: HttpRequest, queryset: QuerySet[JobConfig]) -> None:
        self._transition(request, queryset, "enable", {"enabled": True})

    @admin.action(description=gettext_lazy("Disable"), permissions=["manage"])
    def disable_jobs(self, request: HttpRequest, queryset: QuerySet[JobConfig]) -> None:
        self._transition(request, queryset, "disable", {"enabled": False})

    @admin.action(description=gettext_lazy("Delete (custom jobs only)"), permissions=["manage"])
    def delete_custom_jobs(self, request: HttpRequest, queryset: QuerySet[JobConfig]) -> None:
        deleted = 0
        for config in queryset:
            try:
                config.remove(by=request.user.get_username())
                deleted += 1
            except PermissionError:
                self.message_user(
                    request,
                    _("Job %(job)s is built in: disable it instead of deleting it.") % {"job": config.id},
                    messages.ERROR,
                )
        message = ngettext("Deleted %(count)d job.", "Deleted %(count)d jobs.", deleted)
        self.message_user(request, message % {"count": deleted})

    # --- custom views -------------------------------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("reload/", wrap(self.reload_view), name="scheduling_jobconfig_reload"),
            path("<path:object_id>/trigger/", wrap(self.trigger_view), name="scheduling_jobconfig_trigger"),
            path("<path:object_id>/run/", wrap(self.run_view), name="scheduling_jobconfig_run"),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {"scheduler": scheduler_status(), "can_manage": self.has_manage_permission(request)}
        pending = SchedulerCommand.objects.filter(status="pending").count()
        extra["pending_commands"] = pending
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra = {"scheduler": scheduler_status(), "can_manage": self.has_manage_permission(request)}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def _context(self, request: HttpRequest, title: str, **values: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "scheduler": scheduler_status(),
            **values,
        }

    def run_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST-only "Run now" button of the job page."""
        self._require_manage(request)
        config = get_object_or_404(JobConfig, pk=object_id)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:scheduling_jobconfig_change", args=[config.pk]))
        self.run_now(request, JobConfig.objects.filter(pk=config.pk))
        return HttpResponseRedirect(reverse("admin:scheduling_jobconfig_change", args=[config.pk]))

    def trigger_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Edit a trigger: validate, preview the next five runs, then save."""
        self._require_manage(request)
        config = get_object_or_404(JobConfig, pk=object_id)
        if request.method == "POST":
            form = TriggerForm(request.POST)
            if form.is_valid() and "_save" in request.POST:
                config.set_trigger(
                    form.cleaned_data["trigger_type"],
                    form.cleaned_data["params"],
                    request.user.get_username(),
                )
                self.message_user(
                    request,
                    _(
                        "The trigger of job %(job)s is now: %(words)s. The scheduler applies it within seconds."
                    )
                    % {"job": config.id, "words": form.cleaned_data["words"]},
                )
                return HttpResponseRedirect(reverse("admin:scheduling_jobconfig_changelist"))
        else:
            form = TriggerForm(initial=TriggerForm.initial_for(config.trigger_type, config.trigger_params))
        context = self._context(
            request, _("Edit the trigger of job %(job)s") % {"job": config.id}, form=form, original=config
        )
        return TemplateResponse(request, "admin/scheduling/jobconfig/trigger_form.html", context)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Add a custom job for a registered task function (with the same trigger preview)."""
        self._require_manage(request)
        form = AddJobForm(request.POST or None, initial={"trigger_type": "cron", "enabled": True})
        if request.method == "POST" and form.is_valid() and "_save" in request.POST:
            data = form.cleaned_data
            config = JobConfig.objects.create(
                id=data["id"],
                name=data["name"],
                description=data["description"],
                function=data["function"],
                trigger_type=data["trigger_type"],
                trigger_params=data["params"],
                enabled=data["enabled"],
            )
            SchedulerCommand.queue("add", config.id, request.user.get_username())
            self.message_user(
                request, _("Added the job %(job)s: %(words)s.") % {"job": config.id, "words": data["words"]}
            )
            return HttpResponseRedirect(reverse("admin:scheduling_jobconfig_changelist"))
        context = self._context(request, _("Add a scheduled job"), form=form, adding=True)
        return TemplateResponse(request, "admin/scheduling/jobconfig/trigger_form.html", context)

    def reload_view(self, request: HttpRequest) -> HttpResponse:
        """Reset built-in jobs to their declarations and scheduler_tasks.yaml, after a confirmation page."""
        self._require_manage(request)
        try:
            loaded = load_default_tasks()
        except ConfigError as exc:
            self.message_user(request, _("Cannot reload: %(error)s") % {"error": exc}, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:scheduling_jobconfig_changelist"))
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            count = job_configs.reload_from_yaml(loaded.specs, by=request.user.get_username())
            message = ngettext(
                "Reloaded %(count)d built-in job from %(source)s.",
                "Reloaded %(count)d built-in jobs from %(source)s.",
                count,
            )
            self.message_user(request, message % {"count": count, "source": loaded.source})
            self._warn_if_no_scheduler(request)
            return HttpResponseRedirect(reverse("admin:scheduling_jobconfig_changelist"))
        customized = set(JobConfig.objects.filter(customized=True).values_list("id", flat=True))
        rows = [(spec, describe(spec.trigger_type, spec.trigger_params)) for spec in loaded.specs]
        context = self._context(
            request, _("Reload jobs from YAML"), loaded=loaded, customized=customized, rows=rows
        )
        return TemplateResponse(request, "admin/scheduling/jobconfig/reload_confirm.html", context)
