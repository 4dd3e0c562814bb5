"""Structured logging: structlog on top of the stdlib, configured once from settings.

Console output in development, one JSON object per line in production. Context variables
(`session_id`, `instance_id`, `phase`, `module`) bound with `bind_context` travel with every
event of the current thread. The `redact_secrets` processor removes secrets by key name and by
value: every password the process decrypts is registered and scrubbed from any event text.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

SENSITIVE_KEY = re.compile(r"pass(word|wd)?|secret|token|api_?key|credential|encryption_key", re.I)
# `password=...`, `PWD=...`, `"password": "..."` inside free text such as DSNs and driver errors.
# MySQL's "(using password: YES)" says only whether one was sent: left readable.
INLINE_SECRET = re.compile(
    r"(?i)(password|passwd|pwd)(\s*[=:]\s*)(?!(?:YES|NO)\))(\"[^\"]*\"|'[^']*'|[^\s;,&)]+)"
)
REDACTED = "***"

_known_secrets: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is scrubbed from every later log event."""
    if value and len(value) >= 3:
        with _known_lock:
            _known_secrets.add(value)


def scrub(text: str) -> str:
    """Return `text` with registered secrets and inline `password=` values masked."""
    with _known_lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return INLINE_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def _redact_value(key: str, value: Any) -> Any:
    if SENSITIVE_KEY.search(key) and not key.endswith(("_count", "_at")):
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    if isinstance(value, BaseException):
        return scrub(str(value))
    return value


def redact_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask sensitive keys, known secret values and inline passwords."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def _scrub_rendered(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # Tracebacks are rendered to text by format_exc_info; scrub that text too.
    if isinstance(event_dict.get("exception"), str):
        event_dict["exception"] = scrub(event_dict["exception"])
    return event_dict


def escape_for_console(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Console lines show server text (names, errors) with control and direction characters
    escaped: a log line must not drive the terminal it is read on. JSON escapes them itself."""
    from whalefall.textsafe import safe_lines, safe_text

    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = safe_lines(value) if key == "exception" else safe_text(value)
    return event_dict


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.stdlib.PositionalArgumentsFormatter(),
    structlog.processors.StackInfoRenderer(),
    redact_secrets,
]


_console_floor = logging.NOTSET


class ConsoleFloor(logging.Filter):
    """On the console handler: drops events below the floor a command run by a person has set
    (`console_floor`). The scheduler and the web server set none, so their logs are unchanged;
    other handlers (a test's capture, one an operator adds) see every event."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= _console_floor


@contextmanager
def console_floor(level: int) -> Iterator[None]:
    """Show only events at `level` and above on the console for the duration of a block.

    Process-wide, not per thread: the sync runner's worker threads log on the command's behalf.
    """
    global _console_floor
    previous, _console_floor = _console_floor, level
    try:
        yield
    finally:
        _console_floor = previous


def build_logging_config(log_format: str, level: str) -> dict[str, Any]:
    """Return Django's LOGGING dict and configure structlog to feed into it (called once)."""
    renderer: Any
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=True)
        exc = [structlog.processors.format_exc_info, _scrub_rendered]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
        exc = [structlog.processors.format_exc_info, _scrub_rendered, escape_for_console]
    structlog.configure(
        processors=[*SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    *exc,
                    renderer,
                ],
                "foreign_pre_chain": SHARED_PROCESSORS,
            }
        },
        "filters": {"console_floor": {"()": ConsoleFloor}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "structlog",
                "filters": ["console_floor"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "apscheduler": {"level": "INFO"},
        },
    }


@contextmanager
def bind_context(**values: Any) -> Iterator[None]:
    """Bind structlog context variables for the duration of a block (restored afterwards)."""
    tokens = structlog.contextvars.bind_contextvars(**values)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """`structlog.get_logger` with the project's wrapper; one place to change if it ever must."""
    return structlog.get_logger(name)


logging.captureWarnings(True)
