"""Account sync task (seed 001/002): thin — context, one runner call, a summary."""

from __future__ import annotations

from functools import partial
from typing import Any

from accounts_sync.coordinator import MODULE, sync_instance
from whalefall.choices import SyncCategory, SyncTrigger
from whalefall.logging import get_logger
from whalefall.models import Instance, SyncSession
from whalefall.sync.runner import ProgressCallback, run_sync

logger = get_logger(__name__)


def sync_accounts(
    *,
    instance_ids: list[int] | None = None,
    trigger: str = SyncTrigger.SCHEDULED,
    created_by: str = "",
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Sync accounts of the given (default: all active) instances in one session."""
    instances = Instance.objects.active().select_related("credential").order_by("name")
    if instance_ids:
        instances = Instance.objects.filter(pk__in=instance_ids).select_related("credential").order_by("name")
    session = run_sync(
        category=SyncCategory.ACCOUNT,
        module=MODULE,
        instances=list(instances),
        work=partial(sync_instance, force=force),
        trigger=trigger,
        created_by=created_by,
        parameters={"instance_ids": instance_ids or [], "force": force},
        progress=progress,
    )
    return session_summary(session)


def session_summary(session: SyncSession) -> dict[str, Any]:
    """JSON-able summary: session id, status, per-instance status and counters."""
    records = session.records.order_by("instance_name")
    return {
        "session_id": str(session.session_id),
        "status": session.status,
        "trigger": session.trigger,
        "error": session.error,
        "total_instances": session.total_instances,
        "successful_instances": session.successful_instances,
        "failed_instances": session.failed_instances,
        "instances": [
            {
                "instance": r.instance_name,
                "instance_id": r.instance_id,
                "status": r.status,
                "failed_phase": r.failed_phase,
                "error": r.error_message,
                "items_synced": r.items_synced,
                "items_created": r.items_created,
                "items_updated": r.items_updated,
                "items_deleted": r.items_deleted,
                "attempts": r.attempts,
            }
            for r in records
        ],
    }
