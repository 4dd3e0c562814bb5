"""PostgreSQL: `pg_database_size()` of the databases the account may CONNECT to.

`pg_database_size` is the on-disk size of the database's directory (tables, indexes, TOAST, free
space in their files), so it is allocated and used at once; PostgreSQL has no per-database log.
Databases that refuse connections (`datallowconn = false`) or that the account may not CONNECT
to are not listed: `pg_database_size` would fail on them.
"""

from __future__ import annotations

from capacity.adapters.base import CapacityAdapter, DatabaseSize

# Every function, operator and relation is schema-qualified: the connection pins search_path,
# and the queries do not rely on it either.
LIST_SQL = (
    "SELECT datname AS name FROM pg_catalog.pg_database "
    "WHERE datallowconn AND NOT datistemplate "
    "AND pg_catalog.has_database_privilege(datname, 'CONNECT')"
)

SIZES_SQL = (
    "SELECT datname AS name, pg_catalog.pg_database_size(datname) AS size_bytes "
    "FROM pg_catalog.pg_database "
    "WHERE datname OPERATOR(pg_catalog.=) ANY(%s::pg_catalog.name[]) AND datallowconn "
    "AND pg_catalog.has_database_privilege(datname, 'CONNECT')"
)


class Adapter(CapacityAdapter):
    """A database dropped between the listing and the size read fails the whole statement
    ("database ... does not exist"); the base class then reads one by one and names it."""

    db_type = "postgresql"

    def list_sql(self) -> str:
        return LIST_SQL

    def read_sizes(self, databases: list[str]) -> list[DatabaseSize]:
        rows = self.connection.fetch_all(SIZES_SQL, [list(databases)])
        return [
            DatabaseSize(
                name=str(r["name"]), size_bytes=int(r["size_bytes"]), allocated_bytes=int(r["size_bytes"])
            )
            for r in rows
        ]
