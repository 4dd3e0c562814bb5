"""Execution history (django-apscheduler's records) and the command audit trail, read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Case, CharField, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from scheduling.admin.jobs import EXECUTION_OUTCOMES, badge, local
from scheduling.models import JobConfig, JobRunSession, SchedulerCommand
from whalefall.admin.display import OUTCOME_LABELS, datetime_cell, human_duration, outcome_badge
from whalefall.choices import SessionStatus
from whalefall.models import TaskRequest, TaskRequestStatus

REQUEST_COLOURS = {
    "pending": "#1565c0",
    "running": "#1565c0",
    "done": "#2e7d32",
    "failed": "#c62828",
    "refused": "#ef6c00",
    "skipped": "#757575",
    "cancelled": "#757575",
    "expired": "#757575",
}

# django-apscheduler's own admin runs jobs inside the web request; WhaleFall's does not.
for model in (DjangoJob, DjangoJobExecution):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def execution_outcome() -> Any:
    """An execution's outcome as a word of OUTCOME_LABELS, in SQL (so the list filters on it):
    its session's status when the run recorded one, else APScheduler's word mapped as the jobs
    list maps it ("Error!": the job raised, failed)."""
    link = JobRunSession.objects.filter(job_id=OuterRef("job_id"), run_time=OuterRef("run_time"))
    words = Case(
        *(When(status=word, then=Value(outcome)) for word, outcome in EXECUTION_OUTCOMES.items()),
        default=Value("failed"),
    )
    return Coalesce(Subquery(link.values("session__status")[:1]), words, output_field=CharField())


class OutcomeFilter(admin.SimpleListFilter):
    title = gettext_lazy("outcome")
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        shown = dict.fromkeys([*EXECUTION_OUTCOMES.values(), *SessionStatus.values])
        return [(word, OUTCOME_LABELS.get(word, word)) for word in shown]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(outcome=self.value()) if self.value() else queryset


class JobFilter(admin.SimpleListFilter):
    """The jobs by name (the parameter keeps the name the job page's "Run history" link uses)."""

    title = gettext_lazy("job")
    parameter_name = "job__id__exact"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        return [(pk, name or pk) for pk, name in JobConfig.objects.order_by("name").values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(job_id=self.value()) if self.value() else queryset


@admin.register(DjangoJobExecution)
class JobExecutionAdmin(ReadOnlyAdmin):
    """What each scheduled run came to: the job by name, the outcome word (its session's when
    there is one, linked to it), the time rounded; APScheduler's own words on the detail page."""

    list_display = ["run_at", "job_title", "outcome", "duration_s", "exception_short"]
    list_display_links = ["run_at"]
    list_filter = [OutcomeFilter, JobFilter]
    search_fields = ["job__id", "exception"]
    date_hierarchy = "run_time"

    class Media:
        css = {"all": ["scheduling/jobs.css"]}

    fields = readonly_fields = (
        "job_title",
        "job",
        "outcome",
        "status",
        "run_at",
        "duration_s",
        "exception",
        "traceback_pre",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[DjangoJobExecution]:
        link = JobRunSession.objects.filter(job_id=OuterRef("job_id"), run_time=OuterRef("run_time"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                session_pk=Subquery(link.values("session_id")[:1]),
                outcome=execution_outcome(),
                job_name=Subquery(JobConfig.objects.filter(pk=OuterRef("job_id")).values("name")[:1]),
            )
        )

    @admin.display(description=gettext_lazy("job"), ordering="job_name")
    def job_title(self, obj: DjangoJobExecution) -> str:
        """The job's name, linked to its page (the id alone when the job is no longer configured)."""
        name = getattr(obj, "job_name", None)
        if name is None:
            return obj.job_id
        url = reverse("admin:scheduling_jobconfig_change", args=[obj.job_id])
        return format_html('<a href="{}">{}</a>', url, name or obj.job_id)

    @admin.display(description=gettext_lazy("outcome"), ordering="outcome")
    def outcome(self, obj: DjangoJobExecution) -> str:
        pill = outcome_badge(obj.outcome, (obj.exception or "")[:300])
        if not getattr(obj, "session_pk", None):
            return pill
        url = reverse("admin:whalefall_syncsession_change", args=[obj.session_pk])
        return format_html('<a href="{}" class="wf-session-link">{}</a>', url, pill)

    @admin.display(description=gettext_lazy("run time"), ordering="run_time")
    def run_at(self, obj: DjangoJobExecution) -> str:
        return local(obj.run_time)

    @admin.display(description=gettext_lazy("duration"), ordering="duration")
    def duration_s(self, obj: DjangoJobExecution) -> str:
        return human_duration(float(obj.duration)) if obj.duration is not None else "-"

    @admin.display(description=gettext_lazy("error"))
    def exception_short(self, obj: DjangoJobExecution) -> str:
        return (obj.exception or "")[:120]

    @admin.display(description=gettext_lazy("traceback"))
    def traceback_pre(self, obj: DjangoJobExecution) -> str:
        return format_html("<pre>{}</pre>", obj.traceback or "-")


@admin.register(SchedulerCommand)
class SchedulerCommandAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "action",
        "job_id",
        "requested_by",
        "status",
        "applied_by",
        "applied_at",
        "message",
    ]
    list_filter = ["action", "status"]
    search_fields = ["job_id", "requested_by"]


@admin.register(TaskRequest)
class TaskRequestAdmin(ReadOnlyAdmin):
    """Run requests handed to the scheduler (run now, reruns): who asked, and what came of it."""

    list_display = ["requested", "what", "requested_by", "state", "finished", "session_link", "error_short"]
    list_display_links = ["requested"]
    list_filter = ["status", "task"]
    search_fields = ["task", "job_id", "requested_by"]
    list_select_related = ["session"]

    class Media:
        css = {"all": ["scheduling/jobs.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[TaskRequest]:
        name = JobConfig.objects.filter(pk=OuterRef("job_id")).values("name")[:1]
        return super().get_queryset(request).annotate(job_name=Subquery(name))

    @admin.display(description=gettext_lazy("requested at"), ordering="requested_at")
    def requested(self, obj: TaskRequest) -> SafeString | str:
        return datetime_cell(obj.requested_at)

    @admin.display(description=gettext_lazy("task"), ordering="task")
    def what(self, obj: TaskRequest) -> SafeString:
        """The job's name when the request is for a job, else the task's function name; the
        dotted path (and the job id) on hover, in full on the detail page."""
        name = getattr(obj, "job_name", None) or obj.task.rsplit(".", 1)[-1]
        return format_html(
            '<span title="{}">{}</span>', " · ".join(filter(None, [obj.task, obj.job_id])), name
        )

    @admin.display(description=gettext_lazy("finished at"), ordering="finished_at")
    def finished(self, obj: TaskRequest) -> SafeString | str:
        return datetime_cell(obj.finished_at) if obj.finished_at else "-"

    @admin.display(description=gettext_lazy("error"))
    def error_short(self, obj: TaskRequest) -> SafeString | str:
        if not obj.error:
            return ""
        return format_html('<span title="{}">{}</span>', obj.error[:1000], obj.error[:120])

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def state(self, obj: TaskRequest) -> str:
        """Pending past its expiry shows as expired at once, before a scheduler closes it."""
        status = obj.effective_status
        return badge(TaskRequestStatus(status).label, REQUEST_COLOURS.get(status, "#757575"))

    @admin.display(description=gettext_lazy("session"))
    def session_link(self, obj: TaskRequest) -> str:
        if not obj.session_id:
            return "-"
        url = reverse("admin:whalefall_syncsession_change", args=[obj.session_id])
        pill = outcome_badge(obj.session.status) if obj.session else "-"
        return format_html('<a href="{}" class="wf-session-link">{}</a>', url, pill)
