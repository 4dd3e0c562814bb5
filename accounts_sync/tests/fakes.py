"""A stand-in connection for SQL Server and Oracle: catalog rows keyed by a fragment of the SQL.

Rows are shaped like the real catalog views' output as the drivers return them (lower-cased
column names, bit columns as bool, tinyint/int as int, char(1) codes as str, dates as datetime).
Strings are returned as new objects, as a driver returns them. An answer may be an exception instead of rows: the query then fails with it (a database that went
offline between two queries).
"""

from __future__ import annotations

from typing import Any

from whalefall.connections.base import ServerInfo


def fresh(value: Any) -> Any:
    """A driver builds each string it returns: a new object, never the interned literal of the
    test's source, so that code comparing strings with `is` fails here as it would in production."""
    return value.encode().decode() if isinstance(value, str) else value


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
                return [{k: fresh(v) for k, v in r.items()} for r in rows]
        raise AssertionError(f"unexpected SQL: {normalized[:200]}")

    def server_info(self) -> ServerInfo:
        return self.server

    def close(self) -> None:
        self.closed = True
