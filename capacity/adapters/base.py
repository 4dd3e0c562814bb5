"""The contract of a capacity adapter (the account adapters use the same method names).

An adapter wraps one connected `DatabaseConnection` and does read-only catalog queries:

- `list_databases()` -> the names of the instance's user databases (system ones excluded, as
  data in `system_databases.yaml`), their case kept.
- `collect_sizes(databases)` -> one `DatabaseSize` per named database that still exists and
  could be read; a database whose read fails on its own (timeout, permission, dropped meanwhile,
  a tenant's booby trap) is left out and named with the reason in `failed`.

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

from whalefall.connections.base import ConnectorError, DatabaseConnection, ErrorKind

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

    def __init__(self, connection: DatabaseConnection) -> None:
        self.connection = connection
        #: name -> reason, for the databases the last `collect_sizes` could not read.
        self.failed: dict[str, str] = {}
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
        """Sizes of `databases` (the active inventory); names no longer present are left out.

        One bulk read first; if it fails for any reason but a lost server, each database is
        read on its own so that one database's failure costs only that database. If every
        database fails, the failure is the instance's and is raised.
        """
        self.failed = {}
        if not databases:
            return []
        wanted = set(databases)
        try:
            sizes = self.read_sizes(list(databases))
        except ConnectorError as exc:
            if exc.kind == ErrorKind.UNREACHABLE:
                raise
            sizes = self.read_one_by_one(list(databases), exc)
        return [size for size in sizes if size.name in wanted]

    def read_one_by_one(self, databases: list[str], bulk_error: ConnectorError) -> list[DatabaseSize]:
        sizes: list[DatabaseSize] = []
        for name in databases:
            try:
                sizes.extend(self.read_sizes([name]))
            except ConnectorError as exc:
                if exc.kind == ErrorKind.UNREACHABLE:
                    raise
                self.failed[name] = str(exc)
        if len(self.failed) == len(databases):
            raise bulk_error
        return sizes

    @abc.abstractmethod
    def list_sql(self) -> str:
        """A query returning one row per database with a `name` column."""

    @abc.abstractmethod
    def read_sizes(self, databases: list[str]) -> list[DatabaseSize]:
        """Read the sizes of `databases` in as few round trips as the catalog allows."""


def as_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]
