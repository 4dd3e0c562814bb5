"""Connectors: live against the local MariaDB and PostgreSQL; SQL Server and Oracle through their
real drivers against local ports that refuse or never answer, and their real exception classes."""

from __future__ import annotations

import time
from collections.abc import Callable

import oracledb
import pymssql
import pytest
from django.core.exceptions import ImproperlyConfigured
from oracledb import errors as oracle_errors

from whalefall.connections import ConnectionParams, ConnectorError, ErrorKind, connector_class
from whalefall.connections.base import import_driver, parse_version
from whalefall.tests import live


def params(port: int, user: str = "x", password: str = "Never-Show-Me-42", **kw: object) -> ConnectionParams:
    return ConnectionParams(host="127.0.0.1", port=port, user=user, password=password, **kw)  # type: ignore[arg-type]


def connect_error(db_type: str, p: ConnectionParams) -> ConnectorError:
    with pytest.raises(ConnectorError) as info:
        connector_class(db_type)(p).connect()
    return info.value


class TestLiveMariaDB:
    def test_it_connects_and_detects_mariadb(self, mysql_user: Callable[..., tuple[str, str]]) -> None:
        name, pwd = mysql_user()
        with connector_class("mysql")(params(3306, name, pwd)) as conn:
            info, latency = conn.ping()
            assert conn.fetch_value("SELECT @@session.tx_read_only") == 1
        assert info.flavor == "MariaDB"
        assert info.version >= (10, 0) and "MariaDB" in info.version_string
        assert latency > 0

    def test_it_reports_a_wrong_password_as_authentication(
        self, mysql_user: Callable[..., tuple[str, str]]
    ) -> None:
        name, _ = mysql_user()
        err = connect_error("mysql", params(3306, name, "Wrong-Pass-123"))
        assert err.kind is ErrorKind.AUTHENTICATION and err.permanent
        assert "Wrong-Pass-123" not in str(err)

    def test_it_reports_missing_privilege(self, mysql_user: Callable[..., tuple[str, str]]) -> None:
        name, pwd = mysql_user()
        with connector_class("mysql")(params(3306, name, pwd)) as conn:
            with pytest.raises(ConnectorError) as info:
                conn.fetch_all("SELECT * FROM mysql.global_priv")
        assert info.value.kind is ErrorKind.PRIVILEGE

    def test_it_applies_the_statement_timeout(self) -> None:
        live.require("127.0.0.1", 3306, "MariaDB")
        with connector_class("mysql")(params(3306, "root", "", statement_timeout=1)) as conn:
            with pytest.raises(ConnectorError) as info:
                conn.fetch_all("SELECT SLEEP(3) AS s")
        assert info.value.kind is ErrorKind.TIMEOUT and info.value.transient
        assert "max_statement_time" in str(info.value)


class TestLivePostgreSQL:
    def test_it_connects_read_only_and_detects_the_version(
        self, pg_role: Callable[..., tuple[str, str]]
    ) -> None:
        name, pwd = pg_role()
        with connector_class("postgresql")(params(5432, name, pwd)) as conn:
            info, _ = conn.ping()
            assert conn.fetch_value("SHOW default_transaction_read_only") == "on"
            assert conn.fetch_value("SHOW statement_timeout") == "1min"
        assert info.flavor == "PostgreSQL" and info.version[0] >= 10

    def test_it_reports_a_wrong_password_as_authentication(
        self, pg_role: Callable[..., tuple[str, str]]
    ) -> None:
        name, _ = pg_role()
        err = connect_error("postgresql", params(5432, name, "Wrong-Pass-456"))
        assert err.kind is ErrorKind.AUTHENTICATION and not err.transient
        assert "Wrong-Pass-456" not in str(err)

    def test_it_cancels_a_query_past_the_statement_timeout(
        self, pg_role: Callable[..., tuple[str, str]]
    ) -> None:
        name, pwd = pg_role()
        with connector_class("postgresql")(params(5432, name, pwd, statement_timeout=1)) as conn:
            with pytest.raises(ConnectorError) as info:
                conn.fetch_all("SELECT pg_sleep(3)")
        assert info.value.kind is ErrorKind.TIMEOUT and info.value.transient

    def test_it_reports_missing_privilege(self, pg_role: Callable[..., tuple[str, str]]) -> None:
        name, pwd = pg_role()
        with connector_class("postgresql")(params(5432, name, pwd)) as conn:
            with pytest.raises(ConnectorError) as info:
                conn.fetch_all("SELECT * FROM pg_authid")
        assert info.value.kind is ErrorKind.PRIVILEGE


ENGINES = ["mysql", "postgresql", "sqlserver", "oracle"]


@pytest.mark.parametrize("db_type", ENGINES)
def test_it_reports_a_closed_port_as_unreachable(db_type: str) -> None:
    err = connect_error(db_type, params(live.closed_port(), connect_timeout=3, database="FREEPDB1"))
    assert err.kind is ErrorKind.UNREACHABLE and err.transient
    assert "refused" in str(err).lower()
    assert "Never-Show-Me-42" not in str(err)


@pytest.mark.parametrize("db_type", ENGINES)
def test_it_times_out_on_a_server_that_never_answers(db_type: str) -> None:
    with live.blackhole_port() as port:
        started = time.monotonic()
        err = connect_error(db_type, params(port, connect_timeout=2, database="FREEPDB1"))
        elapsed = time.monotonic() - started
    assert err.kind is ErrorKind.TIMEOUT and err.transient
    assert elapsed < 2 + 1.5, f"connect took {elapsed:.1f}s with a 2s connect timeout"


SQLSERVER_ERRORS = [
    (
        (
            18456,
            b"Login failed for user 'monitor'.DB-Lib error message 20018, severity 14:\nGeneral SQL Server error: Check messages from the SQL Server\n",
        ),
        ErrorKind.AUTHENTICATION,
    ),
    (
        (
            20002,
            b"DB-Lib error message 20002, severity 9:\nAdaptive Server connection failed (db1)\nMsg 18456, Level 14, State 1\nLogin failed for user 'monitor'.",
        ),
        ErrorKind.AUTHENTICATION,
    ),
    (
        (
            300,
            b"VIEW SERVER STATE permission was denied on object 'server', database 'master'.DB-Lib error message 20018",
        ),
        ErrorKind.PRIVILEGE,
    ),
    (
        (
            916,
            b'The server principal "monitor" is not able to access the database "sales" under the current security context.',
        ),
        ErrorKind.PRIVILEGE,
    ),
    (
        (20003, b"DB-Lib error message 20003, severity 6:\nAdaptive Server connection timed out (db1)\n"),
        ErrorKind.TIMEOUT,
    ),
    (
        (
            20009,
            b"DB-Lib error message 20009, severity 9:\nUnable to connect: Adaptive Server is unavailable or does not exist (db1)\n",
        ),
        ErrorKind.UNREACHABLE,
    ),
    ((208, b"Invalid object name 'sys.nothing'.DB-Lib error message 20018"), ErrorKind.OTHER),
]


@pytest.mark.parametrize(("args", "kind"), SQLSERVER_ERRORS)
def test_it_maps_real_pymssql_exceptions(args: tuple[int, bytes], kind: ErrorKind) -> None:
    conn = connector_class("sqlserver")(params(1433))
    exc_class = (
        pymssql.exceptions.OperationalError
        if args[0] >= 20000 or args[0] == 18456
        else pymssql.exceptions.ProgrammingError
    )
    with pytest.raises(ConnectorError) as info, conn.translate_errors():
        raise exc_class(args)
    assert info.value.kind is kind
    assert str(args[0]) in str(info.value)


ORACLE_ERRORS = [
    ("ORA-01017: invalid credential or not authorized; logon denied", ErrorKind.AUTHENTICATION),
    ("ORA-28000: The account is locked.", ErrorKind.AUTHENTICATION),
    ("ORA-01031: insufficient privileges", ErrorKind.PRIVILEGE),
    ('ORA-00942: table or view "SYS"."DBA_USERS" does not exist', ErrorKind.PRIVILEGE),
    (
        "ORA-12514: Cannot connect to database. Service ORCLX is not registered with the listener",
        ErrorKind.UNREACHABLE,
    ),
    ('ORA-00904: "NOPE": invalid identifier', ErrorKind.OTHER),
]


@pytest.mark.parametrize(("message", "kind"), ORACLE_ERRORS)
def test_it_maps_real_oracledb_exceptions(message: str, kind: ErrorKind) -> None:
    conn = connector_class("oracle")(params(1521))
    with pytest.raises(ConnectorError) as info, conn.translate_errors():
        raise oracledb.DatabaseError(oracle_errors._Error(message))
    assert info.value.kind is kind


def test_it_maps_the_oracle_call_timeout() -> None:
    conn = connector_class("oracle")(params(1521))
    with pytest.raises(ConnectorError) as info, conn.translate_errors():
        raise oracledb.DatabaseError(
            oracle_errors._create_err(oracle_errors.ERR_CALL_TIMEOUT_EXCEEDED, timeout=60000)
        )
    assert info.value.kind is ErrorKind.TIMEOUT


def test_it_names_the_package_of_a_missing_driver() -> None:
    with pytest.raises(ImproperlyConfigured, match="pip install some-driver"):
        import_driver("no_such_driver_module", "some-driver")


def test_it_rejects_an_unknown_engine() -> None:
    with pytest.raises(ConnectorError, match="unsupported db_type"):
        connector_class("db2")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.11.19-MariaDB-0+deb12u1", (10, 11, 19)),
        ("8.0.36", (8, 0, 36)),
        ("5.7.44-log", (5, 7, 44)),
        ("16.0.4135.4", (16, 0, 4135, 4)),
        ("19.3.0.0.0", (19, 3, 0, 0)),
    ],
)
def test_it_parses_server_versions(text: str, expected: tuple[int, ...]) -> None:
    assert parse_version(text) == expected


def test_it_never_shows_the_password_in_params_repr() -> None:
    assert "Never-Show-Me-42" not in repr(params(1))
