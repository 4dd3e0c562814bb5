"""The WhaleFall admin site: its name, no "View site" loop, and apps ordered by the work.

A DBA sets up instances first, then reads accounts and capacity, then looks at scheduling and
run records; Django's alphabetical order put instances last. Apps not listed keep their order
after ours.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

APP_ORDER = ["whalefall", "accounts_sync", "capacity", "scheduling", "django_apscheduler", "auth"]
# Within the core app: what a newcomer needs first.
MODEL_ORDER = {
    "whalefall": ["Instance", "Credential", "SyncSession", "AlertRule", "AlertChannel", "AlertDelivery"],
}


class WhaleFallAdminSite(admin.AdminSite):
    site_header = "WhaleFall"
    site_title = "WhaleFall"
    index_title = _("Fleet overview")
    site_url = None  # there is no public site: the admin is the product

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        rank = {label: i for i, label in enumerate(APP_ORDER)}
        apps.sort(key=lambda a: (rank.get(a["app_label"], len(rank)), str(a["name"])))
        for app in apps:
            order = MODEL_ORDER.get(app["app_label"])
            if order:
                pos = {name: i for i, name in enumerate(order)}
                app["models"].sort(key=lambda m: (pos.get(m["object_name"], len(pos)), str(m["name"])))
        return apps


class WhaleFallAdminConfig(AdminConfig):
    """Django's admin app with WhaleFall's site as `admin.site`."""

    default_site = "whalefall.adminsite.WhaleFallAdminSite"
