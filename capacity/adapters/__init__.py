"""Capacity adapters per engine, looked up by `Instance.db_type` and imported on first use."""

from __future__ import annotations

from capacity.adapters.base import CapacityAdapter, DatabaseSize
from whalefall.engine_lookup import engine_class

ADAPTERS = {
    "mysql": "capacity.adapters.mysql",
    "postgresql": "capacity.adapters.postgresql",
    "sqlserver": "capacity.adapters.sqlserver",
    "oracle": "capacity.adapters.oracle",
}


def adapter_class(db_type: str) -> type[CapacityAdapter]:
    return engine_class(ADAPTERS, db_type, what="capacity adapter", attr="Adapter")


__all__ = ["ADAPTERS", "CapacityAdapter", "DatabaseSize", "adapter_class"]
