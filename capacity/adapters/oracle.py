"""Oracle: a "database" is a tablespace; its size is what its segments use.

`dba_data_files.bytes` / `dba_temp_files.bytes` are the current file sizes (`allocated_bytes`,
free extents included). `size_bytes` is the used part: allocated minus the free extents of
`dba_free_space`; temporary tablespaces have no free-extent view that stays still (sorts come and
go), so their used size is their allocated size. Autoextend headroom is reported, not added: per
tablespace, the bytes its files may grow to (`MAXBYTES` where `AUTOEXTENSIBLE = 'YES'`) go to
`notes["autoextend_max_bytes"]`. There is no log figure (redo is per instance, not per tablespace).

Connected to a CDB root (CON_ID 1), the `CDB_*` views cover every open container and a
tablespace is named `CONTAINER.TABLESPACE`. Needs SELECT on these views (SELECT_CATALOG_ROLE).
Names are upper case in the dictionary and compared without case.
"""

from __future__ import annotations

from typing import Any

from capacity.adapters.base import CapacityAdapter, DatabaseSize

CONTAINER_SQL = "SELECT SYS_CONTEXT('USERENV', 'CON_ID') AS con_id FROM dual"
LIST_SQL = "SELECT {name} AS name FROM {v}_tablespaces t{join}"
FILES = (
    "SELECT {name} AS name, f.bytes, "
    "CASE WHEN f.autoextensible = 'YES' AND f.maxbytes > f.bytes THEN f.maxbytes ELSE f.bytes END AS max_bytes, "
    "{temp} AS is_temp FROM {v}_{kind}_files f{join}"
)
SIZES_SQL = (
    "SELECT s.name AS name, SUM(s.bytes) AS allocated_bytes, SUM(s.max_bytes) AS max_bytes, "
    "MAX(s.is_temp) AS is_temp FROM ({data} UNION ALL {temp}) s GROUP BY s.name"
)
FREE_SQL = "SELECT {name} AS name, SUM(f.bytes) AS free_bytes FROM {v}_free_space f{join} GROUP BY {name}"


class Adapter(CapacityAdapter):
    db_type = "oracle"
    case_insensitive_names = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cdb_root: bool | None = None

    @property
    def cdb_root(self) -> bool:
        """Detected once: SYS_CONTEXT('USERENV', 'CON_ID') is 1 in a CDB root only."""
        if self._cdb_root is None:
            rows = self.connection.fetch_all(CONTAINER_SQL)
            self._cdb_root = bool(rows) and str(rows[0]["con_id"]) == "1"
        return self._cdb_root

    def sql(self, template: str, alias: str, **extra: str) -> str:
        if self.cdb_root:
            name = f"c.name || '.' || {alias}.tablespace_name"
            join = f" JOIN SYS.V_$CONTAINERS c ON c.con_id = {alias}.con_id"
            return template.format(v="SYS.CDB", name=name, join=join, **extra)
        # Owner-qualified: a table or private synonym of the login's own named DBA_DATA_FILES
        # would otherwise shadow the dictionary view; no public synonym is assumed either.
        return template.format(v="SYS.DBA", name=f"{alias}.tablespace_name", join="", **extra)

    def list_sql(self) -> str:
        return self.sql(LIST_SQL, "t")

    def sizes_sql(self) -> str:
        data = self.sql(FILES, "f", kind="data", temp="0")
        temp = self.sql(FILES, "f", kind="temp", temp="1")
        return SIZES_SQL.format(data=data, temp=temp)

    def free_sql(self) -> str:
        return self.sql(FREE_SQL, "f")

    def is_system_database(self, name: str) -> bool:
        """In a CDB root the container prefix is not part of the tablespace's own name."""
        return super().is_system_database(name.rsplit(".", 1)[-1] if self.cdb_root else name)

    def read_sizes(self, databases: list[str]) -> list[DatabaseSize]:
        free = {str(r["name"]): int(r["free_bytes"] or 0) for r in self.connection.fetch_all(self.free_sql())}
        sizes, headroom = [], {}
        for row in self.connection.fetch_all(self.sizes_sql()):
            name, allocated = str(row["name"]), int(row["allocated_bytes"] or 0)
            used = allocated if int(row["is_temp"] or 0) else allocated - free.get(name, 0)
            sizes.append(DatabaseSize(name, used, allocated_bytes=allocated))
            headroom[name] = int(row["max_bytes"] or 0)
        self.notes["autoextend_max_bytes"] = {
            k: v for k, v in sorted(headroom.items()) if k in set(databases)
        }
        return sizes
