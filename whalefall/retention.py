"""History retention: each app registers a cleaner; the weekly cleanup job runs them all.

Keeps `whalefall` free of imports from the apps (dependencies point from the apps to the core, never back).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from whalefall.structured_logging import get_logger

logger = get_logger(__name__)

Cleaner = Callable[[], int]
_cleaners: dict[str, Cleaner] = {}


def register(name: str, cleaner: Cleaner) -> None:
    """Register `cleaner()` (returns rows deleted) under a stable name, e.g. in AppConfig.ready."""
    _cleaners[name] = cleaner


def cutoff(days: int | None = None) -> datetime:
    return timezone.now() - timedelta(days=days or settings.WHALEFALL_RETENTION_DAYS)


def delete_old_sessions() -> int:
    from whalefall.models import SyncSession, TaskRequest

    deleted, _ = SyncSession.objects.filter(started_at__lt=cutoff()).exclude(status="running").delete()
    TaskRequest.objects.filter(requested_at__lt=cutoff()).exclude(status__in=["pending", "running"]).delete()
    return deleted


register("whalefall.sessions", delete_old_sessions)


def run_cleanups() -> dict[str, int]:
    """Run every registered cleaner; one failing does not stop the others."""
    results: dict[str, int] = {}
    for name, cleaner in sorted(_cleaners.items()):
        try:
            results[name] = cleaner()
        except Exception:
            logger.exception("history_cleanup_failed", cleaner=name)
            results[name] = -1
    logger.info("history_cleanup_finished", **{k.replace(".", "_"): v for k, v in results.items()})
    return results
