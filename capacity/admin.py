"""Capacity admin: databases with latest size and growth, read-only size history and period
tables, limits, the custom chart pages and the "Collect sizes now" action on instances."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from capacity.admin_views import CapacityViews
from capacity.charts import human_bytes
from capacity.models import (
    DatabaseSizeAggregation,
    DatabaseSizeStat,
    InstanceCapacity,
    InstanceDatabase,
    InstanceSizeAggregation,
    InstanceSizeStat,
)
from capacity.queries import GROWTH_DAYS, with_latest_size
from capacity.tasks import COLLECT_DATABASE_SIZES
from whalefall import dispatch
from whalefall.admin.instances import extend_instance_admin
from whalefall.choices import SyncTrigger
from whalefall.models import Instance
from whalefall.sync.admission import refusal


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is written by the sync only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(InstanceDatabase)
class InstanceDatabaseAdmin(CapacityViews, admin.ModelAdmin):
    list_display = [
        "name",
        "instance_link",
        "is_active",
        "latest",
        "growth",
        "latest_date",
        "chart",
        "last_seen_at",
    ]
    list_filter = ["is_active", "instance__db_type", "instance"]
    search_fields = ["name", "instance__name"]
    list_select_related = ["instance"]
    readonly_fields = ["instance", "name", "is_active", "first_seen_at", "last_seen_at", "deactivated_at"]
    fields = [*readonly_fields, "capacity_limit_bytes"]
    change_list_template = "admin/capacity/instancedatabase/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[InstanceDatabase]:
        return with_latest_size(super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/history/", wrap(self.history_view), name="capacity_instancedatabase_history"),
            path("instance/<int:instance_id>/", wrap(self.instance_view), name="capacity_instance_capacity"),
            path("top-growers/", wrap(self.top_growers_view), name="capacity_top_growers"),
            *super().get_urls(),
        ]

    @admin.display(description="instance", ordering="instance__name")
    def instance_link(self, obj: InstanceDatabase) -> str:
        url = reverse("admin:capacity_instance_capacity", args=[obj.instance_id])
        return format_html('<a href="{}">{}</a>', url, obj.instance.name)

    @admin.display(description="latest size", ordering="latest_size")
    def latest(self, obj: InstanceDatabase) -> str:
        return human_bytes(obj.latest_size)  # type: ignore[attr-defined]

    @admin.display(description=f"growth ({GROWTH_DAYS} d)", ordering="growth_bytes")
    def growth(self, obj: InstanceDatabase) -> str:
        value = obj.growth_bytes  # type: ignore[attr-defined]
        return "-" if value is None else ("+" if value > 0 else "") + human_bytes(value)

    @admin.display(description="as of", ordering="latest_date")
    def latest_date(self, obj: InstanceDatabase) -> object:
        return obj.latest_date or "-"  # type: ignore[attr-defined]

    @admin.display(description="history")
    def chart(self, obj: InstanceDatabase) -> str:
        url = reverse("admin:capacity_instancedatabase_history", args=[obj.pk])
        return format_html('<a href="{}">chart</a>', url)


@admin.register(DatabaseSizeStat)
class DatabaseSizeStatAdmin(ReadOnlyAdmin):
    list_display = [
        "database",
        "instance",
        "collected_date",
        "size",
        "data_bytes",
        "log_bytes",
        "allocated_bytes",
    ]
    list_filter = ["collected_date", "instance"]
    search_fields = ["database__name"]
    list_select_related = ["database", "instance"]
    date_hierarchy = "collected_date"

    @admin.display(description="size", ordering="size_bytes")
    def size(self, obj: DatabaseSizeStat) -> str:
        return human_bytes(obj.size_bytes)


@admin.register(InstanceSizeStat)
class InstanceSizeStatAdmin(ReadOnlyAdmin):
    list_display = ["instance", "collected_date", "size", "database_count", "data_bytes", "log_bytes"]
    list_filter = ["instance"]
    list_select_related = ["instance"]
    date_hierarchy = "collected_date"

    @admin.display(description="size", ordering="size_bytes")
    def size(self, obj: InstanceSizeStat) -> str:
        return human_bytes(obj.size_bytes)


class AggregationAdmin(ReadOnlyAdmin):
    """Period tables: average, extremes, change against the previous period and the trend."""

    list_filter = ["period_type", "trend", "period_start"]
    date_hierarchy = "period_start"

    @admin.display(description="avg", ordering="avg_size_bytes")
    def avg(self, obj: DatabaseSizeAggregation) -> str:
        return human_bytes(obj.avg_size_bytes)

    @admin.display(description="min / max")
    def range(self, obj: DatabaseSizeAggregation) -> str:
        return f"{human_bytes(obj.min_size_bytes)} / {human_bytes(obj.max_size_bytes)}"

    @admin.display(description="change", ordering="change_bytes")
    def change(self, obj: DatabaseSizeAggregation) -> str:
        sign = "+" if obj.change_bytes > 0 else ""
        return f"{sign}{human_bytes(obj.change_bytes)} ({sign}{obj.change_percent:.2f}%)"


@admin.register(DatabaseSizeAggregation)
class DatabaseSizeAggregationAdmin(AggregationAdmin):
    list_display = [
        "database",
        "instance",
        "period_type",
        "period_start",
        "period_end",
        "avg",
        "range",
        "sample_count",
        "change",
        "trend",
    ]
    list_select_related = ["database", "instance"]
    search_fields = ["database__name", "instance__name"]


@admin.register(InstanceSizeAggregation)
class InstanceSizeAggregationAdmin(AggregationAdmin):
    list_display = [
        "instance",
        "period_type",
        "period_start",
        "period_end",
        "avg",
        "range",
        "sample_count",
        "change",
        "trend",
    ]
    list_select_related = ["instance"]
    search_fields = ["instance__name"]


@admin.register(InstanceCapacity)
class InstanceCapacityAdmin(admin.ModelAdmin):
    list_display = ["instance", "limit"]
    list_select_related = ["instance"]

    @admin.display(description="limit", ordering="capacity_limit_bytes")
    def limit(self, obj: InstanceCapacity) -> str:
        return human_bytes(obj.capacity_limit_bytes)


# --- "Collect sizes now" on the core's instance admin ----------------------------------------------
@admin.action(description="Collect sizes now", permissions=["collect_sizes"])
def collect_sizes_now(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Instance]
) -> None:
    """Queue one capacity collection for the selected instances (it runs in the scheduler)."""
    ids = list(queryset.filter(is_active=True).values_list("pk", flat=True))
    if not ids:
        modeladmin.message_user(request, "No active instance selected.", messages.WARNING)
        return
    user = request.user.get_username()
    reason = refusal(COLLECT_DATABASE_SIZES.path)
    if reason:
        modeladmin.message_user(request, f"Capacity collection not queued: {reason}", messages.ERROR)
        return
    dispatch.submit(
        COLLECT_DATABASE_SIZES.path,
        requested_by=user,
        instance_ids=ids,
        trigger=SyncTrigger.MANUAL_SINGLE if len(ids) == 1 else SyncTrigger.MANUAL,
        created_by=user,
    )
    modeladmin.message_user(
        request, f"Capacity collection queued for {len(ids)} instance(s).", messages.SUCCESS
    )


def has_collect_sizes_permission(modeladmin: admin.ModelAdmin, request: HttpRequest) -> bool:
    return request.user.has_perm("whalefall.manage_syncsession")


extend_instance_admin(actions=(collect_sizes_now,), methods=(has_collect_sizes_permission,))
