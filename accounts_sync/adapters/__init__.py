"""Account adapters per engine, looked up by `Instance.db_type` and imported on first use."""

from __future__ import annotations

from accounts_sync.adapters.base import AccountAdapter, Permissions, RemoteAccount
from whalefall.engine_lookup import engine_class

ADAPTERS = {
    "mysql": "accounts_sync.adapters.mysql",
    "postgresql": "accounts_sync.adapters.postgresql",
    "sqlserver": "accounts_sync.adapters.sqlserver",
    "oracle": "accounts_sync.adapters.oracle",
}


def adapter_class(db_type: str) -> type[AccountAdapter]:
    return engine_class(ADAPTERS, db_type, what="account adapter", attr="Adapter")


__all__ = ["AccountAdapter", "Permissions", "RemoteAccount", "adapter_class"]
