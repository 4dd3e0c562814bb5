"""Stand-ins for SQL Server and Oracle catalogs (no such servers here).

Each is an in-memory SQLite database holding rows shaped like the real catalog views (column
names and types from the vendor documentation: sys.databases, sys.master_files,
sys.database_files; dba_tablespaces, dba_data_files, dba_temp_files, dba_free_space, dual).
`fetch_all` parses each SQL text in its own dialect with sqlglot (a syntax error fails the test),
transpiles it to SQLite and runs it on those rows. A database's own catalog (`[db].sys.x`) is an
attached SQLite database named `db_<name>`; SYS_CONTEXT('USERENV', 'CON_ID') answers `con_id`.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import sqlglot

from whalefall.connections.base import ServerInfo

MB = 1024 * 1024

SQLSERVER_SCHEMA = """
CREATE TABLE sys.databases (name TEXT, database_id INT, source_database_id INT, state INT, state_desc TEXT,
                            collation_name TEXT, recovery_model_desc TEXT);
CREATE TABLE sys.master_files (database_id INT, file_id INT, type INT, type_desc TEXT, data_space_id INT,
                               name TEXT, physical_name TEXT, state INT, state_desc TEXT, size INT,
                               max_size INT, growth INT, is_percent_growth INT);
"""
SQLSERVER_DATABASES = [
    ("master", 1, None),
    ("tempdb", 2, None),
    ("model", 3, None),
    ("msdb", 4, None),
    ("AdventureWorks2022", 5, None),
    ("Sales", 6, None),
    ("AdventureWorks_snap", 7, 5),
]
# (database_id, file_id, type, type_desc, data_space_id, name, size in 8-KB pages)
SQLSERVER_FILES = [
    (1, 1, 0, "ROWS", 1, "master", 512),
    (1, 2, 1, "LOG", 0, "mastlog", 256),
    (2, 1, 0, "ROWS", 1, "tempdev", 1024),
    (2, 2, 1, "LOG", 0, "templog", 1024),
    (3, 1, 0, "ROWS", 1, "modeldev", 1024),
    (3, 2, 1, "LOG", 0, "modellog", 1024),
    (4, 1, 0, "ROWS", 1, "MSDBData", 2048),
    (4, 2, 1, "LOG", 0, "MSDBLog", 512),
    (5, 1, 0, "ROWS", 1, "AdventureWorks2022", 43008),
    (5, 2, 1, "LOG", 0, "AdventureWorks2022_log", 1024),
    (5, 3, 2, "FILESTREAM", 2, "AW_fs", 0),  # always 0 here for FILESTREAM (Learn, sys.master_files)
    (6, 1, 0, "ROWS", 1, "Sales", 12800),
    (6, 3, 0, "ROWS", 3, "Sales_2", 12800),
    (6, 2, 1, "LOG", 0, "Sales_log", 6400),
    (7, 1, 0, "ROWS", 1, "AdventureWorks2022", 43008),
]

# sys.database_files of a database: (database, file_id, type, type_desc, name, size in 8-KB pages);
# for a FILESTREAM container the size is its current used size.
SQLSERVER_DATABASE_FILES = [
    ("AdventureWorks2022", 1, 0, "ROWS", "AdventureWorks2022", 43008),
    ("AdventureWorks2022", 2, 1, "LOG", "AdventureWorks2022_log", 1024),
    ("AdventureWorks2022", 3, 2, "FILESTREAM", "AW_fs", 128),
]
DATABASE_FILES_SCHEMA = (
    "CREATE TABLE {db}.database_files (file_id INT, type INT, type_desc TEXT, data_space_id INT, name TEXT, "
    "physical_name TEXT, state INT, state_desc TEXT, size INT, max_size INT, growth INT, is_percent_growth INT)"
)

ORACLE_SCHEMA = """
CREATE TABLE sys.dba_tablespaces (tablespace_name TEXT, block_size INT, status TEXT, contents TEXT,
                              logging TEXT, extent_management TEXT, bigfile TEXT);
CREATE TABLE sys.dba_data_files (file_name TEXT, file_id INT, tablespace_name TEXT, bytes INT, blocks INT,
                             status TEXT, relative_fno INT, autoextensible TEXT, maxbytes INT,
                             maxblocks INT, increment_by INT, user_bytes INT, online_status TEXT);
CREATE TABLE sys.dba_temp_files (file_name TEXT, file_id INT, tablespace_name TEXT, bytes INT, blocks INT,
                             status TEXT, relative_fno INT, autoextensible TEXT, maxbytes INT,
                             maxblocks INT, increment_by INT, user_bytes INT);
CREATE TABLE sys.dba_free_space (tablespace_name TEXT, file_id INT, block_id INT, bytes INT, blocks INT,
                             relative_fno INT);
CREATE TABLE dual (dummy TEXT);
INSERT INTO dual VALUES ('X');
"""
ORACLE_TABLESPACES = [
    ("SYSTEM", "PERMANENT"),
    ("SYSAUX", "PERMANENT"),
    ("UNDOTBS1", "UNDO"),
    ("TEMP", "TEMPORARY"),
    ("USERS", "PERMANENT"),
    ("APP_DATA", "PERMANENT"),
]
# (tablespace, file name, bytes)
ORACLE_DATA_FILES = [
    ("SYSTEM", "/opt/oracle/oradata/ORCLCDB/ORCLPDB1/system01.dbf", 290 * MB),
    ("SYSAUX", "/opt/oracle/oradata/ORCLCDB/ORCLPDB1/sysaux01.dbf", 350 * MB),
    ("UNDOTBS1", "/opt/oracle/oradata/ORCLCDB/ORCLPDB1/undotbs01.dbf", 100 * MB),
    ("USERS", "/opt/oracle/oradata/ORCLCDB/ORCLPDB1/users01.dbf", 5 * MB),
    ("APP_DATA", "/opt/oracle/oradata/ORCLCDB/ORCLPDB1/app_data01.dbf", 1024 * MB),
    ("APP_DATA", "/opt/oracle/oradata/ORCLCDB/ORCLPDB1/app_data02.dbf", 512 * MB),
]
ORACLE_TEMP_FILES = [("TEMP", "/opt/oracle/oradata/ORCLCDB/ORCLPDB1/temp01.dbf", 36 * MB)]
# (tablespace, free bytes): free extents of permanent and undo tablespaces
ORACLE_FREE_SPACE = [("SYSTEM", 10 * MB), ("SYSAUX", 20 * MB), ("USERS", 4 * MB), ("APP_DATA", 512 * MB)]


class FakeCatalog:
    """Quacks like a connected `DatabaseConnection` for the adapter and the coordinator."""

    def __init__(self, dialect: str, info: ServerInfo, con_id: str = "0") -> None:
        self.dialect, self.info = dialect, info
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.create_function("SYS_CONTEXT", 2, lambda ns, key: con_id if key == "CON_ID" else None)
        self.queries: list[str] = []

    def fetch_all(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        sqlglot.parse_one(sql, read=self.dialect)  # raises on a syntax error
        self.queries.append(sql)
        local = re.sub(r"\[(\w+)\]\.sys\.", r"db_\1.", sql)  # [db].sys.x -> the attached db_<db>.x
        cur = self.db.execute(sqlglot.transpile(local, read=self.dialect, write="sqlite")[0], params or ())
        names = [c[0].lower() for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def server_info(self) -> ServerInfo:
        return self.info

    def close(self) -> None:
        self.db.close()


def sqlserver_catalog() -> FakeCatalog:
    cat = FakeCatalog(
        "tsql", ServerInfo("sqlserver", "SQL Server Developer Edition", (16, 0, 4135), "16.0.4135.4")
    )
    cat.db.execute("ATTACH DATABASE ':memory:' AS sys")
    cat.db.executescript(SQLSERVER_SCHEMA)
    cat.db.executemany(
        "INSERT INTO sys.databases VALUES (?, ?, ?, 0, 'ONLINE', 'SQL_Latin1_General_CP1_CI_AS', 'FULL')",
        SQLSERVER_DATABASES,
    )
    cat.db.executemany(
        "INSERT INTO sys.master_files VALUES (?, ?, ?, ?, ?, ?, '/var/opt/mssql/data/' || ?, 0, 'ONLINE', ?, -1, 8192, 0)",
        [(d, f, t, td, ds, n, n, s) for d, f, t, td, ds, n, s in SQLSERVER_FILES],
    )
    for name in {row[0] for row in SQLSERVER_DATABASE_FILES}:
        cat.db.execute(f"ATTACH DATABASE ':memory:' AS db_{name}")
        cat.db.execute(DATABASE_FILES_SCHEMA.format(db=f"db_{name}"))
    for db, file_id, type_, desc, name, size in SQLSERVER_DATABASE_FILES:
        cat.db.execute(
            f"INSERT INTO db_{db}.database_files VALUES (?, ?, ?, 1, ?, '', 0, 'ONLINE', ?, -1, 8192, 0)",
            (file_id, type_, desc, name, size),
        )
    return cat


def oracle_catalog(con_id: str = "0") -> FakeCatalog:
    cat = FakeCatalog("oracle", ServerInfo("oracle", "Oracle", (19, 3, 0, 0), "19.3.0.0.0"), con_id)
    cat.db.execute("ATTACH DATABASE ':memory:' AS sys")  # the views' owner: queries name it
    cat.db.executescript(ORACLE_SCHEMA)
    cat.db.executemany(
        "INSERT INTO sys.dba_tablespaces VALUES (?, 8192, 'ONLINE', ?, 'LOGGING', 'LOCAL', 'NO')",
        ORACLE_TABLESPACES,
    )
    cat.db.executemany(
        "INSERT INTO sys.dba_data_files VALUES (?, ?, ?, ?, ? / 8192, 'AVAILABLE', ?, 'YES', 34359721984, 4194302, 1280, ? - 1048576, 'ONLINE')",
        [(f, i, t, b, b, i, b) for i, (t, f, b) in enumerate(ORACLE_DATA_FILES, 1)],
    )
    cat.db.executemany(
        "INSERT INTO sys.dba_temp_files VALUES (?, 1, ?, ?, ? / 8192, 'ONLINE', 1, 'YES', 34359721984, 4194302, 80, ? - 1048576)",
        [(f, t, b, b, b) for t, f, b in ORACLE_TEMP_FILES],
    )
    cat.db.executemany(
        "INSERT INTO sys.dba_free_space VALUES (?, 1, 1, ?, ? / 8192, 1)",
        [(t, b, b) for t, b in ORACLE_FREE_SPACE],
    )
    return cat
