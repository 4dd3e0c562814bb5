"""Custom capacity admin pages: database history, instance capacity, top growers.

Mounted by `InstanceDatabaseAdmin.get_urls()` through `admin_site.admin_view`; every view checks
the view permission on databases itself.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from capacity.charts import RANGE_PARAM, RANGES, ChartRange, chart_range, size_chart
from capacity.models import DatabaseSizeStat, InstanceCapacity, InstanceDatabase, InstanceSizeStat
from capacity.queries import database_periods, instance_periods, largest_first, with_latest_size
from capacity.services.forecast import database_forecasts, fastest_growing, instance_forecasts
from whalefall.models import Instance

TOP_GROWERS = 25


def range_links(current: ChartRange) -> list[dict[str, Any]]:
    """The range selector: one link per range, the shown one marked."""
    return [{"label": r.label, "query": f"?{RANGE_PARAM}={r.key}", "active": r == current} for r in RANGES]


def series(rows: QuerySet[Any], since: date | None) -> list[tuple[date, int]]:
    """(day, bytes) of a size table's rows from `since` (all of them without), oldest first."""
    if since is not None:
        rows = rows.filter(collected_date__gte=since)
    return list(rows.order_by("collected_date").values_list("collected_date", "size_bytes"))


class CapacityViews:
    """Mixed into InstanceDatabaseAdmin; `self` is the ModelAdmin."""

    admin_site: admin.AdminSite

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        opts = InstanceDatabase._meta
        return {**self.admin_site.each_context(request), "title": title, "opts": opts, **extra}

    def history_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._context(request, "")  # permission first, then the lookup
        db = get_object_or_404(InstanceDatabase.objects.select_related("instance"), pk=pk)
        shown = chart_range(request.GET.get(RANGE_PARAM))
        points = series(DatabaseSizeStat.objects.filter(database=db), shown.since(timezone.localdate()))
        forecast = database_forecasts({db.pk: db.capacity_limit_bytes})[db.pk]
        context = self._context(
            request,
            _("%(database)s: size history") % {"database": db},
            database=db,
            chart=size_chart(
                points,
                title=_("Size of %(database)s") % {"database": db},
                forecast=forecast if db.is_active else None,
                limit=db.capacity_limit_bytes,
            ),
            ranges=range_links(shown),
            forecast=forecast,
            periods=database_periods(db.pk),
        )
        return TemplateResponse(request, "admin/capacity/database_history.html", context)

    def instance_view(self, request: HttpRequest, instance_id: int) -> HttpResponse:
        self._context(request, "")
        instance = get_object_or_404(Instance, pk=instance_id)
        limit = (
            InstanceCapacity.objects.filter(instance=instance)
            .values_list("capacity_limit_bytes", flat=True)
            .first()
        )
        shown = chart_range(request.GET.get(RANGE_PARAM))
        points = series(InstanceSizeStat.objects.filter(instance=instance), shown.since(timezone.localdate()))
        databases = list(
            with_latest_size(InstanceDatabase.objects.filter(instance=instance)).order_by(
                "-is_active", *largest_first()
            )
        )
        for db in databases:
            db.instance = instance  # the page's own instance: no query per row for the name
        forecasts = database_forecasts({d.pk: d.capacity_limit_bytes for d in databases})
        forecast = instance_forecasts({instance.pk: limit})[instance.pk]
        context = self._context(
            request,
            _("%(instance)s: capacity") % {"instance": instance.name},
            instance=instance,
            chart=size_chart(
                points,
                title=_("Total size of %(instance)s") % {"instance": instance.name},
                forecast=forecast,
                limit=limit,
            ),
            ranges=range_links(shown),
            forecast=forecast,
            rows=[(d, forecasts[d.pk]) for d in databases],
            periods=instance_periods(instance.pk),
        )
        return TemplateResponse(request, "admin/capacity/instance_capacity.html", context)

    def top_growers_view(self, request: HttpRequest) -> HttpResponse:
        self._context(request, "")
        # Picked by the database's own fit (a few spare for its rounding), then forecast here.
        ids = fastest_growing(InstanceDatabase.objects.active(), TOP_GROWERS + 10)
        databases = InstanceDatabase.objects.select_related("instance").in_bulk(ids)
        forecasts = database_forecasts({pk: d.capacity_limit_bytes for pk, d in databases.items()})
        ranked = sorted(forecasts.items(), key=lambda item: item[1].growth_per_day, reverse=True)
        rows = [(databases[pk], f) for pk, f in ranked if f.growth_per_day > 0][:TOP_GROWERS]
        context = self._context(request, _("Top growing databases"), rows=rows)
        return TemplateResponse(request, "admin/capacity/top_growers.html", context)
