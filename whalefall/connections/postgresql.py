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


# Session settings pinned in the startup packet. Client options outrank every
# `ALTER DATABASE/ROLE ... SET`, so the owner of a monitored database cannot choose them:
# - search_path: only pg_catalog (then pg_temp, which is otherwise searched first for relations),
#   so a schema of the owner's cannot shadow a catalog function, operator or view we call;
# - read-only and the statement timeout, as before;
# - no per-database preload libraries, and fixed output formats (dates, intervals, encoding,
#   time zone) so the text we record does not depend on settings the owner may change.
PINNED_SETTINGS: tuple[tuple[str, str], ...] = (
    ("search_path", "pg_catalog,pg_temp"),
    ("default_transaction_read_only", "on"),
    ("local_preload_libraries", ""),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO,MDY"),
    ("IntervalStyle", "postgres"),
    ("TimeZone", "UTC"),
)


def startup_options(statement_timeout_s: int) -> str:
    """The libpq `options` string: `-c name=value` per pinned setting."""
    pairs = [("statement_timeout", str(statement_timeout_s * 1000)), *PINNED_SETTINGS]
    return " ".join(f"-c {name}={value}" for name, value in pairs)


class Connection(DatabaseConnection):
    """Every connection, `connect_to()` siblings included, carries the pinned settings."""

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
        options = startup_options(p.statement_timeout)
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
