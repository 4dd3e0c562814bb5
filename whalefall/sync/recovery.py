"""Crash recovery: close sessions a dead process left running and free its locks (SPEC §4)."""

from __future__ import annotations

import os
import socket

from django.utils import timezone

from whalefall.logging import get_logger
from whalefall.models import SyncLock, SyncSession

logger = get_logger(__name__)

INTERRUPTED = "interrupted: the process running this sync stopped before it finished"


def owner_is_dead(owner: str) -> bool:
    """True when `owner` (host-pid) is a process of this host that no longer exists.

    Owners on other hosts cannot be probed; for them the lock expiry decides.
    """
    host, _, pid = owner.rpartition("-")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def recover_interrupted_sessions() -> int:
    """Fail running sessions whose process died; returns how many were closed.

    A run holds its category's lock for the session's whole life, so a running session whose
    owner holds no unexpired lock of that category (or whose owner process is gone) was cut off.
    """
    live = set(SyncLock.objects.filter(expires_at__gte=timezone.now()).values_list("category", "owner"))
    recovered = 0
    for session in SyncSession.objects.running():
        if (session.category, session.owner) in live and not owner_is_dead(session.owner):
            continue
        session.fail(INTERRUPTED)
        recovered += 1
        logger.warning("sync_session_recovered", session_id=str(session.session_id), owner=session.owner)
    dead = [lock.pk for lock in SyncLock.objects.all() if owner_is_dead(lock.owner)]
    if dead:
        SyncLock.objects.filter(pk__in=dead).delete()
        logger.warning("sync_lock_released_dead_owner", count=len(dead))
    return recovered


__all__ = ["INTERRUPTED", "owner_is_dead", "recover_interrupted_sessions"]
