"""Account sync task, kept thin so any executor can run it: — context, one runner call, a summary."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_noop

from accounts_sync.coordinator import MODULE, sync_instance
from whalefall.choices import SyncCategory, SyncTrigger
from whalefall.models import Instance
from whalefall.structured_logging import get_logger
from whalefall.sync.session_runner import ProgressCallback, run_sync
from whalefall.task_registry import ScheduledTask

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
    session = run_sync(
        category=SyncCategory.ACCOUNT,
        module=MODULE,
        instances=Instance.objects.for_sync(instance_ids),
        unit=sync_instance,
        trigger=trigger,
        created_by=created_by,
        parameters={"instance_ids": instance_ids or [], "force": force},
        progress=progress,
    )
    return session.summary()


SYNC_ACCOUNTS = ScheduledTask(
    name="sync_accounts",
    function=sync_accounts,
    label=gettext_noop("Account sync"),
    description=gettext_noop("Inventory and permissions of every active instance's accounts."),
    job_id="sync_accounts_every_30min",
    trigger_type="interval",
    trigger_params={"minutes": 30},
    category=SyncCategory.ACCOUNT,
)
TASKS = (SYNC_ACCOUNTS,)
