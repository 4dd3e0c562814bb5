"""Room in each page of the account table for the next version of its rows (PostgreSQL).

Every sync sets `last_seen_at` on every listed account. That column is in no index, so with free
space in the page PostgreSQL updates the row in place ("HOT": no new index entries for the
table's four indexes); a table packed full by bulk inserts makes each update a new tuple
elsewhere plus an entry in every index. 70% leaves room for about one update per row between
two vacuums. Pages written before this setting fill up as they are rewritten (or at once with
VACUUM FULL). Nothing to do on SQLite.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


class PostgreSQLOnly(migrations.RunSQL):
    """RunSQL that other backends skip (the statement is PostgreSQL syntax)."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("accounts_sync", "0006_baseline_entry_and_change_severity")]

    operations = [
        PostgreSQLOnly(
            "ALTER TABLE accounts_sync_account SET (fillfactor = 70)",
            "ALTER TABLE accounts_sync_account RESET (fillfactor)",
        )
    ]
