"""The scheduler's hold on its lease, on a clock the test moves: renewals every third of the
lease and not more often, the standby message said once per standby, the lost lease noticed."""

from __future__ import annotations

from typing import Any

import pytest

from scheduling.models import SchedulerLease
from scheduling.service import leasekeeper
from scheduling.service.leasekeeper import LeaseKeeper
from whalefall.leases import Holder

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(leasekeeper.time, "monotonic", c)
    return c


def keeper(said: list[str]) -> LeaseKeeper:
    return LeaseKeeper(30, said.append)


def test_it_renews_every_third_of_the_lease_and_not_more_often(clock: Clock, monkeypatch: Any) -> None:
    k = keeper([])
    assert k.claim()
    renewals: list[float] = []
    real = SchedulerLease.renew

    def counted(**kw: Any) -> bool:
        renewals.append(clock.now)
        return real(**kw)

    monkeypatch.setattr(SchedulerLease, "renew", counted)
    for t in (1005.0, 1009.9):
        clock.now = t
        assert k.renew() is True
    assert renewals == []  # too soon: no query
    clock.now = 1010.0  # a third of 30 s after the claim
    assert k.renew() is True and renewals == [1010.0]
    clock.now = 1019.0
    assert k.renew() is True and renewals == [1010.0]
    clock.now = 1020.0
    assert k.renew() is True and renewals == [1010.0, 1020.0]


def test_a_lost_lease_is_noticed_and_the_standby_said_again(clock: Clock, caplog: Any) -> None:
    said: list[str] = []
    k = keeper(said)
    assert k.claim()
    SchedulerLease.objects.all().delete()  # expired and gone...
    other = Holder("far-away", 81, None)
    assert SchedulerLease.lease().claim(other, 30)  # ...and taken by another process
    clock.now += 10
    assert k.renew() is False
    assert not k.claim() and not k.claim()  # standing by
    assert len(said) == 1 and "far-away-81" in said[0]
    standby = [
        r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "scheduler_standby"
    ]
    assert [s["holder"] for s in standby] == ["far-away-81"]


def test_the_standby_message_is_said_once_per_standby(clock: Clock) -> None:
    said: list[str] = []
    other = Holder("far-away", 82, None)
    assert SchedulerLease.lease().claim(other, 30)
    k = keeper(said)
    assert not k.claim() and not k.claim()
    assert len(said) == 1


def test_a_lease_of_any_length_is_renewed_at_its_third(clock: Clock) -> None:
    k = LeaseKeeper(31, [].append)
    assert k.claim()
    clock.now += 10.2  # past 31 // 3, not yet 31 / 3
    renewed_at = k.renewed_at
    assert k.renew() is True and k.renewed_at == renewed_at  # not renewed yet
    clock.now += 0.2
    assert k.renew() is True and k.renewed_at == clock.now


def test_a_standby_that_finds_no_holder_says_another_process(clock: Clock, monkeypatch: Any) -> None:
    """The lease was released between the failed claim and the look at who holds it."""
    said: list[str] = []
    monkeypatch.setattr(SchedulerLease, "lease", lambda: type("L", (), {"claim": lambda self, h, s: False})())
    monkeypatch.setattr(SchedulerLease, "current", lambda: None)
    assert not LeaseKeeper(30, said.append).claim()
    assert len(said) == 1 and "another process" in said[0]
