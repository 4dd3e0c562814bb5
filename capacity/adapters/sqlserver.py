"""SQL Server: data and log file sizes from `sys.master_files` (allocated, not used).

`sys.master_files.size` is the current file size in 8-KB pages: what the files occupy on disk,
free space inside them included. Rows (type 0) and full-text (4) files count as data, type 1 as
log. FILESTREAM containers (type 2) are always 0 there (Microsoft Learn, sys.master_files): their
size is read from the database's own `sys.database_files`, one query per database that has one.
Database snapshots are not databases of their own and are left out.

`sys.master_files` shows a database's files only to a login with VIEW ANY DEFINITION (or CREATE /
ALTER ANY DATABASE): a database listed in `sys.databases` without file rows is reported in
`notes["databases_unreadable"]`, never given a size of 0.
"""

from __future__ import annotations

from capacity.adapters.base import CapacityAdapter, DatabaseSize
from whalefall.connections.base import ConnectorError

LIST_SQL = "SELECT d.name AS name FROM sys.databases AS d WHERE d.source_database_id IS NULL"

SIZES_SQL = (
    "SELECT d.name AS name, "
    "SUM(CASE WHEN mf.type IN (1, 2) THEN CAST(0 AS BIGINT) ELSE CAST(mf.size AS BIGINT) * 8192 END) AS data_bytes, "
    "SUM(CASE WHEN mf.type = 1 THEN CAST(mf.size AS BIGINT) * 8192 ELSE CAST(0 AS BIGINT) END) AS log_bytes, "
    "SUM(CASE WHEN mf.type = 2 THEN 1 ELSE 0 END) AS filestream_files "
    "FROM sys.master_files AS mf "
    "INNER JOIN sys.databases AS d ON d.database_id = mf.database_id "
    "WHERE d.source_database_id IS NULL "
    "GROUP BY d.name"
)
FILESTREAM_SQL = (
    "SELECT SUM(CAST(df.size AS BIGINT)) * 8192 AS filestream_bytes "
    "FROM {db}.sys.database_files AS df WHERE df.type = 2"
)
NOT_VISIBLE = "no rows in sys.master_files: the login needs VIEW ANY DEFINITION to see its files"


def quote(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


class Adapter(CapacityAdapter):
    db_type = "sqlserver"
    case_insensitive_names = True

    def list_sql(self) -> str:
        return LIST_SQL

    def read_sizes(self, databases: list[str]) -> list[DatabaseSize]:
        sizes, unreadable = [], {}
        rows = {str(r["name"]): r for r in self.connection.fetch_all(SIZES_SQL)}
        for name in databases:
            row = rows.get(name)
            if row is None:
                unreadable[name] = NOT_VISIBLE
                continue
            data, log = int(row["data_bytes"] or 0), int(row["log_bytes"] or 0)
            if int(row["filestream_files"] or 0):
                try:
                    data += self._filestream_bytes(name)
                except ConnectorError as exc:
                    unreadable[name] = f"FILESTREAM size not readable: {exc.message}"
                    continue
            sizes.append(
                DatabaseSize(name, data + log, data_bytes=data, log_bytes=log, allocated_bytes=data + log)
            )
        self.notes["databases_unreadable"] = unreadable
        return sizes

    def _filestream_bytes(self, database: str) -> int:
        rows = self.connection.fetch_all(FILESTREAM_SQL.format(db=quote(database)))
        return int((rows[0]["filestream_bytes"] if rows else 0) or 0)
