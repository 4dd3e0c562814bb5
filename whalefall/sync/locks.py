"""Sync lock per category, held in the metadata database, so it holds across processes and hosts.

Each lock is a lease (`whalefall.leases`): claimed by inserting its row, whose unique `category`
lets one process in, taken over by a conditional UPDATE, so two processes on two hosts cannot
both win. The holder renews the expiry from a small thread while its run is alive. A
holder that died is replaced by the next run: at once when it ran on this host (its pid is gone,
or now belongs to another process, as the kernel's key of the process shows), by the expiry
otherwise. Whoever takes
over closes the dead run's session as `interrupted`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import Error as DBError
from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy

from whalefall.leases import Holder, Lease, database_now, renewal_interval
from whalefall.models import SyncLock, SyncSession
from whalefall.structured_logging import get_logger, scrub
from whalefall.sync.process import holder_gone, hostname

logger = get_logger(__name__)


def process_owner() -> str:
    return f"{hostname()}-{os.getpid()}"


# Stored on the sessions it closes, in the language active then (str() it where it is written).
INTERRUPTED = gettext_lazy("interrupted: the process running this sync stopped before it finished")
# Why a run stops when its lock was taken over (its renewals failed until the lock expired).
LOCK_LOST = gettext_lazy("stopped: this run's lock expired before it could be renewed and was taken over")

# The category as it reads inside a sentence ("a capacity sync is already running").
_CATEGORY_WORDS = {
    "account": pgettext_lazy("sync category", "account"),
    "capacity": pgettext_lazy("sync category", "capacity"),
    "aggregation": pgettext_lazy("sync category", "aggregation"),
}


class LockConflict(Exception):
    """Another run holds the lock; the message names the owner and since when."""

    def __init__(self, category: str, owner: str, locked_at: datetime | None) -> None:
        self.category, self.owner, self.locked_at = category, owner, locked_at
        since = timezone.localtime(locked_at).strftime("%Y-%m-%d %H:%M:%S %Z") if locked_at else "?"
        super().__init__(
            _("a %(category)s sync is already running (lock held by %(owner)s since %(since)s)")
            % {"category": _CATEGORY_WORDS.get(category, category), "owner": owner, "since": since}
        )


def lease(category: str) -> Lease[SyncLock]:
    """The lease behind `category`'s lock: released locks leave no row (the table lists held ones)."""
    return Lease(SyncLock, category, key_field="category", acquired_field="locked_at")


@dataclass
class LockHandle:
    category: str
    owner: str
    token: str
    # Set by the renewer of `hold_lock` once another process took the lock: the run must stop.
    lost: threading.Event = field(default_factory=threading.Event)

    def renew(self, ttl: int | None = None) -> bool:
        """Push the expiry forward; False if the lock was lost (expired and taken)."""
        return lease(self.category).renew(self.token, ttl or settings.WHALEFALL_LOCK_TTL)

    def release(self) -> None:
        lease(self.category).release(self.token)


def _expired(lock: SyncLock, now: datetime | None = None) -> bool:
    """The lock's (as loaded) expiry has passed by the database's clock (`now`, when the caller
    has it already): a take-over then evicts it only if still expired."""
    return lock.expires_at < (now or database_now(SyncLock))


def dead_reason(lock: SyncLock, now: datetime | None = None) -> str:
    """Why `lock`'s holder no longer counts (expired, or known dead on this host), or ""."""
    if _expired(lock, now):
        return pgettext("sync lock", "its lock expired")
    return holder_gone(lock.host, lock.pid, lock.process_key)


def acquire_lock(category: str, ttl: int | None = None) -> LockHandle:
    """Take the lock for `category` or raise LockConflict naming the holder.

    A holder that is known dead (same host, process gone) or whose lock expired is taken over
    (conditional on its token, so only one contender wins), and its running session closed as
    interrupted. A free lock is claimed by inserting its row: the unique category lets one in.
    """
    seconds = ttl or settings.WHALEFALL_LOCK_TTL
    me = Holder.this_process()
    handle = LockHandle(category, me.owner, me.token)
    lock = lease(category)
    holder = lock.current()
    now = lock.now() if holder is not None else None
    reason = dead_reason(holder, now) if holder is not None else ""
    if holder is not None and reason:
        if lock.take_over(me, seconds, from_token=holder.token, expired_only=_expired(holder, now)):
            _interrupt_replaced(holder, reason)
            logger.info("sync_lock_acquired", category=category, owner=handle.owner)
            return handle
    elif lock.claim(me, seconds, steal_expired=False):
        logger.info("sync_lock_acquired", category=category, owner=handle.owner)
        return handle
    holder = lock.current()
    raise LockConflict(category, holder.owner if holder else "unknown", holder.locked_at if holder else None)


def take_over(lock: SyncLock, reason: str, now: datetime | None = None) -> int | None:
    """Free a dead or expired holder's lock (only that holder's: conditional on its token) and close
    the sessions it left running as interrupted; returns how many, None when the holder renewed
    meanwhile or another process got there first."""
    if not lease(lock.category).evict(lock.token, expired_only=_expired(lock, now)):
        return None
    return _interrupt_replaced(lock, reason)


def _interrupt_replaced(lock: SyncLock, reason: str) -> int:
    closed = interrupt_sessions(
        lock.category,
        lock.owner,
        _("%(interrupted)s (%(reason)s)") % {"interrupted": INTERRUPTED, "reason": reason},
    )
    logger.warning(
        "sync_lock_taken_over",
        category=lock.category,
        previous_owner=lock.owner,
        reason=reason,
        sessions_interrupted=closed,
        new_owner=process_owner(),
    )
    return closed


def interrupt_sessions(category: str, owner: str, reason: str) -> int:
    """Close `owner`'s running sessions of `category` as interrupted; returns how many."""
    closed = 0
    for session in SyncSession.objects.running().filter(category=category, owner=owner):
        session.interrupt(reason)
        closed += 1
    return closed


def cleanup_expired_locks() -> int:
    """Scheduled cleanup: expired locks and locks of dead same-host holders, with their sessions."""
    taken, now = 0, database_now(SyncLock)
    for lock in SyncLock.objects.all():
        reason = dead_reason(lock, now)
        if reason and take_over(lock, reason, now) is not None:
            taken += 1
    if taken:
        logger.warning("sync_lock_expired_cleaned", count=taken)
    return taken


@contextmanager
def hold_lock(category: str, ttl: int | None = None) -> Iterator[LockHandle]:
    """Acquire, keep renewing every ttl/3 seconds from a thread, release at the end.

    A renewal that fails (the metadata database away for a moment) is tried again at the next
    interval, so two in a row can fail before the lock expires. Once another process has taken
    the lock, `handle.lost` is set: the run must stop at its next safe point."""
    ttl = ttl or settings.WHALEFALL_LOCK_TTL
    handle = acquire_lock(category, ttl)
    stop = threading.Event()

    def renew_loop() -> None:
        try:
            while not stop.wait(renewal_interval(ttl)):
                try:
                    renewed = handle.renew(ttl)
                except DBError as exc:  # the metadata DB is away: try again next time, anew
                    logger.warning(
                        "sync_lock_renew_failed", category=category, owner=handle.owner, error=scrub(str(exc))
                    )
                    try:
                        connection.close()
                    except DBError:
                        pass  # already broken: the next renewal opens a new one
                    continue
                if not renewed:
                    logger.error("sync_lock_lost", category=category, owner=handle.owner)
                    handle.lost.set()
                    return
        finally:
            connection.close()

    renewer = threading.Thread(target=renew_loop, name=f"lock-renew-{category}", daemon=True)
    renewer.start()
    try:
        yield handle
    finally:
        stop.set()
        renewer.join(timeout=5)
        close_old_connections()
        handle.release()
        logger.info("sync_lock_released", category=category, owner=handle.owner)
