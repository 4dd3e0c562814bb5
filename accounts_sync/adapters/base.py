"""The contract of an account adapter (one per engine, identical method names).

An adapter reads the catalogs of one connected server in bulk: `list_accounts()` (one or a few
queries, never one per account) and `collect_permissions(accounts)` (a fixed number of queries per
server, or per database where the engine is per-database). It raises only `ConnectorError`
(the connection layer translates driver errors). It never writes to the metadata database.
"""

from __future__ import annotations

import abc
import gc
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ContextDecorator
from dataclasses import dataclass, field
from typing import Any

from accounts_sync.privileges import Collected, Grants, GrantSet, Permissions, Scope
from whalefall.connections.base import DatabaseConnection, ServerInfo

__all__ = [
    "AccountAdapter",
    "Collected",
    "GrantSet",
    "Grants",
    "Permissions",
    "RemoteAccount",
    "Scope",
    "paused_gc",
    "yes",
]


class paused_gc(ContextDecorator):
    """Pause the cyclic garbage collector while a sync builds its objects (a decorator too).

    A sync of N accounts allocates a few small objects per catalog row and keeps most of them
    until it ends. The collector runs every 700 allocations and, as the heap grows, rescans
    every live object of the process: a third of a first sync of 10,000 accounts, a quarter
    of a no-change one. What a sync builds is freed by reference counting, so the collector is
    paused for the duration (the rare cycle waits until it runs again) and restored when the
    outermost pause ends: nested pauses and pauses in several threads (instances synced in
    parallel) share one count.
    """

    _lock = threading.Lock()
    _depth = 0
    _was_enabled = False

    def __enter__(self) -> paused_gc:
        cls = type(self)
        with cls._lock:
            if cls._depth == 0:
                cls._was_enabled = gc.isenabled()
                gc.disable()
            cls._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        cls = type(self)
        with cls._lock:
            cls._depth -= 1
            if cls._depth == 0 and cls._was_enabled:
                gc.enable()


@dataclass(slots=True)
class RemoteAccount:
    """An account as the server lists it, with the derived facts the adapter can tell.

    The MySQL and PostgreSQL adapters build one per account positionally (10^4-10^5 of them):
    keep the fields in this order.
    """

    identity: str
    username: str
    host: str = ""
    is_role: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)
    is_superuser: bool = False
    is_locked: bool = False
    can_login: bool = True
    is_expired: bool = False
    # Permissions the listing already revealed (e.g. MySQL global privileges); not attributes.
    preloaded: dict[str, list[str]] = field(default_factory=dict, repr=False)
    # A digest of the password hash (never the hash), to link a rename: same grants, same
    # fingerprint. In memory only -- never stored or logged; None where unreadable or no password.
    fingerprint: str | None = field(default=None, repr=False)

    def facts(self) -> dict[str, bool]:
        return {
            "is_superuser": self.is_superuser,
            "is_locked": self.is_locked,
            "can_login": self.can_login,
            "is_expired": self.is_expired,
        }


class AccountAdapter(abc.ABC):
    """Reads accounts and permissions of one server; engine differences are flags detected here."""

    db_type: str = ""
    # Scope kinds read from server-wide catalogs even when a database cannot be entered: their
    # facts are fresh every time, so they are never carried over for an unreadable database.
    server_catalog_kinds: frozenset[str] = frozenset()

    def __init__(self, connection: DatabaseConnection, server: ServerInfo | None = None) -> None:
        self.connection = connection
        self.server = server or connection.server_info()
        self.notes: dict[str, Any] = {}  # e.g. databases skipped for lack of access

    def fetch(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.connection.fetch_all(sql, params)

    def fetch_rows(
        self, sql: str, columns: Sequence[str], params: Sequence[Any] | dict[str, Any] | None = None
    ) -> Sequence[Sequence[Any]]:
        """Rows as tuples of `columns` (see `fetch_rows()`)."""
        return fetch_rows(self.connection, sql, columns, params)

    def listed_in(self, identity: str) -> str | None:
        """The database whose catalog lists this account (None: the server's own listing).

        An account listed from a database that could not be read this time is not "gone": the
        coordinator keeps it rather than deactivating it.
        """
        return None

    @abc.abstractmethod
    def list_accounts(self) -> list[RemoteAccount]:
        """Every account and role of the server (system ones too; exclusions are applied later)."""

    @abc.abstractmethod
    def collect_permissions(self, accounts: Sequence[RemoteAccount]) -> Collected:
        """Permissions of `accounts` keyed by identity, in bulk; every account gets an entry."""


def fetch_rows(
    connection: DatabaseConnection,
    sql: str,
    columns: Sequence[str],
    params: Sequence[Any] | dict[str, Any] | None = None,
) -> Sequence[Sequence[Any]]:
    """Rows as tuples of `columns` (the select list's names, in its order): no dict per row.

    The names are checked against what the server returns, so a select list and its unpacking
    cannot drift apart; a connection that only returns dicts (a test double) gets its rows
    picked by name.
    """
    fetch = getattr(connection, "fetch_rows", None)
    if fetch is None:
        return [tuple(r[c] for c in columns) for r in connection.fetch_all(sql, params)]
    names, rows = fetch(sql, params)
    if names != list(columns):
        raise ValueError(f"query returned columns {names}, expected {list(columns)}")
    return rows


def row_values(rows: list[dict[str, Any]], columns: Sequence[str]) -> Iterator[Iterable[Any]]:
    """`fetch_all` rows as their values in select-list order, to unpack like tuples (no lookup
    by name per cell); the names are checked once against `columns`."""
    if rows and list(rows[0]) != list(columns):
        raise ValueError(f"query returned columns {list(rows[0])}, expected {list(columns)}")
    return map(dict.values, rows)


def yes(value: Any) -> bool:
    """Catalog truthiness: 'Y', 'YES', 1, True."""
    if isinstance(value, str):
        return value.strip().upper() in {"Y", "YES", "TRUE", "T", "1"}
    return bool(value)
