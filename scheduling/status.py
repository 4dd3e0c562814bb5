"""Is a scheduler alive? Read from the lease row (admin banner, index warning, health endpoint)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from scheduling.models import SchedulerLease
from whalefall.formats import local_datetime


@dataclass(frozen=True)
class SchedulerStatus:
    alive: bool
    owner: str = ""
    host: str = ""
    pid: int | None = None
    heartbeat_at: datetime | None = None
    since: datetime | None = None

    @property
    def message(self) -> str:
        if self.alive:
            beat = local_datetime(self.heartbeat_at, "?")
            return f"Scheduler alive on {self.host} (pid {self.pid}), last heartbeat {beat}."
        if self.heartbeat_at:
            beat = local_datetime(self.heartbeat_at)
            return f"No scheduler is running (last heartbeat {beat} from {self.owner}). Start `manage.py runscheduler`."
        return "No scheduler has ever run. Start `manage.py runscheduler`: jobs and run requests wait for it."

    @property
    def heartbeat_age(self) -> float | None:
        if not self.heartbeat_at:
            return None
        return round((timezone.now() - self.heartbeat_at).total_seconds(), 1)

    def as_dict(self) -> dict[str, object]:
        return {
            "alive": self.alive,
            "state": "active" if self.alive else "none",
            "heartbeat_age_seconds": self.heartbeat_age,
            "host": self.host,
            "pid": self.pid,
            "heartbeat_at": self.heartbeat_at.isoformat() if self.heartbeat_at else None,
            "since": self.since.isoformat() if self.since else None,
        }


def scheduler_status() -> SchedulerStatus:
    lease = SchedulerLease.current()
    if lease is None:
        return SchedulerStatus(alive=False)
    return SchedulerStatus(
        alive=lease.alive,
        owner=lease.owner,
        host=lease.host,
        pid=lease.pid,
        heartbeat_at=lease.heartbeat_at,
        since=lease.acquired_at,
    )
