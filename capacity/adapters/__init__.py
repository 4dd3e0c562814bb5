"""Capacity adapters per engine, looked up by `Instance.db_type` and imported on first use."""

from __future__ import annotations

import importlib

from capacity.adapters.base import CapacityAdapter, DatabaseSize

ADAPTERS = {
    "mysql": "capacity.adapters.mysql",
    "postgresql": "capacity.adapters.postgresql",
    "sqlserver": "capacity.adapters.sqlserver",
    "oracle": "capacity.adapters.oracle",
}


def adapter_class(db_type: str) -> type[CapacityAdapter]:
    try:
        module = ADAPTERS[db_type]
    except KeyError:
        raise ValueError(f"no capacity adapter for db_type {db_type!r}") from None
    return importlib.import_module(module).Adapter


__all__ = ["ADAPTERS", "CapacityAdapter", "DatabaseSize", "adapter_class"]
