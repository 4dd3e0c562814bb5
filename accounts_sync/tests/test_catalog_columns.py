"""Every view and column the SQL Server and Oracle SQL texts read exists in the vendor's catalog.

Parsing proves syntax only; here sqlglot's scopes resolve each column to the view it is read
from (through aliases and joins, derived tables skipped) and the view's documented columns
(`vendor_catalogs`) must contain it, so a typo in a column or view name fails.
"""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from accounts_sync.adapters import oracle, sqlserver
from accounts_sync.tests.vendor_catalogs import ORACLE, SQLSERVER
from capacity.adapters import oracle as oracle_capacity
from capacity.adapters import sqlserver as sqlserver_capacity
from whalefall.connections import oracle as oracle_connection
from whalefall.connections import sqlserver as sqlserver_connection


def view_name(table: exp.Table) -> str:
    """`[Sales].sys.database_principals` -> `sys.database_principals`; `dba_users` -> `dba_users`;
    Oracle's owner-qualified `SYS.DBA_USERS` / `SYS.V_$CONTAINERS` -> `dba_users` / `v$containers`
    (the documented names are those of the public synonyms)."""
    name = ".".join(p for p in (table.db, table.name) if p).lower()
    if name.startswith("sys.") and (
        name[4:].startswith(("dba_", "cdb_", "v_$")) or name in ("sys.dual", "sys.dictionary")
    ):
        name = name[4:].replace("v_$", "v$", 1)
    return name


def unknown_columns(sql: str, dialect: str, catalog: dict[str, frozenset[str]]) -> list[str]:
    """'view.column' for every column read from a view the catalog lacks or does not list."""
    problems = []
    for scope in traverse_scope(sqlglot.parse_one(sql, read=dialect)):
        tables = {alias: src for alias, src in scope.sources.items() if isinstance(src, exp.Table)}
        for table in tables.values():
            if view_name(table) not in catalog:
                problems.append(f"{view_name(table)} (no such view)")
        selects = scope.expression.selects if isinstance(scope.expression, exp.Select) else []
        aliases = {s.alias_or_name.lower() for s in selects}
        for column in scope.columns:
            name = column.name.lower()
            if column.table:
                table = tables.get(column.table)
                candidates = [table] if table is not None else []  # a derived table: not a view
            else:
                candidates = list(tables.values())
                if name in aliases and not any(name in catalog.get(view_name(t), ()) for t in candidates):
                    continue  # ORDER BY an output column
            known = [catalog.get(view_name(t), frozenset()) for t in candidates]
            if candidates and not any(name in cols for cols in known):
                problems.append(f"{'/'.join(view_name(t) for t in candidates)}.{name}")
    return problems


def sqlserver_texts() -> list[str]:
    db = sqlserver.quote("Sales")
    return [
        sqlserver.PRINCIPALS_SQL,
        sqlserver.SERVER_ROLES_SQL,
        sqlserver.SERVER_PERMISSIONS_SQL,
        sqlserver.DATABASES_SQL,
        *(t.format(db=db) for t in (sqlserver.DB_PRINCIPALS_SQL, sqlserver.DB_ROLE_MEMBERS_SQL)),
        sqlserver.DB_PERMISSIONS_SQL.format(db=db),
        sqlserver.AZURE_DATABASES_SQL,
        sqlserver.AZURE_DB_PRINCIPALS_SQL,
        sqlserver_capacity.LIST_SQL,
        sqlserver_capacity.SIZES_SQL,
        sqlserver_capacity.FILESTREAM_SQL.format(db=db),
    ]


def oracle_texts() -> list[str]:
    texts = [oracle.CONTAINER_SQL, oracle.DICTIONARY_SQL, oracle_connection.VERSION_SQL]
    for cdb_root in (False, True):
        accounts = oracle.Adapter.__new__(oracle.Adapter)
        accounts.cdb_root = cdb_root
        templates = (
            oracle.USERS_SQL,
            oracle.ROLES_SQL,
            oracle.ROLE_PRIVS_SQL,
            oracle.SYS_PRIVS_SQL,
            oracle.SCHEMA_PRIVS_SQL,
            oracle.TAB_PRIVS_SQL,
            oracle.COL_PRIVS_SQL,
            oracle.QUOTAS_SQL,
        )
        texts += [accounts.users_sql(), *(accounts.sql(t) for t in templates[1:])]
        capacity = oracle_capacity.Adapter.__new__(oracle_capacity.Adapter)
        capacity._cdb_root = cdb_root
        texts += [
            capacity.list_sql(),
            capacity.sizes_sql(),
            capacity.free_sql(),
            oracle_capacity.CONTAINER_SQL,
        ]
    return texts


@pytest.mark.parametrize("sql", sqlserver_texts())
def test_every_sqlserver_column_is_documented(sql: str) -> None:
    assert unknown_columns(sql, "tsql", SQLSERVER) == []


@pytest.mark.parametrize("sql", oracle_texts())
def test_every_oracle_column_is_documented(sql: str) -> None:
    assert unknown_columns(sql, "oracle", ORACLE) == []


def test_the_sqlserver_version_query_reads_no_view() -> None:
    assert unknown_columns(sqlserver_connection.VERSION_SQL, "tsql", SQLSERVER) == []


def test_a_misspelt_column_or_view_fails_the_check() -> None:
    assert unknown_columns(
        "SELECT dp.authentication_typ FROM sys.database_principals AS dp", "tsql", SQLSERVER
    )
    assert unknown_columns("SELECT r.grantee FROM dba_role_priv r", "oracle", ORACLE)
    assert unknown_columns("SELECT name FROM sys.databases WHERE stat_desc = 'ONLINE'", "tsql", SQLSERVER)
