"""Home panel of the accounts app: risky account changes of the last 24 hours and 7 days."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts_sync.models import AccountChange
from accounts_sync.risk import risky, severity
from whalefall.home import Cell, PanelData, register_panel
from whalefall.panels import ago

SHOWN = 10
BADGE = {"critical": "wf-badge wf-bad", "high": "wf-badge wf-warn", "normal": "wf-badge wf-muted"}
SEVERITY_LABELS = {"critical": _("critical"), "high": _("high"), "normal": _("normal")}


def risky_changes(request: HttpRequest) -> PanelData:
    """Three queries: the two counts and the latest risky changes of the day."""
    now = timezone.now()
    day, week = now - timedelta(days=1), now - timedelta(days=7)
    changes = AccountChange.objects.filter(risky())
    in_day = changes.filter(created_at__gte=day).count()
    in_week = changes.filter(created_at__gte=week).count()
    critical_first = changes.filter(created_at__gte=day).select_related("account", "instance")
    latest = sorted(
        critical_first.order_by("-created_at", "-id")[:50], key=lambda c: (severity(c) != "critical", -c.pk)
    )[:SHOWN]
    base = reverse("admin:accounts_sync_accountchange_changelist") + "?risk=risky"
    since = lambda t: f"&created_at__gte={t:%Y-%m-%d %H:%M:%S}"  # noqa: E731
    rows = [
        [
            Cell(
                str(SEVERITY_LABELS.get(severity(c), severity(c))),
                reverse("admin:accounts_sync_accountchange_change", args=[c.pk]),
                BADGE[severity(c)],
            ),
            Cell(
                f"{c.instance.name} / {c.account.identity}",
                reverse("admin:accounts_sync_account_change", args=[c.account_id]),
            ),
            Cell(c.summary or c.get_change_type_display(), title=c.summary),
            Cell(ago(c.created_at)),
        ]
        for c in latest
    ]
    return PanelData(
        headers=[gettext("severity"), gettext("account"), gettext("change"), gettext("when")],
        rows=rows,
        empty=gettext("No risky account change in the last 24 hours."),
        summary=[
            Cell(
                gettext("%(count)d in 24 h") % {"count": in_day},
                base + since(timezone.localtime(day)),
                "wf-critical" if in_day else "",
            ),
            Cell(gettext("%(count)d in 7 days") % {"count": in_week}, base + since(timezone.localtime(week))),
        ],
    )


def register_panels() -> None:
    register_panel(
        "risky-changes", _("Risky account changes"), 20, "accounts_sync.view_accountchange", risky_changes
    )
