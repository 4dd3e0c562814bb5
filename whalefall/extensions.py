"""What apps plug into the core from their `AppConfig.ready()`, so the core never imports them.

- API URL modules, included under the core's JSON endpoints (before its JSON 404 catch-all);
- the state of whatever runs the queued tasks (the scheduler): the health endpoint reports it
  and run-now requests are refused at once when nothing would pick them up;
- the lists behind an instance (its accounts, its databases), linked from each row of the
  instances board.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol


class ExecutorState(Protocol):
    """Is the process that runs queued tasks alive? (`scheduling.status.SchedulerStatus`)"""

    @property
    def alive(self) -> bool: ...

    @property
    def message(self) -> str: ...

    def as_dict(self) -> dict[str, object]: ...


class InstanceLink(NamedTuple):
    """A list filtered to one instance: its admin URL name, the filter's lookup, a label and the
    permission a user needs to see the link."""

    url_name: str
    lookup: str
    label: Any
    permission: str


_api_url_modules: list[str] = []
_instance_links: list[InstanceLink] = []
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


def add_instance_link(link: InstanceLink) -> None:
    """Link each instance's row on the board to `link`'s list, filtered to that instance."""
    if link not in _instance_links:
        _instance_links.append(link)


def instance_links() -> list[InstanceLink]:
    return list(_instance_links)
