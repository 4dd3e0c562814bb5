"""The admin home as a fleet overview: panels registered by the apps that own their data.

Each panel answers one "what needs me now" question (instances failing, risky account changes,
disks filling, scheduled tasks' last outcome) with a small fixed number of queries, whatever the
size of the fleet, and links every figure to the filtered list behind it. The core renders the
panels it is given; it does not know the apps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Cell:
    text: str
    url: str = ""
    css: str = ""  # a wf-status-* class for badges
    title: str = ""  # hover text (e.g. a full error message)


NOTHING_TO_DO = _("Nothing needs you here.")


@dataclass
class PanelData:
    headers: list[str]
    rows: list[list[Cell]]
    empty: str | Promise = NOTHING_TO_DO
    more_url: str = ""
    more_text: str = ""
    summary: list[Cell] = field(default_factory=list)  # figures above the table


@dataclass(frozen=True)
class Panel:
    key: str
    title: str | Promise  # lazy: registered at start-up, shown in each user's language
    order: int
    permission: str
    build: Callable[[HttpRequest], PanelData | None]


PANELS: dict[str, Panel] = {}


def register_panel(
    key: str,
    title: str | Promise,
    order: int,
    permission: str,
    build: Callable[[HttpRequest], PanelData | None],
) -> None:
    PANELS[key] = Panel(key, title, order, permission, build)


def visible_panels(request: HttpRequest) -> list[tuple[Panel, PanelData]]:
    out = []
    for panel in sorted(PANELS.values(), key=lambda p: p.order):
        if request.user.has_perm(panel.permission):
            data = panel.build(request)
            if data is not None:
                out.append((panel, data))
    return out
