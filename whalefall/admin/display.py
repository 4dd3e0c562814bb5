"""How the sessions and jobs pages show outcomes, durations and times, so both read alike.

Badges carry the colour and a `wf-status-<status>` class (tests and the browser find them by it);
durations are rounded for people ("14.0 s", "2 min 3 s"); datetimes go through the active
DATETIME_FORMAT in the project's time zone, never a hand-written pattern.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import formats
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from whalefall.choices import RecordStatus, SessionStatus
from whalefall.formats import local_datetime

STATUS_COLOURS = {
    SessionStatus.RUNNING: "#1565c0",
    SessionStatus.COMPLETED: "#2e7d32",
    SessionStatus.PARTIAL: "#b26a00",
    SessionStatus.FAILED: "#c62828",
    SessionStatus.CANCELLED: "#757575",
    SessionStatus.SKIPPED: "#757575",
    SessionStatus.INTERRUPTED: "#6a1b9a",
    RecordStatus.PENDING: "#757575",
    "missed": "#757575",
}

# Short outcome words for lists (the choices' own labels explain more, and go in the title).
OUTCOME_LABELS = {
    "running": gettext_lazy("running"),
    "completed": gettext_lazy("completed"),
    "partial": gettext_lazy("partial"),
    "failed": gettext_lazy("failed"),
    "cancelled": gettext_lazy("cancelled"),
    "skipped": gettext_lazy("skipped"),
    "interrupted": gettext_lazy("interrupted"),
    "pending": gettext_lazy("pending"),
    "missed": gettext_lazy("missed"),
}


def status_badge(status: str, label: str, title: str = "") -> SafeString:
    """A coloured pill; `title` (escaped) explains it on hover."""
    return format_html(
        '<span class="wf-status wf-status-{}" style="background:{};color:#fff;padding:1px 6px;'
        'border-radius:8px;white-space:nowrap"{}>{}</span>',
        status,
        STATUS_COLOURS.get(status, "#757575"),
        format_html(' title="{}"', title) if title else "",
        label,
    )


def outcome_badge(status: str, title: str = "") -> SafeString:
    return status_badge(status, str(OUTCOME_LABELS.get(status, status)), title)


def human_duration(seconds: float | None) -> str:
    """ "0.4 s", "14.0 s", "2 min 3 s", "1 h 5 min": rounded so a column reads at a glance."""
    if seconds is None:
        return "-"
    seconds = max(0.0, float(seconds))
    if seconds < 0.05:
        return _("< 0.1 s") if seconds > 0 else _("0 s")
    if seconds < 60:
        return _("%(seconds)s s") % {"seconds": formats.number_format(round(seconds, 1), 1)}
    whole = round(seconds)
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return _("%(minutes)d min %(seconds)d s") % {"minutes": minutes, "seconds": rest}
    hours, rest = divmod(whole, 3600)
    return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": rest // 60}


def datetime_cell(value: datetime | None) -> SafeString | str:
    """A datetime for a narrow column: it may break between date and time, never inside either."""
    text = local_datetime(value)
    if value is None or " " not in text:
        return text
    day, time = text.split(" ", 1)
    return format_html('<span class="wf-nowrap">{}</span> <span class="wf-nowrap">{}</span>', day, time)
