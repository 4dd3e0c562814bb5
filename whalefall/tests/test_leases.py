"""The one lease primitive behind the sync locks and the scheduler lease: each operation on its own,
and claimers racing in threads, each on its own database connection (SQLite file or PostgreSQL,
whichever metadata database the suite runs on)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from scheduling.models import SchedulerLease
from whalefall.leases import Holder, Lease
from whalefall.models import SyncLock
from whalefall.sync.process import hostname, my_start_time, process_key


def sync_lock() -> Lease[Any]:
    return Lease(SyncLock, "account", key_field="category", acquired_field="locked_at")


def scheduler_lease() -> Lease[Any]:
    return Lease(
        SchedulerLease,
        "scheduler",
        key_field="name",
        acquired_field="acquired_at",
        heartbeat_field="heartbeat_at",
        keep_row=True,
    )


BOTH = pytest.mark.parametrize("make", [sync_lock, scheduler_lease], ids=["row per holder", "kept row"])


def _expire(lease: Lease[Any]) -> None:
    lease.rows.update(expires_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db
@BOTH
def test_a_claim_records_who_holds_it_and_until_when(make: Callable[[], Lease[Any]]) -> None:
    lease, me = make(), Holder.this_process()
    before = timezone.now()
    assert lease.claim(me, 60)
    after = timezone.now()
    row = lease.current()
    assert (row.owner, row.token, row.host, row.pid) == (
        f"{hostname()}-{os.getpid()}",
        me.token,
        hostname(),
        os.getpid(),
    )
    assert row.process_started_at == my_start_time()
    assert row.process_key == process_key(os.getpid()) != ""
    assert before + timedelta(seconds=60) <= row.expires_at <= after + timedelta(seconds=60)
    assert before <= getattr(row, lease.acquired_field) <= after


@pytest.mark.django_db
@BOTH
def test_a_live_lease_is_refused_to_others_until_released(make: Callable[[], Lease[Any]]) -> None:
    lease, first, second = make(), Holder.this_process(), Holder.this_process()
    assert lease.claim(first, 60)
    assert lease.claim(first, 60), "claiming again what one holds is a renewal, not a conflict"
    assert not lease.claim(second, 60)
    assert not lease.claim(second, 60, steal_expired=False)
    assert not lease.release(second.token), "only the holder releases"
    assert lease.current().token == first.token
    assert lease.release(first.token)
    assert lease.claim(second, 60)
    assert lease.current().token == second.token


@pytest.mark.django_db
def test_released_sync_locks_leave_no_row_and_the_scheduler_lease_a_vacated_one() -> None:
    lock, sched, me = sync_lock(), scheduler_lease(), Holder.this_process()
    assert lock.claim(me, 60) and sched.claim(me, 60)
    lock.release(me.token)
    sched.release(me.token)
    assert not SyncLock.objects.exists()
    row = SchedulerLease.objects.get()
    assert row.token == "" and row.expires_at <= timezone.now() and row.owner == me.owner
    assert not row.alive


@pytest.mark.django_db
@BOTH
def test_renewal_moves_the_expiry_for_the_holder_only(make: Callable[[], Lease[Any]]) -> None:
    lease, me, other = make(), Holder.this_process(), Holder.this_process()
    lease.claim(me, 10)
    assert lease.renew(me.token, 600)
    assert lease.current().expires_at > timezone.now() + timedelta(seconds=590)
    assert not lease.renew(other.token, 600)
    assert not lease.renew("", 600), "an empty token never matches a vacated row"


@pytest.mark.django_db
@BOTH
def test_an_expired_lease_is_stolen_and_the_old_holder_learns_it(make: Callable[[], Lease[Any]]) -> None:
    lease, old, new = make(), Holder.this_process(), Holder.this_process()
    lease.claim(old, 60)
    _expire(lease)
    assert not lease.claim(new, 60, steal_expired=False), "without steal_expired, only take_over replaces"
    assert lease.claim(new, 60)
    assert lease.current().token == new.token
    assert not lease.renew(old.token, 60)
    assert not lease.release(old.token)
    assert lease.current().token == new.token


@pytest.mark.django_db
@BOTH
def test_a_take_over_needs_the_token_seen_and_an_expiry_unless_the_holder_is_dead(
    make: Callable[[], Lease[Any]],
) -> None:
    lease, holder, me = make(), Holder.this_process(), Holder.this_process()
    lease.claim(holder, 60)
    assert not lease.take_over(me, 60, from_token=holder.token, expired_only=True), "not expired yet"
    assert not lease.take_over(me, 60, from_token="someone-else", expired_only=False), "not that holder"
    assert lease.take_over(me, 60, from_token=holder.token, expired_only=False)  # known dead
    row = lease.current()
    assert row.token == me.token and row.expires_at > timezone.now() + timedelta(seconds=50)
    assert not lease.take_over(holder, 60, from_token=holder.token, expired_only=False), "already taken"


@pytest.mark.django_db
@BOTH
def test_an_eviction_for_expiry_spares_a_holder_that_renewed_meanwhile(
    make: Callable[[], Lease[Any]],
) -> None:
    lease, holder = make(), Holder.this_process()
    lease.claim(holder, 60)
    seen = lease.current()
    _expire(lease)
    lease.renew(holder.token, 60)  # between the look and the eviction
    assert not lease.evict(seen.token, expired_only=True)
    assert lease.current().token == holder.token
    _expire(lease)
    assert lease.evict(seen.token, expired_only=True)
    assert lease.current() is None or lease.current().token == ""


def _race(attempt: Callable[[Holder], bool], contenders: int) -> list[Holder]:
    """Run `attempt` for `contenders` holders in as many threads, released at once; the winners."""
    start = threading.Barrier(contenders)
    winners: list[Holder] = []
    errors: list[BaseException] = []

    def contend() -> None:
        holder = Holder.this_process()
        try:
            start.wait(timeout=30)
            if attempt(holder):
                winners.append(holder)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return winners


ROUNDS, CONTENDERS = 8, 6


@pytest.mark.django_db(transaction=True)
@BOTH
def test_racing_first_claims_let_exactly_one_in(make: Callable[[], Lease[Any]]) -> None:
    lease = make()
    for _ in range(ROUNDS):
        lease.rows.delete()
        winners = _race(lambda h: lease.claim(h, 60), CONTENDERS)
        assert len(winners) == 1, f"{len(winners)} claimers won a lease nobody held"
        assert lease.rows.count() == 1 and lease.current().token == winners[0].token


@pytest.mark.django_db(transaction=True)
@BOTH
def test_racing_steals_of_an_expired_lease_let_exactly_one_in(make: Callable[[], Lease[Any]]) -> None:
    lease, dead = make(), Holder.this_process()
    lease.claim(dead, 60)
    for _ in range(ROUNDS):
        _expire(lease)
        winners = _race(lambda h: lease.claim(h, 60), CONTENDERS)
        assert len(winners) == 1, f"{len(winners)} claimers stole the same expired lease"
        assert lease.current().token == winners[0].token


@pytest.mark.django_db(transaction=True)
@BOTH
def test_racing_take_overs_of_a_dead_holder_let_exactly_one_in(make: Callable[[], Lease[Any]]) -> None:
    lease = make()
    for _ in range(ROUNDS):
        dead = Holder.this_process()
        lease.rows.delete()
        lease.claim(dead, 600)  # far from expiring: only "known dead" lets anyone in
        winners = _race(
            lambda h, seen=dead.token: lease.take_over(h, 60, from_token=seen, expired_only=False), CONTENDERS
        )
        assert len(winners) == 1, f"{len(winners)} processes took over the same dead holder"
        assert lease.current().token == winners[0].token


def _database_has_its_own_clock() -> None:
    if connection.vendor == "sqlite":
        pytest.skip("an SQLite metadata database is a file on this host: its clock is this host's")


@pytest.mark.django_db
@BOTH
@pytest.mark.parametrize("skew", [timedelta(seconds=25), timedelta(hours=2)], ids=["25 s", "2 h"])
def test_a_contender_whose_clock_runs_ahead_does_not_take_a_live_lease(
    make: Callable[[], Lease[Any]], skew: timedelta, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hosts' clocks differ; expiry is judged by the database's, so a standby whose clock runs
    ahead neither claims a live lease nor sees it expired, and a holder whose clock runs behind
    renews to an expiry the others read alike."""
    _database_has_its_own_clock()
    lease, holder, standby = make(), Holder("here", 1, None), Holder("there", 2, None)
    assert lease.claim(holder, 30)
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + skew)  # this process is "there"
    assert not lease.claim(standby, 30)
    assert not lease.take_over(standby, 30, from_token=holder.token, expired_only=True)
    assert not lease.evict(holder.token, expired_only=True)
    monkeypatch.setattr(timezone, "now", lambda: real_now() - skew)  # and now "here", behind
    assert lease.renew(holder.token, 30)
    row = lease.current()
    assert row.token == holder.token
    assert abs((row.expires_at - (real_now() + timedelta(seconds=30))).total_seconds()) < 5


@pytest.mark.django_db
def test_a_sync_lock_is_judged_by_the_database_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run, a cleanup or a recovery on a host whose clock is hours ahead leaves a live lock of
    another host alone; the scheduler status page still reads a live scheduler as alive."""
    from whalefall.sync.locks import LockConflict, acquire_lock, cleanup_expired_locks
    from whalefall.sync.recovery import recover_interrupted_sessions

    _database_has_its_own_clock()
    now = timezone.now()
    SyncLock.objects.create(
        category="account", owner="far-away-9", token="f" * 32, host="far-away", pid=9,
        locked_at=now, expires_at=now + timedelta(minutes=30),
    )  # fmt: skip
    assert SchedulerLease.lease().claim(Holder("far-away", 9, None), 30)
    monkeypatch.setattr(timezone, "now", lambda: now + timedelta(hours=3))
    with pytest.raises(LockConflict, match="far-away-9"):
        acquire_lock("account")
    assert cleanup_expired_locks() == 0 and recover_interrupted_sessions() == 0
    assert SyncLock.objects.get().owner == "far-away-9" and SyncLock.objects.expired().count() == 0
    assert SchedulerLease.current().alive
