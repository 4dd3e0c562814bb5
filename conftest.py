"""Project-wide pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# The `browser` fixture and its helpers, for every app's browser tests; the alert sinks
# (`receiver`, `smtp_sink`) for the alert tests and the browser test.
pytest_plugins = ["whalefall.tests.browser", "whalefall.tests.alerting"]

# One Fernet key for the whole run, also exported for subprocesses (runscheduler tests).
TEST_ENCRYPTION_KEY = os.environ.setdefault(
    "WHALEFALL_ENCRYPTION_KEY", "dGVzdC1rZXktZm9yLXdoYWxlZmFsbC10ZXN0cy0zMmI="
)


def _empties_database(item: pytest.Item) -> bool:
    """Whether the test ran outside a rolled-back transaction, so Django flushed every table after it."""
    marker = item.get_closest_marker("django_db")
    if marker is not None and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")):
        return True
    fixtures = getattr(item, "fixturenames", ())
    return any(f in fixtures for f in ("transactional_db", "live_server", "django_db_reset_sequences"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """After a test that emptied the database (its fixtures are torn down by then), put back what
    the data migrations seeded, so that no test depends on which tests ran before it."""
    yield
    # nextitem None: the session's fixtures, the test database included, are gone by now.
    if nextitem is not None and _empties_database(item):
        from pytest_django.plugin import blocking_manager_key

        from whalefall.tests import migration_data

        with item.config.stash[blocking_manager_key].unblock():
            migration_data.restore()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """The seeded rows at the start too: with --reuse-db the last run may have ended on a flush."""
    from whalefall.tests import migration_data

    with django_db_blocker.unblock():
        migration_data.restore()


@pytest.fixture(autouse=True)
def _test_settings(settings: Any) -> None:
    """Keep the retry logic but not its real 2/4/8 s waits; encrypt with the test key."""
    settings.WHALEFALL_RETRY_DELAYS = [0, 0, 0]
    settings.WHALEFALL_ENCRYPTION_KEYS = [TEST_ENCRYPTION_KEY]


@pytest.fixture(autouse=True)
def _language_of_its_own() -> Iterator[None]:
    """Every test starts and ends with no language activated: a request with a Chinese browser
    (LocaleMiddleware) leaves Chinese active in the thread, and a later test's command output
    would be Chinese depending on the order the tests ran in."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def mysql_user() -> Any:
    """Create real MariaDB users: `mysql_user(grants=[...], password=...)` -> (name, password)."""
    from whalefall.tests import live

    created: list[str] = []

    def make(
        *, grants: tuple[str, ...] = (), password: str | None = None, host: str = "%"
    ) -> tuple[str, str]:
        name, pwd = live.unique("wf_u"), password or live.unique("Pw")
        with live.mysql_root() as root:
            live.run(root, f"CREATE USER '{name}'@'{host}' IDENTIFIED BY '{pwd}'")
            for grant in grants:
                live.run(root, grant.format(user=f"'{name}'@'{host}'"))
        created.append(f"'{name}'@'{host}'")
        return name, pwd

    yield make
    if created:
        with live.mysql_root() as root:
            live.run(root, *(f"DROP USER IF EXISTS {u}" for u in created))


@pytest.fixture
def pg_role() -> Any:
    """Create real PostgreSQL roles: `pg_role(attrs="LOGIN", password=...)` -> (name, password)."""
    from whalefall.tests import live

    created: list[str] = []

    def make(*, attrs: str = "LOGIN", password: str | None = None, checked: bool = True) -> tuple[str, str]:
        """`checked`: member of wf_password_auth, so PostgreSQL verifies the password."""
        name, pwd = live.unique("wf_r"), password or live.unique("Pw")
        in_role = " IN ROLE wf_password_auth" if checked else ""
        with live.pg_superuser() as su:
            live.run(su, f"CREATE ROLE {name} {attrs} PASSWORD '{pwd}'{in_role}")
        created.append(name)
        return name, pwd

    yield make
    if created:
        with live.pg_superuser() as su:
            for name in created:
                live.run(su, f"DROP OWNED BY {name}", f"DROP ROLE IF EXISTS {name}")


@pytest.fixture
def alive_scheduler(db: Any) -> Any:
    """A scheduler lease held (by a pretend process), so run-now requests are accepted."""
    from scheduling.models import SchedulerLease

    assert SchedulerLease.claim(owner="elsewhere-1", token="t" * 32, host="elsewhere", pid=1, seconds=600)
    return SchedulerLease.current()
