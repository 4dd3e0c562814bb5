"""Per-engine classes looked up by `Instance.db_type` and imported on first use (Django's
backends do the same): a missing optional driver only matters for the engines that use it."""

from __future__ import annotations

import importlib
from typing import Any


def engine_class(modules: dict[str, str], db_type: str, *, what: str, attr: str) -> Any:
    """`modules[db_type].<attr>`; a ValueError naming `what` for an engine without one."""
    try:
        module = modules[db_type]
    except KeyError:
        raise ValueError(f"no {what} for db_type {db_type!r}") from None
    return getattr(importlib.import_module(module), attr)
