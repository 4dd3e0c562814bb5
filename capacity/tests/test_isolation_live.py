"""One database that cannot be read costs that database's size, not the instance's (live).

The failure is a real server error: the size read of the victim database is replaced by a
sleep that the server cancels at the statement timeout (PostgreSQL `statement_timeout`,
MariaDB `max_statement_time`), as a huge or locked database would be.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from capacity.models import DatabaseSizeStat, InstanceDatabase, InstanceSizeStat
from capacity.tasks import collect_database_sizes
from whalefall.connections import connector_class
from whalefall.models import Instance, SyncInstanceRecord
from whalefall.tests import live

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

SLEEP = {"postgresql": "SELECT pg_catalog.pg_sleep(5)", "mysql": "SELECT SLEEP(5)"}


@pytest.fixture
def stall(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Callable[[str, set[str]], None]:
    """`stall(db_type, names)`: size reads naming one of `names` (None: any database) run into
    the statement timeout."""
    settings.WHALEFALL_STATEMENT_TIMEOUT = 1

    def install(db_type: str, names: set[str] | None) -> None:
        cls = connector_class(db_type)
        real = cls.fetch_all

        def fetch_all(self: Any, sql: str, params: Any = None) -> list[dict[str, Any]]:
            if params and (names is None or names & set(_flatten(params))):
                return real(self, SLEEP[db_type])
            return real(self, sql, params)

        monkeypatch.setattr(cls, "fetch_all", fetch_all)

    return install


def _flatten(params: Any) -> list[str]:
    out: list[str] = []
    for p in params:
        out.extend(_flatten(p) if isinstance(p, list | tuple) else [str(p)])
    return out


def collect(instance: Instance) -> dict[str, Any]:
    return collect_database_sizes(instance_ids=[instance.pk], trigger="manual_single", created_by="test")


def assert_isolated(instance: Instance, victim: str, healthy: str, stall: Any, db_type: str) -> None:
    collect(instance)
    before = DatabaseSizeStat.objects.get(database__instance=instance, database__name=victim)
    stall(db_type, {victim})
    result = collect(instance)

    record = result["instances"][0]
    assert result["status"] == "completed" and record["status"] == "completed", record
    collection = record["sync_details"]["collection"]
    assert set(collection["databases_failed"]) == {victim}
    assert collection["databases_failed"][victim].startswith("timeout:")
    assert collection["failed"] == 1
    assert any(victim in w for w in record["sync_details"]["warnings"])
    kept = DatabaseSizeStat.objects.get(database__instance=instance, database__name=victim)
    assert (kept.collected_at, kept.size_bytes) == (before.collected_at, before.size_bytes)
    assert InstanceDatabase.objects.get(instance=instance, name=victim).is_active
    fresh = DatabaseSizeStat.objects.get(database__instance=instance, database__name=healthy)
    assert fresh.collected_at > before.collected_at
    # The day's instance total still counts the victim, read earlier today: a rerun with one
    # failure does not write a smaller total over the complete one.
    total = InstanceSizeStat.objects.get(instance=instance, collected_date=fresh.collected_date)
    day = DatabaseSizeStat.objects.filter(
        database__instance=instance, database__is_active=True, collected_date=fresh.collected_date
    )
    assert kept.collected_date == fresh.collected_date and kept.pk in {r.pk for r in day}
    assert (total.database_count, total.size_bytes) == (day.count(), sum(r.size_bytes for r in day))


def test_a_stalled_pg_database_is_skipped_and_named(
    pg_instance: Instance, pg_database: Any, stall: Any
) -> None:
    victim, healthy = pg_database(), pg_database()
    assert_isolated(pg_instance, victim, healthy, stall, "postgresql")


def test_a_stalled_mariadb_schema_is_skipped_and_named(
    mysql_instance: Instance, mysql_database: Any, stall: Any
) -> None:
    victim, healthy = mysql_database(), mysql_database()
    assert_isolated(mysql_instance, victim, healthy, stall, "mysql")


def test_a_pg_database_with_connection_limit_zero_is_still_sized(
    pg_instance: Instance, pg_database: Any
) -> None:
    """Sizes come from the catalog over one connection: the owner's CONNECTION LIMIT 0 stops nothing."""
    name = pg_database()
    with live.pg_superuser() as su:
        live.run(su, f"ALTER DATABASE {name} CONNECTION LIMIT 0")
    result = collect(pg_instance)

    assert result["status"] == "completed"
    assert DatabaseSizeStat.objects.filter(database__instance=pg_instance, database__name=name).exists()


def test_when_every_database_fails_the_instance_fails(
    pg_instance: Instance, pg_database: Any, stall: Any, settings: Any
) -> None:
    name = pg_database()
    collect(pg_instance)
    stall("postgresql", None)  # every database, those other tests create meanwhile too
    result = collect(pg_instance)

    assert result["status"] == "failed"
    assert result["instances"][0]["failed_phase"] == "collection"
    assert DatabaseSizeStat.objects.filter(database__instance=pg_instance, database__name=name).count() == 1


def test_the_admin_shows_the_warning_of_a_skipped_database(
    pg_instance: Instance, pg_database: Any, stall: Any, admin_client: Client
) -> None:
    victim, _ = pg_database(), pg_database()
    stall("postgresql", {victim})
    collect(pg_instance)

    record = SyncInstanceRecord.objects.get(instance=pg_instance)
    page = admin_client.get(f"/admin/whalefall/syncsession/{record.session_id}/change/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "wf-warnings" in body and f"database &#x27;{victim}&#x27; not read: timeout:" in body
