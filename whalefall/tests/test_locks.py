"""Sync locks across processes, expiry, renewal, and crash recovery."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from whalefall.choices import RecordStatus, SessionStatus, SyncCategory
from whalefall.models import SyncLock
from whalefall.sync import ledger
from whalefall.sync.locks import LockConflict, acquire_lock, cleanup_expired_locks, hold_lock, process_owner
from whalefall.sync.recovery import INTERRUPTED, recover_interrupted_sessions
from whalefall.tests import live
from whalefall.tests.factories import InstanceFactory

HOLD_LOCK = """
from whalefall.sync.locks import acquire_lock
from whalefall.sync import ledger
from whalefall.models import Instance
handle = acquire_lock("capacity")
session = ledger.create_session("capacity", "manual", created_by="other")
ledger.add_instance_records(session, Instance.objects.all())[0].start()
print("held", handle.owner, flush=True)
import time
time.sleep(120)
"""


@pytest.fixture
def other_process():  # type: ignore[no-untyped-def]
    """A second real process holding the capacity lock with a running session."""
    InstanceFactory()
    proc = live.manage_py("shell", "--no-imports", "-c", HOLD_LOCK)
    line = proc.stdout.readline()
    if not line.startswith("held"):
        proc.kill()
        pytest.fail(f"helper process did not take the lock: {line!r} {proc.stderr.read()}")
    yield proc, line.split()[1]
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_it_refuses_the_lock_held_by_another_process(other_process) -> None:  # type: ignore[no-untyped-def]
    _, owner = other_process
    assert owner != process_owner()
    with pytest.raises(LockConflict) as info:
        acquire_lock(SyncCategory.CAPACITY)
    assert info.value.owner == owner and owner in str(info.value) and "since" in str(info.value)
    acquire_lock(SyncCategory.ACCOUNT).release()  # other categories are independent


@pytest.mark.django_db(transaction=True)
def test_it_recovers_sessions_and_locks_of_a_killed_process(other_process) -> None:  # type: ignore[no-untyped-def]
    proc, owner = other_process
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert recover_interrupted_sessions() == 1
    session = ledger.SyncSession.objects.get(owner=owner)
    assert session.status == SessionStatus.INTERRUPTED and session.error.startswith(str(INTERRUPTED))
    assert "is gone" in session.error
    assert session.records.get().status == RecordStatus.INTERRUPTED
    assert not SyncLock.objects.filter(owner=owner).exists()
    acquire_lock(SyncCategory.CAPACITY).release()


@pytest.mark.django_db(transaction=True)
def test_it_leaves_a_live_run_alone(other_process) -> None:  # type: ignore[no-untyped-def]
    assert recover_interrupted_sessions() == 0
    assert SyncLock.objects.filter(owner=other_process[1]).exists()


@pytest.mark.django_db
def test_it_takes_over_an_expired_lock() -> None:
    stale = acquire_lock(SyncCategory.ACCOUNT)
    SyncLock.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    fresh = acquire_lock(SyncCategory.ACCOUNT)
    assert fresh.token != stale.token
    assert not stale.renew(), "a holder whose lock was taken over must learn it lost it"
    assert fresh.renew()


@pytest.mark.django_db
def test_it_cleans_expired_locks_only(caplog: pytest.LogCaptureFixture) -> None:
    acquire_lock(SyncCategory.ACCOUNT)
    acquire_lock(SyncCategory.CAPACITY)
    assert cleanup_expired_locks() == 0
    SyncLock.objects.filter(category=SyncCategory.ACCOUNT).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert cleanup_expired_locks() == 1
    assert list(SyncLock.objects.values_list("category", flat=True)) == ["capacity"]
    cleaned = [
        r.msg
        for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == "sync_lock_expired_cleaned"
    ]
    assert [c["count"] for c in cleaned] == [1]  # said once, when something was cleaned


@pytest.mark.django_db(transaction=True)
def test_it_renews_while_held_and_releases_after(settings) -> None:  # type: ignore[no-untyped-def]
    import time

    with hold_lock(SyncCategory.AGGREGATION, ttl=3) as handle:
        first = SyncLock.objects.get(token=handle.token).expires_at
        time.sleep(1.5)  # the renewer runs every ttl/3 = 1 s
        assert SyncLock.objects.get(token=handle.token).expires_at > first
    assert not SyncLock.objects.exists()


@pytest.mark.django_db
def test_it_interrupts_a_running_session_whose_lock_expired() -> None:
    session = ledger.create_session(SyncCategory.ACCOUNT, "scheduled")
    assert recover_interrupted_sessions() == 1  # no lock backs it: its run is gone
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED


@pytest.mark.django_db(transaction=True)
def test_a_killed_holder_on_this_host_is_taken_over_at_once(other_process) -> None:  # type: ignore[no-untyped-def]
    """kill -9 of a run: the next run on the same host does not wait for the expiry."""
    proc, owner = other_process
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    lock = SyncLock.objects.get(category=SyncCategory.CAPACITY)
    assert lock.expires_at > timezone.now() + timedelta(minutes=5)  # far from expiring
    handle = acquire_lock(SyncCategory.CAPACITY)  # no recovery step needed first
    assert handle.owner == process_owner()
    session = ledger.SyncSession.objects.get(owner=owner)
    assert session.status == SessionStatus.INTERRUPTED and f"process {proc.pid} is gone" in session.error
    assert session.records.get().status == RecordStatus.INTERRUPTED
    handle.release()


def _foreign_lock(category: str, **fields: object) -> SyncLock:
    now = timezone.now()
    values = {"owner": "x-1", "token": "f" * 32, "locked_at": now, "expires_at": now + timedelta(minutes=30)}
    return SyncLock.objects.create(category=category, **{**values, **fields})


def _my_key() -> tuple[str, str, str]:
    from whalefall.sync.process import my_process_key

    key = my_process_key()
    if not key:
        pytest.skip("no kernel process key here (needs Linux's /proc)")
    boot, namespace, ticks = key.split("/")
    return boot, namespace, ticks


@pytest.mark.django_db
def test_a_reused_pid_is_not_mistaken_for_the_holder() -> None:
    from whalefall.sync.process import hostname

    boot, namespace, ticks = _my_key()
    _foreign_lock(
        SyncCategory.ACCOUNT,
        owner=f"{hostname()}-{os.getpid()}",
        host=hostname(),
        pid=os.getpid(),  # alive: this very process...
        process_key=f"{boot}/{namespace}/{int(ticks) - 100}",  # ...but not the one that took the lock
    )
    session = ledger.create_session(SyncCategory.ACCOUNT, "manual")
    session.owner = f"{hostname()}-{os.getpid()}"
    session.save()
    handle = acquire_lock(SyncCategory.ACCOUNT)
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED and "now belongs to another process" in session.error
    handle.release()


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["another pid namespace", "another boot"])
def test_a_holder_whose_pid_means_another_process_here_is_judged_by_its_expiry(where: str) -> None:
    """A container that shares this host's name has pids of its own, and a holder from before a
    restart (or from a machine of the same name) cannot be probed either: neither an absent pid
    nor a different process under it says that holder died, only its expiry does."""
    from whalefall.sync.process import hostname

    boot, namespace, ticks = _my_key()
    ended = subprocess.Popen(["true"])
    ended.wait()
    key = (
        f"{boot}/{int(namespace) + 1}/{ticks}"
        if where == "another pid namespace"
        else f"{'0' * 32}/{namespace}/{ticks}"
    )
    _foreign_lock(
        SyncCategory.ACCOUNT, owner=f"{hostname()}-1", host=hostname(), pid=os.getpid(), process_key=key
    )
    with pytest.raises(LockConflict):
        acquire_lock(SyncCategory.ACCOUNT)
    owner = f"{hostname()}-{ended.pid}"
    SyncLock.objects.update(pid=ended.pid, owner=owner)  # no such pid here
    session = ledger.create_session(SyncCategory.ACCOUNT, "scheduled")
    ledger.SyncSession.objects.filter(pk=session.pk).update(owner=owner)
    with pytest.raises(LockConflict):
        acquire_lock(SyncCategory.ACCOUNT)
    assert recover_interrupted_sessions() == 0  # its run goes on, over there
    session.refresh_from_db()
    assert session.status == SessionStatus.RUNNING
    SyncLock.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    acquire_lock(SyncCategory.ACCOUNT).release()


@pytest.mark.django_db
def test_a_live_holder_of_this_host_is_respected() -> None:
    from whalefall.sync.process import hostname, my_process_key, my_start_time

    _foreign_lock(
        SyncCategory.ACCOUNT,
        host=hostname(),
        pid=os.getpid(),
        process_started_at=my_start_time(),
        process_key=my_process_key(),
    )
    with pytest.raises(LockConflict):
        acquire_lock(SyncCategory.ACCOUNT)


@pytest.mark.django_db
def test_a_live_holder_is_respected_after_the_clock_was_stepped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel recomputes the boot time from the wall clock: after an NTP step every process
    seems to have started at another time. A live holder must not be taken for a stranger then."""
    from whalefall.sync import process

    held = acquire_lock(SyncCategory.ACCOUNT)
    boot = process._boot_time()
    assert boot is not None
    monkeypatch.setattr(process, "_boot_time", lambda: boot + 30)  # the clock moved 30 s
    try:
        with pytest.raises(LockConflict, match=re.escape(held.owner)):
            acquire_lock(SyncCategory.ACCOUNT)
        assert recover_interrupted_sessions() == 0
        assert SyncLock.objects.get(category=SyncCategory.ACCOUNT).token == held.token
    finally:
        held.release()


def test_a_forked_child_knows_itself_not_its_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child made by fork inherits the parent's memory: it must not hold locks under the
    parent's key, or its own live lock would later look like a reused pid."""
    from whalefall.sync import process

    parent = process.my_process_key()
    child = 1  # stands for the child's pid: some other live process, started at another tick
    monkeypatch.setattr(process.os, "getpid", lambda: child)
    assert process.my_process_key() == process.process_key(child) != parent
    monkeypatch.undo()
    assert process.my_process_key() == parent


@pytest.mark.django_db
def test_a_holder_recorded_without_a_process_key_is_dead_only_once_its_pid_is() -> None:
    """Locks written before the key existed (or off Linux): never guess that a live pid is
    another process, not even from a start time that no longer matches; a pid that no longer
    exists is still known dead."""
    from whalefall.sync.process import hostname

    ended = subprocess.Popen(["true"])
    ended.wait()
    _foreign_lock(
        SyncCategory.ACCOUNT,
        host=hostname(),
        pid=os.getpid(),
        process_started_at=timezone.now() - timedelta(days=3),  # not this process's: not compared
        process_key="",
    )
    with pytest.raises(LockConflict):
        acquire_lock(SyncCategory.ACCOUNT)
    SyncLock.objects.update(pid=ended.pid)
    acquire_lock(SyncCategory.ACCOUNT).release()


@pytest.mark.django_db
def test_a_holder_on_another_host_is_judged_by_its_expiry() -> None:
    _foreign_lock(SyncCategory.ACCOUNT, owner="far-away-77", host="far-away", pid=77)
    with pytest.raises(LockConflict, match="far-away-77"):
        acquire_lock(SyncCategory.ACCOUNT)
    SyncLock.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    acquire_lock(SyncCategory.ACCOUNT).release()


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_run_ends_cancelled_and_releases_the_lock() -> None:
    from whalefall.sync import cancel
    from whalefall.sync.phases import InstanceResult
    from whalefall.sync.session_runner import run_sync, unit_of

    instances = InstanceFactory.create_batch(4)

    def work(instance, session):  # type: ignore[no-untyped-def]
        cancel.request_cancel("cancelled by test")  # as a Ctrl-C during the first instance
        return InstanceResult(items_synced=1)

    try:
        session = run_sync(
            category="account",
            module="t",
            instances=instances,
            unit=unit_of("t", work),
            trigger="manual",
            max_workers=1,
        )
    finally:
        cancel.reset()
    statuses = sorted(session.records.values_list("status", flat=True))
    assert statuses == ["cancelled", "cancelled", "cancelled", "completed"]
    assert session.status == SessionStatus.CANCELLED
    assert not SyncLock.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_record_keeps_every_attempt_and_times_them_all(settings) -> None:  # type: ignore[no-untyped-def]
    from whalefall.sync.phases import InstanceResult, PhaseError
    from whalefall.sync.session_runner import run_sync, unit_of

    settings.WHALEFALL_RETRY_DELAYS = [0.3]
    calls = []

    def work(instance, session):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise PhaseError("collection", "lost connection", transient=True)
        return InstanceResult(items_synced=2)

    session = run_sync(category="account", module="t", instances=[InstanceFactory()], unit=unit_of("t", work))
    record = session.records.get()
    assert (record.status, record.attempts) == ("completed", 2)
    assert [(h["attempt"], h["phase"], h["error"]) for h in record.attempt_history] == [
        (1, "collection", "lost connection")
    ]
    assert record.duration is not None and record.duration >= 0.3  # the first attempt's start


def test_a_lock_is_renewed_three_times_per_ttl_but_at_most_once_a_second() -> None:
    from whalefall.leases import renewal_interval

    assert renewal_interval(30) == 10
    assert renewal_interval(4.5) == 1.5
    assert renewal_interval(1.5) == 1  # a very short TTL: no busy renewing


@pytest.mark.django_db
def test_a_lock_holds_through_its_expiry_instant_and_is_free_after() -> None:
    from whalefall.sync import locks

    at = timezone.now()
    _foreign_lock(SyncCategory.ACCOUNT, owner="far-away-78", host="far-away", pid=78, expires_at=at)
    lock = SyncLock.objects.get()
    assert not locks._expired(lock, at)
    assert locks._expired(lock, at + timedelta(microseconds=1))


@pytest.mark.django_db
def test_a_conflict_names_the_holder_and_since_when() -> None:
    _foreign_lock(SyncCategory.CAPACITY, owner="far-away-79", host="far-away", pid=79)
    holder = SyncLock.objects.get()
    with pytest.raises(LockConflict) as info:
        acquire_lock(SyncCategory.CAPACITY)
    assert (info.value.owner, info.value.locked_at) == ("far-away-79", holder.locked_at)
    since = timezone.localtime(holder.locked_at).strftime("%Y-%m-%d %H:%M:%S")
    assert f"held by far-away-79 since {since}" in str(info.value)


@pytest.mark.django_db(transaction=True)
def test_the_renewer_never_keeps_the_process_alive() -> None:
    """A renewal stuck on the metadata database must not stop the process from exiting."""
    import threading

    with hold_lock(SyncCategory.ACCOUNT):
        (renewer,) = [t for t in threading.enumerate() if t.name == f"lock-renew-{SyncCategory.ACCOUNT}"]
        assert renewer.daemon and renewer.is_alive()
    renewer.join(timeout=10)
    assert not renewer.is_alive()


@pytest.mark.django_db(transaction=True)
def test_a_renewal_that_fails_is_tried_again_and_the_lock_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """The metadata database away for a moment: the renewer logs, reconnects and renews next time,
    instead of ending and letting the lock of a live run expire."""
    import threading

    from django.db import OperationalError

    from whalefall.sync import locks

    monkeypatch.setattr(locks, "renewal_interval", lambda ttl: 0.05)
    real_renew, calls, renewed = locks.LockHandle.renew, [], threading.Event()

    def flaky(self, ttl=None):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) <= 2:
            raise OperationalError("server closed the connection unexpectedly")
        ok = real_renew(self, ttl)
        renewed.set()
        return ok

    monkeypatch.setattr(locks.LockHandle, "renew", flaky)
    with hold_lock(SyncCategory.ACCOUNT, ttl=60) as handle:
        assert renewed.wait(10), "the renewer gave up after a failed renewal"
        assert not handle.lost.is_set()
        assert SyncLock.objects.get(category=SyncCategory.ACCOUNT).token == handle.token
    assert len(calls) >= 3


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_lock_was_taken_stops_at_its_next_safe_point_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another process took the lock (this one could not renew it in time): the run stops before
    its next instance, its records say why, and the process's other runs are not cancelled."""
    import time

    from whalefall.sync import cancel, locks
    from whalefall.sync.phases import InstanceResult
    from whalefall.sync.session_runner import run_sync, unit_of

    monkeypatch.setattr(locks, "renewal_interval", lambda ttl: 0.05)
    instances = InstanceFactory.create_batch(3)
    done: list[str] = []

    def work(instance, session):  # type: ignore[no-untyped-def]
        if not done:  # during the first instance, another process takes the lock over
            SyncLock.objects.filter(category="account").update(token="e" * 32, owner="far-away-5")
            deadline = time.monotonic() + 10
            while not cancel.cancelled(session.pk) and time.monotonic() < deadline:
                time.sleep(0.02)
        done.append(instance.name)
        return InstanceResult(items_synced=1)

    session = run_sync(
        category="account",
        module="t",
        instances=instances,
        unit=unit_of("t", work),
        trigger="manual",
        max_workers=1,
    )
    records = list(session.records.order_by("status"))
    assert [r.status for r in records] == ["cancelled", "cancelled", "completed"]
    assert all(str(locks.LOCK_LOST) in r.error_message for r in records[:2])
    assert len(done) == 1
    # Cut off, whatever its instances say: a failure to look at, saying why.
    assert session.status == SessionStatus.INTERRUPTED and str(locks.LOCK_LOST) in session.error
    assert ledger.SyncSession.objects.unread_failures().filter(pk=session.pk).exists()
    assert not cancel.cancelled()  # the process's flag: other runs go on
    assert SyncLock.objects.get().owner == "far-away-5"  # the new holder's lock is left alone
