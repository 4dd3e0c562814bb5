"""Drive one sync session over many instances (the one task template every sync uses).

    lock -> session -> one record per instance -> bounded parallel pool:
        start_instance_sync -> work(instance) with retries -> complete / fail (with phase)
    -> finalize (completed / partial / failed / cancelled) -> release lock

A Ctrl-C / SIGTERM of a command (or the scheduler's stop after its grace period) cancels the run
at the next safe point: instances not started yet, and retries not begun, are recorded
`cancelled`; the instances in progress finish. Every failed attempt's phase and error are kept on
the record (`attempt_history`), and a failure stores the full `sync_details` shape.

Both account sync and capacity collection call `run_sync` with their own `work` function, so
the ledger, locking, retry and logging behaviour is identical for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection

from whalefall.choices import RecordStatus, SyncPhase, SyncTrigger
from whalefall.models import Instance, SyncInstanceRecord, SyncSession
from whalefall.structured_logging import bind_context, get_logger, scrub
from whalefall.sync import cancel, ledger
from whalefall.sync.locks import LockConflict, hold_lock
from whalefall.sync.phases import InstanceResult, PhaseError, full_sync_details
from whalefall.sync.retry import is_transient, retry_transient

logger = get_logger(__name__)

InstanceWork = Callable[[Instance, SyncSession], InstanceResult]
ProgressCallback = Callable[[SyncInstanceRecord], None]

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
    work: InstanceWork,
    trigger: str = SyncTrigger.SCHEDULED,
    created_by: str = "",
    parameters: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    max_workers: int | None = None,
) -> SyncSession:
    """Run `work` for every instance inside one session; returns the finalised session.

    A lock conflict raises LockConflict for manual runs; a scheduled run records a session with
    status `skipped` instead, so the admin sees that the run was due and why it did not happen.
    """
    with cancel.signals_cancel():
        try:
            with hold_lock(category):
                session = ledger.create_session(
                    category, trigger, created_by=created_by, parameters=parameters
                )
                with bind_context(module=module, session_id=str(session.session_id)):
                    _run_session(session, module, instances, work, progress, max_workers)
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
    work: InstanceWork,
    progress: ProgressCallback | None,
    max_workers: int | None,
) -> None:
    logger.info(f"{module}_session_started", instances=len(instances), trigger=session.trigger)
    try:
        records = ledger.add_instance_records(session, instances)
        workers = max(1, min(max_workers or settings.WHALEFALL_SYNC_POOL_SIZE, len(records) or 1))
        context = {"module": module, "session_id": str(session.session_id)}

        def one(pair: tuple[SyncInstanceRecord, Instance]) -> SyncInstanceRecord:
            if cancel.cancelled():  # safe point: this instance has not started
                record = pair[0]
                record.cancel(cancel.reason())
            else:
                record = _sync_one(session, pair[0], pair[1], module, work, context)
            if progress:
                progress(record)
            return record

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{module}-worker") as pool:
            list(pool.map(one, zip(records, instances, strict=True)))
        ledger.finalize_session(session)
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


def _sync_one(
    session: SyncSession,
    record: SyncInstanceRecord,
    instance: Instance,
    module: str,
    work: InstanceWork,
    context: dict[str, str],
) -> SyncInstanceRecord:
    """One worker thread: its own DB connection, opened fresh and closed at the end."""
    close_old_connections()
    try:
        with bind_context(**context, instance_id=instance.pk, instance=instance.name):

            def attempt(n: int) -> InstanceResult:
                ledger.start_instance_sync(record)
                try:
                    return work(instance, session)
                except Exception as exc:
                    record.note_attempt_failed(
                        phase=getattr(exc, "phase", SyncPhase.COLLECTION),
                        error=_message(exc),
                        transient=is_transient(exc),
                    )
                    raise

            def on_retry(n: int, exc: BaseException, delay: float) -> None:
                logger.warning(f"{module}_retrying", attempt=n, delay=delay, error=_message(exc))

            def wait(delay: float) -> None:
                if cancel.wait(delay):  # safe point: between attempts
                    raise cancel.RunCancelled(cancel.reason())

            try:
                result = retry_transient(attempt, on_retry=on_retry, sleep=wait)
            except cancel.RunCancelled as exc:
                logger.warning(f"{module}_instance_cancelled", attempts=record.attempts)
                record.cancel(f"{exc}; {_history_text(record)}")
            except PhaseError as exc:
                logger.error(f"{module}_{exc.phase}_failed", phase=exc.phase, error=exc.message)
                ledger.fail_instance_sync(
                    record,
                    _history_text(record) or exc.message,
                    phase=exc.phase,
                    sync_details=full_sync_details(exc.sync_details, exc.phase),
                )
            except Exception as exc:
                logger.exception(f"{module}_instance_failed")
                ledger.fail_instance_sync(
                    record,
                    _history_text(record) or _message(exc),
                    phase=SyncPhase.COLLECTION,
                    sync_details=full_sync_details(None, SyncPhase.COLLECTION),
                )
            else:
                ledger.complete_instance_sync(
                    record,
                    items_synced=result.items_synced,
                    items_created=result.items_created,
                    items_updated=result.items_updated,
                    items_deleted=result.items_deleted,
                    sync_details=result.sync_details,
                    status=RecordStatus.SKIPPED if result.status == "skipped" else RecordStatus.COMPLETED,
                )
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
        return history[0]["error"]
    return "; ".join(f"attempt {h['attempt']} ({h['phase']}): {h['error']}" for h in history)


def _counters(result: InstanceResult) -> dict[str, int]:
    return {
        "items_synced": result.items_synced,
        "items_created": result.items_created,
        "items_updated": result.items_updated,
        "items_deleted": result.items_deleted,
    }
