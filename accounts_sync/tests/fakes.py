"""A stand-in connection for SQL Server and Oracle: catalog rows keyed by a fragment of the SQL.

Rows are shaped like the real catalog views' output as the drivers return them (lower-cased
column names, bit columns as bool, tinyint/int as int, char(1) codes as str, dates as datetime).
An answer may be an exception instead of rows: the query then fails with it (a database that went
offline between two queries).
"""

from __future__ import annotations

from typing import Any

from whalefall.connections.base import ServerInfo


class FakeConnection:
    def __init__(self, answers: list[tuple[str, Any]], server: ServerInfo) -> None:
        self.answers, self.server, self.executed = answers, server, []
        self.closed = False

    def fetch_all(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        self.executed.append(sql)
        normalized = " ".join(sql.split())
        for fragment, rows in self.answers:
            if fragment in normalized:
                if isinstance(rows, Exception):
                    raise rows
                return [dict(r) for r in rows]
        raise AssertionError(f"unexpected SQL: {normalized[:200]}")

    def server_info(self) -> ServerInfo:
        return self.server

    def close(self) -> None:
        self.closed = True
