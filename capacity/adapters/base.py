"""The contract of a capacity adapter (the account adapters use the same method names).

An adapter wraps one connected `DatabaseConnection` and does read-only catalog queries:

- `list_databases()` -> the names of the instance's user databases (system ones excluded, as
  data in `system_databases.yaml`), their case kept.
- `collect_sizes(databases)` -> one `DatabaseSize` per named database that still exists.

Engine differences are class attributes and methods, never `if db_type == ...` in callers.
Driver errors reach the caller as `ConnectorError` (from the connection layer).
"""

from __future__ import annotations

import abc
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from whalefall.connections.base import DatabaseConnection

SYSTEM_DATABASES_FILE = Path(__file__).resolve().parent.parent / "system_databases.yaml"


@cache
def system_database_patterns(db_type: str) -> tuple[str, ...]:
    data = yaml.safe_load(SYSTEM_DATABASES_FILE.read_text()) or {}
    return tuple(str(p) for p in data.get(db_type) or ())


@dataclass(frozen=True)
class DatabaseSize:
    """Bytes of one database; `None` where the engine has no such figure."""

    name: str
    size_bytes: int
    data_bytes: int | None = None
    log_bytes: int | None = None
    allocated_bytes: int | None = None


class CapacityAdapter(abc.ABC):
    db_type: str = ""
    #: SQL Server and Oracle compare names case-insensitively (collation / dictionary upper case).
    case_insensitive_names: bool = False
    #: Whether the engine splits a database into data and log files.
    has_data_log_split: bool = False

    def __init__(self, connection: DatabaseConnection) -> None:
        self.connection = connection
        # What the collection could not read, for sync_details (e.g. `databases_unreadable`).
        self.notes: dict[str, Any] = {}

    def list_databases(self) -> list[str]:
        """User databases, sorted, without the engine's system databases."""
        names = {str(row["name"]) for row in self.connection.fetch_all(self.list_sql())}
        return sorted(n for n in names if not self.is_system_database(n))

    def is_system_database(self, name: str) -> bool:
        patterns = system_database_patterns(self.db_type)
        if self.case_insensitive_names:
            return any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)
        return any(fnmatch.fnmatchcase(name, p) for p in patterns)

    def collect_sizes(self, databases: Sequence[str]) -> list[DatabaseSize]:
        """Sizes of `databases` (the active inventory); names no longer present are left out."""
        if not databases:
            return []
        wanted = set(databases)
        return [size for size in self.read_sizes(list(databases)) if size.name in wanted]

    @abc.abstractmethod
    def list_sql(self) -> str:
        """A query returning one row per database with a `name` column."""

    @abc.abstractmethod
    def read_sizes(self, databases: list[str]) -> list[DatabaseSize]:
        """Read the sizes of `databases` in as few round trips as the catalog allows."""


def as_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]
