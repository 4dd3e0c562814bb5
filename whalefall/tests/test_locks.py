"""Sync locks across processes, expiry, renewal, and crash recovery."""

from __future__ import annotations

import os
import signal
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
ledger.start_instance_sync(ledger.add_instance_records(session, Instance.objects.all())[0])
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
    assert session.status == SessionStatus.INTERRUPTED and session.error.startswith(INTERRUPTED)
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
def test_it_cleans_expired_locks_only() -> None:
    acquire_lock(SyncCategory.ACCOUNT)
    acquire_lock(SyncCategory.CAPACITY)
    SyncLock.objects.filter(category=SyncCategory.ACCOUNT).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert cleanup_expired_locks() == 1
    assert list(SyncLock.objects.values_list("category", flat=True)) == ["capacity"]


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
