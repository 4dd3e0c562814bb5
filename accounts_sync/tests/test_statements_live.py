"""The rendered statements against the live servers: what the page says is what the engine says.

MariaDB: an account's rendered GRANTs state the same facts as the server's own `SHOW GRANTS`,
scope for scope; and run as root for a fresh account, they give it the same grants, role
memberships, default role, limits and lock. PostgreSQL: the rendered statements, run for a fresh
role, leave it with the same ACL entries (aclexplode), memberships and attributes as the original.
Names hold quotes, backticks, dots and markup throughout.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from accounts_sync.models import Account
from accounts_sync.statements import Account as Rendered
from accounts_sync.statements import direct_privileges, statements
from accounts_sync.tests.show_grants import Reader, create_user_facts
from whalefall.tests import live

pytestmark = [pytest.mark.live, pytest.mark.django_db]


# --- MariaDB --------------------------------------------------------------------------------------
@pytest.fixture
def mariadb_world(prefix: str) -> Iterator[dict[str, str]]:
    db = f"{prefix}_d`b'<b>\"x"
    qdb = "`" + db.replace("`", "``") + "`"
    ok = f"{prefix}_o'k"
    users = {
        "alice": f"'{prefix}_alice'@'%'",
        "ok": "'" + ok.replace("'", "''") + "'@'10.0.%'",
        "carol": f"'{prefix}_carol'@'%'",
    }
    roles = {"app": f"`{prefix}_app`", "read": f"`{prefix}_read`"}
    u, r = users, roles
    with live.mysql_root() as root:
        live.run(
            root,
            f"CREATE DATABASE {qdb}",
            f"CREATE TABLE {qdb}.`t.x` (c INT, `d'q` INT)",
            f"CREATE TABLE {qdb}.`<script>` (a INT)",
            f"CREATE PROCEDURE {qdb}.`p``1`() SELECT 1",
            f"CREATE USER {u['alice']} IDENTIFIED BY 'Pw_{prefix}'",
            f"CREATE USER {u['ok']}",
            f"CREATE USER {u['carol']} REQUIRE SUBJECT '/CN=o''k' AND CIPHER 'AES256-SHA' "
            "WITH MAX_USER_CONNECTIONS 4 MAX_QUERIES_PER_HOUR 99 ACCOUNT LOCK PASSWORD EXPIRE INTERVAL 30 DAY",
            *(f"CREATE ROLE {x}" for x in roles.values()),
            f"GRANT PROCESS, RELOAD ON *.* TO {u['alice']}",
            f"GRANT SELECT, INSERT ON {qdb}.* TO {u['alice']} WITH GRANT OPTION",
            f"GRANT UPDATE, SELECT (c), INSERT (`d'q`) ON {qdb}.`t.x` TO {u['alice']}",
            f"GRANT EXECUTE ON PROCEDURE {qdb}.`p``1` TO {u['alice']} WITH GRANT OPTION",
            f"GRANT DELETE ON {qdb}.`<script>` TO {u['ok']}",
            f"GRANT USAGE ON {qdb}.* TO {u['ok']} WITH GRANT OPTION",
            f"GRANT SELECT ON {qdb}.`t.x` TO {r['read']}",
            f"GRANT INSERT, UPDATE ON {qdb}.* TO {r['app']}",
            f"GRANT {r['read']} TO {r['app']}",
            f"GRANT {r['app']} TO {u['ok']} WITH ADMIN OPTION",
            f"SET DEFAULT ROLE {r['app']} FOR {u['ok']}",
            f"GRANT {r['read']} TO {u['carol']}",
        )
    names = {"db": db, "ok": ok}
    try:
        yield names
    finally:
        with live.mysql_root() as root:
            copies = [f"'{prefix}_copy_{k}'@'%'" for k in ("alice", "ok", "carol", "app")]
            live.run(root, *(f"DROP USER IF EXISTS {x}" for x in [*users.values(), *copies]))
            live.run(root, *(f"DROP ROLE IF EXISTS {x}" for x in roles.values()))
            live.run(root, f"DROP ROLE IF EXISTS `{prefix}_copy_role`", f"DROP DATABASE IF EXISTS {qdb}")


def show(root: Any, sql: str) -> list[str]:
    with root.cursor() as cur:
        cur.execute(sql)
        return [row[0] for row in cur.fetchall()]


def reader(root: Any) -> Reader:
    with root.cursor() as cur:
        cur.execute("SHOW PRIVILEGES")
        names = {row[0].upper() for row in cur.fetchall()}
    return Reader(names - {"GRANT OPTION", "USAGE", "PROXY"})


def account_sql(account: Account) -> str:
    if account.is_role:
        return "`" + account.username.replace("`", "``") + "`"
    return "`{}`@`{}`".format(account.username.replace("`", "``"), account.host.replace("`", "``"))


def rendered(account: Account, grantee: str | None = None, *, with_attributes: bool = False) -> list[str]:
    out = statements(
        Rendered.of(account),
        direct_privileges(account.privileges.all()),
        account.snapshot.permissions,
        grantee=grantee,
        with_attributes=with_attributes,
    )
    return [s.sql for s in out if not s.sql.startswith("--")]


def test_mariadb_statements_say_what_show_grants_says(
    mysql_instance: Any, mariadb_world: dict[str, str], prefix: str, sync_scoped: Any
) -> None:
    result, _ = sync_scoped(mysql_instance, f"{prefix}\\_%")
    assert result.status == "completed"
    accounts = Account.objects.filter(instance=mysql_instance).select_related("instance", "snapshot")
    assert len(accounts) == 5
    with live.mysql_root() as root:
        read = reader(root)
        for account in accounts:
            ours = read.facts(rendered(account)).get(account.identity, set())
            theirs = read.facts(show(root, f"SHOW GRANTS FOR {account_sql(account)}"))[account.identity]
            assert ours == theirs, account.identity
            assert ours, account.identity  # every account of the scenario holds something
    alice = next(a for a in accounts if a.identity == f"{prefix}_alice@%")
    text = "\n".join(rendered(alice))
    db = mariadb_world["db"].replace("`", "``")
    assert f"GRANT INSERT, SELECT ON `{db}`.* TO `{prefix}_alice`@`%` WITH GRANT OPTION" in text
    assert f"GRANT UPDATE, SELECT (`c`), INSERT (`d'q`) ON `{db}`.`t.x` TO `{prefix}_alice`@`%`" in text
    assert f"GRANT EXECUTE ON PROCEDURE `{db}`.`p``1` TO `{prefix}_alice`@`%` WITH GRANT OPTION" in text


def test_mariadb_statements_run_for_a_fresh_account_give_it_the_same_grants(
    mysql_instance: Any, mariadb_world: dict[str, str], prefix: str, sync_scoped: Any
) -> None:
    sync_scoped(mysql_instance, f"{prefix}\\_%")
    accounts = {
        a.identity: a
        for a in Account.objects.filter(instance=mysql_instance).select_related("instance", "snapshot")
    }
    ok = mariadb_world["ok"]
    originals = {
        "alice": accounts[f"{prefix}_alice@%"],
        "ok": accounts[f"{ok}@10.0.%"],
        "carol": accounts[f"{prefix}_carol@%"],
    }
    with live.mysql_root() as root:
        read = reader(root)
        for key, account in originals.items():
            copy = f"`{prefix}_copy_{key}`@`%`"
            lines = [s for s in rendered(account, copy, with_attributes=True) if "PROXY" not in s]
            assert lines[0].startswith(f"CREATE USER {copy}")
            live.run(root, *lines)
            theirs = read.facts(show(root, f"SHOW GRANTS FOR {account_sql(account)}"))[account.identity]
            copied = read.facts(show(root, f"SHOW GRANTS FOR {copy}"))[f"{prefix}_copy_{key}@%"]
            assert copied == theirs, key
            original_user = create_user_facts(show(root, f"SHOW CREATE USER {account_sql(account)}")[0])
            copied_user = create_user_facts(show(root, f"SHOW CREATE USER {copy}")[0])
            assert copied_user == original_user, key
        # a role too: CREATE ROLE, its grants and the role granted to it
        role = accounts[f"{prefix}_app@"]
        copy = f"`{prefix}_copy_role`"
        lines = rendered(role, copy, with_attributes=True)
        assert lines[0] == f"CREATE ROLE {copy}"
        live.run(root, *lines)
        theirs = read.facts(show(root, f"SHOW GRANTS FOR {account_sql(role)}"))[role.identity]
        assert read.facts(show(root, f"SHOW GRANTS FOR {copy}"))[f"{prefix}_copy_role@"] == theirs
    carol = create_user_facts(show_one(f"SHOW CREATE USER `{prefix}_copy_carol`@`%`"))
    assert carol["locked"] and carol["x509_subject"] == "/CN=o'k" and carol["max_user_connections"] == "4"


def show_one(sql: str) -> str:
    with live.mysql_root() as root:
        return show(root, sql)[0]


# --- PostgreSQL -----------------------------------------------------------------------------------
def pg_q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture
def pg_world(prefix: str) -> Iterator[dict[str, str]]:
    db = f"{prefix}_d\"b'<i>"
    schema = "S\"ch'<b>"
    names = {
        "db": db,
        "schema": schema,
        "x": f"{prefix}_X-role",
        "y": f"{prefix}_copy",
        "r1": f"{prefix}_r1",
        "owner": f"{prefix}_owner",
    }
    x, y, r1, owner = (pg_q(names[k]) for k in ("x", "y", "r1", "owner"))
    s = pg_q(schema)
    with live.pg_superuser() as root:
        live.run(
            root,
            f"CREATE DATABASE {pg_q(db)}",
            f"CREATE ROLE {x} LOGIN CREATEDB NOINHERIT CONNECTION LIMIT 3 VALID UNTIL '2100-01-01 00:00:00+00'",
            f"CREATE ROLE {y}",
            f"CREATE ROLE {r1}",
            f"CREATE ROLE {owner}",
            f"GRANT {r1} TO {x} WITH ADMIN OPTION",
            f"GRANT CONNECT, CREATE ON DATABASE {pg_q(db)} TO {x}",
            f"GRANT CREATE ON TABLESPACE pg_default TO {x}",
            f"GRANT SET ON PARAMETER work_mem TO {x}",
        )
    with live.pg_superuser(db) as root:
        live.run(
            root,
            f"CREATE SCHEMA {s}",
            f'CREATE TABLE {s}."Or.ders" (a int, "B c" int)',
            f"CREATE SEQUENCE {s}.seq",
            f'CREATE VIEW {s}."v<1>" AS SELECT 1 AS one',
            f'CREATE FUNCTION {s}."f(x)"(integer, text) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$',
            f"CREATE TYPE {s}.mood AS ENUM ('ok')",
            f"GRANT USAGE ON SCHEMA {s} TO {x}",
            f'GRANT SELECT, INSERT ON {s}."Or.ders" TO {x} WITH GRANT OPTION',
            f'GRANT UPDATE ("B c") ON {s}."Or.ders" TO {x}',
            f'GRANT SELECT ON {s}."v<1>" TO {x}',
            f"GRANT USAGE, SELECT ON SEQUENCE {s}.seq TO {x}",
            f'GRANT EXECUTE ON FUNCTION {s}."f(x)"(integer, text) TO {x}',
            f"GRANT USAGE ON TYPE {s}.mood TO {x}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {s} GRANT SELECT, UPDATE ON TABLES TO {x}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} GRANT EXECUTE ON FUNCTIONS TO {x} WITH GRANT OPTION",
        )
    try:
        yield names
    finally:
        with live.pg_superuser() as root:
            live.run(root, f"DROP DATABASE IF EXISTS {pg_q(db)} WITH (FORCE)")
            for role in (x, y):
                live.run(
                    root,
                    f"REVOKE ALL ON TABLESPACE pg_default FROM {role}",
                    f"REVOKE ALL ON PARAMETER work_mem FROM {role}",
                )
            live.run(root, *(f"DROP ROLE IF EXISTS {r}" for r in (x, y, r1, owner)))


# Every ACL item of one grantee, in one database: (catalog, object, privilege, grantable).
ACL_SQL = """
SELECT 'database', d.datname::text, a.privilege_type, a.is_grantable
  FROM pg_database d, aclexplode(d.datacl) a WHERE a.grantee = %(oid)s
UNION ALL SELECT 'tablespace', t.spcname::text, a.privilege_type, a.is_grantable
  FROM pg_tablespace t, aclexplode(t.spcacl) a WHERE a.grantee = %(oid)s
UNION ALL SELECT 'parameter', p.parname::text, a.privilege_type, a.is_grantable
  FROM pg_parameter_acl p, aclexplode(p.paracl) a WHERE a.grantee = %(oid)s
UNION ALL SELECT 'schema', n.nspname::text, a.privilege_type, a.is_grantable
  FROM pg_namespace n, aclexplode(n.nspacl) a WHERE a.grantee = %(oid)s
UNION ALL SELECT 'relation', c.oid::regclass::text, a.privilege_type, a.is_grantable
  FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee = %(oid)s
UNION ALL SELECT 'column', c.oid::regclass::text || '.' || att.attname, a.privilege_type, a.is_grantable
  FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid, aclexplode(att.attacl) a
  WHERE a.grantee = %(oid)s
UNION ALL SELECT 'routine', p.oid::regprocedure::text, a.privilege_type, a.is_grantable
  FROM pg_proc p, aclexplode(p.proacl) a WHERE a.grantee = %(oid)s
UNION ALL SELECT 'type', t.oid::regtype::text, a.privilege_type, a.is_grantable
  FROM pg_type t, aclexplode(t.typacl) a WHERE a.grantee = %(oid)s
UNION ALL SELECT 'default ' || d.defaclobjtype::text || ' ' || d.defaclrole::regrole::text || ' '
       || COALESCE(d.defaclnamespace::regnamespace::text, '*'), '', a.privilege_type, a.is_grantable
  FROM pg_default_acl d, aclexplode(d.defaclacl) a WHERE a.grantee = %(oid)s
"""
ROLE_SQL = """
SELECT rolcanlogin, rolcreatedb, rolinherit, rolconnlimit, rolvaliduntil, rolsuper,
       ARRAY(SELECT roleid::regrole::text || ':' || admin_option FROM pg_auth_members
             WHERE member = r.oid ORDER BY 1) AS member_of
FROM pg_roles r WHERE oid = %(oid)s
"""


def pg_facts(database: str, role: str) -> tuple[set[tuple[Any, ...]], tuple[Any, ...]]:
    with live.pg_superuser(database) as conn, conn.cursor() as cur:
        cur.execute("SELECT oid FROM pg_roles WHERE rolname = %s", [role])
        oid = cur.fetchone()[0]
        cur.execute(ACL_SQL, {"oid": oid})
        acl = set(cur.fetchall())
        cur.execute(ROLE_SQL, {"oid": oid})
        return acl, tuple(cur.fetchone())


def test_postgresql_statements_run_for_a_fresh_role_give_it_the_same_privileges(
    pg_instance: Any, pg_world: dict[str, str], prefix: str, sync_scoped: Any
) -> None:
    result, _ = sync_scoped(pg_instance, f"{prefix}\\_%")
    assert result.status == "completed"
    x = Account.objects.select_related("instance", "snapshot").get(
        instance=pg_instance, identity=pg_world["x"]
    )
    out = statements(
        Rendered.of(x),
        direct_privileges(x.privileges.all()),
        x.snapshot.permissions,
        grantee=pg_q(pg_world["y"]),
    )
    text = "\n".join(s.sql for s in out)
    schema, db = pg_q(pg_world["schema"]), pg_world["db"]
    assert f'GRANT INSERT, SELECT ON TABLE {schema}."Or.ders" TO ' in text
    assert f'GRANT EXECUTE ON FUNCTION {schema}."f(x)"(integer, text) TO ' in text
    assert f"ALTER ROLE {pg_q(pg_world['y'])} WITH LOGIN CREATEDB NOINHERIT CONNECTION LIMIT 3" in text
    assert all(s.context in ("", db) for s in out)
    for context in ("", db):
        with live.pg_superuser(context or "postgres") as root:
            live.run(root, *(s.sql for s in out if s.context == context and not s.sql.startswith("--")))
    for database in ("postgres", db):
        original, copy = pg_facts(database, pg_world["x"]), pg_facts(database, pg_world["y"])
        assert copy[0] == original[0], database
        assert copy[1] == original[1]
    acl, role = pg_facts(db, pg_world["y"])
    assert ("column", f'{schema}."Or.ders".B c', "UPDATE", False) in acl
    assert role[-1] == [f"{pg_world['r1']}:true"]
    with live.pg_superuser(db) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT has_table_privilege(%s, %s, 'INSERT WITH GRANT OPTION'), "
            "has_function_privilege(%s, %s, 'EXECUTE')",
            [pg_world["y"], f'{schema}."Or.ders"', pg_world["y"], f'{schema}."f(x)"(integer, text)'],
        )
        assert cur.fetchone() == (True, True)


# --- PostgreSQL 15 / 16 / 18, every kind of object ------------------------------------------------
@pytest.fixture
def every_kind(pg_server: Any) -> Iterator[Any]:
    """The account-truth scenario (every kind of object, nested roles, PG16+ membership options)."""
    from accounts_sync.tests import test_postgresql_truth as truth

    sc = truth.build(pg_server)
    sc.run(sc.db, f"GRANT EXECUTE ON FUNCTION s.agg(int) TO {sc.prefix}_alice")  # an aggregate too
    try:
        yield sc
    finally:
        truth.drop(sc)


def held(sc: Any, roles: list[str]) -> dict[str, set[tuple[Any, ...]]]:
    """aclexplode() of every scenario object per grantee: {role: {(scope, privilege, grantable)}}."""
    names = dict(sc.query("postgres", "SELECT oid, rolname FROM pg_catalog.pg_roles"))
    out: dict[str, set[tuple[Any, ...]]] = {r: set() for r in roles}
    for scope, database, sql in sc.objects:
        rows = sc.query(
            database,
            f"""SELECT a.grantee, a.privilege_type, a.is_grantable FROM ({sql}) AS o(acl, owner, k)
            CROSS JOIN LATERAL pg_catalog.aclexplode(COALESCE(o.acl, pg_catalog.acldefault(o.k::pg_catalog."char", o.owner))) a""",
        )
        for grantee, privilege, grantable in rows:
            if names.get(grantee) in out:
                out[names[grantee]].add((scope.render(), privilege, grantable))
    return out


def memberships(sc: Any, roles: list[str]) -> dict[str, set[tuple[Any, ...]]]:
    options = "am.inherit_option, am.set_option" if sc.server.major >= 16 else "true, true"
    rows = sc.query(
        "postgres",
        f"""SELECT m.rolname, r.rolname, am.admin_option, {options}, m.rolinherit
        FROM pg_catalog.pg_auth_members am JOIN pg_catalog.pg_roles m ON m.oid = am.member
        JOIN pg_catalog.pg_roles r ON r.oid = am.roleid WHERE m.rolname = ANY(%s)""",
        (roles,),
    )
    out: dict[str, set[tuple[Any, ...]]] = {r: set() for r in roles}
    for member, *rest in rows:
        out[member].add(tuple(rest))
    return out


def test_postgresql_statements_cover_every_kind_on_every_version(every_kind: Any) -> None:
    """Each scenario role's statements, run for a fresh copy of it, give the copy the same ACL
    entries on every object and the same memberships with their options (15, 16 and 18)."""
    from accounts_sync.statements import Privilege
    from accounts_sync.tests import test_postgresql_truth as truth

    sc = every_kind
    adapter, collected, _ = truth.collect(sc)
    listed = {a.identity: a for a in adapter.list_accounts()}
    copies = {role: f"{role}_c" for role in sc.roles}
    sc.roles += list(copies.values())  # dropped with the scenario
    sc.run("postgres", *(f"CREATE ROLE {c}" for c in copies.values()))
    kinds = set()
    for role, copy in copies.items():
        remote = listed[role]
        account = Rendered(
            "postgresql", role, role, attributes=remote.attributes, version=f"PostgreSQL {sc.server.major}"
        )
        grants = [
            Privilege(g.scope.kind, g.scope.path, g.privilege, g.grantable, g.denied)
            for g in collected.structured[role].grants
        ]
        kinds |= {p.kind for p in grants}
        out = statements(account, grants, collected[role], grantee=copy)
        for context in sorted({s.context for s in out}):
            runnable = [s.sql for s in out if s.context == context and not s.ownership]
            sc.run(context or "postgres", *(s for s in runnable if not s.startswith("--")))
    roles = [*copies, *copies.values()]
    acl, members = held(sc, roles), memberships(sc, roles)
    for role, copy in copies.items():
        assert acl[copy] == acl[role], role
        assert members[copy] == members[role], role
    assert kinds >= set(PG_KINDS)


PG_KINDS = (
    "database", "tablespace", "parameter", "schema", "table", "view", "materialized view",
    "sequence", "column", "function", "procedure", "aggregate", "type", "domain",
    "foreign data wrapper", "foreign server", "language", "large object", "default privileges",
)  # fmt: skip
