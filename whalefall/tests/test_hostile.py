"""A hostile server: the people who own databases on it try to make WhaleFall lie or attack its
operator (live, MariaDB and PostgreSQL).

Users, roles, databases, schemas, tables and columns are named with HTML/JS, quotes, a
backslash, a newline, an escape sequence and a right-to-left override. On PostgreSQL the
tenant who owns the database also plants catalog look-alikes (`evil.aclexplode`, ...) and
points the database's search_path at them. WhaleFall syncs accounts and capacity, every admin
page of the synced objects is rendered, the accounts are exported, and:

- nothing executes: no raw `<script>` in a page, no catalog look-alike's output in a record;
- nothing is unescaped: no raw ESC, newline-forged line or U+202E in page text or text output;
- the records equal the engine's truth for those objects (grants, owners, sizes).

Left out here: a database with CONNECTION LIMIT 0 during the *account* sync (the per-database
isolation of the account sync is tested with that work); capacity is not affected by it and
is tested below.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import NoReverseMatch, reverse

from accounts_sync.canonical import direct_only
from accounts_sync.coordinator import AccountSyncCoordinator
from accounts_sync.models import Account
from capacity.models import DatabaseSizeStat
from capacity.tasks import collect_database_sizes
from whalefall.models import Instance, SyncSession
from whalefall.tests import live
from whalefall.tests.factories import CredentialFactory, InstanceFactory, SyncSessionFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

SCRIPT = "<script>alert(1)</script>"
# HTML/JS, quotes, a backslash, a newline, a "clear screen" escape and a right-to-left override.
H = f"{SCRIPT}'\"\\\n\x1b[2J\u202eX"
RAW_IN_TEXT = ("\x1b", "\u202e")
_TAGS = re.compile(r"<(textarea|script|style)\b[^>]*>.*?</\1\s*>|<!--.*?-->|<[^>]*>", re.I | re.S)


# --- the checks ---------------------------------------------------------------------------------
def page_text(html: str) -> str:
    return _TAGS.sub(" ", html)


def assert_safe_page(response: Any, where: str) -> str:
    assert response.status_code == 200, where
    body = response.content.decode()
    assert SCRIPT not in body, where  # autoescaped everywhere, attributes included
    text = page_text(body)
    assert not any(ch in text for ch in RAW_IN_TEXT), where
    return body


def assert_safe_text_output(text: str) -> None:
    assert not any(ch in text for ch in RAW_IN_TEXT)


def related(model: Any, instance: Instance) -> list[Any]:
    """The synced objects of `instance` a model admin shows (at most 10 per model)."""
    names = {f.name for f in model._meta.get_fields()}
    qs = model._default_manager.all()
    if model is Instance:
        qs = qs.filter(pk=instance.pk)
    elif "instance" in names:
        qs = qs.filter(instance=instance)
    elif "account" in names:
        qs = qs.filter(account__instance=instance)
    elif "database" in names:
        qs = qs.filter(database__instance=instance)
    elif model is SyncSession:
        qs = qs.filter(records__instance=instance)
    else:
        return []
    return list(qs.order_by("pk")[:10])


def render_every_admin_page(client: Client, instance: Instance) -> str:
    """Every changelist, the change page of every synced object, the capacity pages; returns
    all bodies for the caller's own checks."""
    bodies = []
    for model in admin.site._registry:
        opts = model._meta
        prefix = f"admin:{opts.app_label}_{opts.model_name}"
        bodies.append(assert_safe_page(client.get(reverse(f"{prefix}_changelist")), prefix))
        bodies.append(assert_safe_page(client.get(reverse(f"{prefix}_changelist"), {"q": "script"}), prefix))
        for obj in related(model, instance):
            url = reverse(f"{prefix}_change", args=[obj.pk])
            bodies.append(assert_safe_page(client.get(url), url))
            try:
                history = reverse(f"{prefix}_history", args=[obj.pk])
            except NoReverseMatch:
                continue
            bodies.append(assert_safe_page(client.get(history), history))
    for url in (
        reverse("admin:capacity_instance_capacity", args=[instance.pk]),
        reverse("admin:capacity_top_growers"),
    ):
        bodies.append(assert_safe_page(client.get(url), url))
    for db in instance.databases.all():
        url = reverse("admin:capacity_instancedatabase_history", args=[db.pk])
        bodies.append(assert_safe_page(client.get(url), url))
    return "\n".join(bodies)


def export(instance: Instance, fmt: str) -> str:
    out = io.StringIO()
    call_command("export_accounts", "--instance", instance.name, "--format", fmt, stdout=out)
    return out.getvalue()


def sync_accounts(instance: Instance, pattern: str) -> Any:
    session = SyncSessionFactory()
    with AccountSyncCoordinator(instance, session=session, only_like=pattern) as coordinator:
        return coordinator.run()


def collect(instance: Instance) -> dict[str, Any]:
    result = collect_database_sizes(instance_ids=[instance.pk], trigger="manual_single", created_by="test")
    assert result["status"] == "completed", result
    return result


def assert_exports_are_safe_and_exact(instance: Instance, identities: set[str]) -> None:
    text = export(instance, "text")
    assert_safe_text_output(text)
    for identity in identities:
        assert identity not in text  # only its escaped form is shown...
    assert all(
        line.startswith(("#", "account ", "  ")) for line in text.splitlines()
    )  # ...and no forged line
    data = json.loads(export(instance, "json"))
    assert identities <= {a["identity"] for a in data["accounts"]}  # JSON: exact


# --- PostgreSQL -----------------------------------------------------------------------------------
TRAP = """
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.aclexplode(acl aclitem[], OUT grantor oid, OUT grantee oid,
    OUT privilege_type text, OUT is_grantable boolean)
  RETURNS SETOF record LANGUAGE sql AS $$ SELECT 10::oid, 0::oid, 'TROJAN ran as '||current_user, false $$;
CREATE FUNCTION evil.acldefault("char", oid) RETURNS aclitem[] LANGUAGE sql AS $$ SELECT NULL::aclitem[] $$;
CREATE FUNCTION evil.pg_database_size(name) RETURNS bigint LANGUAGE sql AS $$ SELECT 1::bigint $$;
CREATE FUNCTION evil.has_database_privilege(name, text) RETURNS boolean LANGUAGE sql AS $$ SELECT false $$;
"""


@pytest.fixture
def pg_world(pg_role: Callable[..., tuple[str, str]]) -> Iterator[dict[str, Any]]:
    from psycopg2 import sql

    p = live.unique("wf_h")
    w = {
        "prefix": p,
        "tenant": f"{p}_t{H}",
        "grantee": f"{p}_g{H}",
        "db": f"{p}_d{H}",
        "schema": f"s{H}",
        "table": f"t{H}",
        "column": f"c{H}",
    }
    ident = {k: sql.Identifier(v) for k, v in w.items()}
    with live.pg_superuser() as su, su.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident["tenant"]))
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident["grantee"]))
        cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident["db"], ident["tenant"]))
    try:
        with live.pg_superuser(w["db"]) as su, su.cursor() as cur:
            cur.execute(sql.SQL("SET ROLE {}").format(ident["tenant"]))  # all below is the tenant's doing
            cur.execute(TRAP)
            cur.execute(sql.SQL("ALTER DATABASE {} SET search_path = evil, pg_catalog").format(ident["db"]))
            cur.execute(sql.SQL("CREATE SCHEMA {}").format(ident["schema"]))
            table = sql.SQL("{}.{}").format(ident["schema"], ident["table"])
            cur.execute(sql.SQL("CREATE TABLE {} ({} int, b text)").format(table, ident["column"]))
            cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(ident["schema"], ident["grantee"]))
            cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(table, ident["grantee"]))
            cur.execute(
                sql.SQL("GRANT UPDATE ({}) ON {} TO {}").format(ident["column"], table, ident["grantee"])
            )
            cur.execute(sql.SQL("GRANT SELECT ON {} TO PUBLIC").format(table))
        monitor, password = pg_role(attrs="LOGIN")
        w["instance"] = InstanceFactory(
            name=f"pg{H}",
            db_type="postgresql",
            port=5432,
            database="postgres",
            credential=CredentialFactory(username=monitor, password=password),
        )
        yield w
    finally:
        with live.pg_superuser() as su, su.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident["db"]))
            for role in ("tenant", "grantee"):
                cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident[role]))


def pg_truth_table_grants(w: dict[str, Any]) -> dict[str, set[str]]:
    """What PostgreSQL itself says about the hostile table (superuser, pg_catalog only)."""
    with live.pg_superuser(w["db"]) as su, su.cursor() as cur:
        cur.execute(
            "SELECT coalesce(r.rolname, 'PUBLIC'), a.privilege_type "
            "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a "
            "LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee "
            "WHERE n.nspname = %s AND c.relname = %s",
            (w["schema"], w["table"]),
        )
        truth: dict[str, set[str]] = {}
        for grantee, privilege in cur.fetchall():
            truth.setdefault(grantee, set()).add(privilege)
        return truth


def test_pg_records_equal_the_engines_truth_despite_the_trap(pg_world: dict[str, Any]) -> None:
    w, instance = pg_world, pg_world["instance"]
    result = sync_accounts(instance, f"{w['prefix']}\\_%")
    assert result.status == "completed", result
    sync_accounts(instance, "PUBLIC")

    accounts = {a.identity: a for a in Account.objects.filter(instance=instance).select_related("snapshot")}
    grantee, tenant, public = accounts[w["grantee"]], accounts[w["tenant"]], accounts["PUBLIC"]
    scope = f"{w['db']}.{w['schema']}.{w['table']}"
    truth = pg_truth_table_grants(w)
    assert set(grantee.snapshot.permissions[f"table {scope}"]) == truth[w["grantee"]] == {"SELECT"}
    assert public.snapshot.permissions[f"table {scope}"] == ["SELECT"] and truth["PUBLIC"] == {"SELECT"}
    assert grantee.snapshot.permissions[f"column {scope}.{w['column']}"] == ["UPDATE"]
    assert grantee.snapshot.permissions[f"schema {w['db']}.{w['schema']}"] == ["USAGE"]
    assert "OWNER" in tenant.snapshot.permissions[f"table {scope}"]
    assert "OWNER" in tenant.snapshot.permissions[f"database {w['db']}"]
    recorded = json.dumps([a.snapshot.permissions for a in accounts.values()])
    assert "TROJAN" not in recorded


def test_pg_capacity_reads_the_real_size_of_the_hostile_database(pg_world: dict[str, Any]) -> None:
    w, instance = pg_world, pg_world["instance"]
    with live.pg_superuser() as su, su.cursor() as cur:
        cur.execute(f"ALTER DATABASE {_pg_ident(su, w['db'])} CONNECTION LIMIT 0")
    collect(instance)
    with live.pg_superuser() as su, su.cursor() as cur:
        cur.execute("SELECT pg_catalog.pg_database_size(%s)", (w["db"],))
        truth = cur.fetchone()[0]
    row = DatabaseSizeStat.objects.get(database__instance=instance, database__name=w["db"])
    assert abs(row.size_bytes - truth) <= 64 * 1024 and row.size_bytes > 1


def _pg_ident(conn: Any, name: str) -> str:
    from psycopg2 import sql

    return sql.Identifier(name).as_string(conn)


def test_pg_pages_exports_and_api_show_hostile_names_safely(
    pg_world: dict[str, Any], admin_client: Client
) -> None:
    w, instance = pg_world, pg_world["instance"]
    sync_accounts(instance, f"{w['prefix']}\\_%")
    session_id = collect(instance)["session_id"]

    bodies = render_every_admin_page(admin_client, instance)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in bodies  # shown, escaped
    assert "\\u202eX" in bodies and "\\x1b[2J" in bodies  # the controls, visibly
    assert_exports_are_safe_and_exact(instance, {w["tenant"], w["grantee"]})
    api = admin_client.get(f"/api/sync/sessions/{session_id}")
    assert api.status_code == 200 and api.json()["data"]["records"][0]["instance_name"] == instance.name


# --- MariaDB -----------------------------------------------------------------------------------
FILL = "CREATE TABLE {table} ({column} INT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB"


def my_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def my_string(name: str) -> str:
    import pymysql.converters

    return pymysql.converters.escape_string(name)


@pytest.fixture
def mysql_world(mysql_user: Callable[..., tuple[str, str]]) -> Iterator[dict[str, Any]]:
    p = live.unique("wf_h")
    w = {
        "prefix": p,
        "user": f"{p}_u{H}",
        "role": f"{p}_r{H}",
        "db": f"{p}_d{H}",
        "table": f"t{H}",
        "column": f"c{H}",
    }
    user = f"'{my_string(w['user'])}'@'%'"
    role = f"'{my_string(w['role'])}'"
    db, table, column = my_ident(w["db"]), my_ident(w["table"]), my_ident(w["column"])
    try:
        yield from _mysql_world(w, user, role, db, table, column, mysql_user)
    finally:
        with live.mysql_root() as root:
            live.run(
                root,
                f"DROP DATABASE IF EXISTS {db}",
                f"DROP USER IF EXISTS {user}",
                f"DROP ROLE IF EXISTS {role}",
            )


def _mysql_world(
    w: dict[str, Any], user: str, role: str, db: str, table: str, column: str, mysql_user: Any
) -> Iterator[dict[str, Any]]:
    with live.mysql_root() as root:
        live.run(
            root,
            f"CREATE USER {user} IDENTIFIED BY 'x-{w['prefix']}'",
            f"CREATE ROLE {role}",
            f"CREATE DATABASE {db}",
            FILL.format(table=f"{db}.{table}", column=column),
            f"INSERT INTO {db}.{table} SELECT seq, REPEAT('x', 200) FROM {db}.seq_1_to_2000",
            f"ANALYZE TABLE {db}.{table}",
            f"GRANT SELECT ON {db}.* TO {role}",
            f"GRANT {role} TO {user}",
            f"GRANT INSERT ON {db}.{table} TO {user}",
            f"GRANT UPDATE ({column}) ON {db}.{table} TO {user}",
        )
    monitor, password = mysql_user(
        grants=(
            "GRANT SELECT ON mysql.* TO {user}",
            "GRANT SHOW DATABASES, PROCESS, SHOW VIEW ON *.* TO {user}",
        )
    )
    w["instance"] = InstanceFactory(
        name=f"my{H}",
        db_type="mysql",
        port=3306,
        credential=CredentialFactory(username=monitor, password=password),
    )
    yield w


def test_mariadb_records_equal_the_engines_truth(mysql_world: dict[str, Any]) -> None:
    w, instance = mysql_world, mysql_world["instance"]
    result = sync_accounts(instance, f"{w['prefix']}\\_%")
    assert result.status == "completed", result

    accounts = {a.identity: a for a in Account.objects.filter(instance=instance).select_related("snapshot")}
    user, role = accounts[f"{w['user']}@%"], accounts[f"{w['role']}@"]
    assert direct_only(user.snapshot.permissions) == {
        f"table {w['db']}.{w['table']}": ["INSERT"],
        f"column {w['db']}.{w['table']}.{w['column']}": ["UPDATE"],
        "role": [f"{w['role']}@"],  # the role's own account identity (MariaDB roles: empty host)
    }
    # Not a default role: its SELECT is the user's only after SET ROLE, and the path names it.
    assert user.snapshot.permissions[f"database {w['db']}"] == [f"SELECT (via {w['role']}@, after SET ROLE)"]
    assert role.is_role and role.snapshot.permissions == {f"database {w['db']}": ["SELECT"]}


def test_mariadb_capacity_equals_information_schema(mysql_world: dict[str, Any]) -> None:
    w, instance = mysql_world, mysql_world["instance"]
    collect(instance)
    with live.mysql_root() as root, root.cursor() as cur:
        cur.execute(
            "SELECT SUM(data_length + index_length) FROM information_schema.TABLES WHERE table_schema = %s",
            (w["db"],),
        )
        truth = int(cur.fetchone()[0])
    row = DatabaseSizeStat.objects.get(database__instance=instance, database__name=w["db"])
    assert row.size_bytes == truth > 200 * 1000
    assert row.allocated_bytes and row.allocated_bytes >= row.size_bytes  # file-name encoding undone


def test_mariadb_pages_and_exports_show_hostile_names_safely(
    mysql_world: dict[str, Any], admin_client: Client
) -> None:
    w, instance = mysql_world, mysql_world["instance"]
    sync_accounts(instance, f"{w['prefix']}\\_%")
    collect(instance)

    bodies = render_every_admin_page(admin_client, instance)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in bodies
    assert_exports_are_safe_and_exact(instance, {f"{w['user']}@%", f"{w['role']}@"})
