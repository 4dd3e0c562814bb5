"""The core's home panels: instances failing now, and first steps while the fleet is empty."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from whalefall.choices import SyncCategory, SyncPhase
from whalefall.home import Cell, PanelData, register_panel
from whalefall.models import Instance, SyncInstanceRecord
from whalefall.textsafe import safe_text

SHOWN = 10


def ago(moment: object) -> str:
    """'3 hours ago' in the active language: the largest unit only, enough for a glance."""
    if not moment:
        return gettext("never")
    return gettext("%(time)s ago") % {"time": timesince(moment, timezone.now(), depth=1)}  # type: ignore[arg-type]


def failing_instances(request: HttpRequest) -> PanelData | None:
    """Active instances whose latest finished run (any kind) failed; two queries."""
    if not Instance.objects.exists():
        return None  # the first-steps panel speaks instead
    latest = SyncInstanceRecord.objects.filter(instance=OuterRef("pk"), finished_at__isnull=False).order_by(
        "-finished_at", "-id"
    )
    instances = Instance.objects.filter(is_active=True).annotate(
        last_status=Subquery(latest.values("status")[:1]),
        last_phase=Subquery(latest.values("failed_phase")[:1]),
        last_error=Subquery(latest.values("error_message")[:1]),
        last_at=Subquery(latest.values("finished_at")[:1]),
        last_session=Subquery(latest.values("session_id")[:1]),
        last_category=Subquery(latest.values("session__category")[:1]),
    )
    failing = [i for i in instances.order_by("name") if i.last_status == "failed"]
    rows = []
    for inst in failing[:SHOWN]:
        error = safe_text(inst.last_error or "")
        rows.append(
            [
                Cell(inst.name, reverse("admin:whalefall_instance_change", args=[inst.pk])),
                Cell(f"{_label(SyncCategory, inst.last_category)} · {_label(SyncPhase, inst.last_phase)}"),
                Cell(
                    error.split(":")[0] or gettext("failed"),
                    reverse("admin:whalefall_syncsession_change", args=[inst.last_session]),
                    "wf-badge wf-bad",
                    title=error[:500],
                ),
                Cell(ago(inst.last_at)),
            ]
        )
    total = len(failing)
    sessions = reverse("admin:whalefall_syncsession_changelist") + "?status__exact=failed"
    return PanelData(
        headers=[gettext("instance"), gettext("run · phase"), gettext("error"), gettext("when")],
        rows=rows,
        empty=gettext("Every active instance's last run succeeded."),
        summary=[
            Cell(
                gettext("%(count)d failing now") % {"count": total},
                sessions,
                "wf-critical" if total else "",
            )
        ],
        more_url=sessions if total > SHOWN else "",
        more_text=ngettext(
            "the sessions of the %(count)d failing instance",
            "the sessions of all %(count)d failing instances",
            total,
        )
        % {"count": total},
    )


def _label(choices: type[SyncCategory] | type[SyncPhase], value: str | None) -> str:
    """A stored choice as its label in the active language ('?' when unknown or empty)."""
    try:
        return str(choices(value or "").label)
    except ValueError:
        return value or "?"


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
    register_panel("failing", _("Instances failing now"), 10, "whalefall.view_syncsession", failing_instances)
