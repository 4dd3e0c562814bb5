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
    ledger.finalize_session(session)
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
