"""The retry schedule itself: three retries after 2, 4 and 8 s by default, the waits in that order.

The suite's settings make every wait zero (conftest), so these tests put the real schedule back
and record the waits instead of sleeping them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from whalefall.choices import SyncCategory, SyncPhase
from whalefall.connections.base import ConnectorError, ErrorKind
from whalefall.models import Instance, SyncSession
from whalefall.sync.phases import InstanceResult, PhaseError
from whalefall.sync.retry import is_transient, retry_transient
from whalefall.sync.session_runner import run_sync, unit_of
from whalefall.tests.factories import InstanceFactory

ROOT = Path(__file__).resolve().parents[2]


class Flaky(Exception):
    def __init__(self, transient: bool = True) -> None:
        super().__init__("flaky")
        self.transient = transient


def failing(times: int, *, transient: bool = True) -> tuple[list[int], Any]:
    """`fn(attempt)` failing `times` times, then returning the attempt number; calls recorded."""
    calls: list[int] = []

    def fn(attempt: int) -> int:
        calls.append(attempt)
        if len(calls) <= times:
            raise Flaky(transient)
        return attempt

    return calls, fn


def test_the_default_schedule_is_three_retries_after_2_4_and_8_seconds() -> None:
    """Read the settings module in a clean process: no test override, no environment variable."""
    if any(line.startswith("WHALEFALL_RETRY_") for line in _dotenv_lines()):
        pytest.skip(".env sets the retry schedule on this machine")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHALEFALL_RETRY_")}
    code = (
        "import json, whalefall.settings as s; "
        "print(json.dumps([s.WHALEFALL_RETRY_ATTEMPTS, s.WHALEFALL_RETRY_DELAYS]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [3, [2.0, 4.0, 8.0]]


def _dotenv_lines() -> list[str]:
    path = ROOT / ".env"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.django_db(transaction=True)
def test_the_runner_waits_2_then_4_then_8_seconds_before_giving_up(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.WHALEFALL_RETRY_ATTEMPTS, settings.WHALEFALL_RETRY_DELAYS = 3, [2.0, 4.0, 8.0]
    waits: list[float] = []
    # The runner waits through the cancellable wait (a stop request ends it early): record it.
    monkeypatch.setattr(
        "whalefall.sync.cancel.wait", lambda seconds, session_id=None: waits.append(seconds) or False
    )

    def work(instance: Instance, session: SyncSession) -> InstanceResult:
        raise PhaseError(SyncPhase.CONNECTION, "timeout: no answer", transient=True)

    session = run_sync(
        category=SyncCategory.ACCOUNT,
        module="account_sync",
        instances=[InstanceFactory()],
        unit=unit_of("account_sync", work),
    )
    record = session.records.get()
    assert waits == [2.0, 4.0, 8.0]
    assert (record.status, record.failed_phase, record.attempts) == ("failed", "connection", 4)


def test_it_waits_each_delay_in_order_and_reports_every_retry() -> None:
    calls, fn = failing(3)
    waits: list[float] = []
    retried: list[tuple[int, str, float]] = []
    result = retry_transient(
        fn,
        attempts=3,
        delays=[2, 4, 8],
        sleep=waits.append,
        on_retry=lambda n, exc, delay: retried.append((n, str(exc), delay)),
    )
    assert result == 4 and calls == [1, 2, 3, 4]
    assert waits == [2, 4, 8]
    assert retried == [(1, "flaky", 2), (2, "flaky", 4), (3, "flaky", 8)]


def test_it_stops_retrying_after_the_configured_number_of_retries(settings: Any) -> None:
    settings.WHALEFALL_RETRY_ATTEMPTS, settings.WHALEFALL_RETRY_DELAYS = 2, [1, 3]
    calls, fn = failing(5)
    waits: list[float] = []
    with pytest.raises(Flaky):
        retry_transient(fn, sleep=waits.append)
    assert calls == [1, 2, 3] and waits == [1, 3]


def test_it_succeeds_on_the_last_allowed_attempt() -> None:
    calls, fn = failing(2)
    assert retry_transient(fn, attempts=2, delays=[0], sleep=lambda s: None) == 3
    assert calls == [1, 2, 3]


def test_a_schedule_shorter_than_the_retries_repeats_its_last_wait() -> None:
    _, fn = failing(4)
    waits: list[float] = []
    retry_transient(fn, attempts=4, delays=[1, 5], sleep=waits.append)
    assert waits == [1, 5, 5, 5]


def test_an_empty_schedule_retries_without_waiting() -> None:
    calls, fn = failing(2)
    waits: list[float] = []
    retry_transient(fn, attempts=3, delays=[], sleep=waits.append)
    assert waits == [0, 0] and calls == [1, 2, 3]


def test_zero_retries_means_one_call() -> None:
    calls, fn = failing(1)
    with pytest.raises(Flaky):
        retry_transient(fn, attempts=0, delays=[2], sleep=lambda s: None)
    assert calls == [1]


@pytest.mark.parametrize(
    "error",
    [Flaky(transient=False), ConnectorError(ErrorKind.AUTHENTICATION, "Access denied"), ValueError("bug")],
    ids=["not-transient", "authentication", "plain-exception"],
)
def test_permanent_errors_are_raised_at_once(error: Exception) -> None:
    calls: list[int] = []
    waits: list[float] = []

    def fn(attempt: int) -> None:
        calls.append(attempt)
        raise error

    with pytest.raises(type(error)):
        retry_transient(fn, attempts=3, delays=[2, 4, 8], sleep=waits.append)
    assert calls == [1] and waits == []


def test_only_errors_flagged_transient_are_transient() -> None:
    assert is_transient(ConnectorError(ErrorKind.TIMEOUT, "no answer")) is True
    assert is_transient(ConnectorError(ErrorKind.AUTHENTICATION, "denied")) is False
    assert is_transient(Flaky(transient=True)) is True
    assert is_transient(ValueError("no flag")) is False
