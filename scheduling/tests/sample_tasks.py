"""Small task functions for the scheduler tests (the real ones live in other apps)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from whalefall.choices import SyncCategory
from whalefall.sync import ledger


def record_session(
    instance_ids: list[int] | None = None, trigger: str = "scheduled", created_by: str = "", **_: Any
) -> dict[str, Any]:
    """A session with no instances, finalised: what a real sync task leaves behind."""
    session = ledger.create_session(SyncCategory.ACCOUNT, trigger, created_by=created_by or "scheduler-test")
    session.finalize()
    return {"session_id": str(session.session_id), "status": session.status}


def wait_for_file(path: str, timeout: float = 20.0) -> dict[str, Any]:
    """Runs until `path` exists: lets a test hold a job "running" as long as it needs."""
    deadline = time.monotonic() + timeout
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return {"status": "completed", "released": Path(path).exists()}


def boom(**_: Any) -> dict[str, Any]:
    raise RuntimeError("sample task failed on purpose")


not_callable = 42


def slow_sync(
    seconds: float = 0.4, instances: int = 8, trigger: str = "scheduled", created_by: str = "", **_: Any
) -> dict[str, Any]:
    """An account-sync-shaped run (lock, session, records) whose instances take `seconds` each,
    one at a time: lets a test stop, cancel or conflict with a real run."""
    from whalefall.models import Instance
    from whalefall.sync.phases import InstanceResult
    from whalefall.sync.session_runner import run_sync, unit_of

    def work(instance: Any, session: Any) -> InstanceResult:
        time.sleep(seconds)
        return InstanceResult(items_synced=1)

    session = run_sync(
        category=SyncCategory.ACCOUNT,
        module="slow_sync",
        instances=list(Instance.objects.order_by("pk")[:instances]),
        unit=unit_of("slow_sync", work),
        trigger=trigger,
        created_by=created_by,
        max_workers=1,
    )
    return session.summary()
