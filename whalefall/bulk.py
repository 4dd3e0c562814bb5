"""Set-based writes: one statement per table whatever the number of rows.

Django's `bulk_create` compiles every field of every object (`prepare_value`, JSON encoding,
`Model.__init__` on the way in) and, on SQLite, splits the rows into batches of 999 parameters,
so a first sync of 10,000 accounts costs hundreds of INSERTs. Here the rows travel as ONE JSON
array parameter, encoded once by `json.dumps`, and the database unpacks it itself:

- SQLite (JSON1, 3.38+ for `->>`): `INSERT ... SELECT value ->> 0, ... FROM json_each(?)`;
- PostgreSQL: `INSERT ... SELECT (v ->> 0)::type, ... FROM jsonb_array_elements(%s::jsonb) v`
  (jsonb: parsed once into a tree; a `json` value is text, parsed again by every `->>`).

The same trick deletes or updates "the rows of these ids". Callers pass JSON-plain values; the
few non-JSON ones (a timestamp, a session UUID) are converted once with `db_value()`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, cast

from django.db import connection, models


def _vendor() -> str:
    return connection.vendor


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """A concrete column of `model` (the bulk paths write columns, never reverse relations)."""
    return cast("models.Field[Any, Any]", model._meta.get_field(name))


def _column_name(model: type[models.Model], name: str) -> str:
    """The column name of a concrete field."""
    return str(_field(model, name).column)


def db_value(model: type[models.Model], name: str, value: Any) -> Any:
    """One value in the form its column expects, as JSON text can carry it (computed once)."""
    prepared = _field(model, name).get_db_prep_value(value, connection)
    if prepared is None or isinstance(prepared, bool | int | float | str):
        return prepared
    if hasattr(prepared, "isoformat"):
        return prepared.isoformat()
    return str(prepared)


def _column(model: type[models.Model], name: str, index: int) -> str:
    field = _field(model, name)
    json_column = isinstance(field, models.JSONField)
    if _vendor() == "postgresql":
        if json_column:
            return f"(v -> {index})"
        return f"(v ->> {index})::{field.db_type(connection)}"
    return f"value -> {index}" if json_column else f"value ->> {index}"


def _rows_source() -> str:
    if _vendor() == "postgresql":
        return "jsonb_array_elements(%s::jsonb) AS v"
    return "json_each(%s)"


def _param(rows: Iterable[Any]) -> str:
    return json.dumps(list(rows), separators=(",", ":"), ensure_ascii=False, default=str)


def insert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert `rows` (tuples in `columns` order) in one statement; `returning` columns back."""
    if not rows:
        return []
    table = connection.ops.quote_name(model._meta.db_table)
    names = [_column_name(model, c) for c in columns]
    cols = ", ".join(connection.ops.quote_name(n) for n in names)
    values = ", ".join(_column(model, c, i) for i, c in enumerate(columns))
    sql = f"INSERT INTO {table} ({cols}) SELECT {values} FROM {_rows_source()}"
    if returning:
        ret = [connection.ops.quote_name(_column_name(model, c)) for c in returning]
        sql += " RETURNING " + ", ".join(ret)
    with connection.cursor() as cursor:
        cursor.execute(sql, [_param(rows)])
        return [tuple(r) for r in cursor.fetchall()] if returning else []


def ids_in(column: str) -> str:
    """`column IN (the ids of one JSON array parameter)`, for DELETE/UPDATE by many ids."""
    if _vendor() == "postgresql":
        return f"{column} IN (SELECT value::bigint FROM json_array_elements_text(%s::json))"
    return f"{column} IN (SELECT value FROM json_each(%s))"


def delete_where_in(model: type[models.Model], field: str, ids: Iterable[int]) -> None:
    ids = list(ids)
    if not ids:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(_column_name(model, field))
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE {ids_in(column)}", [_param(ids)])


def update_where_in(model: type[models.Model], ids: Iterable[int], **values: Any) -> None:
    """`UPDATE table SET field = value, ... WHERE id IN (ids)`: one statement for any number of ids."""
    ids = list(ids)
    if not ids:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    sets = [f"{connection.ops.quote_name(_column_name(model, k))} = %s" for k in values]
    params = [_field(model, k).get_db_prep_value(v, connection) for k, v in values.items()]
    pk = connection.ops.quote_name(str(model._meta.pk.column))
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE {ids_in(pk)}", [*params, _param(ids)])


def update_objects(objects: Sequence[models.Model], fields: Sequence[str]) -> None:
    """`bulk_update(objects, fields)` in one statement: each object's values of `fields` (its
    own, not one value for all) joined to the table by primary key. Django's `bulk_update`
    builds a CASE expression per field and object, which costs more than the update itself."""
    if not objects or not fields:
        return
    model = type(objects[0])
    pk = str(model._meta.pk.attname)
    columns = [pk, *fields]
    json_fields = {f for f in fields if isinstance(_field(model, f), models.JSONField)}
    rows = [
        [getattr(obj, f) if f in json_fields else db_value(model, f, getattr(obj, f)) for f in columns]
        for obj in objects
    ]
    q = connection.ops.quote_name
    table = q(model._meta.db_table)
    source = ", ".join(f"{_column(model, c, i)} AS {q(f'c{i}')}" for i, c in enumerate(columns))
    sets = ", ".join(f"{q(_column_name(model, c))} = src.{q(f'c{i}')}" for i, c in enumerate(columns) if i)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {sets} FROM (SELECT {source} FROM {_rows_source()}) AS src"
            f" WHERE {table}.{q(_column_name(model, pk))} = src.{q('c0')}",
            [_param(rows)],
        )
