"""Account adapters per engine, looked up by `Instance.db_type` and imported on first use."""

from __future__ import annotations

import importlib

from accounts_sync.adapters.base import AccountAdapter, Permissions, RemoteAccount

ADAPTERS = {
    "mysql": "accounts_sync.adapters.mysql",
    "postgresql": "accounts_sync.adapters.postgresql",
    "sqlserver": "accounts_sync.adapters.sqlserver",
    "oracle": "accounts_sync.adapters.oracle",
}


def adapter_class(db_type: str) -> type[AccountAdapter]:
    try:
        module = ADAPTERS[db_type]
    except KeyError:
        raise ValueError(f"no account adapter for db_type {db_type!r}") from None
    return importlib.import_module(module).Adapter


__all__ = ["AccountAdapter", "Permissions", "RemoteAccount", "adapter_class"]
