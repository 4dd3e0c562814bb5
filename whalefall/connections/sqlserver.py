"""SQL Server through pymssql, whose wheels bundle FreeTDS: no system ODBC driver needed.

Encryption per instance (`tls`): pymssql passes `encryption` = off / request / require to FreeTDS
(TDS 7.x pre-login encryption; TDS 8 `strict` is not offered by pymssql). FreeTDS verifies the
server certificate only when a `ca file` is set in freetds.conf, which pymssql cannot pass per
connection: an instance that asks for verification (`trust_server_certificate` off) is refused
unless the freetds.conf named by FREETDSCONF sets one, rather than encrypted without a check.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from whalefall.connections.base import (
    ConnectorError,
    DatabaseConnection,
    ErrorKind,
    ServerInfo,
    import_driver,
    parse_version,
)

ENCRYPTION = {"off": "off", "request": "request", "require": "require"}
NO_VERIFICATION = (
    "certificate verification was asked for, but pymssql/FreeTDS verifies only with a 'ca file' in "
    "the freetds.conf named by FREETDSCONF (none set): set one there, or trust the server certificate"
)


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
        return pymssql.connect(**self.connect_kwargs())

    def connect_kwargs(self) -> dict[str, Any]:
        """pymssql.connect() arguments, encryption included when the instance sets it."""
        p = self.params
        kwargs: dict[str, Any] = {
            "server": p.host,
            "port": str(p.port),
            "user": p.user,
            "password": p.password,
            "database": p.database or "master",
            "login_timeout": p.connect_timeout,
            "timeout": p.statement_timeout,
            "appname": "whalefall",
            "autocommit": True,
            "charset": "UTF-8",
        }
        if p.tls:
            if p.tls not in ENCRYPTION:
                raise ConnectorError(
                    ErrorKind.OTHER, f"unknown encryption setting {p.tls!r}", transient=False
                )
            kwargs["encryption"] = ENCRYPTION[p.tls]
        if p.tls in ("request", "require") and not p.trust_server_certificate and not freetds_ca_file():
            raise ConnectorError(ErrorKind.UNSUPPORTED, NO_VERIFICATION)
        return kwargs

    def _detect_server(self) -> ServerInfo:
        row = self.fetch_one(VERSION_SQL)
        assert row is not None
        text = str(row["product_version"])
        # EngineEdition 5 is Azure SQL Database, whose catalog differs (no server-level views).
        flavor = (
            "Azure SQL Database" if row.get("engine_edition") == 5 else f"SQL Server {row['edition']}".strip()
        )
        return ServerInfo(self.vendor, flavor, parse_version(text), text)

    def describe(self, exc: BaseException) -> str:
        code, text = error_parts(exc)
        first = " ".join(text.split())
        return f"[{code}] {first}" if code is not None else first or exc.__class__.__name__

    def error_codes(self, exc: BaseException) -> set[int | str]:
        code, text = error_parts(exc)
        codes: set[int | str] = {code} if code is not None else set()
        return codes | login_codes_in(text)

    def classify(self, exc: BaseException) -> ErrorKind:
        # pymssql keeps the message as bytes inside args: classify on the decoded text.
        return super().classify(_Decoded(exc))


def freetds_ca_file() -> str:
    """The `ca file` of the freetds.conf named by FREETDSCONF, if any (FreeTDS reads it per login)."""
    path = os.environ.get("FREETDSCONF", "")
    try:
        text = Path(path).read_text() if path else ""
    except OSError:
        return ""
    match = re.search(r"^\s*ca file\s*=\s*(\S.*?)\s*$", text, re.MULTILINE | re.IGNORECASE)
    return match.group(1) if match else ""


class _Decoded(Exception):
    """A pymssql error whose str() is its decoded message; args (and so codes) unchanged."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(*exc.args)
        self.text = error_parts(exc)[1]

    def __str__(self) -> str:
        return self.text


VERSION_SQL = (
    "SELECT CAST(SERVERPROPERTY('ProductVersion') AS NVARCHAR(128)) AS product_version, "
    "CAST(SERVERPROPERTY('Edition') AS NVARCHAR(128)) AS edition, "
    "CAST(SERVERPROPERTY('EngineEdition') AS INT) AS engine_edition"
)
