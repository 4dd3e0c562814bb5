"""MySQL / MariaDB: used size from information_schema.TABLES, on-disk size from InnoDB tablespaces.

`size_bytes` = SUM(data_length + index_length) of the schema's tables (the pages in use by rows
and indexes, the figure DBAs usually quote); `allocated_bytes` = the file sizes of the schema's
file-per-table InnoDB tablespaces (free pages included). MySQL has no per-database log.
"""

from __future__ import annotations

import re

from capacity.adapters.base import CapacityAdapter, DatabaseSize, as_int

LIST_SQL = "SELECT schema_name AS name FROM information_schema.SCHEMATA"

SIZES_SQL = (
    "SELECT table_schema AS name, COALESCE(SUM(data_length + index_length), 0) AS size_bytes "
    "FROM information_schema.TABLES WHERE table_schema IN ({placeholders}) GROUP BY table_schema"
)

# MySQL 8 renamed INNODB_SYS_TABLESPACES (5.7, MariaDB) to INNODB_TABLESPACES; same columns used.
TABLESPACES_SQL = (
    "SELECT name AS name, allocated_size AS allocated_size "
    "FROM information_schema.{table} WHERE name LIKE '%/%'"
)

_ENCODED = re.compile(r"@([0-9a-f]{4})")


def decode_filename(name: str) -> str:
    """Undo MySQL's file-name encoding of identifiers (`wf@002dx` -> `wf-x`)."""
    return _ENCODED.sub(lambda m: chr(int(m.group(1), 16)), name)


class Adapter(CapacityAdapter):
    db_type = "mysql"

    def list_sql(self) -> str:
        return LIST_SQL

    @property
    def tablespaces_table(self) -> str:
        info = self.connection.server_info()
        modern = info.flavor == "MySQL" and info.version >= (8, 0)
        return "INNODB_TABLESPACES" if modern else "INNODB_SYS_TABLESPACES"

    def read_sizes(self, databases: list[str]) -> list[DatabaseSize]:
        placeholders = ", ".join(["%s"] * len(databases))
        used = {
            str(r["name"]): int(r["size_bytes"])
            for r in self.connection.fetch_all(SIZES_SQL.format(placeholders=placeholders), databases)
        }
        allocated = self.allocated_by_schema()
        present = set(self.list_databases())
        return [
            DatabaseSize(name=name, size_bytes=used.get(name, 0), allocated_bytes=allocated.get(name, 0))
            for name in databases
            if name in present
        ]

    def allocated_by_schema(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for row in self.connection.fetch_all(TABLESPACES_SQL.format(table=self.tablespaces_table)):
            schema = decode_filename(str(row["name"]).split("/", 1)[0])
            totals[schema] = totals.get(schema, 0) + (as_int(row["allocated_size"]) or 0)
        return totals
