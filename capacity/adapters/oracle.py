"""Oracle: a "database" is a tablespace; its size is the bytes of its data or temp files.

`dba_data_files.bytes` / `dba_temp_files.bytes` are the current file sizes (allocated, free
extents included; autoextend headroom not counted). Temporary tablespaces have only temp files,
permanent ones only data files, so the union is one row per tablespace. Oracle keeps redo logs
per instance, not per tablespace: there is no log figure. Needs SELECT on the three DBA views
(or SELECT_CATALOG_ROLE). Names are upper case in the dictionary and compared without case.
"""

from __future__ import annotations

from capacity.adapters.base import CapacityAdapter, DatabaseSize

# Owner-qualified: a user's own table or private synonym named DBA_DATA_FILES would otherwise
# shadow the dictionary view for our session; no public synonym is assumed either.
LIST_SQL = "SELECT tablespace_name AS name FROM SYS.DBA_TABLESPACES"

SIZES_SQL = (
    "SELECT f.tablespace_name AS name, SUM(f.bytes) AS size_bytes FROM ("
    "SELECT tablespace_name, bytes FROM SYS.DBA_DATA_FILES "
    "UNION ALL "
    "SELECT tablespace_name, bytes FROM SYS.DBA_TEMP_FILES"
    ") f GROUP BY f.tablespace_name"
)


class Adapter(CapacityAdapter):
    db_type = "oracle"
    case_insensitive_names = True

    def list_sql(self) -> str:
        return LIST_SQL

    def read_sizes(self, databases: list[str]) -> list[DatabaseSize]:
        return [
            DatabaseSize(
                str(row["name"]),
                int(row["size_bytes"] or 0),
                data_bytes=None,
                allocated_bytes=int(row["size_bytes"] or 0),
            )
            for row in self.connection.fetch_all(SIZES_SQL)
        ]
