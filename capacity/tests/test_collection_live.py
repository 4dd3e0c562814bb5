"""Live collection on the real MariaDB and PostgreSQL (other helpers' wf_* databases come and go
on the same servers, so every assertion is scoped to the databases these tests create)."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from capacity.models import DatabaseSizeStat, InstanceDatabase, InstanceSizeStat
from capacity.tasks import collect_database_sizes
from whalefall.models import Instance
from whalefall.tests import live

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

PHASE_KEYS = {
    "created",
    "refreshed",
    "reactivated",
    "deactivated",
    "processed_records",
    "saved_count",
    "status",
}
FILL_MYSQL = (
    "CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(1000)) ENGINE=InnoDB",
    "INSERT INTO `{db}`.t SELECT seq, REPEAT('x', 1000) FROM `{db}`.seq_1_to_3000",
    "ANALYZE TABLE `{db}`.t",
)
FILL_PG = (
    "CREATE TABLE t AS SELECT g AS id, repeat('x', 1000) AS v FROM generate_series(1, 3000) g",
    "VACUUM ANALYZE t",
)


def collect(instance: Instance) -> dict[str, Any]:
    result = collect_database_sizes(instance_ids=[instance.pk], trigger="manual_single", created_by="test")
    assert result["status"] == "completed", result
    return result


def stat(instance: Instance, name: str) -> DatabaseSizeStat:
    return DatabaseSizeStat.objects.get(database__instance=instance, database__name=name)


def mysql_used_bytes(name: str) -> int:
    with live.mysql_root() as root, root.cursor() as cur:
        cur.execute(
            "SELECT SUM(data_length + index_length) FROM information_schema.TABLES WHERE table_schema = %s",
            (name,),
        )
        return int(cur.fetchone()[0] or 0)


def mysql_allocated_bytes(name: str) -> int:
    with live.mysql_root() as root, root.cursor() as cur:
        cur.execute(
            "SELECT SUM(allocated_size) FROM information_schema.INNODB_SYS_TABLESPACES WHERE name LIKE %s",
            (f"{name}/%",),
        )
        return int(cur.fetchone()[0] or 0)


def pg_database_size(name: str) -> int:
    with live.pg_superuser() as su, su.cursor() as cur:
        cur.execute("SELECT pg_database_size(%s)", (name,))
        return int(cur.fetchone()[0])


def test_it_records_mysql_sizes_equal_to_information_schema(
    mysql_instance: Instance, mysql_database: Any
) -> None:
    big = mysql_database("wf_CapMixed", *FILL_MYSQL)
    empty = mysql_database("wf_cap")
    result = collect(mysql_instance)

    row = stat(mysql_instance, big)  # the name kept its case
    assert row.size_bytes == mysql_used_bytes(big)
    assert row.size_bytes > 3000 * 1000  # 3,000 rows of 1,000 bytes
    assert row.allocated_bytes == mysql_allocated_bytes(big) >= row.size_bytes
    assert (row.data_bytes, row.log_bytes) == (None, None)
    assert stat(mysql_instance, empty).size_bytes == 0
    details = result["instances"][0]["sync_details"]
    assert PHASE_KEYS <= set(details["inventory"]) and PHASE_KEYS <= set(details["collection"])
    assert "mysql" not in InstanceDatabase.objects.filter(instance=mysql_instance).values_list(
        "name", flat=True
    )


def test_it_keeps_one_row_per_day_and_an_instance_total(
    mysql_instance: Instance, mysql_database: Any
) -> None:
    name = mysql_database("wf_cap", *FILL_MYSQL)
    collect(mysql_instance)
    second = collect(mysql_instance)

    assert (
        DatabaseSizeStat.objects.filter(database__instance=mysql_instance, database__name=name).count() == 1
    )
    total = InstanceSizeStat.objects.get(instance=mysql_instance)
    rows = DatabaseSizeStat.objects.filter(instance=mysql_instance, collected_at=total.collected_at)
    assert total.collected_date == timezone.localdate()
    assert total.size_bytes == sum(r.size_bytes for r in rows)
    assert total.database_count == rows.count()
    inventory = second["instances"][0]["sync_details"]["inventory"]
    assert inventory["refreshed"] >= 1  # our database at least, seen again


def test_it_deactivates_a_dropped_database_and_keeps_its_history(
    mysql_instance: Instance, mysql_database: Any
) -> None:
    name = mysql_database("wf_cap", *FILL_MYSQL)
    collect(mysql_instance)
    with live.mysql_root() as root:
        live.run(root, f"DROP DATABASE `{name}`")
    result = collect(mysql_instance)

    db = InstanceDatabase.objects.get(instance=mysql_instance, name=name)
    assert not db.is_active and db.deactivated_at is not None
    assert db.size_stats.count() == 1
    assert result["instances"][0]["items_deleted"] >= 1
    with live.mysql_root() as root:
        live.run(root, f"CREATE DATABASE `{name}`")
    collect(mysql_instance)
    db.refresh_from_db()
    assert db.is_active and db.deactivated_at is None


def test_it_records_pg_sizes_equal_to_pg_database_size(pg_instance: Instance, pg_database: Any) -> None:
    name = pg_database(*FILL_PG)
    collect(pg_instance)

    row = stat(pg_instance, name)
    expected = pg_database_size(name)
    assert abs(row.size_bytes - expected) <= 64 * 1024  # a few pages of catalog churn at most
    assert row.size_bytes > 3000 * 1000
    assert row.allocated_bytes == row.size_bytes
    names = set(InstanceDatabase.objects.filter(instance=pg_instance).values_list("name", flat=True))
    assert not names & {"template0", "template1"}


def test_it_skips_pg_databases_the_account_may_not_connect_to(
    pg_instance: Instance, pg_database: Any
) -> None:
    open_db = pg_database()
    closed_db = pg_database()
    with live.pg_superuser() as su:
        live.run(su, f"REVOKE CONNECT ON DATABASE {closed_db} FROM PUBLIC")
    collect(pg_instance)

    names = set(InstanceDatabase.objects.filter(instance=pg_instance).values_list("name", flat=True))
    assert open_db in names and closed_db not in names


def test_it_deactivates_a_dropped_pg_database(pg_instance: Instance, pg_database: Any) -> None:
    name = pg_database()
    collect(pg_instance)
    collect(pg_instance)
    with live.pg_superuser() as su:
        live.run(su, f"DROP DATABASE {name} WITH (FORCE)")
    collect(pg_instance)

    db = InstanceDatabase.objects.get(instance=pg_instance, name=name)
    assert not db.is_active
    assert db.size_stats.count() == 1  # two runs the same day: one row, kept after the drop


def test_it_fails_the_connection_phase_on_a_closed_port(pg_instance: Instance) -> None:
    Instance.objects.filter(pk=pg_instance.pk).update(port=live.closed_port())
    result = collect_database_sizes(instance_ids=[pg_instance.pk], trigger="manual_single")

    record = result["instances"][0]
    assert result["status"] == "failed"
    assert record["failed_phase"] == "connection"
    assert not InstanceDatabase.objects.filter(instance=pg_instance).exists()
