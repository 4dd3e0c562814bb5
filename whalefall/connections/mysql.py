"""MySQL and MariaDB through PyMySQL (pure Python)."""

from __future__ import annotations

from typing import Any

from whalefall.connections.base import (
    DatabaseConnection,
    ServerInfo,
    import_driver,
    parse_version,
)

AUTH_CODES: frozenset[int | str] = frozenset(
    {1045, 1698, 1251, 1862, 3118}
)  # access denied, plugin, expired, locked
PRIVILEGE_CODES: frozenset[int | str] = frozenset({1044, 1142, 1143, 1227, 1370, 1449, 1356})
TIMEOUT_CODES: frozenset[int | str] = frozenset(
    {1969, 3024, 1317}
)  # MariaDB max_statement_time, MySQL max_execution_time, killed
UNREACHABLE_CODES: frozenset[int | str] = frozenset({2003, 2006, 2013, 2005, 1040, 1053})


class Connection(DatabaseConnection):
    vendor = "mysql"
    default_port = 3306
    auth_codes = AUTH_CODES
    privilege_codes = PRIVILEGE_CODES
    timeout_codes = TIMEOUT_CODES
    unreachable_codes = UNREACHABLE_CODES

    def _connect(self) -> Any:
        pymysql = import_driver("pymysql", "PyMySQL")
        p = self.params
        conn = pymysql.connect(
            host=p.host,
            port=p.port,
            user=p.user,
            # PyMySQL encodes a str password as latin-1: "päß" then hashes the wrong bytes and
            # an emoji cannot be encoded at all. The server hashed the UTF-8 bytes.
            password=p.password.encode("utf-8"),
            database=p.database or None,
            connect_timeout=p.connect_timeout,
            # The handshake is bounded by the read timeout, so start with the connect timeout
            # and switch to the statement timeout once logged in.
            read_timeout=p.connect_timeout,
            write_timeout=p.statement_timeout + 5,
            charset="utf8mb4",
            autocommit=True,
            program_name="whalefall",
        )
        conn._read_timeout = p.statement_timeout + 5  # PyMySQL applies it on every read
        version = conn.get_server_info()
        cur = conn.cursor()
        try:
            if "mariadb" in version.lower():
                cur.execute("SET SESSION max_statement_time = %s", (p.statement_timeout,))
            elif parse_version(version) >= (5, 7, 8):
                cur.execute("SET SESSION max_execution_time = %s", (p.statement_timeout * 1000,))
            # Catalog reads must mean the same whatever the server's global sql_mode says
            # (ANSI_QUOTES or PIPES_AS_CONCAT would change how our SQL parses). MySQL has no
            # per-database or per-user session settings a tenant could set; builtins win over
            # stored functions of the same name, and every catalog table we read is qualified.
            cur.execute("SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'")
            cur.execute("SET SESSION TRANSACTION READ ONLY")
        finally:
            cur.close()
        return conn

    def _detect_server(self) -> ServerInfo:
        text = str(self.fetch_value("SELECT VERSION() AS v"))
        flavor = "MariaDB" if "mariadb" in text.lower() else "MySQL"
        return ServerInfo(self.vendor, flavor, parse_version(text), text)

    def error_codes(self, exc: BaseException) -> set[int | str]:
        return {exc.args[0]} if exc.args and isinstance(exc.args[0], int) else set()
