"""SQL Server: data and log file sizes from `sys.master_files` (allocated, not used).

`sys.master_files.size` is the current file size in 8-KB pages: it is what the files occupy on
disk, free space inside them included. Rows (type 0), FILESTREAM (2) and full-text (4) files
count as data, type 1 as log. One server-wide query, no per-database round trip; it needs
VIEW ANY DEFINITION (without it, only master's and tempdb's files are visible).
Database snapshots are not databases of their own and are left out.
"""

from __future__ import annotations

from capacity.adapters.base import CapacityAdapter, DatabaseSize

LIST_SQL = "SELECT d.name AS name FROM sys.databases AS d WHERE d.source_database_id IS NULL"

SIZES_SQL = (
    "SELECT d.name AS name, "
    "SUM(CASE WHEN mf.type = 1 THEN CAST(0 AS BIGINT) ELSE CAST(mf.size AS BIGINT) * 8192 END) AS data_bytes, "
    "SUM(CASE WHEN mf.type = 1 THEN CAST(mf.size AS BIGINT) * 8192 ELSE CAST(0 AS BIGINT) END) AS log_bytes "
    "FROM sys.master_files AS mf "
    "INNER JOIN sys.databases AS d ON d.database_id = mf.database_id "
    "WHERE d.source_database_id IS NULL "
    "GROUP BY d.name"
)


class Adapter(CapacityAdapter):
    db_type = "sqlserver"
    case_insensitive_names = True
    has_data_log_split = True

    def list_sql(self) -> str:
        return LIST_SQL

    def read_sizes(self, databases: list[str]) -> list[DatabaseSize]:
        sizes = []
        for row in self.connection.fetch_all(SIZES_SQL):
            data, log = int(row["data_bytes"] or 0), int(row["log_bytes"] or 0)
            total = data + log
            sizes.append(
                DatabaseSize(str(row["name"]), total, data_bytes=data, log_bytes=log, allocated_bytes=total)
            )
        return sizes
