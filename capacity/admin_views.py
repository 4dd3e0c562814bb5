"""Custom capacity admin pages: database history, instance capacity, top growers.

Mounted by `InstanceDatabaseAdmin.get_urls()` through `admin_site.admin_view`; every view checks
the view permission on databases itself.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils import timezone

from capacity.charts import line_chart
from capacity.models import DatabaseSizeStat, InstanceCapacity, InstanceDatabase, InstanceSizeStat
from capacity.queries import database_periods, instance_periods, with_latest_size
from capacity.services.forecast import database_forecasts, instance_forecasts
from whalefall.models import Instance

HISTORY_DAYS = 365
TOP_GROWERS = 25


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
        since = timezone.localdate() - timedelta(days=HISTORY_DAYS)
        points = list(
            DatabaseSizeStat.objects.filter(database=db, collected_date__gte=since)
            .order_by("collected_date")
            .values_list("collected_date", "size_bytes")
        )
        context = self._context(
            request,
            f"{db.instance.name} / {db.name}: size history",
            database=db,
            chart=line_chart(points, title=f"{db.name} size"),
            forecast=database_forecasts({db.pk: db.capacity_limit_bytes})[db.pk],
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
        since = timezone.localdate() - timedelta(days=HISTORY_DAYS)
        points = list(
            InstanceSizeStat.objects.filter(instance=instance, collected_date__gte=since)
            .order_by("collected_date")
            .values_list("collected_date", "size_bytes")
        )
        databases = list(
            with_latest_size(InstanceDatabase.objects.filter(instance=instance)).order_by(
                "-is_active", "name"
            )
        )
        forecasts = database_forecasts({d.pk: d.capacity_limit_bytes for d in databases})
        context = self._context(
            request,
            f"{instance.name}: capacity",
            instance=instance,
            chart=line_chart(points, title=f"{instance.name} total size"),
            forecast=instance_forecasts({instance.pk: limit})[instance.pk],
            rows=[(d, forecasts[d.pk]) for d in databases],
            periods=instance_periods(instance.pk),
        )
        return TemplateResponse(request, "admin/capacity/instance_capacity.html", context)

    def top_growers_view(self, request: HttpRequest) -> HttpResponse:
        self._context(request, "")
        databases = {d.pk: d for d in InstanceDatabase.objects.active().select_related("instance")}
        forecasts = database_forecasts({pk: d.capacity_limit_bytes for pk, d in databases.items()})
        ranked = sorted(forecasts.items(), key=lambda item: item[1].growth_per_day, reverse=True)
        rows = [(databases[pk], f) for pk, f in ranked if f.growth_per_day > 0][:TOP_GROWERS]
        context = self._context(request, "Top growing databases", rows=rows)
        return TemplateResponse(request, "admin/capacity/top_growers.html", context)
