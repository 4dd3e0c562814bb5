"""Tests leave the database as `migrate` left it: what data migrations seed comes back after a
test that flushed every table, whatever order the tests run in."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.special import RunPython

from accounts_sync.models import ExclusionRule
from whalefall.tests import migration_data

PROJECT_APPS = {"whalefall", "accounts_sync", "capacity", "scheduling"}
rules_migration = importlib.import_module("accounts_sync.migrations.0002_seed_exclusion_rules")
groups_migration = importlib.import_module("scheduling.migrations.0002_groups")
later_groups = importlib.import_module("scheduling.migrations.0004_groups_see_accounts_capacity_alerts")


def seeded_rows() -> tuple[set[tuple[str, str, str]], dict[str, set[str]]]:
    rules = set(ExclusionRule.objects.values_list("db_type", "pattern", "description"))
    groups = {
        g.name: {f"{p.content_type.app_label}.{p.codename}" for p in g.permissions.all()}
        for g in Group.objects.prefetch_related("permissions__content_type")
    }
    return rules, groups


def test_every_data_migration_of_the_project_is_restored_after_a_flush() -> None:
    """A new data migration must be listed, or the tests after a flushing test lose its rows
    (one that only converts existing rows is listed as such: it seeds nothing)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    writing = {
        key
        for key, migration in loader.disk_migrations.items()
        if key[0] in PROJECT_APPS and any(isinstance(op, RunPython) for op in migration.operations)
    }
    assert writing == {*migration_data.SEEDING_MIGRATIONS, *migration_data.CONVERTING_MIGRATIONS}


@pytest.mark.django_db(transaction=True)
def test_restore_after_a_flush_gives_back_exactly_what_migrate_wrote() -> None:
    migrated = seeded_rows()
    assert {(t, p) for t, p, _ in migrated[0]} == {(t, p) for t, p, _ in rules_migration.RULES}
    assert migrated[1] == {
        name: {f"{app}.{code}" for m in (groups_migration, later_groups) for app, code in m.GROUPS[name]}
        for name in groups_migration.GROUPS
    }

    call_command("flush", verbosity=0, interactive=False)  # what Django does after this test
    assert seeded_rows() == (set(), {})
    migration_data.restore()
    assert seeded_rows() == migrated
    migration_data.restore()  # idempotent: a second pass adds nothing
    assert seeded_rows() == migrated
