"""Core tasks, kept thin: the work lives in the modules they call."""

from __future__ import annotations

from whalefall.retention import run_cleanups
from whalefall.structured_logging import get_logger
from whalefall.sync.locks import cleanup_expired_locks

logger = get_logger(__name__)


def cleanup_history() -> dict[str, int]:
    """Delete sessions, executions and change logs older than their retention settings."""
    return run_cleanups()


def cleanup_expired_sync_locks() -> dict[str, int]:
    """Remove sync locks whose holder stopped renewing them (scheduled every 5 minutes)."""
    return {"deleted": cleanup_expired_locks()}


def send_alerts() -> dict[str, int]:
    """Evaluate the enabled alert rules and deliver what is due (every minute)."""
    from whalefall.alerts.delivery import send_alerts as run

    return run()
