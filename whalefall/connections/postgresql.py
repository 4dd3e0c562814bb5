"""PostgreSQL through psycopg2."""

from __future__ import annotations

from typing import Any

from whalefall.connections.base import DatabaseConnection, ServerInfo, import_driver

# libpq reports connection-time failures without a SQLSTATE: those are recognised by their text.
AUTH_PATTERNS = (
    r"password authentication failed",
    r"no pg_hba\.conf entry",
    r"no password supplied",
    r'role ".*" does not exist',
)


class Connection(DatabaseConnection):
    vendor = "postgresql"
    default_port = 5432
    auth_codes = frozenset({"28P01", "28000"})
    privilege_codes = frozenset({"42501"})
    timeout_codes = frozenset({"57014"})
    unreachable_codes = frozenset({"53300", "57P01", "57P02", "57P03", "08001", "08006"})
    auth_patterns = AUTH_PATTERNS
    privilege_patterns = (r"permission denied",)

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

    def error_codes(self, exc: BaseException) -> set[int | str]:
        code = getattr(exc, "pgcode", None)
        return {code} if code else set()
