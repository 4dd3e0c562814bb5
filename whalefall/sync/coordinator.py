"""The shape of every per-instance sync: connection, inventory, collection, one write.

An app fills in `InstanceCoordinator` with the same method names (`make_adapter`, `inventory`,
`collection`, `save`); `run()` calls them in order, turns any failure into a `PhaseError` naming
the phase, and hands the counters on as one `InstanceResult`. Account sync and capacity
collection are read the same way, whatever they collect.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

from whalefall.choices import SyncPhase
from whalefall.connections import DatabaseConnection, ServerInfo, open_connection
from whalefall.models import Instance, SyncSession
from whalefall.structured_logging import bind_context
from whalefall.sync.phases import FAILED, NOT_RUN, InstanceResult, PhaseStats, phase_guard

T = TypeVar("T")


class InstanceCoordinator(ABC):
    """One instance's sync; the connection lives as long as the `with` block.

    Phases, in the order `run()` calls them:
      connection  `__enter__`: open the connection, detect the server, record its version on
                  the instance, build the app's adapter (`make_adapter`).
      inventory   list what the instance holds and compare it with what is stored.
      collection  read the details of what the inventory found active; a `PhaseStats` with
                  `status="skipped"` when there was nothing to read.
      save        write what both phases decided, in one transaction (a failure is the
                  collection's and leaves the stored data as it was).
    Phases only read; extra `sync_details` keys (e.g. `warnings`) go into `self.details`.
    """

    #: Prefix of the log events and the name bound as `module` in the log context.
    module: ClassVar[str] = "sync"
    #: The phase blocks recorded when the connection fails (no phase ran).
    connection_failure_details: ClassVar[dict[str, Any]] = {"inventory": NOT_RUN, "collection": NOT_RUN}

    def __init__(self, instance: Instance, session: SyncSession | None = None) -> None:
        self.instance = instance
        self.session = session
        self.connection: DatabaseConnection | None = None
        self.server: ServerInfo | None = None
        self.adapter: Any = None
        self.details: dict[str, Any] = {}  # the record's sync_details, filled phase by phase

    @classmethod
    def for_session(cls, instance: Instance, session: SyncSession) -> Self:
        """The coordinator of `instance` in `session`; options come from `session.parameters`."""
        return cls(instance, session)

    @classmethod
    def sync(cls, instance: Instance, session: SyncSession) -> InstanceResult:
        """Connect, run the phases, close: the in-process work of one instance in a session."""
        with cls.for_session(instance, session) as coordinator:
            return coordinator.run()

    # --- what each app fills in ---------------------------------------------------------------
    @abstractmethod
    def make_adapter(self, connection: DatabaseConnection) -> Any:
        """The app's adapter for this engine, reading through `connection`."""

    @abstractmethod
    def inventory(self) -> PhaseStats:
        """List what the instance holds; decide what is created, refreshed or deactivated."""

    @abstractmethod
    def collection(self) -> PhaseStats:
        """Read the details of what the inventory found active."""

    @abstractmethod
    def save(self) -> None:
        """Write what the phases decided, in one transaction."""

    # --- the template ------------------------------------------------------------------------
    def run(self) -> InstanceResult:
        """inventory -> collection -> save; a failure is a `PhaseError` with the details so far."""
        inventory = self._phase(
            SyncPhase.INVENTORY, self.inventory, {"inventory": FAILED, "collection": NOT_RUN}
        )
        self.details["inventory"] = inventory.as_dict()
        collection = self._phase(
            SyncPhase.COLLECTION, self.collection, {**self.details, "collection": FAILED}
        )
        self.details["collection"] = collection.as_dict()
        self._phase(
            SyncPhase.COLLECTION,
            self.save,
            {**self.details, "collection": {**self.details["collection"], **FAILED}},
        )
        return InstanceResult.from_phases(inventory, collection, dict(self.details))

    def _phase(self, phase: str, step: Callable[[], T], failure_details: dict[str, Any]) -> T:
        with (
            bind_context(module=self.module, instance_id=self.instance.pk, phase=phase),
            phase_guard(phase, failure_details),
        ):
            return step()

    def __enter__(self) -> Self:
        with phase_guard(SyncPhase.CONNECTION, dict(self.connection_failure_details)):
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
