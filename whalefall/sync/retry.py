"""Retries with exponential backoff for transient failures only (2 s, 4 s, 8 s by default)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    return bool(getattr(exc, "transient", False))


def retry_transient(
    fn: Callable[[int], T],
    *,
    attempts: int | None = None,
    delays: list[float] | None = None,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `fn(attempt)` until it succeeds, retrying only errors whose `transient` is true.

    `attempts` counts retries after the first call (3 means up to four calls), as the default schedule's
    "retry 3 times" does. Authentication and other permanent errors raise at once.
    """
    retries = settings.WHALEFALL_RETRY_ATTEMPTS if attempts is None else attempts
    waits = settings.WHALEFALL_RETRY_DELAYS if delays is None else delays
    attempt = 1
    while True:
        try:
            return fn(attempt)
        except Exception as exc:
            if not is_transient(exc) or attempt > retries:
                raise
            delay = waits[min(attempt - 1, len(waits) - 1)] if waits else 0
            if on_retry:
                on_retry(attempt, exc, delay)
            sleep(delay)
            attempt += 1
