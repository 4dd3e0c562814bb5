"""What every per-instance sync coordinator shares: the connection's lifetime."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from whalefall.choices import SyncPhase
from whalefall.connections import DatabaseConnection, ServerInfo, open_connection
from whalefall.models import Instance
from whalefall.sync.phases import phase_guard


class InstanceCoordinator:
    """Owns one instance's connection for the length of a `with` block.

    `__enter__` is the connection phase: open the connection, detect the server and record its
    version on the instance, build the app's adapter. A failure there is a
    `PhaseError("connection")` carrying `connection_failure_details`.
    """

    connection_failure_details: dict[str, Any] | None = None

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.connection: DatabaseConnection | None = None
        self.server: ServerInfo | None = None
        self.adapter: Any = None

    def make_adapter(self, connection: DatabaseConnection) -> Any:
        """The app's adapter for this engine, reading through `connection`."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        with phase_guard(SyncPhase.CONNECTION, self.connection_failure_details):
            self.connection = open_connection(self.instance)
            self.server = self.connection.server_info()
            self.instance.record_version(self.server.description)
            self.adapter = self.make_adapter(self.connection)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
