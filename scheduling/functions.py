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

from django.utils.translation import get_language
from django.utils.translation import gettext as _

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
        raise FunctionError(
            _("%(path)s is not a dotted path like package.module.function") % {"path": repr(path)}
        )
    module_path, _dot, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_path)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        top = path.split(".")[0]
        if missing == top or not module_path.startswith(missing) or missing == "":
            raise FunctionError(
                _("cannot import %(module)s: no package %(package)s")
                % {"module": repr(module_path), "package": repr(missing)}
            ) from None
        return _("module %(module)s is not installed") % {"module": missing}
    except Exception as exc:  # noqa: BLE001 - an import-time crash of the module is a clear error
        raise FunctionError(
            _("importing %(module)s failed: %(error)s") % {"module": repr(module_path), "error": exc}
        ) from None
    target = getattr(module, attr, None)
    if target is None:
        raise FunctionError(
            _("module %(module)s has no function %(function)s")
            % {"module": repr(module_path), "function": repr(attr)}
        )
    if not callable(target):
        raise FunctionError(_("%(path)s is not callable") % {"path": repr(path)})
    return ""


def unavailable_reason(path: str) -> str:
    """Like `check` but never raises (for display): "" when the function can be run."""
    return _unavailable_reason(path, get_language())


@lru_cache(maxsize=256)
def _unavailable_reason(path: str, language: str | None) -> str:
    """Cached per language too: the reason is a sentence in the language it was asked in."""
    try:
        return check(path)
    except FunctionError as exc:
        return str(exc)


def resolve(path: str) -> Callable[..., Any]:
    """The task function; TaskUnavailable / FunctionError with a clear message otherwise."""
    reason = check(path)
    if reason:
        raise TaskUnavailable(
            _("task %(path)s is unavailable: %(reason)s") % {"path": path, "reason": reason}
        )
    module_path, _dot, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_path), attr)


def available_functions() -> dict[str, str]:
    """The declared tasks' functions (dotted path -> label), for the admin's "add job" form."""
    return {
        task.path: _(task.label) for task in task_registry.all_tasks() if not unavailable_reason(task.path)
    }
