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


def _pid_namespace() -> str:
    """This process's pid namespace: a pid names the same process only within one."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def _here() -> str:
    """Where a pid read by this process means something: "<boot id>/<pid namespace>", or ""."""
    boot, namespace = _boot_id(), _pid_namespace()
    return f"{boot}/{namespace}" if boot and namespace else ""


def process_key(pid: int) -> str:
    """Process `pid`'s identity as the kernel keeps it, or "" when unknown.

    "<boot id>/<pid namespace>/<start tick>": two processes that ever had the same pid on one
    host differ in it (even across containers sharing the host's name), and the key of a process
    never changes, whatever happens to the clock.
    """
    ticks, here = _start_ticks(pid), _here()
    if ticks is None or not here:
        return ""
    return f"{here}/{ticks}"


# This process's start time and key, computed once; a forked child computes its own.
_SELF: dict[int, tuple[datetime, str]] = {}


def _myself() -> tuple[datetime, str]:
    pid = os.getpid()
    if pid not in _SELF:
        _SELF.clear()
        _SELF[pid] = (process_start_time(pid) or timezone.now(), process_key(pid))
    return _SELF[pid]


def my_start_time() -> datetime:
    return _myself()[0]


def my_process_key() -> str:
    return _myself()[1]


def holder_gone(host: str, pid: int | None, key: str) -> str:
    """Why the holder `host`/`pid` (whose `process_key` was `key`) is known dead, or "" if not known.

    A holder is probed only where its pid still names what it named: on this host, and (when its
    key says) in this boot and this pid namespace. Any other holder is judged by its expiry: one
    on another host, or in a container that shares this host's name, or from before a restart.
    A holder recorded without a key (not Linux, or written by an older version) is dead only once
    its pid is gone: never guess that a live process is another one.
    """
    if not host or host != hostname() or not pid:
        return ""
    if key and key.rpartition("/")[0] != _here():
        return ""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return _("process %(pid)s is gone") % {"pid": pid}
    except PermissionError:
        pass  # exists, another user's: compare keys below
    if key:
        now_key = process_key(pid)
        if now_key and now_key != key:
            started = process_start_time(pid)
            return _("pid %(pid)s now belongs to another process (started %(started)s)") % {
                "pid": pid,
                "started": f"{started:%Y-%m-%d %H:%M:%S}" if started else "?",
            }
    return ""
