"""The indexes of the project's tables, as `migrate` built them in the test database (SQLite or
PostgreSQL, whichever the run uses): every foreign key can be followed by an index, and no index
repeats the leading columns of another (each one costs a write per row, and the account and size
tables take tens of thousands of rows a night)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

PROJECT_APPS = ("whalefall", "accounts_sync", "capacity", "scheduling")


def project_models() -> list[type[models.Model]]:
    return [m for label in PROJECT_APPS for m in apps.get_app_config(label).get_models() if m._meta.managed]


def indexes(table: str) -> dict[str, dict[str, Any]]:
    """Real indexes of `table` (not the foreign-key constraints SQLite reports beside them)."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    return {
        name: info for name, info in found.items() if info["index"] or info["unique"] or info["primary_key"]
    }


@pytest.mark.django_db
def test_every_foreign_key_leads_an_index() -> None:
    """A cascade delete, a join and an admin filter by a foreign key read an index, whether the
    key has one of its own or leads a composite one."""
    missing = []
    for model in project_models():
        leading = {info["columns"][0] for info in indexes(model._meta.db_table).values() if info["columns"]}
        for field in model._meta.concrete_fields:
            if isinstance(field, models.ForeignKey) and field.column not in leading:
                missing.append(f"{model._meta.db_table}.{field.column}")
    assert missing == []


@pytest.mark.django_db
def test_no_index_is_the_leading_part_of_another() -> None:
    redundant = []
    for model in project_models():
        found = indexes(model._meta.db_table)
        for name, info in found.items():
            if (
                info["unique"]
                or info["primary_key"]
                or not info["columns"]
                or info.get("orders") != ["ASC"] * len(info["columns"])
            ):
                continue
            cols = info["columns"]
            wider = [
                other for other, o in found.items() if other != name and o["columns"][: len(cols)] == cols
            ]
            if wider and not (connection.vendor == "postgresql" and name.endswith("_like")):
                redundant.append((model._meta.db_table, name, wider))
    assert redundant == []


@pytest.mark.django_db(transaction=True)
def test_dropping_a_foreign_key_index_drops_only_the_index_and_comes_back() -> None:
    """The migration that drops the size table's redundant foreign-key indexes, back and forth:
    back, the indexes Django builds are there again; forth, they are gone by DROP INDEX alone
    (Django's AlterField would drop and re-add the constraints, revalidating every row)."""
    table = "capacity_databasesizestat"
    try:
        MigrationExecutor(connection).migrate([("capacity", "0003_translatable_labels")])
        back = {tuple(i["columns"]) for i in indexes(table).values()}
        assert ("database_id",) in back and ("instance_id",) in back
    finally:
        executor = MigrationExecutor(connection)
        with CaptureQueriesContext(connection) as forth_queries:
            executor.migrate(executor.loader.graph.leaf_nodes())
    forth = {tuple(i["columns"]) for i in indexes(table).values()}
    assert ("database_id",) not in forth and ("instance_id",) not in forth
    changes = [
        q["sql"] for q in forth_queries if q["sql"].lstrip().upper().startswith(("ALTER", "DROP", "CREATE"))
    ]
    assert len(changes) == 4 and all(sql.startswith("DROP INDEX") for sql in changes), changes
    with connection.cursor() as cursor:
        keys = [
            info["foreign_key"]
            for info in connection.introspection.get_constraints(cursor, table).values()
            if info["foreign_key"]
        ]
    assert sorted(keys) == [("capacity_instancedatabase", "id"), ("whalefall_instance", "id")]


@pytest.mark.django_db
def test_the_migrations_describe_the_models() -> None:
    """`makemigrations --check`: a model change without its migration fails here, not on a
    production `migrate` that leaves the schema behind the code."""
    out = io.StringIO()
    try:
        call_command("makemigrations", *PROJECT_APPS, "--check", "--dry-run", stdout=out)
    except SystemExit:
        pytest.fail(f"models changed without a migration:\n{out.getvalue()}")
