"""PostgreSQL through psycopg2."""

from __future__ import annotations

from typing import Any

from whalefall.connections.base import (
    DatabaseConnection,
    ErrorKind,
    ServerInfo,
    import_driver,
    timeout_words,
    unreachable_words,
)

AUTH_SQLSTATES = {"28P01", "28000"}
PRIVILEGE_SQLSTATES = {"42501"}
TIMEOUT_SQLSTATES = {"57014"}
UNREACHABLE_SQLSTATES = {"53300", "57P01", "57P02", "57P03", "08001", "08006"}
AUTH_WORDS = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "no password supplied",
    "does not exist",
)


class Connection(DatabaseConnection):
    vendor = "postgresql"
    default_port = 5432

    def _connect(self) -> Any:
        psycopg2 = import_driver("psycopg2", "psycopg2-binary")
        p = self.params
        options = f"-c statement_timeout={p.statement_timeout * 1000} -c default_transaction_read_only=on"
        conn = psycopg2.connect(
            host=p.host,
            port=p.port,
            user=p.user,
            password=p.password,
            dbname=p.database or "postgres",
            connect_timeout=p.connect_timeout,
            application_name="whalefall",
            options=options,
        )
        conn.autocommit = True
        return conn

    def connect_to(self, database: str) -> Connection:
        """A sibling connection to another database of the same server (PG is per-database)."""
        from dataclasses import replace

        return Connection(replace(self.params, database=database)).connect()  # type: ignore[return-value]

    def _detect_server(self) -> ServerInfo:
        row = self.fetch_one(
            "SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n"
        )
        assert row is not None
        num = int(row["n"])
        version = (
            (num // 10000, num % 10000) if num >= 100000 else (num // 10000, num // 100 % 100, num % 100)
        )
        return ServerInfo(self.vendor, "PostgreSQL", version, str(row["v"]))

    def classify(self, exc: BaseException) -> ErrorKind:
        code = getattr(exc, "pgcode", None)
        text = str(exc).lower()
        if code in AUTH_SQLSTATES:
            return ErrorKind.AUTHENTICATION
        if code in PRIVILEGE_SQLSTATES or "permission denied" in text:
            return ErrorKind.PRIVILEGE
        if code in TIMEOUT_SQLSTATES or timeout_words(text) or "canceling statement" in text:
            return ErrorKind.TIMEOUT
        if code in UNREACHABLE_SQLSTATES or unreachable_words(text):
            return ErrorKind.UNREACHABLE
        if code is None and any(w in text for w in AUTH_WORDS):
            return ErrorKind.AUTHENTICATION
        return ErrorKind.OTHER
