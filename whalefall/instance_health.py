"""How each instance is doing, as the instance list shows it: the outcome of its last connection
check, last account sync and last capacity collection.

The figures come from the instance row itself (the check) and from the latest finished record of
each kind of sync session, read by correlated subqueries: the list sorts and filters on a rank
computed in its own query, and the details of the page it shows come in one more query, so a
list of ten instances and one of ten thousand cost the same number of queries. An instance is
"failing" when any of the three is a failure; the list shows those first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Case, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.lookups import In
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from whalefall.choices import RecordStatus, SyncCategory
from whalefall.models import Instance, SyncInstanceRecord
from whalefall.structured_logging import scrub
from whalefall.textsafe import safe_text

# The two kinds of run whose last outcome the list shows, by annotation prefix.
RUNS: dict[str, str] = {"account": SyncCategory.ACCOUNT, "capacity": SyncCategory.CAPACITY}
RUN_TITLES = {
    "check": gettext_lazy("last check"),
    "account": gettext_lazy("last account sync"),
    "capacity": gettext_lazy("last capacity collection"),
}
# A record that ended like this is a failure of the instance (an interrupted one: its process died).
FAILED_RECORDS = (RecordStatus.FAILED, RecordStatus.INTERRUPTED)
FIELDS = ("status", "finished_at", "error_message", "failed_phase", "session_id", "warnings")
# What a connector or the runner puts in front of a message ("unreachable: ..."), the last wins:
# after retries the message lists every attempt, and the last attempt is the outcome.
ERROR_KIND = re.compile(
    r"\b(unreachable|timeout|authentication|privilege|unsupported|configuration|other)(?=: )"
)


@dataclass(frozen=True)
class Badge:
    """One outcome as the list shows it: a coloured word, what went wrong, and how long ago."""

    state: str  # ok, partial, failed, never, cancelled (the CSS of the badge follows it)
    at: datetime | None = None
    kind: str = ""  # failed: the kind of error (authentication, unreachable, ...) or the phase
    detail: str = ""  # the full message or warnings, shown on hover
    url: str = ""  # the session behind it

    @property
    def label(self) -> str:
        return {
            "ok": _("ok"),
            "partial": _("partial"),
            "failed": _("failed"),
            "never": _("never"),
            "cancelled": _("cancelled"),
        }[self.state]

    @property
    def css(self) -> str:
        return {"ok": "wf-good", "partial": "wf-warn", "failed": "wf-bad"}.get(self.state, "wf-muted")

    def age(self, now: datetime | None = None) -> str:
        if self.at is None:
            return ""
        return _("%(time)s ago") % {"time": timesince(self.at, now or timezone.now(), depth=1)}

    @property
    def safe_detail(self) -> str:
        """The message as shown: any password this process has decrypted masked (a driver may
        have echoed one), control and bidi characters written visibly."""
        return safe_text(scrub(self.detail))

    def hover(self) -> str:
        """The badge's title: when it happened, then the error or warnings in full."""
        when = date_format(timezone.localtime(self.at), "DATETIME_FORMAT") if self.at else ""
        return " — ".join(part for part in (when, self.safe_detail) if part)


def _latest(category: str) -> QuerySet[SyncInstanceRecord]:
    """The instance's records of one kind of run that ran and ended, newest first: the
    `(instance, -started_at)` index walks them from the newest, so each lookup stays short
    however long the history is. (A record cancelled before it started never ran.)"""
    return SyncInstanceRecord.objects.filter(
        instance=OuterRef("pk"),
        session__category=category,
        started_at__isnull=False,
        finished_at__isnull=False,
    ).order_by("-started_at")


def with_health_rank(queryset: QuerySet[Instance]) -> QuerySet[Instance]:
    """Alias (not select) what the list sorts and filters on: `health_rank`, 0 when the last check
    or the latest account sync or capacity collection failed, and each run's end time. An alias
    costs nothing unless the ordering or a filter uses it, and stays out of the count query."""
    failing: Any = Q(last_check_ok=False)
    aliases: dict[str, Any] = {}
    for prefix, category in RUNS.items():
        failing |= In(Subquery(_latest(category).values("status")[:1]), list(FAILED_RECORDS))
        aliases[f"{prefix}_finished_at"] = Subquery(_latest(category).values("finished_at")[:1])
    rank = Case(When(failing, then=Value(0)), default=Value(1), output_field=IntegerField())
    return queryset.alias(**aliases, health_rank=rank)


def with_health(queryset: QuerySet[Instance]) -> QuerySet[Instance]:
    """Annotate each instance with its latest account and capacity record's outcome: one subquery
    per value, all in one SELECT, so meant for a page of instances (see attach_health)."""
    annotations: dict[str, Any] = {}
    for prefix, category in RUNS.items():
        for name in FIELDS:
            source = "sync_details__warnings" if name == "warnings" else name
            annotations[f"{prefix}_{name}"] = Subquery(_latest(category).values(source)[:1])
    return queryset.annotate(**annotations)


def attach_health(instances: list[Instance]) -> None:
    """Give instances already loaded (a page of the list, the one being edited) the values the
    badges read, in one query whatever their number."""
    names = [f"{prefix}_{name}" for prefix in RUNS for name in FIELDS]
    found = {
        row["pk"]: row
        for row in with_health(Instance.objects.filter(pk__in=[i.pk for i in instances])).values("pk", *names)
    }
    for instance in instances:
        for name in names:
            setattr(instance, name, found.get(instance.pk, {}).get(name))


def error_kind(message: str, phase: str = "") -> str:
    found = ERROR_KIND.findall(message or "")
    return found[-1] if found else (phase or "error")


def check_badge(instance: Instance) -> Badge:
    """The last connection test (admin Test button or `check_instances`), stored on the instance."""
    if instance.last_check_ok is None:
        return Badge("never")
    if instance.last_check_ok:
        return Badge("ok", instance.last_check_at, detail=instance.last_check_message)
    message = instance.last_check_message
    return Badge("failed", instance.last_check_at, error_kind(message), message)


def run_badge(instance: Instance, prefix: str) -> Badge:
    """The latest finished record of one kind of run, from the values `attach_health` sets."""

    def value(name: str) -> Any:
        return getattr(instance, f"{prefix}_{name}", None)

    status = value("status")
    if status is None:
        return Badge("never")
    at, session = value("finished_at"), value("session_id")
    url = reverse("admin:whalefall_syncsession_change", args=[session]) if session else ""
    message = value("error_message") or ""
    if status in FAILED_RECORDS:
        kind = (
            _("interrupted")
            if status == RecordStatus.INTERRUPTED
            else error_kind(message, value("failed_phase"))
        )
        return Badge("failed", at, kind, message, url)
    if status == RecordStatus.CANCELLED:
        return Badge("cancelled", at, detail=message, url=url)
    warnings = value("warnings")
    if warnings:
        detail = "; ".join(str(w) for w in warnings) if isinstance(warnings, list) else str(warnings)
        return Badge("partial", at, detail=detail, url=url)
    return Badge("ok", at, url=url)


def badges(instance: Instance) -> dict[str, Badge]:
    """The three outcomes of an instance given `attach_health`, keyed check/account/capacity."""
    return {"check": check_badge(instance), **{prefix: run_badge(instance, prefix) for prefix in RUNS}}
