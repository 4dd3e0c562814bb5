"""Crash recovery: close sessions a dead process left running and free its locks, so no run stays "running" for good."""

from __future__ import annotations

from whalefall.models import SyncLock, SyncSession
from whalefall.structured_logging import get_logger
from whalefall.sync.locks import INTERRUPTED, dead_reason, take_over
from whalefall.sync.process import holder_gone, hostname

logger = get_logger(__name__)


def owner_is_dead(owner: str) -> bool:
    """True when `owner` (host-pid) is a process of this host that no longer exists.

    Owners on other hosts cannot be probed; for them the lock expiry decides.
    """
    host, _, pid = owner.rpartition("-")
    if host != hostname() or not pid.isdigit():
        return False
    return bool(holder_gone(host, int(pid), ""))


def recover_interrupted_sessions() -> int:
    """Close running sessions whose process died as `interrupted`; returns how many.

    A run holds its category's lock for the session's whole life, so a running session whose
    owner holds no live lock of that category (or whose owner process is gone) was cut off.
    """
    recovered = 0
    for lock in SyncLock.objects.all():
        reason = dead_reason(lock)
        if reason:
            recovered += take_over(lock, reason) or 0
    live = set(SyncLock.objects.values_list("category", "owner"))
    for session in SyncSession.objects.running():
        if (session.category, session.owner) in live and not owner_is_dead(session.owner):
            continue
        session.interrupt(str(INTERRUPTED))
        recovered += 1
        logger.warning("sync_session_recovered", session_id=str(session.session_id), owner=session.owner)
    return recovered


__all__ = ["INTERRUPTED", "owner_is_dead", "recover_interrupted_sessions"]
