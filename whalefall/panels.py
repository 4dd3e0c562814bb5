"""The core's home panels: instances failing now, and first steps while the fleet is empty."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from whalefall.home import Cell, PanelData, register_panel
from whalefall.instance_health import RUN_TITLES, attach_health, badges, with_health_rank
from whalefall.models import Instance

SHOWN = 10
# The instance board's filters that list what this panel counts (see HealthFilter).
FAILING_FILTER = {"health": "failing", "is_active__exact": "1"}
EPOCH = datetime.min.replace(tzinfo=UTC)


def ago(moment: object) -> str:
    """'3 hours ago' in the active language: the largest unit only, enough for a glance."""
    if not moment:
        return gettext("never")
    return gettext("%(time)s ago") % {"time": timesince(moment, timezone.now(), depth=1)}  # type: ignore[arg-type]


def failing_instances(request: HttpRequest) -> PanelData | None:
    """Active instances failing now, as the instance board defines it (`with_health_rank`: the
    last connection check failed, or the latest account sync or capacity collection failed or was
    interrupted), whether or not the rest of that run's session succeeded. Three queries whatever
    the fleet: the counts, the first page (ordered and cut in the database) and its details."""
    counts = with_health_rank(Instance.objects.all()).aggregate(
        instances=Count("pk"), failing=Count("pk", filter=Q(is_active=True, health_rank=0))
    )
    if not counts["instances"]:
        return None  # the first-steps panel speaks instead
    total = counts["failing"]
    shown = list(failing_now(Instance.objects.all()).order_by("name", "pk")[:SHOWN])
    attach_health(shown)
    can_see_sessions = request.user.has_perm("whalefall.view_syncsession")
    rows = []
    for inst in shown:
        failed = [(RUN_TITLES[key], badge) for key, badge in badges(inst).items() if badge.state == "failed"]
        newest = max((badge for _title, badge in failed), key=lambda b: b.at or EPOCH, default=None)
        rows.append(
            [
                Cell(inst.name, reverse("admin:whalefall_instance_change", args=[inst.pk])),
                Cell(", ".join(str(title) for title, _badge in failed)),
                Cell(
                    newest.kind if newest and newest.kind else gettext("failed"),
                    newest.url if newest and can_see_sessions else "",
                    "wf-badge wf-bad",
                    title=newest.hover()[:500] if newest else "",
                ),
                Cell(newest.age() if newest and newest.at else ""),
            ]
        )
    board = reverse("admin:whalefall_instance_changelist") + "?" + urlencode(FAILING_FILTER)
    return PanelData(
        headers=[gettext("instance"), gettext("what failed"), gettext("error"), gettext("when")],
        rows=rows,
        empty=gettext("No active instance is failing."),
        summary=[
            Cell(
                gettext("%(count)d failing now") % {"count": total},
                board,
                "wf-critical" if total else "",
            )
        ],
        more_url=board if total > SHOWN else "",
        more_text=ngettext(
            "the %(count)d failing instance on the instance list",
            "all %(count)d failing instances on the instance list",
            total,
        )
        % {"count": total},
    )


def failing_now(instances: QuerySet[Instance]) -> QuerySet[Instance]:
    """The active ones among `instances` that the instance board's health filter calls failing."""
    return with_health_rank(instances.filter(is_active=True)).filter(health_rank=0)  # type: ignore[misc]  # an alias


def first_steps(request: HttpRequest) -> PanelData | None:
    if Instance.objects.exists():
        return None
    steps = [
        (
            gettext("Add the monitoring login (a credential; the password is stored encrypted)"),
            "admin:whalefall_credential_add",
        ),
        (gettext("Add an instance and press Test connection"), "admin:whalefall_instance_add"),
        (
            gettext("Sync accounts now and Collect sizes now from the instance list"),
            "admin:whalefall_instance_changelist",
        ),
        (gettext("Set up an alert channel and rules"), "admin:whalefall_alertchannel_add"),
    ]
    return PanelData(
        headers=[gettext("step"), ""],
        rows=[[Cell(str(i)), Cell(text, reverse(url))] for i, (text, url) in enumerate(steps, 1)],
        summary=[
            Cell(gettext("No instance yet. The scheduler then syncs every active instance on its own."))
        ],
    )


def register_core_panels() -> None:
    register_panel("first-steps", _("First steps"), 0, "whalefall.view_instance", first_steps)
    register_panel("failing", _("Instances failing now"), 10, "whalefall.view_instance", failing_instances)
