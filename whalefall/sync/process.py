"""Who a process is, precisely enough to tell at once that it died (locks, leases, recovery).

A pid alone is not enough: once a process is gone the system may give its pid to another one.
The kernel's own record tells the two apart: the boot's id and the clock tick at which the
process started (both from /proc on Linux). A start *time* would not do: the kernel derives it
from the wall clock, so when the clock is stepped (NTP, a VM resumed) every process seems to
have started at another time, and a live holder would be taken for a stranger.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

from django.utils import timezone
from django.utils.translation import gettext as _


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


def _start_ticks(pid: int) -> int | None:
    """The clock tick after boot at which process `pid` started; fixed for the process's life."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) ", field 3 (state) is index 0
    return int(fields[19])  # field 22: starttime in clock ticks after boot


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def process_start_time(pid: int) -> datetime | None:
    """When process `pid` started (UTC), as the clock says now; for people to read, not to compare.

    None when unknown (not Linux, or no such process).
    """
    ticks, boot = _start_ticks(pid), _boot_time()
    if ticks is None or boot is None:
        return None
    return datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"), tz=UTC)


def process_key(pid: int) -> str:
    """Process `pid`'s identity as the kernel keeps it: "<boot id>/<start tick>", or "" when unknown.

    Two processes that ever had the same pid on this host have different keys, and the key of a
    process never changes, whatever happens to the clock.
    """
    ticks, boot = _start_ticks(pid), _boot_id()
    if ticks is None or not boot:
        return ""
    return f"{boot}/{ticks}"


_SELF_STARTED: datetime | None = None
_SELF_KEY: str | None = None


def my_start_time() -> datetime | None:
    global _SELF_STARTED
    if _SELF_STARTED is None:
        _SELF_STARTED = process_start_time(os.getpid()) or timezone.now()
    return _SELF_STARTED


def my_process_key() -> str:
    global _SELF_KEY
    if _SELF_KEY is None:
        _SELF_KEY = process_key(os.getpid())
    return _SELF_KEY


def holder_gone(host: str, pid: int | None, key: str) -> str:
    """Why the holder `host`/`pid` (whose `process_key` was `key`) is known dead, or "" if not known.

    Only a holder on this host can be probed; another host's holder is judged by its expiry. A
    holder recorded without a key (not Linux, or written by an older version) is dead only once
    its pid is gone: never guess that a live process is another one.
    """
    if not host or host != hostname() or not pid:
        return ""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return _("process %(pid)s is gone") % {"pid": pid}
    except PermissionError:
        pass  # exists, another user's: compare start times below
    if key:
        now_key = process_key(pid)
        if now_key and now_key != key:
            started = process_start_time(pid)
            return _("pid %(pid)s now belongs to another process (started %(started)s)") % {
                "pid": pid,
                "started": f"{started:%Y-%m-%d %H:%M:%S}" if started else "?",
            }
    return ""
