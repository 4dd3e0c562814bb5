"""Sync-session ledger admin: read-only data, with read marks and "rerun failed instances".

Viewing needs `whalefall.view_syncsession`; mark read and rerun need `whalefall.manage_syncsession`.
Reruns are queued for the scheduler process (whalefall.dispatch), never run in the request.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from whalefall.choices import RecordStatus, SessionStatus
from whalefall.models import SyncInstanceRecord, SyncLock, SyncSession

STATUS_COLOURS = {
    SessionStatus.RUNNING: "#1565c0",
    SessionStatus.COMPLETED: "#2e7d32",
    SessionStatus.PARTIAL: "#ef6c00",
    SessionStatus.FAILED: "#c62828",
    SessionStatus.CANCELLED: "#757575",
    SessionStatus.SKIPPED: "#757575",
    RecordStatus.PENDING: "#757575",
}


def status_badge(status: str, label: str) -> str:
    return format_html(
        '<span class="wf-status wf-status-{}" style="background:{};color:#fff;padding:1px 6px;border-radius:8px">{}</span>',
        status,
        STATUS_COLOURS.get(status, "#757575"),
        label,
    )


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SyncInstanceRecordInline(ReadOnlyMixin, admin.TabularInline):
    model = SyncInstanceRecord
    extra = 0
    fields = [
        "instance_name",
        "record_status",
        "failed_phase",
        "attempts",
        "items_synced",
        "items_created",
        "items_updated",
        "items_deleted",
        "record_duration",
        "error_message",
        "record_warnings",
        "details",
    ]
    readonly_fields = fields

    @admin.display(description="warnings")
    def record_warnings(self, obj: SyncInstanceRecord) -> str:
        if not obj.warnings:
            return "-"
        return format_html(
            '<ul class="wf-warnings" style="margin:0;padding-left:1em;color:#ef6c00">{}</ul>',
            format_html_join("", "<li>⚠ <bdi>{}</bdi></li>", ((w,) for w in obj.warnings)),
        )

    @admin.display(description="status")
    def record_status(self, obj: SyncInstanceRecord) -> str:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="duration")
    def record_duration(self, obj: SyncInstanceRecord) -> str:
        return seconds(obj.duration)

    @admin.display(description="sync details")
    def details(self, obj: SyncInstanceRecord) -> str:
        if not obj.sync_details:
            return "-"
        return format_html(
            '<pre style="white-space:pre-wrap;margin:0">{}</pre>',
            json.dumps(obj.sync_details, indent=2, sort_keys=True),
        )


class UnreadFailuresFilter(admin.SimpleListFilter):
    title = "unread failures"
    parameter_name = "unread_failures"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Unread failed or partial")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[SyncSession]) -> QuerySet[SyncSession]:
        return queryset.unread_failures() if self.value() == "yes" else queryset


@admin.register(SyncSession)
class SyncSessionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "unread",
        "started_at",
        "category",
        "trigger",
        "status_label",
        "session_duration",
        "counts",
        "created_by",
    ]
    list_display_links = ["started_at"]
    list_filter = [UnreadFailuresFilter, "category", "trigger", "status", "is_read"]
    search_fields = ["session_id", "created_by", "records__instance_name"]
    date_hierarchy = "started_at"
    inlines = [SyncInstanceRecordInline]
    actions = ["mark_read", "rerun_failed_instances"]
    change_list_template = "admin/whalefall/syncsession/change_list.html"
    fields = [
        "session_id",
        "category",
        "trigger",
        "status_label",
        "created_by",
        "owner",
        "started_at",
        "finished_at",
        "session_duration",
        "counts",
        "error",
        "parameters",
        "is_read",
        "read_at",
    ]
    readonly_fields = fields

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("whalefall.manage_syncsession")

    @admin.display(description="", ordering="is_read")
    def unread(self, obj: SyncSession) -> str:
        return "" if obj.is_read else format_html('<span title="unread" class="wf-unread">{}</span>', "●")

    @admin.display(description="status", ordering="status")
    def status_label(self, obj: SyncSession) -> str:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="duration")
    def session_duration(self, obj: SyncSession) -> str:
        return seconds(obj.duration)

    @admin.display(description="ok / failed / total")
    def counts(self, obj: SyncSession) -> str:
        return f"{obj.successful_instances} / {obj.failed_instances} / {obj.total_instances}"

    @admin.action(description="Mark as read", permissions=["manage"])
    def mark_read(self, request: HttpRequest, queryset: QuerySet[SyncSession]) -> None:
        count = queryset.mark_read()
        self.message_user(request, f"Marked {count} session(s) as read.")

    @admin.action(description="Rerun failed instances", permissions=["manage"])
    def rerun_failed_instances(self, request: HttpRequest, queryset: QuerySet[SyncSession]) -> None:
        from whalefall import task_registry
        from whalefall.dispatch import submit
        from whalefall.sync.admission import refusal

        failed: dict[int, list[int]] = {}
        records = SyncInstanceRecord.objects.filter(
            session__in=queryset, status=RecordStatus.FAILED, instance__isnull=False
        ).values_list("session_id", "instance_id")
        for session_pk, instance_id in records:
            failed.setdefault(session_pk, []).append(instance_id)
        user = request.user.get_username()
        queued = refused = 0
        for session in queryset.filter(pk__in=failed):
            ids = sorted(set(failed[session.pk]))
            task = task_registry.for_category(session.category)
            reason = refusal(task.path) if task else f"no installed app runs {session.category} sessions"
            if reason or task is None:
                self.message_user(request, f"Rerun of {session} not queued: {reason}", messages.ERROR)
                refused += 1
                continue
            submit(
                task.path,
                requested_by=user,
                instance_ids=ids,
                trigger="manual",
                created_by=user,
            )
            queued += 1
        skipped = queryset.count() - queued - refused
        if refused and not queued:
            return
        self.message_user(
            request,
            f"Queued {queued} rerun(s) of failed instances for the scheduler; "
            f"{skipped} session(s) had no failed instance.",
            messages.SUCCESS if queued else messages.WARNING,
        )

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("mark-all-read/", wrap(self.mark_all_read_view), name="whalefall_syncsession_mark_all_read"),
            *super().get_urls(),
        ]

    def mark_all_read_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_manage_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            count = SyncSession.objects.mark_read()
            self.message_user(request, f"Marked {count} session(s) as read.")
        return HttpResponseRedirect(reverse("admin:whalefall_syncsession_changelist"))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {
            "can_manage": self.has_manage_permission(request),
            "unread_count": SyncSession.objects.unread().count(),
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})


@admin.register(SyncLock)
class SyncLockAdmin(admin.ModelAdmin):
    """Locks are visible, and an operator can delete a stuck one."""

    list_display = ["category", "owner", "locked_at", "expires_at"]
    readonly_fields = ["category", "owner", "token", "locked_at", "expires_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
