"""Drive one sync session over many instances (the one task template every sync uses).

    lock -> session -> one record per instance -> bounded parallel pool of units:
        unit(session_id, instance_id): start -> work with retries -> complete / fail (with phase)
    -> finalize (completed / partial / failed / cancelled) -> release lock

The unit of work of one instance is a plain function of `(session_id, instance_id)` (each app's
`sync_instance`): it loads what it needs and writes its own record, so any executor can run it
(today a thread pool; a distributed task queue would only need the ids). `run_instance` is what
every unit does around the app's phases.

A Ctrl-C / SIGTERM of a command (or the scheduler's stop after its grace period) cancels the run
at the next safe point: instances not started yet, and retries not begun, are recorded
`cancelled`; the instances in progress finish. Every failed attempt's phase and error are kept on
the record (`attempt_history`), and a failure stores the full `sync_details` shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils.translation import gettext as _

from whalefall.choices import SyncPhase, SyncTrigger
from whalefall.models import Instance, SyncInstanceRecord, SyncSession
from whalefall.structured_logging import bind_context, get_logger, scrub
from whalefall.sync import cancel, ledger
from whalefall.sync.locks import LOCK_LOST, LockConflict, hold_lock
from whalefall.sync.phases import InstanceResult, PhaseError, full_sync_details, phase_word
from whalefall.sync.retry import is_transient, retry_transient

logger = get_logger(__name__)
_T = TypeVar("_T")

# The in-process work of one instance: its phases, given the loaded instance and session.
InstanceWork = Callable[[Instance, SyncSession], InstanceResult]
# The unit of work of one instance, as an executor runs it: ids in, the finished record out.
InstanceUnit = Callable[[int, int], SyncInstanceRecord]
ProgressCallback = Callable[[SyncInstanceRecord], None]
# The work of a whole session done at once (a set-based pass over every instance): the session
# and its instances in, each instance's result out (by instance id). An exception fails them all.
SessionWork = Callable[[SyncSession, Sequence[Instance]], dict[int, InstanceResult]]

# Set by the scheduler while it runs a request: a lock conflict then leaves a `skipped` session
# naming the holder (the person who asked sees why), instead of an exception nobody reads.
_conflict_records_skip: ContextVar[bool] = ContextVar("conflict_records_skip", default=False)


@contextmanager
def conflicts_recorded_as_skipped() -> Iterator[None]:
    token = _conflict_records_skip.set(True)
    try:
        yield
    finally:
        _conflict_records_skip.reset(token)


def run_sync(
    *,
    category: str,
    module: str,
    instances: Sequence[Instance],
    unit: InstanceUnit,
    trigger: str = SyncTrigger.SCHEDULED,
    created_by: str = "",
    parameters: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    max_workers: int | None = None,
    together: SessionWork | None = None,
) -> SyncSession:
    """Run `unit(session_id, instance_id)` for every instance inside one session; returns the
    finalised session. `parameters` are kept on the session, where the units read their options.

    `together`: the same work done for every instance at once, in this thread, with the records
    written in bulk (a few statements, whatever the number of instances), for work that is one
    set-based pass anyway. `unit` stays the way to run one instance alone.

    A lock conflict raises LockConflict for manual runs; a scheduled run records a session with
    status `skipped` instead, so the admin sees that the run was due and why it did not happen.
    """
    with cancel.signals_cancel():
        try:
            with hold_lock(category) as handle:
                session = ledger.create_session(
                    category, trigger, created_by=created_by, parameters=parameters
                )
                cancel.stop_session_when(session.pk, handle.lost, str(LOCK_LOST))
                try:
                    with bind_context(module=module, session_id=str(session.session_id)):
                        if together is not None:
                            drive = partial(_together, session, module, instances, together, progress)
                        else:
                            drive = partial(_in_pool, session, module, instances, unit, progress, max_workers)
                        _run_session(session, module, instances, drive)
                        if handle.lost.is_set():
                            # Whatever the ending says, the run was cut off: another run may have
                            # overlapped it. It reads as a failure, with the reason.
                            session.interrupt(str(LOCK_LOST))
                            logger.error(f"{module}_session_lost_its_lock", status=session.status)
                finally:
                    cancel.forget_session(session.pk)
                return session
        except LockConflict as conflict:
            if trigger != SyncTrigger.SCHEDULED and not _conflict_records_skip.get():
                raise
            session = ledger.create_session(category, trigger, created_by=created_by, parameters=parameters)
            session.skip(str(conflict))
            logger.warning(
                f"{module}_skipped_lock_held",
                module=module,
                session_id=str(session.session_id),
                owner=conflict.owner,
            )
            return session


def _run_session(
    session: SyncSession,
    module: str,
    instances: Sequence[Instance],
    drive: Callable[[list[SyncInstanceRecord]], None],
) -> None:
    """The frame of every session: its records, `drive(records)` to run them, the outcome."""
    logger.info(f"{module}_session_started", instances=len(instances), trigger=session.trigger)
    try:
        drive(ledger.add_instance_records(session, instances))
        session.finalize()
    except Exception as exc:
        logger.exception(f"{module}_session_failed")
        session.fail(scrub(f"{exc.__class__.__name__}: {exc}"))
        return
    logger.info(
        f"{module}_session_finished",
        status=session.status,
        succeeded=session.successful_instances,
        failed=session.failed_instances,
    )


def _in_pool(
    session: SyncSession,
    module: str,
    instances: Sequence[Instance],
    unit: InstanceUnit,
    progress: ProgressCallback | None,
    max_workers: int | None,
    records: list[SyncInstanceRecord],
) -> None:
    """One unit per instance, in a bounded pool; each writes its own record."""
    workers = max(1, min(max_workers or settings.WHALEFALL_SYNC_POOL_SIZE, len(records)))
    # A progress display may also show the instances being worked on (a bar each on a terminal).
    started = getattr(progress, "instance_started", None)

    def one(instance: Instance) -> SyncInstanceRecord:
        if started is not None:
            started(instance.name)
        record = unit(session.pk, instance.pk)
        if progress:
            progress(record)
        return record

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{module}-worker") as pool:
        list(pool.map(one, instances))


def _together(
    session: SyncSession,
    module: str,
    instances: Sequence[Instance],
    work: SessionWork,
    progress: ProgressCallback | None,
    records: list[SyncInstanceRecord],
) -> None:
    """Work done for every instance at once: the same records, counters, retries and log events
    as `_in_pool`, each outcome written for all the records in one statement."""
    started = getattr(progress, "instance_started", None)
    if started is not None:
        for instance in instances:
            started(instance.name)
    if cancel.cancelled(session.pk):  # safe point: nothing has started
        ledger.cancel_records(records, cancel.reason(session.pk))
    else:
        _together_attempts(session, module, instances, work, records)
    if progress:
        for record in records:
            progress(record)


def _together_attempts(
    session: SyncSession,
    module: str,
    instances: Sequence[Instance],
    work: SessionWork,
    records: list[SyncInstanceRecord],
) -> None:
    """The attempts of work done for all instances at once, and every record's outcome."""
    try:
        results = _attempts(
            module,
            session.pk,
            lambda: work(session, instances),
            start=lambda: ledger.start_records(records),
            failed=partial(ledger.note_attempts_failed, records),
        )
    except cancel.RunCancelled as exc:
        logger.warning(f"{module}_instances_cancelled", instances=len(records))
        ledger.cancel_records(records, f"{exc}; {_history_text(records[0])}" if records else str(exc))
    except PhaseError as exc:
        logger.error(f"{module}_{exc.phase}_failed", phase=exc.phase, error=exc.message)
        details, why = full_sync_details(exc.sync_details, exc.phase), exc.message
        ledger.fail_records(records, lambda r: _history_text(r) or why, exc.phase, details)
    except Exception as exc:
        logger.exception(f"{module}_instances_failed")
        details = full_sync_details(None, SyncPhase.COLLECTION)
        message = _message(exc)
        ledger.fail_records(records, lambda r: _history_text(r) or message, SyncPhase.COLLECTION, details)
    else:
        ledger.complete_records(records, results)
        for record in records:
            with bind_context(instance_id=record.instance_id, instance=record.instance_name):
                result = ledger.result_of(record, results)
                logger.info(f"{module}_instance_completed", status=record.status, **_counters(result))


def _attempts(
    module: str,
    session_id: int,
    run: Callable[[], _T],
    *,
    start: Callable[[], Any],
    failed: Callable[..., Any],
) -> _T:
    """`run` with the retries of transient errors, for one record or all of a session's: each
    attempt is `start`ed first, a failed one noted by `failed` (its phase, error and whether it
    is transient), and the waits between attempts are the points where a cancel is honoured."""

    def attempt(n: int) -> _T:
        start()
        try:
            return run()
        except Exception as exc:
            failed(
                phase=getattr(exc, "phase", SyncPhase.COLLECTION),
                error=_message(exc),
                transient=is_transient(exc),
            )
            raise

    def on_retry(n: int, exc: BaseException, delay: float) -> None:
        logger.warning(f"{module}_retrying", attempt=n, delay=delay, error=_message(exc))

    def wait(delay: float) -> None:
        if cancel.wait(delay, session_id):  # safe point: between attempts
            raise cancel.RunCancelled(cancel.reason(session_id))

    return retry_transient(attempt, on_retry=on_retry, sleep=wait)


def run_instance(session_id: int, instance_id: int, *, module: str, work: InstanceWork) -> SyncInstanceRecord:
    """What every unit of work does around its phases: load the record of `instance_id` in
    session `session_id`, run `work` with retries, and write the outcome on the record.

    Runs in a worker: its own DB connection, opened fresh and closed at the end.
    """
    close_old_connections()
    try:
        record = SyncInstanceRecord.objects.select_related("session", "instance__credential").get(
            session_id=session_id, instance_id=instance_id
        )
        session, instance = record.session, record.instance
        assert instance is not None  # a record being run has its instance (it is only unset once deleted)
        context = {"module": module, "session_id": str(session.session_id)}
        with bind_context(**context, instance_id=instance.pk, instance=instance.name):
            if cancel.cancelled(session_id):  # safe point: this instance has not started
                record.cancel(cancel.reason(session_id))
                return record

            try:
                result = _attempts(
                    module,
                    session_id,
                    lambda: work(instance, session),
                    start=record.start,
                    failed=record.note_attempt_failed,
                )
            except cancel.RunCancelled as exc:
                logger.warning(f"{module}_instance_cancelled", attempts=record.attempts)
                record.cancel(f"{exc}; {_history_text(record)}")
            except PhaseError as exc:
                logger.error(f"{module}_{exc.phase}_failed", phase=exc.phase, error=exc.message)
                record.fail(
                    _history_text(record) or exc.message,
                    phase=exc.phase,
                    sync_details=full_sync_details(exc.sync_details, exc.phase),
                )
            except Exception as exc:
                logger.exception(f"{module}_instance_failed")
                record.fail(
                    _history_text(record) or _message(exc),
                    phase=SyncPhase.COLLECTION,
                    sync_details=full_sync_details(None, SyncPhase.COLLECTION),
                )
            else:
                record.complete(result)
                logger.info(f"{module}_instance_completed", status=record.status, **_counters(result))
        return record
    finally:
        connection.close()


def _message(exc: BaseException) -> str:
    if isinstance(exc, PhaseError):
        return exc.message
    return scrub(f"{exc.__class__.__name__}: {exc}")


def _history_text(record: SyncInstanceRecord) -> str:
    """The last error, preceded by the earlier attempts' when there were retries."""
    history = record.attempt_history
    if not history:
        return ""
    if len(history) == 1:
        (only,) = history
        return only["error"]
    return "; ".join(
        _("attempt %(attempt)s (%(phase)s): %(error)s")
        % {"attempt": h["attempt"], "phase": phase_word(h["phase"]), "error": h["error"]}
        for h in history
    )


def _counters(result: InstanceResult) -> dict[str, int]:
    return {
        "items_synced": result.items_synced,
        "items_created": result.items_created,
        "items_updated": result.items_updated,
        "items_deleted": result.items_deleted,
    }


def unit_of(module: str, work: InstanceWork) -> InstanceUnit:
    """The unit of work that runs in-process `work` for one instance (each app's `sync_instance`
    is one of these, written out as a plain function)."""
    return partial(run_instance, module=module, work=work)
