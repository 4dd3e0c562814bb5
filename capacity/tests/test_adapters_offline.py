"""SQL Server and Oracle adapters on catalog rows shaped like the real views, plus the full
collection through the coordinator (the connection replaced by the stand-in catalog)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot

from capacity.adapters import adapter_class
from capacity.adapters import oracle as oracle_adapter
from capacity.adapters import sqlserver as sqlserver_adapter
from capacity.models import DatabaseSizeStat, InstanceSizeStat
from capacity.tasks import collect_database_sizes
from capacity.tests.catalogs import MB, oracle_catalog, sqlserver_catalog
from whalefall.connections.base import ConnectorError, ErrorKind
from whalefall.tests.factories import InstanceFactory

PAGE = 8192


def oracle_sqls(cdb_root: bool) -> list[str]:
    adapter = oracle_adapter.Adapter(oracle_catalog())
    adapter._cdb_root = cdb_root
    return [adapter.list_sql(), adapter.sizes_sql(), adapter.free_sql()]


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("tsql", sqlserver_adapter.LIST_SQL),
        ("tsql", sqlserver_adapter.SIZES_SQL),
        ("tsql", sqlserver_adapter.FILESTREAM_SQL.format(db="[odd]]name]")),
        ("oracle", oracle_adapter.CONTAINER_SQL),
        *[("oracle", sql) for cdb in (False, True) for sql in oracle_sqls(cdb)],
    ],
)
def test_every_sql_text_parses_in_its_dialect(dialect: str, sql: str) -> None:
    assert sqlglot.parse_one(sql, read=dialect) is not None


def test_it_lists_sqlserver_user_databases_without_system_ones_or_snapshots() -> None:
    adapter = adapter_class("sqlserver")(sqlserver_catalog())
    assert adapter.list_databases() == ["AdventureWorks2022", "Sales"]


def test_it_reads_sqlserver_data_and_log_bytes_from_master_files() -> None:
    adapter = adapter_class("sqlserver")(sqlserver_catalog())
    sizes = {s.name: s for s in adapter.collect_sizes(["AdventureWorks2022", "Sales"])}
    sales = sizes["Sales"]
    assert (sales.data_bytes, sales.log_bytes) == (25600 * PAGE, 6400 * PAGE)
    assert sales.size_bytes == sales.allocated_bytes == 32000 * PAGE
    aw = sizes["AdventureWorks2022"]  # FILESTREAM counts as data; the snapshot's file does not
    assert (aw.data_bytes, aw.log_bytes) == ((43008 + 128) * PAGE, 1024 * PAGE)


def test_it_lists_oracle_tablespaces_without_system_and_undo() -> None:
    adapter = adapter_class("oracle")(oracle_catalog())
    assert adapter.list_databases() == ["APP_DATA", "TEMP", "USERS"]


def test_it_sums_oracle_data_and_temp_files_per_tablespace() -> None:
    adapter = adapter_class("oracle")(oracle_catalog())
    sizes = {s.name: s for s in adapter.collect_sizes(["APP_DATA", "TEMP", "USERS"])}
    assert sizes["APP_DATA"].allocated_bytes == 1536 * MB
    assert sizes["TEMP"].size_bytes == sizes["TEMP"].allocated_bytes == 36 * MB
    assert sizes["USERS"].allocated_bytes == 5 * MB
    assert sizes["USERS"].log_bytes is None


def test_oracle_used_size_is_allocated_minus_dba_free_space() -> None:
    """DBA_FREE_SPACE (Database Reference): the free extents of every tablespace, BYTES each."""
    adapter = adapter_class("oracle")(oracle_catalog())
    sizes = {s.name: s for s in adapter.collect_sizes(["APP_DATA", "USERS"])}
    assert sizes["APP_DATA"].size_bytes == (1536 - 512) * MB and sizes["USERS"].size_bytes == 1 * MB


def test_oracle_autoextend_maximum_comes_from_maxbytes() -> None:
    """DBA_DATA_FILES.MAXBYTES: the file's maximum size when AUTOEXTENSIBLE = 'YES'."""
    catalog = oracle_catalog()
    catalog.db.execute("UPDATE dba_data_files SET autoextensible = 'NO' WHERE file_name LIKE '%app_data02%'")
    adapter = adapter_class("oracle")(catalog)
    adapter.collect_sizes(["APP_DATA", "USERS"])
    assert adapter.notes["autoextend_max_bytes"] == {"APP_DATA": 34359721984 + 512 * MB, "USERS": 34359721984}


def test_an_oracle_cdb_root_names_tablespaces_by_container() -> None:
    """CDB_DATA_FILES / CDB_TABLESPACES: the DBA_ columns plus CON_ID; V$CONTAINERS names it."""
    catalog = oracle_catalog(con_id="1")
    for view in ("tablespaces", "data_files", "temp_files", "free_space"):
        catalog.db.execute(f"CREATE TABLE sys.cdb_{view} AS SELECT *, 3 AS con_id FROM sys.dba_{view}")
    catalog.db.execute('CREATE TABLE sys."v_$containers" (con_id INT, name TEXT)')
    catalog.db.execute("INSERT INTO sys.\"v_$containers\" VALUES (3, 'SALESPDB')")
    adapter = adapter_class("oracle")(catalog)
    assert adapter.list_databases() == ["SALESPDB.APP_DATA", "SALESPDB.TEMP", "SALESPDB.USERS"]
    sizes = {s.name: s for s in adapter.collect_sizes(["SALESPDB.APP_DATA"])}
    assert sizes["SALESPDB.APP_DATA"].size_bytes == 1024 * MB
    assert not any("dba_" in q for q in catalog.queries)


def test_sqlserver_filestream_size_comes_from_database_files() -> None:
    """sys.master_files.size is 0 for FILESTREAM containers (Learn); sys.database_files of the
    database holds their size (8-KB pages)."""
    adapter = adapter_class("sqlserver")(sqlserver_catalog())
    (aw,) = adapter.collect_sizes(["AdventureWorks2022"])
    assert aw.data_bytes == (43008 + 128) * PAGE


def test_sqlserver_databases_without_visible_files_are_reported() -> None:
    """sys.master_files shows a database's files only with VIEW ANY DEFINITION (or CREATE/ALTER ANY
    DATABASE): a listed database without rows there is reported, not sized 0."""
    catalog = sqlserver_catalog()
    catalog.db.execute("DELETE FROM sys.master_files WHERE database_id = 6")
    adapter = adapter_class("sqlserver")(catalog)
    sizes = adapter.collect_sizes(["AdventureWorks2022", "Sales"])
    assert [s.name for s in sizes] == ["AdventureWorks2022"]
    assert adapter.notes["databases_unreadable"] == {"Sales": sqlserver_adapter.NOT_VISIBLE}


def test_system_names_compare_without_case_where_the_engine_does() -> None:
    assert adapter_class("sqlserver")(sqlserver_catalog()).is_system_database("MSDB")
    assert adapter_class("oracle")(oracle_catalog()).is_system_database("undotbs2")
    assert not adapter_class("mysql")(sqlserver_catalog()).is_system_database("MySQL")


def events(caplog: Any) -> list[dict]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict)]


def test_the_pg_adapter_skips_a_database_dropped_between_listing_and_sizing() -> None:
    class Stub:
        def fetch_all(self, sql: str, params: Any = None) -> list[dict]:
            names = params[0]
            if "gone" in names:  # like pg_database_size on a just-dropped database
                raise ConnectorError(ErrorKind.OTHER, 'database "gone" does not exist')
            return [{"name": n, "size_bytes": 8_000_000} for n in names]

    sizes = adapter_class("postgresql")(Stub()).collect_sizes(["app", "gone", "sales"])
    assert [(s.name, s.size_bytes) for s in sizes] == [("app", 8_000_000), ("sales", 8_000_000)]


@pytest.mark.django_db(transaction=True)
def test_a_sqlserver_collection_stores_data_log_and_the_instance_total(monkeypatch: Any, caplog: Any) -> None:
    monkeypatch.setattr("whalefall.sync.coordinator.open_connection", lambda instance: sqlserver_catalog())
    instance = InstanceFactory(db_type="sqlserver", port=1433)
    result = collect_database_sizes(instance_ids=[instance.pk])

    assert result["status"] == "completed"
    details = result["instances"][0]["sync_details"]
    assert details["inventory"]["created"] == 2 and details["collection"]["saved_count"] == 2
    total = InstanceSizeStat.objects.get(instance=instance)
    assert (total.data_bytes, total.log_bytes) == ((43136 + 25600) * PAGE, (1024 + 6400) * PAGE)
    assert total.size_bytes == total.data_bytes + total.log_bytes
    assert DatabaseSizeStat.objects.filter(instance=instance).count() == 2
    instance.refresh_from_db()
    assert instance.version == "SQL Server Developer Edition 16.0.4135.4"
    logged = {e["event"]: e for e in events(caplog) if e.get("module") == "capacity_sync"}
    assert {"capacity_sync_inventory_completed", "capacity_sync_collection_completed"} <= set(logged)
    assert logged["capacity_sync_instance_completed"]["instance_id"] == instance.pk
    assert logged["capacity_sync_collection_completed"]["phase"] == "collection"


@pytest.mark.django_db(transaction=True)
def test_an_oracle_collection_with_a_failing_listing_fails_the_inventory_phase(
    monkeypatch: Any, caplog: Any
) -> None:
    catalog = oracle_catalog()
    catalog.db.execute("DROP TABLE sys.dba_tablespaces")  # like ORA-00942 for a missing grant
    monkeypatch.setattr("whalefall.sync.coordinator.open_connection", lambda instance: catalog)
    instance = InstanceFactory(db_type="oracle", port=1521, database="ORCLPDB1")
    result = collect_database_sizes(instance_ids=[instance.pk])

    assert result["status"] == "failed"
    assert result["instances"][0]["failed_phase"] == "inventory"
    assert not DatabaseSizeStat.objects.exists()
    failed = [e for e in events(caplog) if e["event"] == "capacity_sync_inventory_failed"]
    assert (
        failed and failed[0]["module"] == "capacity_sync" and failed[0]["session_id"] == result["session_id"]
    )


@pytest.mark.django_db(transaction=True)
def test_parallel_collection_of_many_instances_completes_on_the_metadata_database(monkeypatch: Any) -> None:
    monkeypatch.setattr("whalefall.sync.coordinator.open_connection", lambda instance: sqlserver_catalog())
    instances = [InstanceFactory(db_type="sqlserver", port=1433) for _ in range(8)]
    result = collect_database_sizes()

    assert result["status"] == "completed", [r["error"] for r in result["instances"]]
    assert InstanceSizeStat.objects.filter(instance__in=instances).count() == 8
    assert DatabaseSizeStat.objects.count() == 16


@pytest.mark.parametrize(
    ("catalog", "db_type", "shadows"),
    [
        (
            oracle_catalog,
            "oracle",
            [
                "CREATE TABLE main.dba_tablespaces (tablespace_name TEXT)",
                "INSERT INTO main.dba_tablespaces VALUES ('TROJAN')",
                "CREATE TABLE main.dba_data_files (tablespace_name TEXT, bytes INT)",
                "INSERT INTO main.dba_data_files VALUES ('USERS', 1)",
                "CREATE TABLE main.dba_temp_files (tablespace_name TEXT, bytes INT)",
            ],
        ),
        (
            sqlserver_catalog,
            "sqlserver",
            [
                "CREATE TABLE main.databases (name TEXT, database_id INT, source_database_id INT)",
                "INSERT INTO main.databases VALUES ('TROJAN', 99, NULL)",
                "CREATE TABLE main.master_files (database_id INT, type INT, size INT)",
            ],
        ),
    ],
)
def test_a_users_object_named_like_a_catalog_view_changes_nothing(
    catalog: Any, db_type: str, shadows: list[str]
) -> None:
    """A table or private synonym in the login's own schema must not stand in for the
    dictionary: every view is owner-qualified (`SYS.`, `sys.`)."""
    clean = adapter_class(db_type)(catalog())
    expected = (clean.list_databases(), clean.collect_sizes(clean.list_databases()))
    shadowed = catalog()
    for statement in shadows:
        shadowed.db.execute(statement)
    adapter = adapter_class(db_type)(shadowed)
    assert (adapter.list_databases(), adapter.collect_sizes(adapter.list_databases())) == expected
    assert "TROJAN" not in adapter.list_databases()
