"""Sync-session ledger admin: read-only data, with read marks and "rerun failed instances".

Viewing needs `whalefall.view_syncsession`; mark read and rerun need `whalefall.manage_syncsession`
(so does the read mark an operator leaves by opening a finished session). Reruns are queued for
the scheduler process (whalefall.dispatch), never run in the request.

A session's page is a counts table, one row per instance record with failures first, each
record's JSON folded away; the list filters sessions with a failed instance through one EXISTS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Exists, IntegerField, OuterRef, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from whalefall.admin.display import human_duration, status_badge
from whalefall.choices import RecordStatus, SessionStatus
from whalefall.formats import local_datetime
from whalefall.models import SyncInstanceRecord, SyncLock, SyncSession
from whalefall.models.sessions import SyncSessionQuerySet

# Records in the order a DBA reads them: what failed, then what did not finish, then the rest.
FAILED_RECORDS = [RecordStatus.FAILED, RecordStatus.INTERRUPTED]
RECORD_ORDER = Case(
    When(status=RecordStatus.FAILED, then=Value(0)),
    When(status=RecordStatus.INTERRUPTED, then=Value(1)),
    When(status=RecordStatus.CANCELLED, then=Value(2)),
    When(status=RecordStatus.RUNNING, then=Value(3)),
    When(status=RecordStatus.PENDING, then=Value(4)),
    When(status=RecordStatus.SKIPPED, then=Value(5)),
    default=Value(6),
    output_field=IntegerField(),
)


def record_elapsed(record: SyncInstanceRecord) -> float | None:
    """From the first attempt's start to the end, retries and waits included. A record whose
    start was reset by a later attempt still has its earlier failures in attempt_history, so
    the earliest of those times counts as a start too."""
    if record.finished_at is None:
        return None
    starts = [record.started_at] if record.started_at else []
    for attempt in record.attempt_history or []:
        at = parse_datetime(str(attempt.get("at", ""))) if isinstance(attempt, dict) else None
        if at is not None:
            starts.append(at)
    if not starts:
        return None
    return max(0.0, (record.finished_at - min(starts)).total_seconds())


def _failed_items(details: dict[str, Any]) -> int:
    """Items a phase could not save (the `failed` counters of sync_details' phase blocks)."""
    total = 0
    for block in ("inventory", "collection"):
        value = (details.get(block) or {}).get("failed") if isinstance(details.get(block), dict) else 0
        total += value if isinstance(value, int) else 0
    return total


@dataclass
class RecordRow:
    """One instance record as the counts table shows it."""

    record: SyncInstanceRecord
    url: str
    badge: SafeString
    failed_items: int
    duration: str
    attempts: list[dict[str, Any]] = field(default_factory=list)
    details_json: str = ""

    @property
    def failed(self) -> bool:
        return self.record.status in FAILED_RECORDS


def record_rows(records: list[SyncInstanceRecord]) -> list[RecordRow]:
    rows = []
    for record in records:
        attempts = [
            {**a, "at": local_datetime(parse_datetime(str(a.get("at", ""))), str(a.get("at", "")))}
            for a in record.attempt_history or []
            if isinstance(a, dict)
        ]
        rows.append(
            RecordRow(
                record=record,
                url=reverse("admin:whalefall_instance_change", args=[record.instance_id])
                if record.instance_id
                else "",
                badge=status_badge(record.status, record.get_status_display()),
                failed_items=_failed_items(record.sync_details or {}),
                duration=human_duration(record_elapsed(record)),
                attempts=attempts,
                details_json=json.dumps(record.sync_details, indent=2, sort_keys=True)
                if record.sync_details
                else "",
            )
        )
    return rows


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class UnreadFailuresFilter(admin.SimpleListFilter):
    title = gettext_lazy("unread failures")
    parameter_name = "unread_failures"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", _("Unread failed or partial"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[SyncSession]) -> QuerySet[SyncSession]:
        return cast(SyncSessionQuerySet, queryset).unread_failures() if self.value() == "yes" else queryset


class FailedInstancesFilter(admin.SimpleListFilter):
    """Sessions where at least one instance failed: one EXISTS per session row, indexed by the
    record's session, so it costs the same with five instances or five hundred."""

    title = gettext_lazy("instances")
    parameter_name = "failed_instances"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", _("With a failed instance")), ("no", _("No failed instance"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[SyncSession]) -> QuerySet[SyncSession]:
        if self.value() not in ("yes", "no"):
            return queryset
        failed = SyncInstanceRecord.objects.filter(session=OuterRef("pk"), status__in=FAILED_RECORDS)
        has_failed = Exists(failed)
        return queryset.filter(has_failed if self.value() == "yes" else ~has_failed)


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
    list_filter = [UnreadFailuresFilter, FailedInstancesFilter, "category", "trigger", "status", "is_read"]
    search_fields = ["session_id", "created_by", "records__instance_name"]
    date_hierarchy = "started_at"
    actions = ["mark_read", "rerun_failed_instances"]
    change_list_template = "admin/whalefall/syncsession/change_list.html"
    change_form_template = "admin/whalefall/syncsession/change_form.html"
    # Several short fields to a row, so the instance table starts within the first screen.
    fields = [
        ("status_label", "counts", "session_duration"),
        ("category", "trigger", "created_by"),
        ("started_at", "finished_at"),
        "error",
        ("read_state", "owner"),
        ("session_id", "parameters_folded"),
    ]
    readonly_fields = [
        "status_label",
        "counts",
        "session_duration",
        "category",
        "trigger",
        "created_by",
        "started_at",
        "finished_at",
        "read_state",
        "error",
        "session_id",
        "owner",
        "parameters_folded",
    ]

    class Media:
        css = {"all": ["whalefall/sessions.css"]}

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("whalefall.manage_syncsession")

    @admin.display(description="", ordering="is_read")  # a dot column: no heading to translate
    def unread(self, obj: SyncSession) -> str:
        return (
            ""
            if obj.is_read
            else format_html('<span title="{}" class="wf-unread">{}</span>', _("unread"), "●")
        )

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def status_label(self, obj: SyncSession) -> str:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description=gettext_lazy("duration"))
    def session_duration(self, obj: SyncSession) -> str:
        return human_duration(obj.duration)

    @admin.display(description=gettext_lazy("ok / failed / total"))
    def counts(self, obj: SyncSession) -> str:
        return f"{obj.successful_instances} / {obj.failed_instances} / {obj.total_instances}"

    @admin.display(description=gettext_lazy("parameters"))
    def parameters_folded(self, obj: SyncSession) -> SafeString | str:
        if not obj.parameters:
            return "-"
        return format_html(
            "<details><summary>{}</summary><pre>{}</pre></details>",
            _("JSON"),
            json.dumps(obj.parameters, indent=2, sort_keys=True),
        )

    @admin.display(description=gettext_lazy("read"))
    def read_state(self, obj: SyncSession) -> str:
        if not obj.is_read:
            return _("not yet")
        return _("at %(when)s") % {"when": local_datetime(obj.read_at)}

    @admin.action(description=gettext_lazy("Mark as read"), permissions=["manage"])
    def mark_read(self, request: HttpRequest, queryset: QuerySet[SyncSession]) -> None:
        count = cast(SyncSessionQuerySet, queryset).mark_read()
        self.message_user(request, _marked_read(count))

    @admin.action(description=gettext_lazy("Rerun failed instances"), permissions=["manage"])
    def rerun_failed_instances(self, request: HttpRequest, queryset: QuerySet[SyncSession]) -> None:
        from whalefall import task_registry
        from whalefall.dispatch import submit
        from whalefall.sync.admission import refusal

        failed: dict[int, list[int]] = {}
        records = SyncInstanceRecord.objects.filter(
            session__in=queryset, status__in=FAILED_RECORDS, instance__isnull=False
        ).values_list("session_id", "instance_id")
        for session_pk, instance_id in records:
            failed.setdefault(session_pk, []).append(instance_id)
        user = request.user.get_username()
        queued = refused = 0
        for session in queryset.filter(pk__in=failed):
            ids = sorted(set(failed[session.pk]))
            task = task_registry.for_category(session.category)
            reason = (
                refusal(task.path)
                if task
                else _("no installed app runs %(category)s sessions") % {"category": session.category}
            )
            if reason or task is None:
                self.message_user(
                    request,
                    _("The rerun of the session %(session)s was not queued: %(reason)s")
                    % {"session": session, "reason": reason},
                    messages.ERROR,
                )
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
        message = ngettext(
            "Queued %(count)d rerun of failed instances for the scheduler.",
            "Queued %(count)d reruns of failed instances for the scheduler.",
            queued,
        ) % {"count": queued}
        if skipped:
            message += " " + ngettext(
                "%(count)d session had no failed instance.",
                "%(count)d sessions had no failed instance.",
                skipped,
            ) % {"count": skipped}
        self.message_user(request, message, messages.SUCCESS if queued else messages.WARNING)

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
            self.message_user(request, _marked_read(count))
        return HttpResponseRedirect(reverse("admin:whalefall_syncsession_changelist"))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {
            "can_manage": self.has_manage_permission(request),
            "unread_count": SyncSession.objects.unread().count(),
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The counts table of the session's records, failures first (or failures only); an
        operator who opens a finished session has read it."""
        session = self.get_object(request, object_id)
        if session is None or not self.has_view_permission(request, session):
            return super().change_view(request, object_id, form_url, extra_context)
        if (
            request.method == "GET"
            and not session.is_read
            and session.status != SessionStatus.RUNNING
            and self.has_manage_permission(request)
        ):
            SyncSession.objects.filter(pk=session.pk).mark_read()
        failed_only = request.GET.get("records") == "failed"
        records = session.records.all()
        if failed_only:
            records = records.filter(status__in=FAILED_RECORDS)
        rows = record_rows(list(records.order_by(RECORD_ORDER, "instance_name", "pk")))
        totals = {
            key: sum(getattr(r.record, f"items_{key}") for r in rows)
            for key in ("synced", "created", "updated", "deleted")
        }
        totals["failed"] = sum(r.failed_items for r in rows)
        extra = {
            "record_rows": rows,
            "record_totals": totals,
            "records_failed_only": failed_only,
            "failed_record_count": session.failed_instances,
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})


def _marked_read(count: int) -> str:
    return ngettext("Marked %(count)d session as read.", "Marked %(count)d sessions as read.", count) % {
        "count": count
    }


@admin.register(SyncLock)
class SyncLockAdmin(admin.ModelAdmin):
    """Locks are visible, and an operator can delete a stuck one."""

    list_display = ["category", "owner", "locked_at", "expires_at"]
    readonly_fields = [
        "category", "owner", "token", "host", "pid", "process_started_at", "process_key", "locked_at",
        "expires_at",
    ]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
