"""Sync lock per category, held in the metadata database (seed 003).

Conflicts are detected by the unique constraint on `category`, so two processes on two hosts
cannot both win. The holder renews the expiry from a small thread while its run is alive; a
crashed holder's lock simply expires and is cleaned (scheduler job every 5 minutes).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from whalefall.logging import get_logger
from whalefall.models import SyncLock

logger = get_logger(__name__)


def process_owner() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


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
    """Take the lock for `category` or raise LockConflict naming the holder."""
    now = timezone.now()
    handle = LockHandle(category, process_owner(), uuid.uuid4().hex)
    try:
        with transaction.atomic():
            SyncLock.objects.filter(category=category, expires_at__lt=now).delete()
            SyncLock.objects.create(
                category=category,
                owner=handle.owner,
                token=handle.token,
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


def cleanup_expired_locks() -> int:
    deleted, _ = SyncLock.objects.expired().delete()
    if deleted:
        logger.warning("sync_lock_expired_cleaned", count=deleted)
    return deleted


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
