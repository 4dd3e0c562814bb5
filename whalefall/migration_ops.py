"""Migration operations Django does not offer in the form a large production table needs."""

from __future__ import annotations

from typing import Any

from django.db import migrations


class DropForeignKeyIndex(migrations.operations.base.Operation):
    """Drop the single-column index of a foreign key (`db_index=False`), and nothing else.

    For that change Django's AlterField drops the foreign-key constraint, drops the index and
    adds the constraint back, which revalidates every row of the table under a lock that blocks
    writes: minutes on a size history of millions of rows. Use it as the database side of a
    SeparateDatabaseAndState whose state side is the AlterField. Backwards it builds the index
    Django would have built.
    """

    reversible = True

    def __init__(self, model_name: str, name: str) -> None:
        self.model_name, self.name = model_name, name

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass  # the AlterField beside it changes the state

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        name = self._index_name(schema_editor, model)
        if name in self._plain_indexes(schema_editor, model):
            schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if self._index_name(schema_editor, model) not in self._plain_indexes(schema_editor, model):
            field = model._meta.get_field(self.name)
            schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))

    def _index_name(self, schema_editor: Any, model: Any) -> str:
        """The name Django gave the key's own index: only that one goes (not an index someone
        made by hand, nor PostgreSQL's `_like` twin of a text key)."""
        column = model._meta.get_field(self.name).column
        return str(schema_editor._create_index_name(model._meta.db_table, [column], suffix=""))

    def _plain_indexes(self, schema_editor: Any, model: Any) -> set[str]:
        connection = schema_editor.connection
        with connection.cursor() as cursor:
            found = connection.introspection.get_constraints(cursor, model._meta.db_table)
        return {
            name
            for name, info in found.items()
            if info["index"] and not (info["unique"] or info["primary_key"] or info.get("foreign_key"))
        }

    def describe(self) -> str:
        return f"Drop the index of foreign key {self.model_name}.{self.name}"


def drop_foreign_key_index(model_name: str, name: str, field: Any) -> migrations.SeparateDatabaseAndState:
    """`AlterField(model_name, name, field)` in the state; only the index dropped in the database."""
    return migrations.SeparateDatabaseAndState(
        database_operations=[DropForeignKeyIndex(model_name, name)],
        state_operations=[migrations.AlterField(model_name=model_name, name=name, field=field)],
    )
