"""The core's rule kinds: sync sessions that failed, instances unreachable run after run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from whalefall.alerts.kinds import Event, register
from whalefall.choices import RecordStatus, SessionStatus, SyncPhase
from whalefall.instance_health import error_kind
from whalefall.models import AlertRule, Instance, SyncInstanceRecord, SyncSession
from whalefall.textsafe import safe_text

# A session cut off when its process died is news too: its instances were not all synced.
FAILED = (SessionStatus.FAILED, SessionStatus.PARTIAL, SessionStatus.INTERRUPTED)
# Records of an instance that tell nothing about whether the server answers.
NO_NEWS = (RecordStatus.CANCELLED, RecordStatus.INTERRUPTED, RecordStatus.PENDING, RecordStatus.RUNNING)
# How a session ended, as the word after its kind: "Account sync failed", "Capacity collection partial".
STATUS_WORDS: dict[str, Any] = {
    SessionStatus.FAILED: _("failed"),
    SessionStatus.PARTIAL: _("partial"),
    SessionStatus.INTERRUPTED: _("interrupted"),
}


def failed_sessions(rule: AlertRule, since: datetime, now: datetime) -> list[Event]:
    """One event per session that ended failed or partial or was interrupted, listing the failing
    instances and those the dead process left unfinished."""
    sessions = SyncSession.objects.filter(status__in=FAILED, finished_at__gt=since, finished_at__lte=now)
    events = []
    for session in sessions.order_by("finished_at").prefetch_related("records"):
        failing = [
            r for r in session.records.all() if r.status in (RecordStatus.FAILED, RecordStatus.INTERRUPTED)
        ]
        lines = [
            (
                gettext("%(instance)s: failed in %(phase)s: %(error)s")
                if r.status == RecordStatus.FAILED
                else gettext("%(instance)s: did not finish: %(error)s")
            )
            % {
                "instance": safe_text(r.instance_name),
                "phase": r.get_failed_phase_display().lower() or "?",
                "error": safe_text(r.error_message)[:300],
            }
            for r in failing
        ] or [safe_text(session.error)[:300]]
        title = ngettext(
            "%(run)s %(status)s: %(failed)d of %(total)d instance failed",
            "%(run)s %(status)s: %(failed)d of %(total)d instances failed",
            session.total_instances,
        ) % {
            "run": session.get_category_display(),
            "status": STATUS_WORDS.get(session.status, session.status),
            "failed": session.failed_instances,
            "total": session.total_instances,
        }
        if session.status == SessionStatus.INTERRUPTED:
            title = ngettext(
                "%(run)s interrupted: %(count)d of %(total)d instance did not finish",
                "%(run)s interrupted: %(count)d of %(total)d instances did not finish",
                session.total_instances,
            ) % {
                "run": session.get_category_display(),
                "count": len(failing),
                "total": session.total_instances,
            }
        link = reverse("admin:whalefall_syncsession_change", args=[session.pk])
        data = {
            "session": str(session.session_id),
            "status": session.status,
            "instances": [
                {
                    "instance": safe_text(r.instance_name),
                    "phase": r.failed_phase,
                    # the kind the connector or runner named ("authentication: ..."), else "other"
                    "error_kind": error_kind(r.error_message, "other"),
                    "error": safe_text(r.error_message)[:300],
                }
                for r in failing
            ],
        }
        events.append(Event(f"session:{session.session_id}", title, lines, "critical", link, data))
    return events


def unreachable_instances(rule: AlertRule, since: datetime, now: datetime) -> list[Event]:
    """Instances whose last N runs all failed to connect; one event per outage.

    An outage is keyed by its first failed run, found by looking back to the latest run that
    reached the server, however long ago: a window of recent runs would move its start with every
    new failure and send the same outage again and again. Runs that never ran (cancelled) or whose
    end is unknown (interrupted) say nothing about the server, so they neither end an outage nor
    lengthen it.
    """
    n = max(rule.threshold, 1)
    down = Q(status=RecordStatus.FAILED, failed_phase=SyncPhase.CONNECTION)
    events = []
    for instance in Instance.objects.filter(is_active=True).only("pk", "name"):
        ran = SyncInstanceRecord.objects.filter(instance=instance, finished_at__isnull=False).exclude(
            status__in=NO_NEWS
        )
        latest = list(
            ran.order_by("-finished_at", "-id").values("status", "failed_phase", "error_message")[:n]
        )
        if len(latest) < n or any(
            r["status"] != RecordStatus.FAILED or r["failed_phase"] != SyncPhase.CONNECTION for r in latest
        ):
            continue
        outage = ran
        reached = ran.exclude(down).order_by("-finished_at", "-id").values("id", "finished_at").first()
        if reached is not None:
            outage = ran.filter(
                Q(finished_at__gt=reached["finished_at"])
                | Q(finished_at=reached["finished_at"], id__gt=reached["id"])
            )
        start = outage.order_by("finished_at", "id").values_list("id", flat=True).first()
        count = outage.count()
        lines = [gettext("last error: %(error)s") % {"error": safe_text(latest[0]["error_message"])[:300]}]
        title = ngettext(
            "%(instance)s unreachable for %(count)d consecutive run",
            "%(instance)s unreachable for %(count)d consecutive runs",
            count,
        ) % {"instance": safe_text(instance.name), "count": count}
        link = reverse("admin:whalefall_instance_change", args=[instance.pk])
        events.append(Event(f"unreachable:{instance.pk}:{start}", title, lines, "critical", link))
    return events


def register_core_kinds() -> None:
    register(
        "session_failed",
        _("Sync session failed, partial or interrupted"),
        failed_sessions,
        _("A session ended failed or partial, or was cut off when its process died."),
    )
    register(
        "instance_unreachable",
        _("Instance unreachable N runs in a row"),
        unreachable_instances,
        _("threshold = number of consecutive runs that failed to connect."),
    )
