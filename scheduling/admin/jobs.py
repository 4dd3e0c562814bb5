"""Jobs admin: what is scheduled, what ran, and the controls (all applied by the scheduler process).

Nothing here runs a task: "run now" queues a TaskRequest, every other change is saved on the
JobConfig with a SchedulerCommand that the running scheduler applies within about a second.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from scheduling import registry
from scheduling.admin.forms import AddJobForm, TriggerForm
from scheduling.config import ConfigError, load_default_tasks
from scheduling.models import JobConfig, JobState, SchedulerCommand
from scheduling.status import scheduler_status
from scheduling.triggers import build_trigger, next_run_times
from whalefall.sync.admission import refusal

STATE_COLOURS = {
    JobState.SCHEDULED: "#2e7d32",
    JobState.PAUSED: "#ef6c00",
    JobState.DISABLED: "#757575",
    JobState.UNAVAILABLE: "#c62828",
}
RUN_COLOURS = {
    "Executed": "#2e7d32",
    "Error!": "#c62828",
    "Started execution": "#1565c0",
    "Skipped": "#757575",
    "Cancelled": "#757575",
    "Interrupted": "#6a1b9a",
}


def badge(text: str, colour: str) -> str:
    return format_html(
        '<span style="background:{};color:#fff;padding:1px 6px;border-radius:8px;white-space:nowrap">{}</span>',
        colour,
        text,
    )


def local(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z") if value else "-"


@admin.register(JobConfig)
class JobConfigAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "function",
        "trigger_in_words",
        "next_run",
        "state_badge",
        "builtin",
        "last_run",
        "last_duration",
        "last_session_link",
        "history_link",
    ]
    list_filter = ["enabled", "paused", "builtin", "trigger_type"]
    search_fields = ["id", "name", "function", "description"]
    actions = ["run_now", "pause_jobs", "resume_jobs", "enable_jobs", "disable_jobs", "delete_custom_jobs"]
    change_list_template = "admin/scheduling/jobconfig/change_list.html"
    change_form_template = "admin/scheduling/jobconfig/change_form.html"
    fields = [
        "id",
        "name",
        "description",
        "function",
        "availability",
        "trigger_type",
        "trigger_params",
        "trigger_in_words",
        "upcoming_runs",
        "kwargs",
        "enabled",
        "paused",
        "builtin",
        "customized",
        "last_finished_at",
        "last_session_link",
        "last_result_pretty",
        "updated_at",
    ]
    readonly_fields = fields

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
        return super().get_queryset(request).with_runs()

    # --- columns ------------------------------------------------------------------------------
    @admin.display(description="trigger")
    def trigger_in_words(self, obj: JobConfig) -> str:
        return obj.describe_trigger()

    @admin.display(description="next run", ordering="next_run_at")
    def next_run(self, obj: JobConfig) -> str:
        if obj.state != JobState.SCHEDULED:
            return "-"
        return (
            local(getattr(obj, "next_run_at", None))
            if getattr(obj, "next_run_at", None)
            else "(not yet applied)"
        )

    @admin.display(description="state")
    def state_badge(self, obj: JobConfig) -> str:
        return badge(JobState(obj.state).label, STATE_COLOURS[obj.state])

    @admin.display(description="last run", ordering="last_run_at")
    def last_run(self, obj: JobConfig) -> str:
        status = getattr(obj, "last_run_status", None)
        if not status:
            return "-"
        return format_html("{} {}", badge(status, RUN_COLOURS.get(status, "#ef6c00")), local(obj.last_run_at))

    @admin.display(description="duration")
    def last_duration(self, obj: JobConfig) -> str:
        duration = getattr(obj, "last_run_duration", None)
        return f"{duration} s" if duration is not None else "-"

    @admin.display(description="session")
    def last_session_link(self, obj: JobConfig) -> str:
        if not obj.last_session_id:
            return "-"
        url = reverse("admin:whalefall_syncsession_change", args=[obj.last_session_id])
        return format_html('<a href="{}">{}</a>', url, obj.last_session.get_status_display())

    @admin.display(description="history")
    def history_link(self, obj: JobConfig) -> str:
        url = reverse("admin:django_apscheduler_djangojobexecution_changelist") + f"?job__id__exact={obj.pk}"
        return format_html('<a href="{}">runs</a>', url)

    @admin.display(description="function available")
    def availability(self, obj: JobConfig) -> str:
        return obj.unavailable_reason or "yes"

    @admin.display(description="next five runs")
    def upcoming_runs(self, obj: JobConfig) -> str:
        try:
            times = next_run_times(build_trigger(obj.trigger_type, obj.trigger_params), 5)
        except ValueError as exc:
            return f"invalid trigger: {exc}"
        return ", ".join(local(t) for t in times) or "-"

    @admin.display(description="last result")
    def last_result_pretty(self, obj: JobConfig) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.last_result, indent=2, sort_keys=True))

    # --- actions ------------------------------------------------------------------------------
    def _warn_if_no_scheduler(self, request: HttpRequest) -> None:
        status = scheduler_status()
        if not status.alive:
            self.message_user(request, status.message, messages.WARNING)

    @admin.action(description="Run now (in the scheduler process)", permissions=["manage"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[JobConfig]) -> None:
        queued = 0
        for config in queryset:
            if config.unavailable_reason:
                self.message_user(
                    request, f"{config.id} cannot run: {config.unavailable_reason}", messages.ERROR
                )
                continue
            reason = refusal(config.function, config.id)
            if reason:
                self.message_user(request, f"{config.id}: {reason}", messages.ERROR)
                continue
            config.request_run(by=request.user.get_username())
            queued += 1
        if queued:
            self.message_user(request, f"Queued {queued} run(s); the scheduler starts them within seconds.")

    def _transition(
        self, request: HttpRequest, queryset: QuerySet[JobConfig], method: str, want: dict[str, bool]
    ) -> None:
        changed = 0
        for config in queryset:
            if all(getattr(config, k) == v for k, v in want.items()):
                continue
            getattr(config, method)(by=request.user.get_username())
            changed += 1
        self.message_user(
            request, f"{method.capitalize()}d {changed} job(s); the scheduler applies it within seconds."
        )
        self._warn_if_no_scheduler(request)

    @admin.action(description="Pause", permissions=["manage"])
    def pause_jobs(self, request: HttpRequest, queryset: QuerySet[JobConfig]) -> None:
        self._transition(request, queryset, "pause", {"paused": True})

    @admin.action(description="Resume", permissions=["manage"])
    def resume_jobs(self, request: HttpRequest, queryset: QuerySet[JobConfig]) -> None:
        self._transition(request, queryset, "resume", {"paused": False})

    @admin.action(description="Enable", permissions=["manage"])
    def enable_jobs(self, request: HttpRequest, queryset: QuerySet[JobConfig]) -> None:
        self._transition(request, queryset, "enable", {"enabled": True})

    @admin.action(description="Disable", permissions=["manage"])
    def disable_jobs(self, request: HttpRequest, queryset: QuerySet[JobConfig]) -> None:
        self._transition(request, queryset, "disable", {"enabled": False})

    @admin.action(description="Delete (custom jobs only)", permissions=["manage"])
    def delete_custom_jobs(self, request: HttpRequest, queryset: QuerySet[JobConfig]) -> None:
        deleted = 0
        for config in queryset:
            try:
                config.remove(by=request.user.get_username())
                deleted += 1
            except PermissionError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        self.message_user(request, f"Deleted {deleted} job(s).")

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
                    f"Trigger of {config.id} is now {form.cleaned_data['words']}; the scheduler applies it within seconds.",
                )
                return HttpResponseRedirect(reverse("admin:scheduling_jobconfig_changelist"))
        else:
            form = TriggerForm(initial=TriggerForm.initial_for(config.trigger_type, config.trigger_params))
        context = self._context(request, f"Edit trigger of {config.id}", form=form, original=config)
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
            self.message_user(request, f"Added job {config.id} ({data['words']}).")
            return HttpResponseRedirect(reverse("admin:scheduling_jobconfig_changelist"))
        context = self._context(request, "Add a scheduled job", form=form, adding=True)
        return TemplateResponse(request, "admin/scheduling/jobconfig/trigger_form.html", context)

    def reload_view(self, request: HttpRequest) -> HttpResponse:
        """Reset built-in jobs to scheduler_tasks.yaml, after a confirmation page."""
        self._require_manage(request)
        try:
            loaded = load_default_tasks()
        except ConfigError as exc:
            self.message_user(request, f"Cannot reload: {exc}", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:scheduling_jobconfig_changelist"))
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            count = registry.reload_from_yaml(loaded.specs, by=request.user.get_username())
            self.message_user(request, f"Reloaded {count} built-in job(s) from {loaded.source}.")
            self._warn_if_no_scheduler(request)
            return HttpResponseRedirect(reverse("admin:scheduling_jobconfig_changelist"))
        customized = set(JobConfig.objects.filter(customized=True).values_list("id", flat=True))
        context = self._context(request, "Reload jobs from YAML", loaded=loaded, customized=customized)
        return TemplateResponse(request, "admin/scheduling/jobconfig/reload_confirm.html", context)
