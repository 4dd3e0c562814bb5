"""Read-only ledger admin: sessions with their instance records inline."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from whalefall.models import SyncInstanceRecord, SyncLock, SyncSession


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
        "status",
        "failed_phase",
        "attempts",
        "items_synced",
        "items_created",
        "items_updated",
        "items_deleted",
        "started_at",
        "finished_at",
        "error_message",
        "sync_details",
    ]
    readonly_fields = fields


@admin.register(SyncSession)
class SyncSessionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "started_at",
        "category",
        "trigger",
        "status",
        "total_instances",
        "successful_instances",
        "failed_instances",
        "created_by",
        "is_read",
    ]
    list_filter = ["category", "trigger", "status", "is_read"]
    search_fields = ["session_id", "created_by", "records__instance_name"]
    date_hierarchy = "started_at"
    inlines = [SyncInstanceRecordInline]
    readonly_fields = [f.name for f in SyncSession._meta.fields]


@admin.register(SyncLock)
class SyncLockAdmin(admin.ModelAdmin):
    """Locks are visible, and an operator can delete a stuck one."""

    list_display = ["category", "owner", "locked_at", "expires_at"]
    readonly_fields = ["category", "owner", "token", "locked_at", "expires_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
