"""Fixtures for the capacity tests: monitored instances on the live servers, generated history."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from whalefall.choices import DbType
from whalefall.models import Instance
from whalefall.tests import live
from whalefall.tests.factories import CredentialFactory, InstanceFactory

MYSQL_GRANTS = ("GRANT SHOW DATABASES, PROCESS, SHOW VIEW ON *.* TO {user}",)


@pytest.fixture
def mysql_instance(mysql_user: Any) -> Instance:
    """An instance on the live MariaDB, seen through a monitoring user with the README grants."""
    name, pwd = mysql_user(grants=MYSQL_GRANTS)
    cred = CredentialFactory(username=name, password=pwd)
    return InstanceFactory(name=live.unique("mysql"), db_type=DbType.MYSQL, port=3306, credential=cred)


@pytest.fixture
def pg_instance(pg_role: Any) -> Instance:
    """An instance on the live PostgreSQL, seen through a plain LOGIN role."""
    name, pwd = pg_role(attrs="LOGIN")
    cred = CredentialFactory(username=name, password=pwd)
    return InstanceFactory(
        name=live.unique("pg"), db_type=DbType.POSTGRESQL, port=5432, database="postgres", credential=cred
    )


@pytest.fixture
def mysql_database() -> Iterator[Callable[..., str]]:
    """Create MariaDB databases (unique names, optional prefix keeping case); dropped at the end."""
    created: list[str] = []

    def make(prefix: str = "wf_cap", *statements: str) -> str:
        name = live.unique(prefix)
        created.append(name)  # before creating: a failing statement below still gets it dropped
        with live.mysql_root() as root:
            live.run(root, f"CREATE DATABASE `{name}`", *(s.format(db=name) for s in statements))
        return name

    yield make
    with live.mysql_root() as root:
        live.run(root, *(f"DROP DATABASE IF EXISTS `{n}`" for n in created))


@pytest.fixture
def pg_database() -> Iterator[Callable[..., str]]:
    """Create PostgreSQL databases, run statements inside them; dropped (FORCE) at the end."""
    created: list[str] = []

    def make(*statements: str) -> str:
        name = live.unique("wf_cap")
        created.append(name)
        with live.pg_superuser() as su:
            live.run(su, f"CREATE DATABASE {name}")
        if statements:
            with live.pg_superuser(name) as conn:
                live.run(conn, *statements)
        return name

    yield make
    with live.pg_superuser() as su:
        live.run(su, *(f"DROP DATABASE IF EXISTS {n} WITH (FORCE)" for n in created))
