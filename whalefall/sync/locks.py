"""Sync lock per category, held in the metadata database, so it holds across processes and hosts.

Conflicts are detected by the unique constraint on `category`, so two processes on two hosts
cannot both win. The holder renews the expiry from a small thread while its run is alive. A
holder that died is replaced by the next run: at once when it ran on this host (its pid is gone,
or now belongs to a process started at another time), by the expiry otherwise. Whoever takes
over closes the dead run's session as `interrupted`.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from whalefall.models import SyncLock, SyncSession
from whalefall.structured_logging import get_logger
from whalefall.sync.process import holder_gone, hostname, my_start_time

logger = get_logger(__name__)


def process_owner() -> str:
    return f"{hostname()}-{os.getpid()}"


INTERRUPTED = "interrupted: the process running this sync stopped before it finished"


class LockConflict(Exception):
    """Another run holds the lock; the message names the owner and since when."""

    def __init__(self, category: str, owner: str, locked_at: datetime | None) -> None:
        self.category, self.owner, self.locked_at = category, owner, locked_at
        since = timezone.localtime(locked_at).strftime("%Y-%m-%d %H:%M:%S %Z") if locked_at else "?"
        super().__init__(f"a {category} sync is already running (lock held by {owner} since {since})")


@dataclass
class LockHandle:
    category: str
    owner: str
    token: str

    def renew(self, ttl: int | None = None) -> bool:
        """Push the expiry forward; False if the lock was lost (expired and taken)."""
        expires = timezone.now() + timedelta(seconds=ttl or settings.WHALEFALL_LOCK_TTL)
        return bool(
            SyncLock.objects.filter(category=self.category, token=self.token).update(expires_at=expires)
        )

    def release(self) -> None:
        SyncLock.objects.filter(category=self.category, token=self.token).delete()


def acquire_lock(category: str, ttl: int | None = None) -> LockHandle:
    """Take the lock for `category` or raise LockConflict naming the holder.

    A holder that is known dead (same host, process gone) or whose lock expired is taken over
    first, and its running session closed as interrupted.
    """
    now = timezone.now()
    handle = LockHandle(category, process_owner(), uuid.uuid4().hex)
    holder = SyncLock.objects.filter(category=category).first()
    if holder is not None:
        reason = (
            "its lock expired"
            if holder.expires_at < now
            else holder_gone(holder.host, holder.pid, holder.process_started_at)
        )
        if reason:
            take_over(holder, reason)
    try:
        with transaction.atomic():
            SyncLock.objects.create(
                category=category,
                owner=handle.owner,
                token=handle.token,
                host=hostname(),
                pid=os.getpid(),
                process_started_at=my_start_time(),
                locked_at=now,
                expires_at=now + timedelta(seconds=ttl or settings.WHALEFALL_LOCK_TTL),
            )
    except IntegrityError:
        holder = SyncLock.objects.filter(category=category).first()
        raise LockConflict(
            category, holder.owner if holder else "unknown", holder.locked_at if holder else None
        ) from None
    logger.info("sync_lock_acquired", category=category, owner=handle.owner)
    return handle


def take_over(lock: SyncLock, reason: str) -> int | None:
    """Remove a dead holder's lock (only that holder's: conditional on its token) and close the
    sessions it left running as interrupted; returns how many, None when another process got
    there first."""
    deleted, _ = SyncLock.objects.filter(pk=lock.pk, token=lock.token).delete()
    if not deleted:
        return None
    closed = interrupt_sessions(lock.category, lock.owner, f"{INTERRUPTED} ({reason})")
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
    taken = 0
    for lock in SyncLock.objects.all():
        reason = (
            "its lock expired"
            if lock.expires_at < timezone.now()
            else holder_gone(lock.host, lock.pid, lock.process_started_at)
        )
        if reason and take_over(lock, reason) is not None:
            taken += 1
    if taken:
        logger.warning("sync_lock_expired_cleaned", count=taken)
    return taken


@contextmanager
def hold_lock(category: str, ttl: int | None = None) -> Iterator[LockHandle]:
    """Acquire, keep renewing every ttl/3 seconds from a thread, release at the end."""
    ttl = ttl or settings.WHALEFALL_LOCK_TTL
    handle = acquire_lock(category, ttl)
    stop = threading.Event()

    def renew_loop() -> None:
        try:
            while not stop.wait(max(ttl / 3, 1)):
                if not handle.renew(ttl):
                    logger.error("sync_lock_lost", category=category, owner=handle.owner)
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
