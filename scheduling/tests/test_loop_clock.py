"""The `runscheduler` loop on a clock the test moves: how long it sleeps and how it wakes up, how
a step survives errors, the heartbeat and the lost lease, and the bounded stop (pause, wait with
the lease renewed, cancel after the grace period, release only a lease it held)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
from django.db import DatabaseError

from scheduling.models import CommandStatus, SchedulerCommand, SchedulerLease
from scheduling.service import commands, loop, reconcile
from scheduling.service.loop import SchedulerService
from whalefall.leases import Holder
from whalefall.models import TaskRequest, TaskRequestStatus

pytestmark = pytest.mark.django_db

START = 1000.0
POLL = 0.2  # how often the stop polls its jobs


class Clock:
    """`loop.time` for a test: monotonic() is `now`; sleep() moves it and records the slice.
    The slices the stop polls with (0.2 s) are counted so that n of them land exactly on
    START + n * 0.2, as the loop's own deadline arithmetic does."""

    def __init__(self) -> None:
        self.now = START
        self.slept: list[float] = []
        self.on_sleep: Callable[[], None] = lambda: None
        self.polls = 0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if len(self.slept) >= 500:
            raise AssertionError("the loop kept sleeping")
        self.slept.append(seconds)
        if seconds == POLL:
            self.polls += 1
            self.now = START + self.polls * POLL
        else:
            self.now += seconds
        self.on_sleep()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(loop, "time", c)
    return c


class FakeScheduler:
    """What the loop asks of APScheduler when it stops: pause and shutdown, recorded."""

    def __init__(self, running: bool = True) -> None:
        self.running = running
        self.calls: list[Any] = []

    def pause(self) -> None:
        self.calls.append("pause")

    def shutdown(self, wait: bool = True) -> None:
        self.calls.append(("shutdown", wait))
        self.running = False


class Jobs:
    """`running_jobs()` for a test: the names given while `until()` says they still run."""

    def __init__(self, names: list[str], until: Callable[[], bool] = lambda: True) -> None:
        self.names, self.until = names, until

    def __call__(self) -> list[str]:
        return list(self.names) if self.until() else []


def _events(caplog: Any) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict)]


def _names(caplog: Any) -> list[str]:
    return [e["event"] for e in _events(caplog)]


@pytest.fixture
def service() -> SchedulerService:
    lines: list[str] = []
    s = SchedulerService(specs=[], lease_seconds=30, out=lines.append, stop_grace=5)
    s.lines = lines  # type: ignore[attr-defined]
    return s


def _doing(done: list[Any], name: str, result: Any = None) -> Callable[..., Any]:
    """A stand-in for one of the service's steps: notes that it ran, returns `result`."""

    def record(*args: Any, **kwargs: Any) -> Any:
        done.append(name)
        return result

    return record


def _lease() -> SchedulerLease:
    lease = SchedulerLease.current()
    assert lease is not None
    return lease


def _active(service: SchedulerService) -> FakeScheduler:
    scheduler = FakeScheduler()
    service.scheduler = scheduler
    return scheduler


# --- construction -----------------------------------------------------------------------------
def test_explicit_settings_are_kept_and_missing_ones_come_from_the_settings(settings: Any) -> None:
    settings.WHALEFALL_SCHEDULER_LEASE_SECONDS = 45
    settings.WHALEFALL_SCHEDULER_STOP_GRACE = 7
    given = SchedulerService(specs=[], lease_seconds=12, stop_grace=2.5, out=print)
    assert (given.specs, given.lease_seconds, given.stop_grace) == ([], 12, 2.5)
    assert given.lease.seconds == 12
    defaults = SchedulerService(out=print)
    assert (defaults.lease_seconds, defaults.stop_grace, defaults.tick) == (45, 7, 1.0)
    from scheduling.config import load_default_tasks

    assert defaults.specs == load_default_tasks().specs and defaults.specs


def test_the_claim_label_is_the_owner_and_the_tokens_first_eight_characters(
    service: SchedulerService,
) -> None:
    owner, short = service.claim_label.rsplit("/", 1)
    assert owner == service.owner and short == service.token[:8] and len(short) == 8


def test_the_service_is_who_the_lease_it_claims_names(service: SchedulerService) -> None:
    import os

    from whalefall.sync.process import hostname

    assert service.lease.claim()
    lease = _lease()
    assert (lease.host, lease.pid, lease.owner, lease.token) == (
        service.host,
        service.pid,
        service.owner,
        service.token,
    )
    assert (service.host, service.pid) == (hostname(), os.getpid())


@pytest.mark.parametrize(
    ("lease_seconds", "expected"),
    [(1, 1.0), (3, 1.0), (10, 10 / 3), (15, 5.0), (29, 29 / 3), (60, 10.0), (300, 10.0)],
)
def test_the_handoff_timeout_is_a_third_of_the_lease_between_1_and_10_seconds(
    lease_seconds: int, expected: float
) -> None:
    service = SchedulerService(specs=[], lease_seconds=lease_seconds, out=print)
    assert service.handoff_timeout == pytest.approx(expected)


# --- signals and the loop ---------------------------------------------------------------------
def test_the_first_signal_asks_to_stop_and_a_second_exits_at_once(
    service: SchedulerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    exits: list[int] = []
    monkeypatch.setattr(loop.os, "_exit", exits.append)
    service.request_stop(15, None)
    assert service.stop_requested and exits == [] and service.lines == []  # type: ignore[attr-defined]
    service.request_stop(15, None)
    assert exits == [1]
    assert "Second stop signal" in service.lines[-1]  # type: ignore[attr-defined]


def test_a_stop_asked_in_code_twice_does_not_exit(
    service: SchedulerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    exits: list[int] = []
    monkeypatch.setattr(loop.os, "_exit", exits.append)
    service.request_stop()
    service.request_stop()
    assert service.stop_requested and exits == []


def test_run_steps_and_sleeps_a_tick_until_asked_to_stop_then_shuts_down(service: SchedulerService) -> None:
    done: list[str] = []

    def step() -> None:
        done.append("step")
        if done.count("step") == 3:
            service.request_stop()

    service.step = step  # type: ignore[method-assign]
    service._sleep = lambda seconds: done.append(f"sleep {seconds}")  # type: ignore[method-assign]
    service.shutdown = lambda: done.append("shutdown")  # type: ignore[method-assign]
    service.tick = 0.5
    service.run()
    assert done == ["step", "sleep 0.5", "step", "sleep 0.5", "step", "sleep 0.5", "shutdown"]


def test_run_after_a_stop_request_only_shuts_down(service: SchedulerService) -> None:
    done: list[str] = []
    service.step = lambda: done.append("step")  # type: ignore[method-assign]
    service.shutdown = lambda: done.append("shutdown")  # type: ignore[method-assign]
    service.request_stop()
    service.run()
    assert done == ["shutdown"]


def test_sleep_takes_slices_of_at_most_a_tenth_of_a_second(service: SchedulerService, clock: Clock) -> None:
    service._sleep(0.35)
    assert clock.slept == pytest.approx([0.1, 0.1, 0.1, 0.05])
    assert clock.now == pytest.approx(START + 0.35)


def test_sleep_returns_at_the_next_slice_once_a_stop_is_requested(
    service: SchedulerService, clock: Clock
) -> None:
    def stop_at_the_second_slice() -> None:
        if len(clock.slept) == 2:
            service.request_stop()

    clock.on_sleep = stop_at_the_second_slice
    service._sleep(5)
    assert clock.slept == [0.1, 0.1]


def test_sleep_after_a_stop_request_does_not_sleep(service: SchedulerService, clock: Clock) -> None:
    service.request_stop()
    service._sleep(5)
    assert clock.slept == []


def test_sleep_never_asks_for_a_negative_slice(
    service: SchedulerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock may pass the deadline between the check and the slice: sleep 0, not -0.1."""
    readings = iter([START, START + 0.45, START + 0.6, START + 0.6])
    slept: list[float] = []

    class Late:
        monotonic = staticmethod(lambda: next(readings))
        sleep = staticmethod(slept.append)

    monkeypatch.setattr(loop, "time", Late)
    service._sleep(0.5)
    assert slept == [0]


# --- one step ---------------------------------------------------------------------------------
def test_a_standby_step_tries_to_claim_the_lease(service: SchedulerService) -> None:
    done: list[str] = []
    service.try_activate = _doing(done, "claim", False)  # type: ignore[method-assign]
    service.heartbeat = _doing(done, "heartbeat", True)  # type: ignore[method-assign]
    service.step()
    assert done == ["claim"]


@pytest.mark.parametrize(
    ("renewed", "expected"), [(True, ["heartbeat", "commands", "requests"]), (False, ["heartbeat"])]
)
def test_an_active_step_renews_then_applies_commands_and_requests_only_while_it_holds_the_lease(
    service: SchedulerService, renewed: bool, expected: list[str]
) -> None:
    _active(service)
    done: list[str] = []
    service.try_activate = _doing(done, "claim", False)  # type: ignore[method-assign]
    service.heartbeat = _doing(done, "heartbeat", renewed)  # type: ignore[method-assign]
    service.apply_commands = _doing(done, "commands", 0)  # type: ignore[method-assign]
    service.process_requests = _doing(done, "requests", 0)  # type: ignore[method-assign]
    service.step()
    assert done == expected


@pytest.mark.parametrize(
    ("error", "event"),
    [
        (DatabaseError("gone"), "scheduler_step_database_error"),
        (RuntimeError("bug"), "scheduler_step_failed"),
    ],
)
def test_a_step_logs_errors_and_carries_on(
    service: SchedulerService, caplog: Any, error: Exception, event: str
) -> None:
    def fail() -> bool:
        raise error

    service.lease.claim = fail  # type: ignore[method-assign]
    service.step()  # does not raise
    names = _names(caplog)
    assert event in names
    assert {"scheduler_step_database_error", "scheduler_step_failed"} & set(names) == {event}


def test_try_activate_activates_only_with_the_lease(service: SchedulerService) -> None:
    activated: list[bool] = []
    service.activate = lambda: activated.append(True)  # type: ignore[method-assign]
    service.lease.claim = lambda: False  # type: ignore[method-assign]
    assert service.try_activate() is False and activated == []
    service.lease.claim = lambda: True  # type: ignore[method-assign]
    assert service.try_activate() is True and activated == [True]


# --- heartbeat --------------------------------------------------------------------------------
def test_a_renewed_heartbeat_keeps_the_scheduler(service: SchedulerService) -> None:
    scheduler = _active(service)
    service.lease.renew = lambda: True  # type: ignore[method-assign]
    assert service.heartbeat() is True
    assert service.scheduler is scheduler and scheduler.calls == []


def test_a_lost_lease_stops_the_scheduler_without_waiting_for_its_jobs(service: SchedulerService) -> None:
    scheduler = _active(service)
    service.lease.renew = lambda: False  # type: ignore[method-assign]
    assert service.heartbeat() is False
    assert not service.active and service.requests is None
    assert scheduler.calls == [("shutdown", False)]
    assert "Lost the scheduler lease" in service.lines[-1]  # type: ignore[attr-defined]


def test_a_lost_lease_while_stopping_leaves_the_stop_to_finish(service: SchedulerService) -> None:
    scheduler = _active(service)
    service.lease.renew = lambda: False  # type: ignore[method-assign]
    assert service.heartbeat(stopping=True) is False
    assert service.scheduler is scheduler and scheduler.calls == []
    assert service.lines == []  # type: ignore[attr-defined]


# --- activation -------------------------------------------------------------------------------
def test_jobs_are_reconciled_while_the_scheduler_is_paused(make_service: Any, monkeypatch: Any) -> None:
    service = make_service()
    states: list[int] = []
    real = reconcile.start_jobs

    def start_jobs(scheduler: Any, specs: Any, owner: str) -> Any:
        states.append(scheduler.state)
        return real(scheduler, specs, owner)

    monkeypatch.setattr(reconcile, "start_jobs", start_jobs)
    assert service.try_activate() is True
    assert states == [STATE_PAUSED]
    assert service.scheduler.state == STATE_RUNNING
    assert service.requests.handoff_timeout == service.handoff_timeout


def test_a_failed_activation_shuts_its_scheduler_down_and_raises(make_service: Any, monkeypatch: Any) -> None:
    service = make_service()
    built: list[Any] = []
    real_build = loop.build_scheduler

    def build() -> Any:
        built.append(real_build())
        return built[-1]

    monkeypatch.setattr(loop, "build_scheduler", build)

    def start_jobs(scheduler: Any, specs: Any, owner: str) -> Any:
        raise RuntimeError("config broken")

    monkeypatch.setattr(reconcile, "start_jobs", start_jobs)
    with pytest.raises(RuntimeError, match="config broken"):
        service.activate()
    assert len(built) == 1 and not built[0].running
    assert not service.active


# --- stopping the scheduler -------------------------------------------------------------------
def test_stopping_abandons_waiting_requests_even_if_the_database_fails(
    service: SchedulerService, caplog: Any
) -> None:
    scheduler = _active(service)

    class Requests:
        def abandon(self) -> int:
            raise DatabaseError("gone")

    service.requests = Requests()  # type: ignore[assignment]
    service._stop_scheduler(wait=True)
    assert scheduler.calls == [("shutdown", True)]
    assert service.scheduler is None and service.requests is None
    assert "scheduler_step_database_error" in _names(caplog)


def test_stopping_a_scheduler_that_no_longer_runs_only_forgets_it(service: SchedulerService) -> None:
    scheduler = _active(service)
    scheduler.running = False
    abandoned: list[str] = []
    service.requests = type("R", (), {"abandon": _doing(abandoned, "abandon", 0)})()
    service._stop_scheduler(wait=False)
    assert scheduler.calls == [] and abandoned == ["abandon"]
    assert service.scheduler is None and service.requests is None


def test_stopping_without_requests_still_shuts_the_scheduler_down(service: SchedulerService) -> None:
    scheduler = _active(service)
    service._stop_scheduler(wait=False)
    assert scheduler.calls == [("shutdown", False)] and not service.active


# --- the bounded stop -------------------------------------------------------------------------
def test_shutdown_pauses_stops_and_releases_the_lease_it_held(
    service: SchedulerService, clock: Clock, monkeypatch: Any, caplog: Any
) -> None:
    monkeypatch.setattr(loop, "running_jobs", Jobs([]))
    assert service.lease.claim()
    scheduler = _active(service)
    service.shutdown()
    assert scheduler.calls == ["pause", ("shutdown", False)]
    assert not _lease().alive
    assert service.lines[-1] == "Scheduler stopped."  # type: ignore[attr-defined]
    stopped = [e for e in _events(caplog) if e["event"] == "scheduler_stopped"]
    assert [e["was_active"] for e in stopped] == [True]
    assert clock.slept == []


def test_shutdown_of_a_scheduler_that_no_longer_runs_does_not_pause_it(
    service: SchedulerService, clock: Clock, monkeypatch: Any
) -> None:
    monkeypatch.setattr(loop, "running_jobs", Jobs([]))
    assert service.lease.claim()
    scheduler = _active(service)
    scheduler.running = False
    service.shutdown()
    assert scheduler.calls == []
    assert not _lease().alive


def test_a_standby_stops_without_touching_the_lease(
    service: SchedulerService, clock: Clock, monkeypatch: Any, caplog: Any
) -> None:
    other = Holder("far-away", 83, None)
    assert SchedulerLease.lease().claim(other, 30)
    released: list[bool] = []
    monkeypatch.setattr(service.lease, "release", lambda: released.append(True))
    monkeypatch.setattr(loop, "running_jobs", Jobs(["someone_elses_job"]))  # not ours to wait for
    service.shutdown()
    assert released == [] and clock.slept == []
    assert _lease().token == other.token
    stopped = [e for e in _events(caplog) if e["event"] == "scheduler_stopped"]
    assert [e["was_active"] for e in stopped] == [False]


@pytest.fixture
def cancels(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> list[tuple[float, str]]:
    asked: list[tuple[float, str]] = []
    monkeypatch.setattr(loop.cancel, "request_cancel", lambda reason: asked.append((clock.now, reason)))
    return asked


def test_the_stop_waits_for_jobs_that_end_within_the_grace_period(
    service: SchedulerService, clock: Clock, monkeypatch: Any, cancels: list[Any], caplog: Any
) -> None:
    monkeypatch.setattr(loop, "running_jobs", Jobs(["job_a", "job_b"], until=lambda: clock.now < START + 2))
    service._drain()
    assert cancels == []
    assert clock.now == pytest.approx(START + 2)
    assert service.lines == ["Stopping: waiting up to 5 s for job_a, job_b (again to exit now)..."]  # type: ignore[attr-defined]
    assert "scheduler_stop_cancelling" not in _names(caplog)


def test_the_stop_cancels_jobs_at_the_end_of_the_grace_period_and_waits_for_them(
    service: SchedulerService, clock: Clock, monkeypatch: Any, cancels: list[Any], caplog: Any
) -> None:
    monkeypatch.setattr(
        loop, "running_jobs", Jobs(["job_a"], until=lambda: not cancels or clock.now < cancels[0][0] + 1)
    )
    service._drain()
    assert cancels == [(START + 5, "cancelled: the scheduler stopped (grace period of 5 s over)")]
    assert clock.now == pytest.approx(START + 6)
    assert service.lines[-1] == "Grace period over: cancelling job_a at the next safe point."  # type: ignore[attr-defined]
    names = _names(caplog)
    assert "scheduler_stop_cancelling" in names and "scheduler_stop_jobs_left" not in names


def test_the_stop_with_nothing_running_neither_waits_nor_says_anything(
    service: SchedulerService, clock: Clock, monkeypatch: Any, cancels: list[Any]
) -> None:
    monkeypatch.setattr(loop, "running_jobs", Jobs([]))
    service._drain()
    assert clock.slept == [] and cancels == [] and service.lines == []  # type: ignore[attr-defined]


def _heartbeats(service: SchedulerService, result: Callable[[], bool] = lambda: True) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def heartbeat(**kw: Any) -> bool:
        calls.append(kw)
        return result()

    service.heartbeat = heartbeat  # type: ignore[method-assign]
    return calls


def test_waiting_for_jobs_gives_up_exactly_at_the_deadline_renewing_the_lease_meanwhile(
    service: SchedulerService, clock: Clock, monkeypatch: Any
) -> None:
    monkeypatch.setattr(loop, "running_jobs", Jobs(["job_a"]))
    beats = _heartbeats(service)
    deadline = START + 5 * POLL
    assert service._wait_for_jobs(deadline) is False
    assert clock.now == deadline
    assert clock.slept == [POLL] * 5
    assert beats == [{"stopping": True}] * 5


def test_waiting_for_jobs_without_a_deadline_lasts_until_they_end(
    service: SchedulerService, clock: Clock, monkeypatch: Any
) -> None:
    monkeypatch.setattr(loop, "running_jobs", Jobs(["job_a"], until=lambda: clock.polls < 3))
    beats = _heartbeats(service)
    assert service._wait_for_jobs(None) is True
    assert clock.slept == [POLL] * 3 and len(beats) == 3


def test_waiting_with_nothing_running_returns_at_once(
    service: SchedulerService, clock: Clock, monkeypatch: Any
) -> None:
    monkeypatch.setattr(loop, "running_jobs", Jobs([]))
    beats = _heartbeats(service)
    assert service._wait_for_jobs(START) is True
    assert clock.slept == [] and beats == []


def test_waiting_for_jobs_survives_a_database_error_in_the_heartbeat(
    service: SchedulerService, clock: Clock, monkeypatch: Any, caplog: Any
) -> None:
    monkeypatch.setattr(loop, "running_jobs", Jobs(["job_a"], until=lambda: clock.polls < 2))

    def gone() -> bool:
        raise DatabaseError("gone")

    _heartbeats(service, gone)
    assert service._wait_for_jobs(START + 10) is True
    assert _names(caplog).count("scheduler_step_database_error") == 2


def test_a_lost_lease_during_the_stop_does_not_cut_the_running_jobs_short(
    service: SchedulerService, clock: Clock, monkeypatch: Any
) -> None:
    scheduler = _active(service)
    service.lease.renew = lambda: False  # type: ignore[method-assign]
    monkeypatch.setattr(loop, "running_jobs", Jobs(["job_a"], until=lambda: clock.polls < 2))
    assert service._wait_for_jobs(START + 10) is True
    assert service.scheduler is scheduler and scheduler.calls == []


# --- admin hand-offs, through the service -----------------------------------------------------
def test_a_step_applies_at_most_50_commands(service: SchedulerService, monkeypatch: Any) -> None:
    monkeypatch.setattr(commands.job_configs, "reconcile_all", lambda s: "ok")
    SchedulerCommand.objects.bulk_create(
        SchedulerCommand(action="reload", requested_by="admin") for _ in range(51)
    )
    _active(service)
    assert service.apply_commands() == 50
    assert SchedulerCommand.objects.filter(status=CommandStatus.PENDING).count() == 1


def test_a_step_takes_at_most_20_run_requests(service: SchedulerService) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    for _ in range(21):
        TaskRequest.objects.create(task="whalefall.tasks.cleanup_history", job_id="no_such_job")
    service.requests = commands.RunRequests(BackgroundScheduler(), service.claim_label, 1)
    assert service.process_requests() == 0
    assert TaskRequest.objects.filter(status=TaskRequestStatus.FAILED).count() == 20
    assert TaskRequest.objects.filter(status=TaskRequestStatus.PENDING).count() == 1
