"""Connectors per engine, looked up by `Instance.db_type` and imported on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from whalefall.connections.base import (
    ConnectionParams,
    ConnectorError,
    DatabaseConnection,
    ErrorKind,
    ServerInfo,
)
from whalefall.engine_lookup import engine_class

if TYPE_CHECKING:
    from whalefall.models import Instance

CONNECTORS = {
    "mysql": "whalefall.connections.mysql",
    "postgresql": "whalefall.connections.postgresql",
    "sqlserver": "whalefall.connections.sqlserver",
    "oracle": "whalefall.connections.oracle",
}


def connector_class(db_type: str) -> type[DatabaseConnection]:
    try:
        return engine_class(CONNECTORS, db_type, what="connector", attr="Connection")
    except ValueError:
        raise ConnectorError(ErrorKind.OTHER, f"unsupported db_type {db_type!r}", transient=False) from None


def open_connection(instance: Instance) -> DatabaseConnection:
    """A connected connector for `instance` (caller closes it, or uses it as a context manager)."""
    return connector_class(instance.db_type)(instance.connection_params()).connect()


__all__ = [
    "ConnectionParams",
    "ConnectorError",
    "DatabaseConnection",
    "ErrorKind",
    "ServerInfo",
    "connector_class",
    "open_connection",
]
