"""SQL Server through pymssql, whose wheels bundle FreeTDS: no system ODBC driver needed."""

from __future__ import annotations

from typing import Any

from whalefall.connections.base import DatabaseConnection, ErrorKind, ServerInfo, import_driver, parse_version


def error_parts(exc: BaseException) -> tuple[int | None, str]:
    """pymssql errors carry `((code, b"message"),)` or `(code, b"message")`; normalise both."""
    args: Any = exc.args
    if args and isinstance(args[0], tuple):
        args = args[0]
    code = args[0] if args and isinstance(args[0], int) else None
    raw = args[1] if len(args) > 1 else (args[0] if args else "")
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return code, text


def login_codes_in(text: str) -> set[int]:
    """DB-Lib wraps the server's error in its own (20002): look inside for the real number."""
    import re

    return {int(n) for n in re.findall(r"(?:Msg|message)\s+(\d+)", text)}


class Connection(DatabaseConnection):
    vendor = "sqlserver"
    default_port = 1433
    # login failed, locked, expired, must change, disabled / untrusted domain
    auth_codes = frozenset({18456, 18486, 18487, 18488, 18470, 18452})
    privilege_codes = frozenset({229, 230, 262, 297, 300, 916, 4060, 15247})
    timeout_codes = frozenset({20003, 1222})
    unreachable_codes = frozenset({20009, 20006, 20004, 20047, 20002})
    auth_patterns = (r"login failed",)
    privilege_patterns = (r"permission was denied",)

    def _connect(self) -> Any:
        pymssql = import_driver("pymssql", "pymssql")
        p = self.params
        return pymssql.connect(
            server=p.host,
            port=str(p.port),
            user=p.user,
            password=p.password,
            database=p.database or "master",
            login_timeout=p.connect_timeout,
            timeout=p.statement_timeout,
            appname="whalefall",
            autocommit=True,
            charset="UTF-8",
        )

    def _detect_server(self) -> ServerInfo:
        row = self.fetch_one(VERSION_SQL)
        assert row is not None
        text = str(row["product_version"])
        return ServerInfo(self.vendor, f"SQL Server {row['edition']}".strip(), parse_version(text), text)

    def describe(self, exc: BaseException) -> str:
        code, text = error_parts(exc)
        first = " ".join(text.split())
        return f"[{code}] {first}" if code is not None else first or exc.__class__.__name__

    def error_codes(self, exc: BaseException) -> set[int | str]:
        code, text = error_parts(exc)
        return ({code} if code is not None else set()) | login_codes_in(text)

    def classify(self, exc: BaseException) -> ErrorKind:
        # pymssql keeps the message as bytes inside args: classify on the decoded text.
        return super().classify(_Decoded(exc))


class _Decoded(Exception):
    """A pymssql error whose str() is its decoded message; args (and so codes) unchanged."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(*exc.args)
        self.text = error_parts(exc)[1]

    def __str__(self) -> str:
        return self.text


VERSION_SQL = (
    "SELECT CAST(SERVERPROPERTY('ProductVersion') AS NVARCHAR(128)) AS product_version, "
    "CAST(SERVERPROPERTY('Edition') AS NVARCHAR(128)) AS edition"
)
