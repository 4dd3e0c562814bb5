"""Task functions by dotted path: resolve them, and tell "not installed yet" from "wrong".

A job whose task module is missing from an installed package (e.g. `capacity.tasks` before the
capacity app ships its tasks) is *unavailable*: shown in the admin, not scheduled, the others
run. A typo (unknown package, or a module without that function) is an error: it refuses to start.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from whalefall import task_registry

DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


class FunctionError(ValueError):
    """The dotted path can never work (malformed, unknown package, no such function)."""


class TaskUnavailable(ImportError):
    """The task module is not installed (yet); the job is shown but not scheduled."""


def check(path: str) -> str:
    """ "" when `path` resolves to a callable; a reason when its module is missing.

    Raises FunctionError for paths that are simply wrong.
    """
    if not isinstance(path, str) or not DOTTED.match(path):
        raise FunctionError(f"{path!r} is not a dotted path like package.module.function")
    module_path, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_path)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        top = path.split(".")[0]
        if missing == top or not module_path.startswith(missing) or missing == "":
            raise FunctionError(f"cannot import {module_path!r}: no package {missing!r}") from None
        return f"module {missing} is not installed"
    except Exception as exc:  # noqa: BLE001 - an import-time crash of the module is a clear error
        raise FunctionError(f"importing {module_path!r} failed: {exc}") from None
    target = getattr(module, attr, None)
    if target is None:
        raise FunctionError(f"module {module_path!r} has no function {attr!r}")
    if not callable(target):
        raise FunctionError(f"{path!r} is not callable")
    return ""


@lru_cache(maxsize=256)
def unavailable_reason(path: str) -> str:
    """Like `check` but never raises (for display): "" when the function can be run."""
    try:
        return check(path)
    except FunctionError as exc:
        return str(exc)


def resolve(path: str) -> Callable[..., Any]:
    """The task function; TaskUnavailable / FunctionError with a clear message otherwise."""
    reason = check(path)
    if reason:
        raise TaskUnavailable(f"task {path} is unavailable: {reason}")
    module_path, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_path), attr)


def available_functions() -> dict[str, str]:
    """The declared tasks' functions (dotted path -> label), for the admin's "add job" form."""
    return {task.path: task.label for task in task_registry.all_tasks() if not unavailable_reason(task.path)}
