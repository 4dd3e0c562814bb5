"""Date formats for every language the admin speaks: ISO 8601, 24-hour, in settings.TIME_ZONE.

A DBA comparing a session's start with a server log should read the same "2026-03-04 10:17:00"
on every page and in every language; Django picks these modules through FORMAT_MODULE_PATH.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import formats, timezone


def local_datetime(value: datetime | None, placeholder: str = "-") -> str:
    """A datetime as every page and message shows it: in TIME_ZONE, in the active DATETIME_FORMAT
    (the one place Python code formats a datetime for people; templates use `{{ value }}`)."""
    if value is None:
        return placeholder
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")
