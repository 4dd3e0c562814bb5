"""Settings of the run machinery that may also come straight from the environment.

`settings.X` wins when the project defines it; otherwise the environment variable (the `.env`
file is already loaded into it by the settings module), otherwise the default.
"""

from __future__ import annotations

import os

from django.conf import settings


def setting_int(name: str, default: int) -> int:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, "") or default
    return int(value)


def task_request_ttl() -> int:
    """Seconds a run-now request may wait for a scheduler before it expires (default 10 min)."""
    return setting_int("WHALEFALL_TASK_REQUEST_TTL", 600)


def scheduler_stop_grace() -> int:
    """Seconds running jobs get to finish after SIGTERM/SIGINT before they are cancelled."""
    return setting_int("WHALEFALL_SCHEDULER_STOP_GRACE", 30)
