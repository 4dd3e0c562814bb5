"""Execution history (django-apscheduler's records) and the command audit trail, read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from scheduling.admin.jobs import RUN_COLOURS, badge, local
from scheduling.models import JobRunSession, SchedulerCommand
from whalefall.admin.display import human_duration
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


@admin.register(DjangoJobExecution)
class JobExecutionAdmin(ReadOnlyAdmin):
    list_display = ["id", "job_id", "status_badge", "run_at", "duration_s", "session_link", "exception_short"]
    list_filter = ["status", "job__id"]
    search_fields = ["job__id", "exception"]
    date_hierarchy = "run_time"
    fields = readonly_fields = (
        "job",
        "status",
        "run_at",
        "duration_s",
        "session_link",
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
                session_status=Subquery(link.values("session__status")[:1]),
            )
        )

    @admin.display(description=gettext_lazy("session"))
    def session_link(self, obj: DjangoJobExecution) -> str:
        if not getattr(obj, "session_pk", None):
            return "-"
        url = reverse("admin:whalefall_syncsession_change", args=[obj.session_pk])
        return format_html('<a href="{}">{}</a>', url, obj.session_status)

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def status_badge(self, obj: DjangoJobExecution) -> str:
        return badge(obj.status, RUN_COLOURS.get(obj.status, "#ef6c00"))

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

    list_display = [
        "requested_at",
        "task",
        "job_id",
        "requested_by",
        "state",
        "expires_at",
        "claimed_by",
        "finished_at",
        "session_link",
        "error",
    ]
    list_filter = ["status", "task"]
    search_fields = ["task", "job_id", "requested_by"]
    list_select_related = ["session"]

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
        return format_html('<a href="{}">{}</a>', url, obj.session.status if obj.session else "-")
