"""Home panel of the capacity app: the nearest "full in N days" and the fastest growers."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from capacity.charts import human_bytes
from capacity.models import InstanceDatabase
from capacity.services.forecast import database_forecasts, fastest_growing, nearest_full
from capacity.templatetags.capacity_tags import signed_bytes
from whalefall.home import Cell, PanelData, register_panel

SHOWN = 5
# Picks taken from the database's own fit, forecast again in Python: enough spare for its
# rounding to reorder a few near ties.
CANDIDATES = 2 * SHOWN
# "Full in N days" further than this is not news: such a database is listed as growing, if at all.
HORIZON_DAYS = 365


def filling_up(request: HttpRequest) -> PanelData | None:
    """Five queries whatever the fleet: whether any database is active, the databases nearest
    their limit and the fastest growers (fitted, ordered and cut in the database), then the
    forecasts and names of those few."""
    active = InstanceDatabase.objects.active()
    if not active.exists():
        return None
    nearest_ids = nearest_full(active, CANDIDATES)
    growing_ids = fastest_growing(active, CANDIDATES)
    databases = InstanceDatabase.objects.select_related("instance").in_bulk({*nearest_ids, *growing_ids})
    forecasts = database_forecasts({pk: d.capacity_limit_bytes for pk, d in databases.items()})
    limited = [
        (pk, forecasts[pk])
        for pk in nearest_ids
        if pk in forecasts
        and isinstance(forecasts[pk].days_until_full, int)
        and forecasts[pk].days_until_full <= HORIZON_DAYS  # type: ignore[operator]
    ]
    nearest = sorted(limited, key=lambda item: item[1].days_until_full)[:SHOWN]  # type: ignore[arg-type, return-value]
    growing = sorted(
        ((pk, forecasts[pk]) for pk in growing_ids if pk in forecasts and forecasts[pk].growth_per_day > 0),
        key=lambda i: -i[1].growth_per_day,
    )[:SHOWN]
    rows = []
    for pk, f in nearest:
        days = f.days_until_full
        css = "wf-badge wf-bad" if isinstance(days, int) and days <= 30 else "wf-badge wf-warn"
        outlook = ngettext("full in %(days)d day", "full in %(days)d days", days) % {"days": days}  # type: ignore[arg-type]
        rows.append(_row(databases[pk], outlook, css, f.current_bytes, f.growth_per_day))
    for pk, f in growing:
        if pk not in dict(nearest):
            rows.append(
                _row(
                    databases[pk], gettext("growing"), "wf-badge wf-muted", f.current_bytes, f.growth_per_day
                )
            )
    return PanelData(
        headers=[gettext("database"), gettext("outlook"), gettext("size"), gettext("growth/day")],
        rows=rows,
        empty=gettext("No database is growing."),
        more_url=reverse("admin:capacity_top_growers"),
        more_text=gettext("top growers"),
    )


def _row(db: InstanceDatabase, outlook: str, css: str, size: int | None, growth: float) -> list[Cell]:
    """The database and its outlook both open the database's size history and forecast."""
    history = reverse("admin:capacity_instancedatabase_history", args=[db.pk])
    return [
        Cell(f"{db.instance.name} / {db.name}", history),
        Cell(outlook, history, css=css),
        Cell(human_bytes(size)),
        Cell(signed_bytes(growth)),
    ]


def register_panels() -> None:
    register_panel("capacity", _("Disks filling up"), 30, "capacity.view_instancedatabase", filling_up)
