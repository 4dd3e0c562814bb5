"""What apps plug into the core from their `AppConfig.ready()`, so the core never imports them.

- API URL modules, included under the core's JSON endpoints (before its JSON 404 catch-all);
- the state of whatever runs the queued tasks (the scheduler): the health endpoint reports it
  and run-now requests are refused at once when nothing would pick them up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class ExecutorState(Protocol):
    """Is the process that runs queued tasks alive? (`scheduling.status.SchedulerStatus`)"""

    @property
    def alive(self) -> bool: ...

    @property
    def message(self) -> str: ...

    def as_dict(self) -> dict[str, object]: ...


_api_url_modules: list[str] = []
_executor_status: Callable[[], ExecutorState] | None = None


def add_api_urls(module: str) -> None:
    """Include the URLconf `module` (dotted path) among the JSON endpoints."""
    if module not in _api_url_modules:
        _api_url_modules.append(module)


def api_url_modules() -> list[str]:
    return list(_api_url_modules)


def set_executor_status(provider: Callable[[], ExecutorState]) -> None:
    """Say how to ask whether the task executor is alive (one provider: the last one set)."""
    global _executor_status
    _executor_status = provider


def executor_status() -> ExecutorState | None:
    """The executor's state now, or None when no installed app runs queued tasks."""
    return _executor_status() if _executor_status is not None else None
