"""Sync-lock details the cross-process tests do not pin: expiry arithmetic, the conflict message,
and a holder that learns it lost its lock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from whalefall.choices import SyncCategory
from whalefall.models import SyncLock
from whalefall.sync.locks import LockConflict, acquire_lock, cleanup_expired_locks, hold_lock


@pytest.mark.django_db
def test_the_expiry_is_now_plus_the_ttl(settings: Any) -> None:
    settings.WHALEFALL_LOCK_TTL = 1800
    before = timezone.now()
    default = acquire_lock(SyncCategory.ACCOUNT)
    short = acquire_lock(SyncCategory.CAPACITY, ttl=60)
    after = timezone.now()
    rows = {r.category: r for r in SyncLock.objects.all()}
    assert before + timedelta(seconds=1800) <= rows["account"].expires_at <= after + timedelta(seconds=1800)
    assert before + timedelta(seconds=60) <= rows["capacity"].expires_at <= after + timedelta(seconds=60)
    assert before <= rows["account"].locked_at <= after and rows["account"].owner == default.owner

    assert short.renew(600)
    renewed = SyncLock.objects.get(category="capacity").expires_at
    assert timezone.now() + timedelta(seconds=590) < renewed <= timezone.now() + timedelta(seconds=600)
    assert default.renew()
    assert SyncLock.objects.get(category="account").expires_at > after + timedelta(seconds=1790)


@pytest.mark.django_db
def test_a_lock_just_expiring_is_still_held(settings: Any) -> None:
    acquire_lock(SyncCategory.ACCOUNT)
    SyncLock.objects.update(expires_at=timezone.now() + timedelta(seconds=30))
    with pytest.raises(LockConflict):
        acquire_lock(SyncCategory.ACCOUNT)
    assert cleanup_expired_locks() == 0


@pytest.mark.django_db
def test_release_removes_only_its_own_lock() -> None:
    mine = acquire_lock(SyncCategory.ACCOUNT)
    other = acquire_lock(SyncCategory.CAPACITY)
    mine.release()
    assert list(SyncLock.objects.values_list("token", flat=True)) == [other.token]


def test_the_conflict_message_names_the_owner_and_since_when(settings: Any) -> None:
    settings.TIME_ZONE = "UTC"
    since = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    conflict = LockConflict("account", "db-host-4242", since)
    assert (
        str(conflict)
        == "a account sync is already running (lock held by db-host-4242 since 2026-01-02 03:04:05 UTC)"
    )
    assert str(LockConflict("capacity", "unknown", None)).endswith("(lock held by unknown since ?)")


@pytest.mark.django_db(transaction=True)
def test_a_holder_whose_lock_was_taken_logs_it_and_stops_renewing(caplog: Any) -> None:
    with hold_lock(SyncCategory.AGGREGATION, ttl=3) as handle:
        SyncLock.objects.filter(token=handle.token).delete()  # expired and cleaned by someone else
        thief = acquire_lock(SyncCategory.AGGREGATION, ttl=3)
        time.sleep(1.5)
        lost = [
            r.msg
            for r in caplog.records
            if isinstance(r.msg, dict) and r.msg.get("event") == "sync_lock_lost"
        ]
        assert lost and lost[0]["category"] == "aggregation" and lost[0]["owner"] == handle.owner
    assert list(SyncLock.objects.values_list("token", flat=True)) == [
        thief.token
    ]  # not released by the loser
