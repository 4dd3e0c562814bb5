"""The aggregation's unit of work: `aggregate_instance(session_id, instance_id)`, one shared pass
per session.

The work is all in the metadata database, where one set-based pass over every instance of the
session (a few statements, whatever their number) beats one pass per instance: parallel writers
would only queue for its lock. So the first unit of a session to arrive runs the pass for all of
the session's instances, and every unit reports its own instance's share.

Like every app's unit, it is a plain function of ids: what to aggregate is read from the
session's parameters (`mode`, `periods`, `instance_ids`, `today`). Sharing the pass is an
optimisation of the process, not a requirement: an executor that runs the units in several
processes runs the pass once per process, and a second pass over the same periods rewrites
nothing (the aggregates are upserts of the same values).

The tasks run it as `aggregate_session`, for the whole session at once in their own thread: no
worker per instance opening a connection only to read its share, and the records written in bulk.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from capacity.services.aggregation import aggregate_periods
from capacity.services.incremental import aggregate_changes
from whalefall.choices import SyncPhase
from whalefall.models import Instance, SyncInstanceRecord, SyncSession
from whalefall.structured_logging import scrub
from whalefall.sync.phases import InstanceResult, PhaseError, PhaseStats
from whalefall.sync.session_runner import run_instance

MODULE = "capacity_aggregation"
# Passes kept for units still to report; sessions run one at a time per category, so a few is
# plenty, and the bound keeps a scheduler that runs for months from keeping every result.
_KEPT_PASSES = 4


def aggregation_parameters(
    *, mode: str, periods: list[tuple[str, date]], instance_ids: list[int] | None, today: date
) -> dict[str, Any]:
    """What a session records of its aggregation, and all its units need to know."""
    return {
        "mode": mode,
        "periods": [[kind, start.isoformat()] for kind, start in periods],
        "instance_ids": instance_ids,
        "today": today.isoformat(),
    }


@dataclass
class _Pass:
    """One session's pass: run once, read by every unit of the session."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False
    result: dict[int, dict[str, dict]] = field(default_factory=dict)
    error: str = ""


_passes: OrderedDict[int, _Pass] = OrderedDict()
_passes_lock = threading.Lock()


def _pass_of(session_id: int) -> _Pass:
    with _passes_lock:
        found = _passes.get(session_id)
        if found is None:
            found = _passes[session_id] = _Pass()
            while len(_passes) > _KEPT_PASSES:
                _passes.popitem(last=False)
        return found


def _run_pass(session: SyncSession) -> dict[int, dict[str, dict]]:
    params = session.parameters or {}
    named = params.get("instance_ids")
    if params.get("mode") == "periods":
        periods = [(kind, date.fromisoformat(start)) for kind, start in params["periods"]]
        ids = list(SyncInstanceRecord.objects.filter(session=session).values_list("instance_id", flat=True))
        return aggregate_periods(periods, ids, restrict=named is not None)
    today = date.fromisoformat(params["today"])
    return aggregate_changes(today, named, full=params.get("mode") == "full")


def _share(instance: Instance, session: SyncSession) -> InstanceResult:
    shared = _pass_of(session.pk)
    with shared.lock:
        if not shared.done:
            try:
                shared.result = _run_pass(session)
            except Exception as exc:  # noqa: BLE001 - every instance's record gets the reason
                shared.error = scrub(f"{exc.__class__.__name__}: {exc}")
            shared.done = True
    if shared.error:
        raise PhaseError(SyncPhase.COLLECTION, shared.error)
    return _instance_result(shared.result.get(instance.pk, {}))


def _instance_result(per_kind: dict[str, dict]) -> InstanceResult:
    """One instance's share of a pass: per kind of period, the rows written."""
    stats = PhaseStats(processed_records=len(per_kind))
    stats.saved_count = sum(v["databases"] + v["instance"] for v in per_kind.values())
    stats.extra.update(per_kind)
    return InstanceResult(
        items_synced=len(per_kind),
        items_updated=stats.saved_count,
        sync_details={"aggregation": stats.as_dict()},
    )


def aggregate_instance(session_id: int, instance_id: int) -> SyncInstanceRecord:
    """The aggregation's unit of work for one instance of a session."""
    return run_instance(session_id, instance_id, module=MODULE, work=_share)


def aggregate_session(session: SyncSession, instances: Sequence[Instance]) -> dict[int, InstanceResult]:
    """The pass of a whole session, in the caller's thread, with its records written in bulk
    (`run_sync(together=...)`): a nightly run then costs a few statements, not a connection
    and two record writes per instance. A failure is every instance's."""
    try:
        shared = _run_pass(session)
    except Exception as exc:
        raise PhaseError(SyncPhase.COLLECTION, scrub(f"{exc.__class__.__name__}: {exc}")) from exc
    return {i.pk: _instance_result(shared.get(i.pk, {})) for i in instances}
