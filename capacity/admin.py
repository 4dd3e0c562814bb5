"""Capacity admin: databases with latest size and growth, read-only size history and period
tables, limits, the custom chart pages and the "Collect sizes now" action on instances."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from capacity.admin_views import CapacityViews
from capacity.charts import human_bytes
from capacity.forms import LimitForm
from capacity.models import (
    DatabaseSizeAggregation,
    DatabaseSizeStat,
    InstanceCapacity,
    InstanceDatabase,
    InstanceSizeAggregation,
    InstanceSizeStat,
)
from capacity.queries import GROWTH_DAYS, largest_first, with_latest_size, with_previous_sample
from capacity.tasks import COLLECT_DATABASE_SIZES
from capacity.templatetags.capacity_tags import (
    earlier_period_note,
    period_change,
    period_label,
    signed_bytes,
    size_range,
)
from whalefall import dispatch
from whalefall.admin.instances import extend_instance_admin
from whalefall.choices import SyncTrigger
from whalefall.models import Instance
from whalefall.sync.admission import refusal


class CapacityMedia:
    """The capacity lists' and pages' stylesheet."""

    css = {"all": ["capacity/capacity.css"]}


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is written by the sync only."""

    Media = CapacityMedia

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class InstanceFilter(admin.SimpleListFilter):
    """The instance filter, usable with any fleet: every instance while there are a few dozen,
    otherwise only the selected one (rows link to their instance; the search box finds others).
    Django's related-field filter would list every instance, thousands of links per page."""

    title = _("instance")
    parameter_name = "instance__id__exact"
    MAX_LISTED = 50

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        listed = list(Instance.objects.order_by("name").values_list("pk", "name")[: self.MAX_LISTED + 1])
        if len(listed) > self.MAX_LISTED:
            chosen = self.value()
            listed = list(Instance.objects.filter(pk=chosen).values_list("pk", "name")) if chosen else []
        return [(str(pk), name) for pk, name in listed]

    def value(self) -> str | None:
        value = super().value()
        return value if value and value.isdigit() else None

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(instance_id=self.value()) if self.value() else queryset


class LargestFirstChangeList(ChangeList):
    """The database list sorted by size by default, and its "latest size" header marked so (the
    admin's `ordering` attribute cannot name an annotation)."""

    def _get_default_ordering(self) -> list[Any]:
        return largest_first()


growth_title = lazy(lambda: gettext("growth (%(days)s d)") % {"days": GROWTH_DAYS}, str)


def limit_text(value: int | None) -> str:
    return human_bytes(value) if value is not None else "-"


@admin.register(InstanceDatabase)
class InstanceDatabaseAdmin(CapacityViews, admin.ModelAdmin):  # type: ignore[misc]  # its own history page
    form = LimitForm
    list_display = ["database", "latest", "growth", "latest_date", "limit", "active"]
    list_display_links = None  # the name links to its chart and instance, the limit to the form
    list_filter = ["is_active", "instance__db_type", InstanceFilter]
    search_fields = ["name", "instance__name"]
    list_select_related = ["instance"]
    readonly_fields = ["instance", "name", "is_active", "first_seen_at", "last_seen_at", "deactivated_at"]
    fields = [*readonly_fields, "capacity_limit_bytes"]
    change_list_template = "admin/capacity/instancedatabase/change_list.html"
    Media = CapacityMedia

    def get_queryset(self, request: HttpRequest) -> QuerySet[InstanceDatabase]:
        return with_latest_size(super().get_queryset(request).select_related("instance"))

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        return largest_first()

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return LargestFirstChangeList

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

    @admin.display(description=_("database"), ordering="name")
    def database(self, obj: InstanceDatabase) -> str:
        """'instance / database': the instance part opens its capacity page, the rest the chart."""
        return format_html(
            '<a href="{}">{}</a> / <a href="{}" title="{}">{}</a>',
            reverse("admin:capacity_instance_capacity", args=[obj.instance_id]),
            obj.instance.name,
            reverse("admin:capacity_instancedatabase_history", args=[obj.pk]),
            _("size history"),
            obj.name,
        )

    @admin.display(description=_("latest size"), ordering="latest_size")
    def latest(self, obj: InstanceDatabase) -> str:
        return human_bytes(obj.latest_size)  # type: ignore[attr-defined]

    @admin.display(description=growth_title(), ordering="growth_bytes")
    def growth(self, obj: InstanceDatabase) -> str:
        return signed_bytes(obj.growth_bytes)  # type: ignore[attr-defined]

    @admin.display(description=_("as of"), ordering="latest_date")
    def latest_date(self, obj: InstanceDatabase) -> object:
        return obj.latest_date or "-"  # type: ignore[attr-defined]

    @admin.display(description=_("active"), boolean=True, ordering="is_active")
    def active(self, obj: InstanceDatabase) -> bool:
        return obj.is_active

    @admin.display(description=_("limit"), ordering="capacity_limit_bytes")
    def limit(self, obj: InstanceDatabase) -> str:
        url = reverse("admin:capacity_instancedatabase_change", args=[obj.pk])
        text = limit_text(obj.capacity_limit_bytes) if obj.capacity_limit_bytes is not None else _("no limit")
        return format_html('<a href="{}">{}</a>', url, text)


@admin.register(DatabaseSizeStat)
class DatabaseSizeStatAdmin(ReadOnlyAdmin):
    list_display = ["database", "collected_date", "size", "data", "log", "allocated"]
    list_filter = ["collected_date", InstanceFilter]
    search_fields = ["database__name", "database__instance__name"]
    list_select_related = ["database__instance"]
    date_hierarchy = "collected_date"
    ordering = ["-collected_date", "-size_bytes"]  # the latest day first, its largest database first

    def get_queryset(self, request: HttpRequest) -> QuerySet[DatabaseSizeStat]:
        return super().get_queryset(request).select_related("database__instance")

    @admin.display(description=_("size"), ordering="size_bytes")
    def size(self, obj: DatabaseSizeStat) -> str:
        return human_bytes(obj.size_bytes)

    @admin.display(description=_("data"), ordering="data_bytes")
    def data(self, obj: DatabaseSizeStat) -> str:
        return human_bytes(obj.data_bytes)

    @admin.display(description=_("log"), ordering="log_bytes")
    def log(self, obj: DatabaseSizeStat) -> str:
        return human_bytes(obj.log_bytes)

    @admin.display(description=_("allocated"), ordering="allocated_bytes")
    def allocated(self, obj: DatabaseSizeStat) -> str:
        return human_bytes(obj.allocated_bytes)


@admin.register(InstanceSizeStat)
class InstanceSizeStatAdmin(ReadOnlyAdmin):
    list_display = ["instance", "collected_date", "size", "database_count", "data", "log"]
    list_filter = [InstanceFilter]
    search_fields = ["instance__name"]
    list_select_related = ["instance"]
    date_hierarchy = "collected_date"
    ordering = ["-collected_date", "-size_bytes"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[InstanceSizeStat]:
        return super().get_queryset(request).select_related("instance")

    @admin.display(description=_("size"), ordering="size_bytes")
    def size(self, obj: InstanceSizeStat) -> str:
        return human_bytes(obj.size_bytes)

    @admin.display(description=_("data"), ordering="data_bytes")
    def data(self, obj: InstanceSizeStat) -> str:
        return human_bytes(obj.data_bytes)

    @admin.display(description=_("log"), ordering="log_bytes")
    def log(self, obj: InstanceSizeStat) -> str:
        return human_bytes(obj.log_bytes)


class AggregationAdmin(ReadOnlyAdmin):
    """Period tables: average, extremes, change against the previous period and the trend."""

    list_filter = ["period_type", "trend", InstanceFilter, "period_start"]
    date_hierarchy = "period_start"
    ordering = ["-period_start", "-avg_size_bytes"]
    related = ("instance",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return with_previous_sample(super().get_queryset(request).select_related(*self.related))

    @admin.display(description=_("period"), ordering="period_start")
    def period(self, obj: DatabaseSizeAggregation) -> str:
        return period_label(obj)

    @admin.display(description=_("average"), ordering="avg_size_bytes")
    def avg(self, obj: DatabaseSizeAggregation) -> str:
        samples = ngettext("%(count)s sample", "%(count)s samples", obj.sample_count) % {
            "count": obj.sample_count
        }
        return format_html('<span title="{}">{}</span>', samples, human_bytes(obj.avg_size_bytes))

    @admin.display(description=_("min – max"))  # noqa: RUF001 - the typographic range dash
    def range(self, obj: DatabaseSizeAggregation) -> str:
        return format_html('<span style="white-space:nowrap">{}</span>', size_range(obj))

    @admin.display(description=_("change"), ordering="change_bytes")
    def change(self, obj: DatabaseSizeAggregation) -> str:
        return period_change(obj)

    @admin.display(description=_("trend"), ordering="trend")
    def trend_label(self, obj: DatabaseSizeAggregation) -> str:
        return "-" if earlier_period_note(obj) else obj.get_trend_display()


@admin.register(DatabaseSizeAggregation)
class DatabaseSizeAggregationAdmin(AggregationAdmin):
    list_display = ["database", "period", "avg", "range", "change", "trend_label"]
    list_select_related = ["database__instance"]
    related = ("database__instance",)
    search_fields = ["database__name", "instance__name"]


@admin.register(InstanceSizeAggregation)
class InstanceSizeAggregationAdmin(AggregationAdmin):
    list_display = ["instance", "period", "avg", "range", "change", "trend_label"]
    list_select_related = ["instance"]
    search_fields = ["instance__name"]


@admin.register(InstanceCapacity)
class InstanceCapacityAdmin(admin.ModelAdmin):
    form = LimitForm
    list_display = ["instance", "limit", "capacity_link"]
    list_select_related = ["instance"]
    search_fields = ["instance__name"]
    fields = ["instance", "capacity_limit_bytes"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[InstanceCapacity]:
        return super().get_queryset(request).select_related("instance")

    @admin.display(description=_("limit"), ordering="capacity_limit_bytes")
    def limit(self, obj: InstanceCapacity) -> str:
        return limit_text(obj.capacity_limit_bytes)

    @admin.display(description=_("capacity"))
    def capacity_link(self, obj: InstanceCapacity) -> str:
        url = reverse("admin:capacity_instance_capacity", args=[obj.instance_id])
        return format_html('<a href="{}">{}</a>', url, _("chart"))


# --- "Collect sizes now" on the core's instance admin ----------------------------------------------
@admin.action(description=_("Collect sizes now"), permissions=["collect_sizes"])
def collect_sizes_now(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Instance]
) -> None:
    """Queue one capacity collection for the selected instances (it runs in the scheduler)."""
    ids = list(queryset.filter(is_active=True).values_list("pk", flat=True))
    if not ids:
        modeladmin.message_user(request, gettext("No active instance selected."), messages.WARNING)
        return
    user = request.user.get_username()
    reason = refusal(COLLECT_DATABASE_SIZES.path)
    if reason:
        modeladmin.message_user(
            request,
            gettext("Capacity collection not queued: %(reason)s") % {"reason": reason},
            messages.ERROR,
        )
        return
    dispatch.submit(
        COLLECT_DATABASE_SIZES.path,
        requested_by=user,
        instance_ids=ids,
        trigger=SyncTrigger.MANUAL_SINGLE if len(ids) == 1 else SyncTrigger.MANUAL,
        created_by=user,
    )
    modeladmin.message_user(
        request,
        ngettext(
            "Capacity collection queued for %(count)d instance.",
            "Capacity collection queued for %(count)d instances.",
            len(ids),
        )
        % {"count": len(ids)},
        messages.SUCCESS,
    )


def has_collect_sizes_permission(modeladmin: admin.ModelAdmin, request: HttpRequest) -> bool:
    return request.user.has_perm("whalefall.manage_syncsession")


extend_instance_admin(
    actions=(collect_sizes_now,),
    methods=(has_collect_sizes_permission,),
    row_buttons={"collect": (collect_sizes_now, _("Collect"))},
)
