"""Who a process is, precisely enough to tell at once that it died (locks, leases, recovery).

A pid alone is not enough: once a process is gone the system may give its pid to another one.
The process start time (from /proc on Linux) tells the two apart.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

from django.utils import timezone
from django.utils.translation import gettext as _

_TOLERANCE = 2.0  # seconds; /proc start times are exact to a clock tick, btime to a second


def hostname() -> str:
    return socket.gethostname()


def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def process_start_time(pid: int) -> datetime | None:
    """When process `pid` started (UTC), or None when unknown (not Linux, or no such process)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    boot = _boot_time()
    if boot is None:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) ", field 3 (state) is index 0
    ticks = int(fields[19])  # field 22: starttime in clock ticks after boot
    return datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"), tz=UTC)


_SELF_STARTED: datetime | None = None


def my_start_time() -> datetime | None:
    global _SELF_STARTED
    if _SELF_STARTED is None:
        _SELF_STARTED = process_start_time(os.getpid()) or timezone.now()
    return _SELF_STARTED


def holder_gone(host: str, pid: int | None, started_at: datetime | None) -> str:
    """Why the holder `host`/`pid` (started at `started_at`) is known dead, or "" if not known.

    Only a holder on this host can be probed; another host's holder is judged by its expiry.
    """
    if not host or host != hostname() or not pid:
        return ""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return _("process %(pid)s is gone") % {"pid": pid}
    except PermissionError:
        pass  # exists, another user's: compare start times below
    if started_at is not None:
        now_started = process_start_time(pid)
        if now_started is not None and abs((now_started - started_at).total_seconds()) > _TOLERANCE:
            return _("pid %(pid)s now belongs to another process (started %(started)s)") % {
                "pid": pid,
                "started": f"{now_started:%Y-%m-%d %H:%M:%S}",
            }
    return ""
