from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from scheduling.config import TaskSpec
from scheduling.service import SchedulerService
from scheduling.tests.users import OPERATORS, VIEWERS, make_user

SAMPLE = "scheduling.tests.sample_tasks"

SPECS = [
    TaskSpec("record_session_hourly", "Record a session", f"{SAMPLE}.record_session", "cron", {"minute": 0}),
    TaskSpec(
        "wait_for_file_daily", "Wait for a file", f"{SAMPLE}.wait_for_file", "cron", {"hour": 1, "minute": 0}
    ),
    TaskSpec("boom_daily", "Fail", f"{SAMPLE}.boom", "cron", {"hour": 2, "minute": 0}),
    TaskSpec(
        "sync_accounts_every_30min", "Missing task", "scheduling.not_yet.sync", "interval", {"minutes": 30}
    ),
    TaskSpec(
        "cleanup_history_weekly",
        "History cleanup",
        "whalefall.tasks.cleanup_history",
        "cron",
        {"day_of_week": "sun", "hour": 2},
        enabled=False,
    ),
]


@pytest.fixture
def make_service() -> Iterator[Any]:
    """Build in-process SchedulerServices (no signals, no loop); all are shut down afterwards."""
    services: list[SchedulerService] = []

    def make(specs: list[TaskSpec] | None = None, lease_seconds: int = 3) -> SchedulerService:
        lines: list[str] = []
        service = SchedulerService(specs=specs or SPECS, lease_seconds=lease_seconds, out=lines.append)
        service.lines = lines  # type: ignore[attr-defined]
        services.append(service)
        return service

    yield make
    for service in services:
        service._stop_scheduler(wait=True)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Test users log in with a password; the production hasher's cost is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def viewer(client: Client) -> Client:
    """A logged-in member of the "WhaleFall viewers" group."""
    client.force_login(make_user("vera", VIEWERS))
    return client


@pytest.fixture
def operator(client: Client) -> Client:
    """A logged-in member of the "WhaleFall operators" group."""
    client.force_login(make_user("otto", OPERATORS))
    return client
