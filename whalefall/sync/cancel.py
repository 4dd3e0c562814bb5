"""Stopping runs at a safe point: between instances and between retries, never mid-write.

One process-wide flag. A command run from a terminal sets it on the first Ctrl-C / SIGTERM (a
second one exits at once); the scheduler sets it when its stop grace period is over. Workers look
at it before starting an instance and while waiting to retry; what they skip is recorded
`cancelled`, and so is the session.

One run can also be stopped alone (`stop_session_when`): a run whose lock was taken over by
another process must stop, while the other runs of the same scheduler go on.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.utils.translation import gettext as _

from whalefall.structured_logging import get_logger

logger = get_logger(__name__)


class RunCancelled(Exception):
    """Raised at a safe point (a retry wait) once the run is cancelled."""


_flag = threading.Event()
_reason = ""


def request_cancel(reason: str) -> None:
    global _reason
    if not _flag.is_set():
        _reason = reason
        _flag.set()
        logger.warning("sync_cancel_requested", reason=reason)


# Runs stopped alone, by session id: the event that stops each, and why.
_watched: dict[int, tuple[threading.Event, str]] = {}


def stop_session_when(session_id: int, event: threading.Event, why: str) -> None:
    """From when `event` is set, session `session_id` is cancelled (only that run), for `why`."""
    _watched[session_id] = (event, why)


def forget_session(session_id: int) -> None:
    _watched.pop(session_id, None)


def _stopped_alone(session_id: int | None) -> str:
    entry = _watched.get(session_id) if session_id is not None else None
    return entry[1] if entry is not None and entry[0].is_set() else ""


def cancelled(session_id: int | None = None) -> bool:
    """The process's runs are cancelled, or (given its id) this session's run alone is."""
    return _flag.is_set() or bool(_stopped_alone(session_id))


def reason(session_id: int | None = None) -> str:
    if _flag.is_set():
        return _reason or _("cancelled")
    return _stopped_alone(session_id) or _("cancelled")


def wait(seconds: float, session_id: int | None = None) -> bool:
    """Sleep up to `seconds`; True (at once) if the run is cancelled meanwhile."""
    if session_id is None or session_id not in _watched:
        return _flag.wait(seconds) if seconds > 0 else _flag.is_set()
    deadline = time.monotonic() + seconds
    while not cancelled(session_id):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        _flag.wait(min(left, 1.0))  # the run's own event is polled once a second
    return True


def reset() -> None:
    global _reason
    _flag.clear()
    _reason = ""


@contextmanager
def signals_cancel() -> Iterator[None]:
    """In the main thread of a command: the first SIGINT/SIGTERM cancels the run at the next safe
    point (it then ends `cancelled` and releases its lock); a second one exits at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reset()

    def handler(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if cancelled():
            sys.stderr.write("\n" + _("%(signal)s again: exiting now.") % {"signal": name} + "\n")
            os._exit(128 + signum)
        sys.stderr.write(
            "\n"
            + _("%(signal)s: stopping after the instances in progress (again to exit now)...")
            % {"signal": name}
            + "\n"
        )
        request_cancel(_("cancelled by %(signal)s") % {"signal": name})

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
