"""Statements for SQL Server and Oracle (no live server here) and the quoting of every engine.

MySQL/MariaDB and PostgreSQL statements are proven against the live servers in
test_statements_live.py; here each engine's quoting meets names made to break it.
"""

from __future__ import annotations

from accounts_sync.statements import Account, Privilege, entry_statements, grouped, statements


def sql(account: Account, privileges: list[Privilege], permissions: dict | None = None) -> list[str]:
    return [s.sql for s in statements(account, privileges, permissions or {})]


def test_sql_server_logins_roles_users_and_brackets() -> None:
    login = Account("sqlserver", "CORP\\x]y", "CORP\\x]y", attributes={"disabled": True})
    privileges = [
        Privilege("server", (), "VIEW SERVER STATE"),
        Privilege("server", (), "ALTER ANY LOGIN", denied=True),
        Privilege("endpoint", ("TSQL]Default",), "CONNECT"),
        Privilege("object", ("Sa]les", "dbo", "t"), "SELECT", grantable=True),
        Privilege("column", ("Sa]les", "dbo", "t", "c]1"), "UPDATE"),
        Privilege("database", ("Sa]les",), "CREATE TABLE"),
    ]
    permissions = {
        "server role": ["sysadmin"],
        "database Sa]les role": ["db_datareader"],
        "database Sa]les user": ["x]user"],
    }
    out = statements(login, privileges, permissions)
    groups = dict(grouped(login, out))
    server = [s.sql for s in groups[""]]
    assert server == [
        "ALTER LOGIN [CORP\\x]]y] DISABLE",
        "ALTER SERVER ROLE [sysadmin] ADD MEMBER [CORP\\x]]y]",
        "DENY ALTER ANY LOGIN TO [CORP\\x]]y]",
        "GRANT VIEW SERVER STATE TO [CORP\\x]]y]",
        "GRANT CONNECT ON ENDPOINT::[TSQL]]Default] TO [CORP\\x]]y]",
    ]
    sales = [s.sql for s in groups["USE [Sa]]les]"]]
    assert sales == [
        "CREATE USER [x]]user] FOR LOGIN [CORP\\x]]y]",  # the user exists before its grants
        "ALTER ROLE [db_datareader] ADD MEMBER [x]]user]",
        "GRANT CREATE TABLE TO [x]]user]",
        "GRANT SELECT ON OBJECT::[dbo].[t] TO [x]]user] WITH GRANT OPTION",
        "GRANT UPDATE ([c]]1]) ON OBJECT::[dbo].[t] TO [x]]user]",
    ]


def test_a_sql_server_login_without_connect_sql_says_it_was_revoked() -> None:
    """CREATE LOGIN grants CONNECT SQL: a login without it had it revoked (a DENY is a grant row)."""
    login = Account("sqlserver", "app", "app", attributes={"connect_sql_not_granted": True, "disabled": True})
    assert sql(login, []) == ["ALTER LOGIN [app] DISABLE", "REVOKE CONNECT SQL FROM [app]"]
    assert sql(Account("sqlserver", "ok", "ok", attributes={"connect_sql_not_granted": False}), []) == []
    denied = Account(
        "sqlserver", "d", "d", attributes={"connect_sql_not_granted": True, "connect_sql_denied": True}
    )
    assert sql(denied, [Privilege("server", (), "CONNECT SQL", denied=True)]) == ["DENY CONNECT SQL TO [d]"]


def test_sql_server_fixed_roles_hold_their_permissions_by_definition() -> None:
    sysadmin = Account("sqlserver", "sysadmin", "sysadmin", is_role=True)
    reader = Account(
        "sqlserver", "[Sales].[db_datareader]", "db_datareader", is_role=True,
        attributes={"database": "Sales", "name": "db_datareader"},
    )  # fmt: skip
    assert [
        (s.sql, s.note) for s in statements(sysadmin, [Privilege("server", (), "CONTROL SERVER", True)], {})
    ] == [("-- CONTROL SERVER", "built into the fixed role")]
    out = statements(
        reader,
        [Privilege("database", ("Sales",), "SELECT"), Privilege("database", ("Sales",), "EXECUTE")],
        {},
    )
    assert [s.sql for s in out] == ["-- SELECT", "GRANT EXECUTE TO [db_datareader]"]


def test_oracle_users_roles_quotas_and_containers() -> None:
    scott = Account(
        "oracle",
        "SCOTT",
        "SCOTT",
        is_locked=True,
        attributes={"default_tablespace": "USERS", "profile": "APP"},
    )
    privileges = [
        Privilege("system", (), "CREATE SESSION", grantable=True),
        Privilege("schema", ("HR",), "SELECT ANY TABLE"),
        Privilege("object", ("HR", "emp"), "SELECT", grantable=True),
        Privilege("column", ("HR", "emp", "SAL"), "UPDATE"),
    ]
    permissions = {
        "role": ["DBA WITH ADMIN OPTION", "app_role"],
        "default role": ["DBA"],
        "quota": ["USERS UNLIMITED", "My Data 1048576 BYTES"],
    }
    assert sql(scott, privileges, permissions) == [
        "ALTER USER SCOTT DEFAULT TABLESPACE USERS PROFILE APP ACCOUNT LOCK",
        "GRANT DBA TO SCOTT WITH ADMIN OPTION",
        'GRANT "app_role" TO SCOTT',  # a lower-case name exists only quoted
        "GRANT CREATE SESSION TO SCOTT WITH ADMIN OPTION",  # system privileges: ADMIN OPTION
        "GRANT SELECT ANY TABLE ON SCHEMA HR TO SCOTT",
        'GRANT SELECT ON HR."emp" TO SCOTT WITH GRANT OPTION',  # objects: GRANT OPTION
        'GRANT UPDATE (SAL) ON HR."emp" TO SCOTT',
        "ALTER USER SCOTT DEFAULT ROLE DBA",
        "ALTER USER SCOTT QUOTA UNLIMITED ON USERS",
        'ALTER USER SCOTT QUOTA 1048576 ON "My Data"',
    ]
    local = Account("oracle", "APP@PDB1", "APP@PDB1", attributes={"container": "PDB1"})
    out = statements(
        local,
        [
            Privilege("container", ("PDB1",), "CREATE TABLE"),
            Privilege("object", ("PDB1", "HR", "T"), "SELECT"),
        ],
        {"container PDB1 role": ["CONNECT"]},
    )
    assert grouped(local, out) == [
        (
            "ALTER SESSION SET CONTAINER = PDB1",
            [s for s in out],
        )
    ]
    assert [s.sql for s in out] == [
        "GRANT CONNECT TO APP",
        "GRANT CREATE TABLE TO APP",
        "GRANT SELECT ON HR.T TO APP",
    ]


def test_each_engine_quotes_names_made_to_break_it() -> None:
    mysql = Account("mysql", "o'k`@10.%", "o'k`", "10.%")
    assert sql(mysql, [Privilege("table", ("d`b", "t.x"), "SELECT")]) == [
        "CREATE USER `o'k```@`10.%`",
        "GRANT SELECT ON `d``b`.`t.x` TO `o'k```@`10.%`",
    ]
    pg = Account("postgresql", 'we"ird', 'we"ird')
    assert sql(pg, [Privilege("table", ("db", "user", "Or.ders"), "SELECT")]) == [
        'GRANT SELECT ON TABLE "user"."Or.ders" TO "we""ird"'  # a reserved word is quoted too
    ]
    assert sql(pg, [Privilege("function", ("db", "s", "f(x)(integer, s.t)"), "EXECUTE")]) == [
        'GRANT EXECUTE ON FUNCTION s."f(x)"(integer, s.t) TO "we""ird"'
    ]
    ora = Account("oracle", 'A"B', 'A"B')
    assert sql(ora, [Privilege("system", (), "CREATE SESSION")]) == ['GRANT CREATE SESSION TO "A""B"']


def test_change_entries_become_grant_and_revoke_statements() -> None:
    alice = Account("mysql", "alice@%", "alice", "%", version="10.11.19-MariaDB")
    assert [
        s.sql for s in entry_statements(alice, "REVOKE", "database shop", "SELECT WITH GRANT OPTION")
    ] == ["REVOKE SELECT, GRANT OPTION ON `shop`.* FROM `alice`@`%`"]
    assert [s.sql for s in entry_statements(alice, "GRANT", "role", "r_app@ WITH ADMIN OPTION")] == [
        "GRANT `r_app` TO `alice`@`%` WITH ADMIN OPTION"
    ]
    # held through a role: the role's grant, nothing to run for the member
    assert entry_statements(alice, "GRANT", "database shop", "SELECT (via r_app@)") == []
    # a name with a dot: the shape of the kind cannot tell, the store's path does
    paths = {"table sh.op.t": ("table", ("sh.op", "t"))}
    assert entry_statements(alice, "GRANT", "table sh.op.t", "DELETE") == []
    assert [s.sql for s in entry_statements(alice, "GRANT", "table sh.op.t", "DELETE", paths=paths)] == [
        "GRANT DELETE ON `sh.op`.`t` TO `alice`@`%`"
    ]
    pg = Account("postgresql", "bob", "bob", version="PostgreSQL 16.2")
    assert [
        s.sql for s in entry_statements(pg, "GRANT", "member of", "r WITH INHERIT FALSE WITH SET FALSE")
    ] == ["GRANT r TO bob WITH INHERIT FALSE, SET FALSE"]
    old = Account("postgresql", "bob", "bob", version="PostgreSQL 15.4")
    assert [
        s.sql for s in entry_statements(old, "GRANT", "member of", "r WITH ADMIN OPTION WITH INHERIT FALSE")
    ] == [
        "GRANT r TO bob WITH ADMIN OPTION"  # 15 has no per-grant INHERIT: the role's NOINHERIT says it
    ]
    ss = Account("sqlserver", "app", "app")
    assert [s.sql for s in entry_statements(ss, "REVOKE", "database Sales role", "db_owner")] == [
        "ALTER ROLE [db_owner] DROP MEMBER [app]"
    ]
