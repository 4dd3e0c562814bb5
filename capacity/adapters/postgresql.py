"""PostgreSQL: `pg_database_size()` of the databases the account may CONNECT to.

`pg_database_size` is the on-disk size of the database's directory (tables, indexes, TOAST, free
space in their files), so it is allocated and used at once; PostgreSQL has no per-database log.
Databases that refuse connections (`datallowconn = false`) or that the account may not CONNECT
to are not listed: `pg_database_size` would fail on them.
"""

from __future__ import annotations

from capacity.adapters.base import CapacityAdapter, DatabaseSize
from whalefall.connections.base import ConnectorError, ErrorKind

LIST_SQL = (
    "SELECT datname AS name FROM pg_catalog.pg_database "
    "WHERE datallowconn AND NOT datistemplate AND has_database_privilege(datname, 'CONNECT')"
)

SIZES_SQL = (
    "SELECT datname AS name, pg_catalog.pg_database_size(datname) AS size_bytes "
    "FROM pg_catalog.pg_database "
    "WHERE datname = ANY(%s) AND datallowconn AND has_database_privilege(datname, 'CONNECT')"
)


class Adapter(CapacityAdapter):
    db_type = "postgresql"

    def list_sql(self) -> str:
        return LIST_SQL

    def read_sizes(self, databases: list[str]) -> list[DatabaseSize]:
        try:
            rows = self.connection.fetch_all(SIZES_SQL, [list(databases)])
        except ConnectorError as exc:
            if exc.transient:
                raise
            # A database dropped between the listing and the size read fails the whole
            # statement ("database ... does not exist"): read one by one and skip the vanished.
            rows = self.read_one_by_one(databases)
        return [
            DatabaseSize(
                name=str(r["name"]), size_bytes=int(r["size_bytes"]), allocated_bytes=int(r["size_bytes"])
            )
            for r in rows
        ]

    def read_one_by_one(self, databases: list[str]) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        for name in databases:
            try:
                rows.extend(self.connection.fetch_all(SIZES_SQL, [[name]]))
            except ConnectorError as exc:
                if exc.transient or exc.kind == ErrorKind.PRIVILEGE:
                    raise
        return rows
