"""Scheduled tasks, each declared once beside its code and registered by its app.

An app lists its tasks next to their functions (`TASKS` in its `tasks.py`) and registers them
in its `AppConfig.ready()`. Everything else derives from these declarations, so adding a
scheduled task is one declaration in one file:

- the names `scheduler_tasks.yaml` refers to (`task: sync_accounts`), and the built-in default
  jobs the scheduler falls back to when that file is missing;
- the functions the admin offers for a new job;
- the run-now list: which task runs a sync category (the sessions admin's "rerun failed
  instances", `POST /api/sync/<category>/trigger`).

The core registers its own housekeeping tasks the same way and never names an app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext

TaskFunction = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class ScheduledTask:
    """One task: what it is called, what runs, and its default job.

    `function` takes keyword arguments and returns a summary dict (a sync task's is its
    session summary). `category` is the sync category whose runs it starts ("" for tasks that
    are not syncs); a category has at most one task. `label` and `description` are English,
    marked with gettext_noop: they are stored as a job's name and description, and translated
    where they are shown (`displayed`), so that a later change of language shows them in it.
    """

    name: str
    function: TaskFunction
    label: str
    description: str
    job_id: str
    trigger_type: str
    trigger_params: dict[str, Any]
    enabled: bool = True
    category: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """The function's dotted path: what stored jobs and run requests refer to."""
        return f"{self.function.__module__}.{self.function.__qualname__}"


_tasks: dict[str, ScheduledTask] = {}


def register(*tasks: ScheduledTask) -> None:
    """Declare tasks (from an `AppConfig.ready()`); declaring the same task again is a no-op,
    a second task under a taken name, job id or category is an error."""
    for task in tasks:
        known = _tasks.get(task.name)
        if known is not None:
            if known != task:
                raise ValueError(f"task {task.name!r} is already declared (by {known.path})")
            continue
        for other in _tasks.values():
            if other.job_id == task.job_id:
                raise ValueError(f"default job id {task.job_id!r} is already {other.name!r}'s")
            if task.category and other.category == task.category:
                raise ValueError(f"sync category {task.category!r} is already run by {other.name!r}")
        _tasks[task.name] = task


def unregister(name: str) -> None:
    """Forget a task (tests that declare one of their own)."""
    _tasks.pop(name, None)


def all_tasks() -> list[ScheduledTask]:
    """Every declared task, in the order the apps declared them."""
    return list(_tasks.values())


def get(name: str) -> ScheduledTask | None:
    return _tasks.get(name)


def by_path(path: str) -> ScheduledTask | None:
    """The task whose function is `path` (dotted), if one is declared."""
    return next((t for t in _tasks.values() if t.path == path), None)


def for_category(category: str) -> ScheduledTask | None:
    """The task that runs sync category `category` (the run-now list), if its app is installed."""
    return next((t for t in _tasks.values() if category and t.category == category), None)


def run_now_tasks() -> dict[str, ScheduledTask]:
    """Sync category -> the task that runs it."""
    return {t.category: t for t in _tasks.values() if t.category}


def displayed(path: str, stored: str, field: str = "label") -> str:
    """A job's stored name (or, with `field="description"`, description) in the active language
    when it is the declared task's own English words; anything else (a name an operator typed, a
    name from the YAML file) is shown as stored."""
    task = by_path(path)
    own = getattr(task, field) if task is not None else None
    return gettext(stored) if stored and stored == own else stored
