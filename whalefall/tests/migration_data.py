"""Data that migrations seed (exclusion rules, permission groups), put back after a test empties
the database.

A `transaction=True` test ends with Django flushing every table: content types and permissions
come back through `post_migrate`, but rows written by data migrations do not, so whichever test
ran next saw, for example, `mariadb.sys@localhost` no longer excluded. Each seeding migration
listed here is re-run with its own forward function, on the models as they were at that
migration, so the restored rows are exactly what `migrate` wrote.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.special import RunPython

# (app label, migration name) of every migration that writes data; a guard test keeps it complete.
SEEDING_MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("accounts_sync", "0002_seed_exclusion_rules"),
    ("scheduling", "0002_groups"),
    ("scheduling", "0004_groups_see_accounts_capacity_alerts"),
)

# Migrations whose code only converts rows that already exist (a flushed database has none), so
# there is nothing to put back; the same guard test keeps this list complete.
CONVERTING_MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("whalefall", "0007_instance_tags"),
    ("accounts_sync", "0006_baseline_entry_and_change_severity"),
    # Its code runs only going back (forward is a no-op).
    ("accounts_sync", "0008_account_last_seen_by_listing"),
)


@cache
def _state_apps(app_label: str, name: str) -> Any:
    """The historical model registry a migration's RunPython receives (built once per run)."""
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    return loader.project_state((app_label, name), at_end=False).apps


def restore() -> None:
    """Re-run the forward code of every seeding migration (each is idempotent: get_or_create)."""
    for app_label, name in SEEDING_MIGRATIONS:
        module = importlib.import_module(f"{app_label}.migrations.{name}")
        with connection.schema_editor() as editor:
            for operation in module.Migration.operations:
                if isinstance(operation, RunPython):
                    operation.code(_state_apps(app_label, name), editor)
