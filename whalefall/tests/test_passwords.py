"""Passwords with non-ASCII characters and emoji reach every driver as the server expects them.

MariaDB and PostgreSQL are live: a login is created with such a password and WhaleFall connects
with it. SQL Server and Oracle cannot run here: the test checks what reaches the real driver's
`connect` (the password, unchanged, and the UTF-8 client charset for pymssql).
"""

from __future__ import annotations

from typing import Any

import pytest

from whalefall.connections import ConnectionParams, connector_class
from whalefall.tests import live

PASSWORDS = ["päß\"w'0rd", "fish🐟-Ωmega-密码"]


def params(port: int, user: str, password: str, database: str = "") -> ConnectionParams:
    return ConnectionParams.from_settings(
        host="127.0.0.1", port=port, user=user, password=password, database=database
    )


@pytest.mark.live
@pytest.mark.parametrize("password", PASSWORDS)
def test_mariadb_accepts_non_ascii_and_emoji_passwords(password: str) -> None:
    name = live.unique("wf_pw")
    with live.mysql_root() as root, root.cursor() as cur:
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (name, password))
    try:
        with connector_class("mysql")(params(3306, name, password)) as conn:
            assert conn.fetch_value("SELECT CURRENT_USER()") == f"{name}@%"
        # A wrong password is still refused (the test would pass on any password otherwise).
        with pytest.raises(Exception) as info:
            connector_class("mysql")(params(3306, name, password + "x")).connect()
        assert getattr(info.value, "kind", "") == "authentication"
    finally:
        with live.mysql_root() as root:
            live.run(root, f"DROP USER IF EXISTS '{name}'@'%'")


@pytest.mark.live
@pytest.mark.parametrize("password", PASSWORDS)
def test_postgresql_accepts_non_ascii_and_emoji_passwords(password: str) -> None:
    name = live.unique("wf_pw")
    with live.pg_superuser() as su, su.cursor() as cur:
        cur.execute(f"CREATE ROLE {name} LOGIN PASSWORD %s IN ROLE wf_password_auth", (password,))
    try:
        with connector_class("postgresql")(params(5432, name, password, "postgres")) as conn:
            assert conn.fetch_value("SELECT current_user") == name
        with pytest.raises(Exception) as info:
            connector_class("postgresql")(params(5432, name, password + "x", "postgres")).connect()
        assert getattr(info.value, "kind", "") == "authentication"
    finally:
        with live.pg_superuser() as su:
            live.run(su, f"DROP ROLE IF EXISTS {name}")


class _Stop(Exception):
    pass


def _capture(monkeypatch: pytest.MonkeyPatch, module: str, attribute: str = "connect") -> dict[str, Any]:
    """Replace the real driver's connect by a recorder (the servers cannot run here)."""
    seen: dict[str, Any] = {}
    driver = __import__(module)

    def connect(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise _Stop

    monkeypatch.setattr(driver, attribute, connect)
    return seen


@pytest.mark.parametrize("password", PASSWORDS)
def test_sqlserver_gets_the_password_unchanged_with_a_utf8_client_charset(
    monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    seen = _capture(monkeypatch, "pymssql")
    with pytest.raises(Exception):  # noqa: B017 - the recorder stops the connect
        connector_class("sqlserver")(params(1433, "monitor", password)).connect()
    assert seen["password"] == password and seen["charset"] == "UTF-8"


@pytest.mark.parametrize("password", PASSWORDS)
def test_oracle_gets_the_password_unchanged(monkeypatch: pytest.MonkeyPatch, password: str) -> None:
    seen = _capture(monkeypatch, "oracledb")
    with pytest.raises(Exception):  # noqa: B017 - the recorder stops the connect
        connector_class("oracle")(params(1521, "monitor", password, "ORCL")).connect()
    assert seen["password"] == password  # python-oracledb sends str passwords as UTF-8


def test_mysql_gets_utf8_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _capture(monkeypatch, "pymysql")
    with pytest.raises(Exception):  # noqa: B017 - the recorder stops the connect
        connector_class("mysql")(params(3306, "monitor", PASSWORDS[1])).connect()
    assert seen["password"] == PASSWORDS[1].encode("utf-8")
