"""The fault suite: real faults between WhaleFall and the live MariaDB, and in its own processes.

Every case syncs a set of real accounts once (the baseline), injects the fault through a TCP
proxy the test controls (or kills a process), and checks the session and record outcome, the
error kind, the retries (every attempt's phase and error kept), and that no stored account was
deactivated and no permission changed because of the fault.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from accounts_sync.coordinator import AccountSyncCoordinator
from accounts_sync.models import Account
from whalefall.models import Instance, SyncLock, SyncSession
from whalefall.sync.session_runner import run_sync, unit_of
from whalefall.tests import live
from whalefall.tests.factories import CredentialFactory, InstanceFactory
from whalefall.tests.faultproxy import FaultProxy

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
RETRIES = 3


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    live.require("127.0.0.1", 3306, "MariaDB")
    with FaultProxy(3306) as p:
        yield p


@pytest.fixture
def watched(mysql_user: Any, proxy: FaultProxy, settings: Any) -> Iterator[dict[str, Any]]:
    """Three real accounts (one with a table grant) watched through the proxy by a
    least-privilege monitoring login; synced once, so the stored state is the baseline."""
    settings.WHALEFALL_RETRY_ATTEMPTS = RETRIES
    prefix = live.unique("wf_flt")
    monitor, password = mysql_user(grants=("GRANT SELECT ON mysql.* TO {user}",))
    with live.mysql_root() as root:
        for i in range(3):
            live.run(root, f"CREATE USER '{prefix}_{i}'@'%' IDENTIFIED BY 'x{i}Pw-1'")
        live.run(root, f"GRANT SELECT ON mysql.db TO '{prefix}_0'@'%'")
    instance = InstanceFactory(
        db_type="mysql",
        host="127.0.0.1",
        port=proxy.port,
        credential=CredentialFactory(username=monitor, password=password),
    )
    data = {"instance": instance, "prefix": prefix, "monitor": monitor}
    session = sync(data)
    assert session.status == "completed", session.summary()
    data["baseline"] = stored(instance)
    assert len(data["baseline"]) == 3 and all(active for active, _ in data["baseline"].values())
    yield data
    with live.mysql_root() as root:
        live.run(root, *(f"DROP USER IF EXISTS '{prefix}_{i}'@'%'" for i in range(3)))


def sync(data: dict[str, Any]) -> SyncSession:
    """One manual account sync session of the watched instance, scoped to its accounts."""

    def work(instance: Instance, session: SyncSession) -> Any:
        with AccountSyncCoordinator(instance, session=session, only_like=f"{data['prefix']}%") as c:
            return c.run()

    return run_sync(
        category="account",
        module="account_sync",
        instances=[data["instance"]],
        unit=unit_of("account_sync", work),
        trigger="manual",
        created_by="fault-test",
    )


def stored(instance: Instance) -> dict[str, tuple[bool, str]]:
    return {
        a.identity: (a.is_active, a.snapshot.hash if hasattr(a, "snapshot") else "")
        for a in Account.objects.filter(instance=instance).select_related("snapshot")
    }


def assert_nothing_lost(data: dict[str, Any]) -> None:
    assert stored(data["instance"]) == data["baseline"], "the fault changed stored accounts"


def assert_full_failure_shape(record: Any, phase: str) -> None:
    details = record.sync_details
    assert details["failed_phase"] == phase
    for block in ("inventory", "collection"):
        assert {"status", "processed_records", "created", "deactivated"} <= set(details[block])


def test_connection_cut_during_the_catalog_read_then_refused(
    watched: dict[str, Any], proxy: FaultProxy
) -> None:
    proxy.cut_on, proxy.refuse_after_cut = b"FROM mysql.tables_priv", True
    session = sync(watched)
    record = session.records.get()
    assert (session.status, record.status) == ("failed", "failed")
    assert record.attempts == RETRIES + 1 and proxy.cuts == 1
    phases = [h["phase"] for h in record.attempt_history]
    assert phases == ["collection"] + ["connection"] * RETRIES  # the first cause is kept
    assert "ost connection" in record.attempt_history[0]["error"]  # "Lost connection" (2013)
    assert all(h["transient"] for h in record.attempt_history)
    assert "attempt 1 (collection)" in record.error_message
    assert record.failed_phase == "connection"
    assert_full_failure_shape(record, "connection")
    assert_nothing_lost(watched)


def test_connection_cut_during_the_account_listing(watched: dict[str, Any], proxy: FaultProxy) -> None:
    proxy.cut_on = b"FROM mysql.global_priv"  # the MariaDB 10.4+ account listing
    session = sync(watched)
    record = session.records.get()
    assert record.status == "failed" and record.failed_phase == "inventory"
    assert [h["phase"] for h in record.attempt_history] == ["inventory"] * (RETRIES + 1)
    assert proxy.cuts == RETRIES + 1
    assert_full_failure_shape(record, "inventory")
    assert_nothing_lost(watched)  # a cut listing never deactivates


def test_server_that_accepts_and_never_answers(
    watched: dict[str, Any], proxy: FaultProxy, settings: Any
) -> None:
    settings.WHALEFALL_CONNECT_TIMEOUT = 1
    proxy.blackhole = True
    started = time.monotonic()
    session = sync(watched)
    elapsed = time.monotonic() - started
    record = session.records.get()
    assert record.status == "failed" and record.failed_phase == "connection"
    assert record.attempts == RETRIES + 1
    assert all(
        "timeout" in h["error"].lower() or "timed out" in h["error"].lower() for h in record.attempt_history
    )
    assert elapsed < (RETRIES + 1) * 1 + 6, f"the timeouts were not bounded ({elapsed:.1f} s)"
    assert record.duration is not None and record.duration >= RETRIES  # includes every attempt
    assert_nothing_lost(watched)


def test_slow_server_per_packet_delay(watched: dict[str, Any], proxy: FaultProxy) -> None:
    proxy.delay = 0.02
    session = sync(watched)
    record = session.records.get()
    assert (session.status, record.status, record.attempts) == ("completed", "completed", 1)
    assert record.duration is not None and record.duration >= 0.1
    assert_nothing_lost(watched)


def test_monitoring_password_changed_between_runs(watched: dict[str, Any]) -> None:
    with live.mysql_root() as root:
        live.run(root, f"ALTER USER '{watched['monitor']}'@'%' IDENTIFIED BY 'Changed-Pw-9'")
    session = sync(watched)
    record = session.records.get()
    assert record.status == "failed" and record.failed_phase == "connection"
    assert record.attempts == 1, "an authentication error must not be retried"
    assert "authentication" in record.error_message.lower() or "denied" in record.error_message.lower()
    assert_full_failure_shape(record, "connection")
    assert_nothing_lost(watched)


def test_metadata_database_connection_dropped_mid_run(watched: dict[str, Any]) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL as the metadata database (pg_terminate_backend)")
    metadata_db = connection.settings_dict["NAME"]

    def work(instance: Instance, session: SyncSession) -> Any:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        with live.pg_superuser(metadata_db) as su, su.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with AccountSyncCoordinator(instance, session=session, only_like=f"{watched['prefix']}%") as c:
            return c.run()

    session = run_sync(
        category="account",
        module="account_sync",
        instances=[watched["instance"]],
        unit=unit_of("account_sync", work),
        trigger="manual",
    )
    session.refresh_from_db()
    assert session.status == "failed", session.summary()
    assert not session.records.filter(status__in=["running", "pending"]).exists()
    assert not SyncLock.objects.exists(), "the lock must be released"
    assert_nothing_lost(watched)


# --- killed and stopped processes -------------------------------------------------------------
def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": live.test_database_url(), "PYTHONUNBUFFERED": "1", **extra}


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def slow_fleet(proxy: FaultProxy, mysql_user: Any) -> list[Instance]:
    """Six instances that accept and never answer: each takes a 2-s connect timeout per attempt."""
    proxy.blackhole = True
    monitor, password = mysql_user()
    cred = CredentialFactory(username=monitor, password=password)
    return [
        InstanceFactory(name=f"slow-{i}", db_type="mysql", port=proxy.port, credential=cred) for i in range(6)
    ]


SLOW = {"WHALEFALL_CONNECT_TIMEOUT": "2", "WHALEFALL_SYNC_POOL_SIZE": "1", "WHALEFALL_RETRY_DELAYS": "0"}


def test_ctrl_c_on_sync_accounts_cancels_and_releases(slow_fleet: list[Instance]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "sync_accounts", "--json"],
        cwd=ROOT,
        env=_env(**SLOW),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait(lambda: SyncSession.objects.filter(status="running").exists(), 30, "the session to start")
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    assert took < 5, f"Ctrl-C took {took:.1f} s"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert proc.returncode != 0
    session = SyncSession.objects.get()
    assert session.status == "cancelled", session.summary()
    statuses = set(session.records.values_list("status", flat=True))
    assert "cancelled" in statuses and not statuses & {"running", "pending"}
    assert not SyncLock.objects.exists(), "the lock must be released"


def test_scheduler_killed_mid_run_then_a_manual_run(
    watched: dict[str, Any], slow_fleet: list[Instance], proxy: FaultProxy, tmp_path: Path
) -> None:
    """SIGKILL leaves a lock and a running session behind; the next manual run on this host takes
    over at once (the holder's process is gone) and closes that session as interrupted."""
    from whalefall.dispatch import submit

    tasks = tmp_path / "tasks.yaml"
    tasks.write_text("default_tasks: []\n")
    log = tmp_path / "scheduler.log"
    scheduler = subprocess.Popen(
        [sys.executable, "manage.py", "runscheduler"],
        cwd=ROOT,
        env=_env(**SLOW, WHALEFALL_SCHEDULER_TASKS_FILE=str(tasks), WHALEFALL_SCHEDULER_LEASE_SECONDS="30"),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(lambda: "Active:" in log.read_text(), 30, "the scheduler to become active")
        proxy.blackhole = True
        submit(
            "accounts_sync.tasks.sync_accounts",
            requested_by="tester",
            instance_ids=[i.pk for i in slow_fleet],
        )
        running = _wait(lambda: SyncSession.objects.filter(status="running").first(), 30, "the scheduled run")
        assert running.trigger == "manual" and running.created_by == "tester"  # who asked
        scheduler.send_signal(signal.SIGKILL)
        scheduler.wait(10)
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
            scheduler.wait(10)
    assert SyncLock.objects.filter(category="account").exists()
    proxy.blackhole = False
    started = time.monotonic()
    session = sync(watched)  # a manual run of this process, on the same host
    assert time.monotonic() - started < 10
    assert session.status == "completed", session.summary()
    running.refresh_from_db()
    assert running.status == "interrupted" and "is gone" in running.error
    assert not running.records.filter(status__in=["running", "pending"]).exists()
    assert_nothing_lost(watched)
