"""Home panel of the accounts app: risky account changes of the last 24 hours and 7 days."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Case, IntegerField, Value, When
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts_sync.models import AccountChange
from accounts_sync.risk import CRITICAL, risky
from whalefall.home import Cell, PanelData, register_panel
from whalefall.panels import ago

SHOWN = 10
BADGE = {"critical": "wf-badge wf-bad", "high": "wf-badge wf-warn", "normal": "wf-badge wf-muted"}


def risky_list_url(period: str) -> str:
    """The change list filtered to risky changes of a period (`24h`, `7d`)."""
    return reverse("admin:accounts_sync_accountchange_changelist") + f"?risk=risky&when={period}"


def risky_changes(request: HttpRequest) -> PanelData:
    """Three queries: the two counts and the latest risky changes of the day, critical first."""
    now = timezone.now()
    day, week = now - timedelta(days=1), now - timedelta(days=7)
    changes = AccountChange.objects.filter(risky())
    in_day = changes.filter(created_at__gte=day).count()
    in_week = changes.filter(created_at__gte=week).count()
    critical_first = Case(
        When(severity=CRITICAL, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    latest = (
        changes.filter(created_at__gte=day)
        .select_related("account", "instance")
        .order_by(critical_first, "-created_at", "-id")[:SHOWN]
    )
    rows = [
        [
            Cell(
                c.get_severity_display(),
                reverse("admin:accounts_sync_accountchange_change", args=[c.pk]),
                BADGE[c.severity],
            ),
            Cell(
                f"{c.instance.name} / {c.account.identity}" if c.account is not None else c.instance.name,
                reverse("admin:accounts_sync_account_change", args=[c.account_id]) if c.account_id else "",
            ),
            Cell(c.summary or c.get_change_type_display(), title=c.summary),
            Cell(ago(c.created_at)),
        ]
        for c in latest
    ]
    return PanelData(
        headers=[_("severity"), _("account"), _("change"), _("when")],
        rows=rows,
        empty=_("No risky account change in the last 24 hours."),
        summary=[
            Cell(
                _("%(count)d in 24 h") % {"count": in_day},
                risky_list_url("24h"),
                "wf-critical" if in_day else "",
            ),
            Cell(_("%(count)d in 7 days") % {"count": in_week}, risky_list_url("7d")),
        ],
    )


def register_panels() -> None:
    register_panel(
        "risky-changes",
        gettext_lazy("Risky account changes"),
        20,
        "accounts_sync.view_accountchange",
        risky_changes,
    )
