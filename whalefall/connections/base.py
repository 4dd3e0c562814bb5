"""The contract every engine connector fulfils (Django's backends are the model).

A connector is opened from `ConnectionParams`, runs read-only catalog queries and returns rows as
dicts with lower-case keys. Every driver exception leaves it as a `ConnectorError` whose `kind`
is one of `ErrorKind` and whose `transient` flag decides whether a retry makes sense. Messages
are scrubbed of the password before they are built.
"""

from __future__ import annotations

import abc
import enum
import importlib
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType, TracebackType
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from whalefall.structured_logging import REDACTED, scrub


class ErrorKind(enum.StrEnum):
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    AUTHENTICATION = "authentication"
    PRIVILEGE = "privilege"
    # The driver cannot talk to this server the way it asks (a thin-mode limit): permanent.
    UNSUPPORTED = "unsupported"
    OTHER = "other"


TRANSIENT_KINDS = frozenset({ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT})


class ConnectorError(Exception):
    """The one error type connectors and adapters raise."""

    def __init__(self, kind: ErrorKind, message: str, *, transient: bool | None = None) -> None:
        self.kind = ErrorKind(kind)
        self.transient = self.kind in TRANSIENT_KINDS if transient is None else transient
        self.message = message
        super().__init__(f"{self.kind.value}: {message}")

    @property
    def permanent(self) -> bool:
        return not self.transient


@dataclass(frozen=True)
class ConnectionParams:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str = ""
    connect_timeout: int = 10
    statement_timeout: int = 60
    # Transport options per instance (SQL Server and Oracle; see each connector).
    tls: str = ""  # "" driver default, "off", "request", "require"
    trust_server_certificate: bool = False
    oracle_sid: bool = False  # `database` is an Oracle SID rather than a service name
    wallet_location: str = ""
    wallet_password: str = field(default="", repr=False)

    @classmethod
    def from_settings(cls, **kwargs: Any) -> ConnectionParams:
        kwargs.setdefault("connect_timeout", settings.WHALEFALL_CONNECT_TIMEOUT)
        kwargs.setdefault("statement_timeout", settings.WHALEFALL_STATEMENT_TIMEOUT)
        return cls(**kwargs)

    def clean(self, text: str) -> str:
        """Remove this password (and any inline `password=`) from a message."""
        for secret in (self.password, self.wallet_password):
            if len(secret) >= 3:
                text = text.replace(secret, REDACTED)
        return scrub(text)


@dataclass(frozen=True)
class ServerInfo:
    """What version detection found; adapters branch on `flavor` and `version`."""

    vendor: str
    flavor: str
    version: tuple[int, ...]
    version_string: str

    @property
    def display(self) -> str:
        return f"{self.flavor} {'.'.join(map(str, self.version))}"

    @property
    def description(self) -> str:
        """What `Instance.version` stores: the server's own version text, with the product
        name in front unless the text already carries it."""
        if self.flavor.split()[0].lower() in self.version_string.lower():
            return self.version_string
        return f"{self.flavor} {self.version_string}"


def parse_version(text: str) -> tuple[int, ...]:
    """'10.11.19-MariaDB-0+deb12u1' -> (10, 11, 19); stops at the first non-numeric part."""
    parts: list[int] = []
    for chunk in text.strip().split(".")[:4]:
        digits = ""
        for ch in chunk:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(chunk):
            break
    return tuple(parts)


def import_driver(module: str, package: str) -> ModuleType:
    """Import a DB driver on first use; a missing one names the package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImproperlyConfigured(f"The {module!r} driver is not installed: pip install {package}") from exc


class DatabaseConnection(abc.ABC):
    """A read-only connection to one monitored server."""

    vendor: str = ""
    default_port: int = 0

    def __init__(self, params: ConnectionParams) -> None:
        self.params = params
        self._conn: Any = None
        self._server_info: ServerInfo | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    def connect(self) -> DatabaseConnection:
        """Open the connection within `connect_timeout` seconds, whatever the driver does.

        Some drivers bound only the TCP handshake (oracledb thin, FreeTDS in part): a server
        that accepts and then never answers would hang them. The driver's connect runs in a
        helper thread; past the deadline we report a timeout, and the helper closes the
        connection itself should it ever complete.
        """
        with self.translate_errors():
            self._conn = self._connect_with_deadline(self.params.connect_timeout + 1.0)
        return self

    def _connect_with_deadline(self, deadline: float) -> Any:
        outcome: dict[str, Any] = {}
        done = threading.Event()
        lock = threading.Lock()

        def target() -> None:
            try:
                conn = self._connect()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                outcome["error"] = exc
            else:
                with lock:
                    if outcome.get("abandoned"):
                        _quiet_close(conn)
                        return
                    outcome["conn"] = conn
            finally:
                done.set()

        threading.Thread(target=target, name=f"{self.vendor}-connect", daemon=True).start()
        if not done.wait(deadline):
            with lock:
                if "conn" not in outcome and "error" not in outcome:
                    outcome["abandoned"] = True
                    raise ConnectorError(
                        ErrorKind.TIMEOUT,
                        f"no answer from {self.params.host}:{self.params.port} within "
                        f"{self.params.connect_timeout} s (connect timeout)",
                    )
        if "error" in outcome:
            raise outcome["error"]
        return outcome["conn"]

    def close(self) -> None:
        if self._conn is not None:
            _quiet_close(self._conn)
            self._conn = None

    def __enter__(self) -> DatabaseConnection:
        return self.connect() if self._conn is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- queries -----------------------------------------------------------------------------
    def fetch_all(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run one read-only query and return its rows as dicts with lower-case column names."""
        names, rows = self.fetch_rows(sql, params)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def fetch_rows(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """`fetch_all` without a dict per row: the lower-case column names, then the rows as the
        driver returns them (tuples). For catalogs of 10^5 rows, where making the dicts costs
        about as much as what is done with them."""
        if self._conn is None:
            self.connect()
        with self.translate_errors():
            cursor = self._conn.cursor()
            try:
                cursor.execute(sql, params) if params is not None else cursor.execute(sql)
                if cursor.description is None:
                    return [], []
                names = [str(col[0]).lower() for col in cursor.description]
                return names, cursor.fetchall()
            finally:
                cursor.close()

    def fetch_one(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        rows = self.fetch_all(sql, params)
        return rows[0] if rows else None

    def fetch_value(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        row = self.fetch_one(sql, params)
        return next(iter(row.values())) if row else None

    def server_info(self) -> ServerInfo:
        if self._server_info is None:
            self._server_info = self._detect_server()
        return self._server_info

    def ping(self) -> tuple[ServerInfo, float]:
        """Connect if needed, detect the version; return it with the latency in milliseconds."""
        started = time.monotonic()
        if self._conn is None:
            self.connect()
        self._server_info = None
        info = self.server_info()
        return info, (time.monotonic() - started) * 1000

    @contextmanager
    def translate_errors(self) -> Iterator[None]:
        """Turn any driver exception into a ConnectorError with a scrubbed message."""
        try:
            yield
        except ConnectorError:
            raise
        except ImproperlyConfigured:
            raise
        except Exception as exc:  # noqa: BLE001 - every driver error is mapped
            kind = self.classify(exc)
            raise ConnectorError(kind, self.params.clean(self.describe(exc))) from None

    def describe(self, exc: BaseException) -> str:
        return " ".join(str(exc).split()) or exc.__class__.__name__

    # --- per engine ----------------------------------------------------------------------------
    @abc.abstractmethod
    def _connect(self) -> Any:
        """Open the driver connection with connect and statement timeouts, read-only."""

    @abc.abstractmethod
    def _detect_server(self) -> ServerInfo:
        """Query the server for its flavor and version."""

    # --- error classification: engines fill in the codes and words ---------------------------
    auth_codes: frozenset[int | str] = frozenset()
    privilege_codes: frozenset[int | str] = frozenset()
    timeout_codes: frozenset[int | str] = frozenset()
    unreachable_codes: frozenset[int | str] = frozenset()
    auth_patterns: tuple[str, ...] = ()
    privilege_patterns: tuple[str, ...] = ()

    def error_codes(self, exc: BaseException) -> set[int | str]:
        """The vendor error numbers/codes carried by a driver exception."""
        return set()

    def classify(self, exc: BaseException) -> ErrorKind:
        """Map a driver exception to an ErrorKind: codes first, then the message's words."""
        codes, text = self.error_codes(exc), str(exc)
        if codes & self.auth_codes or _matches(self.auth_patterns, text):
            return ErrorKind.AUTHENTICATION
        if codes & self.privilege_codes or _matches(self.privilege_patterns, text):
            return ErrorKind.PRIVILEGE
        if codes & self.timeout_codes or timeout_words(text):
            return ErrorKind.TIMEOUT
        if codes & self.unreachable_codes or unreachable_words(text) or isinstance(exc, OSError):
            return ErrorKind.UNREACHABLE
        return ErrorKind.OTHER


def _matches(patterns: tuple[str, ...], text: str) -> bool:
    return any(re.search(p, text, re.IGNORECASE) for p in patterns)


def _quiet_close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - closing a dead connection must not mask errors
        pass


def timeout_words(text: str) -> bool:
    lowered = text.lower()
    return any(
        w in lowered for w in ("timed out", "timeout", "time out", "max_statement_time", "max_execution_time")
    )


def unreachable_words(text: str) -> bool:
    lowered = text.lower()
    return any(
        w in lowered
        for w in (
            "connection refused",
            "could not connect",
            "can't connect",
            "no route to host",
            "name or service not known",
            "could not translate host name",
            "nodename nor servname",
            "network is unreachable",
            "unable to connect",
            "lost connection",
            "server closed the connection",
            "connection reset",
        )
    )
