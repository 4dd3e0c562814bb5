"""The core's home panels: instances failing now, and first steps while the fleet is empty."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from whalefall.home import Cell, PanelData, register_panel
from whalefall.models import Instance, SyncInstanceRecord
from whalefall.textsafe import safe_text

SHOWN = 10


def ago(moment: object) -> str:
    return f"{timesince(moment, timezone.now()).split(',')[0]} ago" if moment else "never"  # type: ignore[arg-type]


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
    failing = [i for i in instances.order_by("name") if i.last_status == "failed"]  # type: ignore[attr-defined]
    rows = []
    for inst in failing[:SHOWN]:
        error = safe_text(inst.last_error or "")  # type: ignore[attr-defined]
        rows.append(
            [
                Cell(inst.name, reverse("admin:whalefall_instance_change", args=[inst.pk])),
                Cell(f"{inst.last_category} · {inst.last_phase or '?'}"),  # type: ignore[attr-defined]
                Cell(
                    error.split(":")[0] or "failed",
                    reverse("admin:whalefall_syncsession_change", args=[inst.last_session]),  # type: ignore[attr-defined]
                    "wf-badge wf-bad",
                    title=error[:500],
                ),
                Cell(ago(inst.last_at)),  # type: ignore[attr-defined]
            ]
        )
    total = len(failing)
    sessions = reverse("admin:whalefall_syncsession_changelist") + "?status__exact=failed"
    return PanelData(
        headers=["instance", "run · phase", "error", "when"],
        rows=rows,
        empty="Every active instance's last run succeeded.",
        summary=[Cell(f"{total} failing now", sessions, "wf-critical" if total else "")],
        more_url=sessions if total > SHOWN else "",
        more_text=f"all {total} failing instances' sessions",
    )


def first_steps(request: HttpRequest) -> PanelData | None:
    if Instance.objects.exists():
        return None
    steps = [
        (
            "Add the monitoring login (a credential; the password is stored encrypted)",
            "admin:whalefall_credential_add",
        ),
        ("Add an instance and press Test connection", "admin:whalefall_instance_add"),
        (
            "Sync accounts now and Collect sizes now from the instance list",
            "admin:whalefall_instance_changelist",
        ),
        ("Set up an alert channel and rules", "admin:whalefall_alertchannel_add"),
    ]
    return PanelData(
        headers=["step", ""],
        rows=[[Cell(str(i)), Cell(text, reverse(url))] for i, (text, url) in enumerate(steps, 1)],
        summary=[Cell("No instance yet. The scheduler then syncs every active instance on its own.")],
    )


def register_core_panels() -> None:
    register_panel("first-steps", "First steps", 0, "whalefall.view_instance", first_steps)
    register_panel("failing", "Instances failing now", 10, "whalefall.view_syncsession", failing_instances)
