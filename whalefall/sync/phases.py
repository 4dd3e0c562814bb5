"""What a coordinator phase reports: a small stats dataclass, or a PhaseError on failure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from whalefall.connections.base import ConnectorError
from whalefall.structured_logging import scrub


@dataclass
class PhaseStats:
    """The fixed keys of the `sync_details.inventory` / `.collection` blocks."""

    status: str = "completed"
    processed_records: int = 0
    created: int = 0
    refreshed: int = 0
    reactivated: int = 0
    deactivated: int = 0
    saved_count: int = 0
    failed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        return {**data, **extra}


@dataclass
class InstanceResult:
    """The one object that carries an instance's outcome from its phases to its ledger record
    (`SyncInstanceRecord.complete`): the record's counters, `sync_details`, and whether there
    was anything to collect (`status="skipped"` when not)."""

    items_synced: int = 0
    items_created: int = 0
    items_updated: int = 0
    items_deleted: int = 0
    sync_details: dict[str, Any] = field(default_factory=dict)
    status: str = "completed"

    @classmethod
    def from_phases(
        cls, inventory: PhaseStats, collection: PhaseStats, sync_details: dict[str, Any]
    ) -> InstanceResult:
        """The same counters for every sync: what the collection read and wrote, what the
        inventory added and deactivated."""
        return cls(
            items_synced=collection.processed_records,
            items_created=inventory.created,
            items_updated=collection.saved_count,
            items_deleted=inventory.deactivated,
            sync_details=sync_details,
            status="skipped" if collection.status == "skipped" else "completed",
        )


# A phase's name inside a sentence ("failed in collection"); the stored value stays English.
_PHASE_WORDS = {
    "connection": pgettext_lazy("sync phase", "connection"),
    "inventory": pgettext_lazy("sync phase", "inventory"),
    "collection": pgettext_lazy("sync phase", "collection"),
}


def phase_word(phase: str) -> str:
    """`phase` as the reader's language names it (an unknown value as it is)."""
    return str(_PHASE_WORDS.get(str(phase), phase))


PHASE_BLOCKS = ("inventory", "collection")
# The block of a phase that did not run because an earlier one failed, and of the one that failed.
NOT_RUN: dict[str, Any] = {"status": "skipped", "processed_records": 0, "reason": "not run"}
FAILED: dict[str, Any] = {"status": "failed"}


def full_sync_details(details: dict[str, Any] | None, failed_phase: str) -> dict[str, Any]:
    """The complete `sync_details` shape for a failed instance: both phase blocks with every
    counter (what a phase did not reach is `skipped`, "not run"), and the phase that failed."""
    out = dict(details or {})
    for key in PHASE_BLOCKS:
        given = dict(out.get(key) or {})
        if not given:
            given = (
                {"status": "failed"} if key == failed_phase else {"status": "skipped", "reason": "not run"}
            )
        out[key] = {**PhaseStats(status=given.get("status", "failed")).as_dict(), **given}
    out["failed_phase"] = failed_phase
    return out


class PhaseError(Exception):
    """A phase of one instance failed; carries the phase and the sync_details gathered so far."""

    def __init__(
        self,
        phase: str,
        message: str,
        *,
        transient: bool = False,
        sync_details: dict[str, Any] | None = None,
    ) -> None:
        self.phase = phase
        self.message = scrub(message)
        self.transient = transient
        self.sync_details = sync_details or {}
        super().__init__(
            _("%(phase)s failed: %(message)s") % {"phase": phase_word(phase), "message": self.message}
        )


@contextmanager
def phase_guard(phase: str, sync_details: dict[str, Any] | None = None) -> Iterator[None]:
    """Re-raise anything escaping a phase as PhaseError(phase), keeping the transient flag."""
    try:
        yield
    except PhaseError:
        raise
    except ConnectorError as exc:
        raise PhaseError(phase, str(exc), transient=exc.transient, sync_details=sync_details) from exc
    except Exception as exc:
        raise PhaseError(phase, f"{exc.__class__.__name__}: {exc}", sync_details=sync_details) from exc
