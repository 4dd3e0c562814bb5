"""Crash recovery: close sessions a dead process left running and free its locks, so no run stays "running" for good."""

from __future__ import annotations

from whalefall.leases import database_now
from whalefall.models import SyncLock, SyncSession
from whalefall.structured_logging import get_logger
from whalefall.sync.locks import INTERRUPTED, dead_reason, take_over

logger = get_logger(__name__)


def recover_interrupted_sessions() -> int:
    """Close running sessions whose process died as `interrupted`; returns how many.

    A run holds its category's lock for the session's whole life, so a running session whose
    owner holds no live lock of that category was cut off. Whether a lock's holder still lives is
    judged once, from the lock row (`dead_reason`: its expiry, or on this host its process key),
    so a session is never judged by a bare pid that may name another process here.
    """
    recovered, now = 0, database_now(SyncLock)
    for lock in SyncLock.objects.all():
        reason = dead_reason(lock, now)
        if reason:
            recovered += take_over(lock, reason, now) or 0
    live = set(SyncLock.objects.values_list("category", "owner"))
    for session in SyncSession.objects.running():
        if (session.category, session.owner) in live:
            continue
        session.interrupt(str(INTERRUPTED))
        recovered += 1
        logger.warning("sync_session_recovered", session_id=str(session.session_id), owner=session.owner)
    return recovered


__all__ = ["INTERRUPTED", "recover_interrupted_sessions"]
