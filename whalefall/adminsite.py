"""The WhaleFall admin site: its name, no "View site" loop, and apps ordered by the work.

A DBA sets up instances first, then reads accounts and capacity, then looks at scheduling, and
at the run records last; Django's alphabetical order put instances last. The core app holds
both ends of that order (instances, and the sync sessions every app writes), so its models are
shown as blocks of their own, placed in the order like apps. Apps not listed keep their order
after ours. The order itself is the project's (settings.WHALEFALL_ADMIN_ORDER), which lists
its installed apps: the core names none of them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

CORE = "whalefall"
# The core app's models by block, each block in the order a newcomer needs them. A core model
# not named here stays in the first block.
CORE_BLOCKS: dict[str, tuple[str | Promise, list[str]]] = {
    "instances": (_("Instances"), ["Instance", "Credential", "Tag"]),
    "alerts": (_("Alerts"), ["AlertRule", "AlertChannel", "AlertDelivery"]),
    "sessions": (_("Sessions"), ["SyncSession", "TaskRequest", "SyncLock"]),
}


class WhaleFallAdminSite(admin.AdminSite):
    site_header = "WhaleFall"
    site_title = "WhaleFall"
    index_title = _("Fleet overview")
    site_url = None  # there is no public site: the admin is the product

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        if app_label is not None:  # one app's own page: its models as Django lists them
            return apps
        blocks = [block for app in apps for block in split_core(app)]
        rank = {key: i for i, key in enumerate(settings.WHALEFALL_ADMIN_ORDER)}
        blocks.sort(key=lambda b: (rank.get(b["block"], len(rank)), str(b["name"])))
        return blocks


def split_core(app: dict[str, Any]) -> list[dict[str, Any]]:
    """The core app as its blocks (each an app entry linking to the core's page), any other app
    as it is; every entry gets `block`, the key settings.WHALEFALL_ADMIN_ORDER ranks it by."""
    if app["app_label"] != CORE:
        return [{**app, "block": app["app_label"]}]
    first = next(iter(CORE_BLOCKS))
    where = {model: key for key, (_name, models) in CORE_BLOCKS.items() for model in models}
    blocks = []
    for key, (name, models) in CORE_BLOCKS.items():
        pos = {model: i for i, model in enumerate(models)}
        mine = [m for m in app["models"] if where.get(m["object_name"], first) == key]
        if mine:
            mine.sort(key=lambda m: (pos.get(m["object_name"], len(pos)), str(m["name"])))
            blocks.append({**app, "name": name, "models": mine, "block": key})
    return blocks


class WhaleFallAdminConfig(AdminConfig):
    """Django's admin app with WhaleFall's site as `admin.site`."""

    default_site = "whalefall.adminsite.WhaleFallAdminSite"
