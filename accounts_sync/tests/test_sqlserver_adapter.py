"""SQL Server adapter on rows shaped like the catalog views Microsoft Learn documents:
sys.server_principals, sys.sql_logins + LOGINPROPERTY, sys.server_role_members,
sys.server_permissions, sys.databases + HAS_DBACCESS, sys.database_principals,
sys.database_role_members, sys.database_permissions. One test per documented rule."""

from __future__ import annotations

from typing import Any

import pytest

from accounts_sync.adapters import sqlserver
from accounts_sync.coordinator import AccountSyncCoordinator
from accounts_sync.models import Account, AccountChange
from accounts_sync.privileges import effective
from accounts_sync.tests.fakes import FakeConnection
from whalefall.connections.base import ConnectorError, ErrorKind, ServerInfo
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory

SERVER = ServerInfo("sqlserver", "SQL Server", (16, 0, 4135), "16.0.4135.4")


def login(pid: int, name: str, type_: str, desc: str, **kw: Any) -> dict[str, Any]:
    """A sys.server_principals row joined to sys.sql_logins and LOGINPROPERTY (NULL unless a SQL login)."""
    sql_login = type_ == "S"
    return {
        "principal_id": pid,
        "name": name,
        "type": type_,
        "type_desc": desc,
        "is_disabled": kw.get("disabled", False),
        "is_fixed_role": kw.get("fixed", False),
        "default_database_name": None if type_ == "R" else "master",
        "is_policy_checked": True if sql_login else None,
        "is_expiration_checked": False if sql_login else None,
        "is_locked": kw.get("locked", 0) if sql_login else None,
        "is_expired": kw.get("expired", 0) if sql_login else None,
        "is_must_change": kw.get("must_change", 0) if sql_login else None,
    }


def role(pid: int, name: str, fixed: bool = True) -> dict[str, Any]:
    return login(pid, name, "R", "SERVER_ROLE", fixed=fixed)


LOGINS = [
    login(1, "sa", "S", "SQL_LOGIN", disabled=True),
    login(259, "app", "S", "SQL_LOGIN"),
    login(260, "CORP\\dba", "U", "WINDOWS_LOGIN"),
    login(261, "locked_one", "S", "SQL_LOGIN", locked=1, expired=1),
    login(262, "##MS_PolicyEventProcessingLogin##", "S", "SQL_LOGIN", disabled=True),
    role(2, "public"),
    role(3, "sysadmin"),
    role(9, "dbcreator"),
]
SERVER_ROLES = [
    {"role_name": "sysadmin", "member_name": "sa"},
    {"role_name": "sysadmin", "member_name": "CORP\\dba"},
    {"role_name": "dbcreator", "member_name": "app"},
]


def sperm(cls: int, name: str, state: str, grantee: str, **kw: Any) -> dict[str, Any]:
    """A sys.server_permissions row with the names its class points to (endpoint, login, AG)."""
    desc = {100: "SERVER", 101: "SERVER_PRINCIPAL", 105: "ENDPOINT", 108: "AVAILABILITY GROUP"}[cls]
    return {
        "class": cls,
        "class_desc": desc,
        "major_id": kw.get("major", 0),
        "permission_name": name,
        "state": state,
        "grantee_name": grantee,
        "endpoint_name": kw.get("endpoint"),
        "target_name": kw.get("target"),
        "availability_group_name": kw.get("ag"),
    }


SERVER_PERMS = [
    sperm(100, "CONNECT SQL", "G", "app"),
    sperm(100, "VIEW SERVER STATE", "W", "app"),
    sperm(100, "ALTER ANY LOGIN", "D", "app"),
    sperm(105, "CONNECT", "G", "public", endpoint="TSQL Default TCP", major=4),
    sperm(101, "IMPERSONATE", "G", "app", target="sa", major=1),
]
DATABASES = [
    {"name": "master", "database_id": 1, "state_desc": "ONLINE", "containment": 0, "has_access": 1},
    {"name": "Sales", "database_id": 5, "state_desc": "ONLINE", "containment": 0, "has_access": 1},
    {"name": "HR", "database_id": 6, "state_desc": "ONLINE", "containment": 0, "has_access": 0},
    {"name": "Old", "database_id": 7, "state_desc": "OFFLINE", "containment": 0, "has_access": None},
]


def dbp(
    pid: int, name: str, type_: str, login_name: str | None = None, auth: str = "INSTANCE"
) -> dict[str, Any]:
    """A sys.database_principals row joined to the server principal with the same SID."""
    return {
        "principal_id": pid,
        "name": name,
        "type": type_,
        "authentication_type_desc": "NONE" if type_ in ("R", "A") else auth,
        "login_name": login_name,
    }


SALES_PRINCIPALS = [
    dbp(1, "dbo", "S", "sa"),
    dbp(5, "app_user", "S", "app"),
    dbp(0, "public", "R"),
    dbp(16384, "db_owner", "R"),
    dbp(16390, "db_datareader", "R"),
    dbp(2, "guest", "S", auth="NONE"),
]
SALES_MEMBERS = [
    {"role_principal_id": 16384, "member_principal_id": 1},
    {"role_principal_id": 16390, "member_principal_id": 5},
]


def perm(cls: int, desc: str, grantee: int, name: str, state: str, **kw: Any) -> dict[str, Any]:
    """A sys.database_permissions row with the names its class points to."""
    return {
        "class": cls,
        "class_desc": desc,
        "major_id": kw.get("major", 0),
        "grantee_principal_id": grantee,
        "permission_name": name,
        "state": state,
        "schema_name": kw.get("schema"),
        "object_name": kw.get("obj"),
        "object_schema": kw.get("obj_schema"),
        "column_name": kw.get("column"),
        "principal_name": kw.get("principal"),
        "principal_type": kw.get("principal_type"),
        "certificate_name": kw.get("certificate"),
    }


SALES_PERMS = [
    perm(0, "DATABASE", 5, "CONNECT", "G"),
    perm(3, "SCHEMA", 5, "SELECT", "W", schema="sales"),
    perm(1, "OBJECT_OR_COLUMN", 5, "DELETE", "D", obj="orders", obj_schema="sales"),
    perm(1, "OBJECT_OR_COLUMN", 5, "UPDATE", "G", obj="orders", obj_schema="sales", column="status"),
    perm(0, "DATABASE", 0, "CONNECT", "G"),
]
MASTER = [dbp(1, "dbo", "S", "sa"), dbp(0, "public", "R")]


def fake(**over: Any) -> FakeConnection:
    answers = {
        "FROM sys.server_principals AS sp LEFT JOIN sys.sql_logins": LOGINS,
        "SELECT r.name AS role_name": SERVER_ROLES,
        "FROM sys.server_permissions": SERVER_PERMS,
        "FROM sys.databases": DATABASES,
        "FROM [Sales].sys.database_principals": SALES_PRINCIPALS,
        "FROM [Sales].sys.database_role_members": SALES_MEMBERS,
        "FROM [Sales].sys.database_permissions": SALES_PERMS,
        "FROM [master].sys.database_principals": MASTER,
        "FROM [master].sys.database_role_members": [],
        "FROM [master].sys.database_permissions": [],
    }
    for key, value in over.items():
        answers[KEYS[key]] = value
    return FakeConnection(list(answers.items()), SERVER)


KEYS = {
    "logins": "FROM sys.server_principals AS sp LEFT JOIN sys.sql_logins",
    "server_roles": "SELECT r.name AS role_name",
    "server_perms": "FROM sys.server_permissions",
    "databases": "FROM sys.databases",
    "sales_principals": "FROM [Sales].sys.database_principals",
    "sales_members": "FROM [Sales].sys.database_role_members",
    "sales_perms": "FROM [Sales].sys.database_permissions",
}


def run(conn: FakeConnection) -> tuple[dict[str, Any], Any, sqlserver.Adapter]:
    adapter = sqlserver.Adapter(conn, SERVER)  # type: ignore[arg-type]
    accounts = adapter.list_accounts()
    return {a.identity: a for a in accounts}, adapter.collect_permissions(accounts), adapter


def effective_of(
    perms: Any, accounts: dict[str, Any], identity: str
) -> set[tuple[str, str, bool, tuple[str, ...]]]:
    supers = [i for i, a in accounts.items() if a.is_superuser]
    out = effective(perms.structured, superusers=supers)
    return {(e.scope.render(), e.privilege, e.denied, e.via) for e in out[identity]}


# --- the simple cases (unchanged text snapshot) ------------------------------------------------
def test_it_lists_logins_with_facts() -> None:
    accounts, _, _ = run(fake())
    assert accounts["sa"].is_superuser and accounts["sa"].is_locked and not accounts["sa"].can_login
    assert accounts["CORP\\dba"].attributes["type"] == "WINDOWS_LOGIN" and accounts["CORP\\dba"].can_login
    assert accounts["locked_one"].is_locked and accounts["locked_one"].is_expired
    assert not accounts["app"].is_superuser and accounts["app"].can_login


def test_it_collects_server_and_database_permissions() -> None:
    conn = fake()
    _, perms, adapter = run(conn)
    assert perms["app"] == {
        "column Sales.sales.orders.status": ["UPDATE"],
        "database Sales": ["CONNECT"],
        "database Sales role": ["db_datareader"],
        "database Sales user": ["app_user"],
        "login sa": ["IMPERSONATE"],
        "object Sales.sales.orders": ["DENY DELETE"],
        "schema Sales.sales": ["SELECT WITH GRANT OPTION"],
        "server": ["CONNECT SQL", "DENY ALTER ANY LOGIN", "VIEW SERVER STATE WITH GRANT OPTION"],
        "server role": ["dbcreator"],
    }
    assert perms["sa"]["database Sales role"] == ["db_owner"] and perms["sa"]["server role"] == ["sysadmin"]
    assert adapter.notes["databases_skipped"] == ["HR", "Old"]
    assert not any("[HR]" in sql for sql in conn.executed)


@pytest.mark.parametrize(
    ("identity", "first"),
    [
        ("[Sales].[app_user]", "Sales"),
        ("[a]]b].[c]", "a]b"),  # ']' doubled inside brackets
        ("[]]].[x]", "]"),
        ("[x]]].[y]]]", "x]"),
        ("[a.b].[c]", "a.b"),
        ("[ab]", None),  # one part only
        ("[a].b", None),
        ("[a]]", None),  # never closed
        ("[a]]b", None),
        ("[a]_].[c]", None),  # a ']' not doubled ends the name: '_' is no escape
        ("sa", None),  # a login
        ("CORP\\x", None),
    ],
)
def test_the_database_of_a_qualified_principal_is_read_back_exactly(identity: str, first: str | None) -> None:
    assert sqlserver.unquote_first(identity) == first


@pytest.mark.parametrize("database", ["Sales", "a]b", "]]", "x.[y]", "Sa]].[les", "[", ""])
def test_any_database_name_round_trips_through_a_qualified_identity(database: str) -> None:
    assert sqlserver.unquote_first(sqlserver.qualified(database, "u].[v")) == database


def test_it_quotes_database_names() -> None:
    assert sqlserver.quote("a]b") == "[a]]b]"
    assert sqlserver.qualified("Sa]les", "r") == "[Sa]]les].[r]"


# --- superuser -----------------------------------------------------------------------------------
def test_sysadmin_through_a_user_defined_role_in_a_role_is_superuser() -> None:
    """Server-level roles (Learn): user-defined server roles can be members of fixed ones; members
    of sysadmin can do anything. sys.server_role_members holds one row per membership."""
    logins = [
        *LOGINS,
        login(270, "ops", "S", "SQL_LOGIN"),
        role(300, "ops_admins", False),
        role(301, "tier2", False),
    ]
    edges = [
        *SERVER_ROLES,
        {"role_name": "sysadmin", "member_name": "ops_admins"},
        {"role_name": "ops_admins", "member_name": "tier2"},
        {"role_name": "tier2", "member_name": "ops"},
    ]
    accounts, perms, _ = run(fake(logins=logins, server_roles=edges))
    assert accounts["ops"].is_superuser
    assert accounts["ops_admins"].is_role and not accounts["ops_admins"].can_login
    assert perms["tier2"]["server role"] == ["ops_admins"]


def test_control_server_through_a_role_is_superuser_unless_denied() -> None:
    """GRANT Server Permissions (Learn): CONTROL SERVER confers every server permission; a DENY on
    the grantee or a role it belongs to takes precedence (sys.server_permissions.state 'D')."""
    logins = [*LOGINS, login(271, "ctl", "S", "SQL_LOGIN"), login(272, "ctl_denied", "S", "SQL_LOGIN")]
    logins.append(role(302, "controllers", False))
    edges = [
        *SERVER_ROLES,
        {"role_name": "controllers", "member_name": "ctl"},
        {"role_name": "controllers", "member_name": "ctl_denied"},
    ]
    rows = [
        *SERVER_PERMS,
        sperm(100, "CONTROL SERVER", "G", "controllers"),
        sperm(100, "CONTROL SERVER", "D", "ctl_denied"),
    ]
    accounts, _, _ = run(fake(logins=logins, server_roles=edges, server_perms=rows))
    assert accounts["ctl"].is_superuser and not accounts["ctl_denied"].is_superuser


# --- can_login -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cause", "over", "rows"),
    [
        # LOGINPROPERTY (Learn): IsLocked, IsExpired, IsMustChange; sys.server_principals.is_disabled
        ("locked", {"locked": 1}, []),
        ("disabled", {"disabled": True}, []),
        ("expired", {"expired": 1}, []),
        ("must change", {"must_change": 1}, []),
        ("CONNECT SQL denied", {}, [sperm(100, "CONNECT SQL", "D", "one")]),
        ("CONNECT SQL revoked", {}, None),  # its grant row gone
    ],
)
def test_each_reason_alone_keeps_a_sql_login_out(cause: str, over: dict[str, Any], rows: Any) -> None:
    """One reason at a time, on a login that has CONNECT SQL otherwise; its twin without the
    reason logs in."""
    granted = [sperm(100, "CONNECT SQL", "G", name) for name in ("one", "twin")]
    logins = [login(280, "one", "S", "SQL_LOGIN", **over), login(281, "twin", "S", "SQL_LOGIN")]
    perms = granted[1:] if rows is None else [*granted, *rows]
    accounts, _, _ = run(fake(logins=logins, server_perms=perms))
    assert not accounts["one"].can_login, cause
    assert accounts["twin"].can_login
    assert accounts["one"].is_locked == (cause in ("locked", "disabled"))
    assert accounts["one"].is_expired == (cause == "expired")
    assert accounts["one"].attributes["must_change"] == (cause == "must change")


def test_deny_connect_sql_blocks_the_login() -> None:
    """sys.server_permissions: state 'D' on CONNECT SQL (class 100) means the login cannot connect."""
    rows = [*SERVER_PERMS, sperm(100, "CONNECT SQL", "D", "app")]
    accounts, _, _ = run(fake(server_perms=rows))
    assert not accounts["app"].can_login and accounts["app"].attributes["connect_sql_denied"]


def test_a_sql_login_without_connect_sql_cannot_log_in() -> None:
    """CREATE LOGIN grants CONNECT SQL; a SQL login it was revoked from fails with error 18456,
    unless a server role, CONTROL SERVER or sysadmin gives it. A Windows login may hold it through
    a Windows group login, which the catalog cannot tell: only a DENY blocks it."""
    logins = [
        *LOGINS,
        login(290, "revoked", "S", "SQL_LOGIN"),
        login(291, "via_role", "S", "SQL_LOGIN"),
        login(292, "controller", "S", "SQL_LOGIN"),
        login(293, "CORP\\someone", "U", "WINDOWS_LOGIN"),
        role(294, "connectors", fixed=False),
        login(295, "##MS_AgentSigningCertificate##", "C", "CERTIFICATE_MAPPED_LOGIN"),
        login(296, "CORP\\DBAs", "G", "WINDOWS_GROUP"),
    ]
    edges = [*SERVER_ROLES, {"role_name": "connectors", "member_name": "via_role"}]
    rows = [
        *SERVER_PERMS,
        sperm(100, "CONNECT SQL", "G", "connectors"),
        sperm(100, "CONTROL SERVER", "G", "controller"),
    ]
    accounts, _, _ = run(fake(logins=logins, server_roles=edges, server_perms=rows))
    signer, group = accounts["##MS_AgentSigningCertificate##"], accounts["CORP\\DBAs"]
    assert not signer.is_role and not signer.can_login  # signs modules; never connects
    assert not group.is_role and group.can_login
    revoked = accounts["revoked"]
    assert not revoked.can_login and revoked.attributes["connect_sql_not_granted"]
    assert not revoked.attributes["connect_sql_denied"] and not revoked.is_locked
    for name in ("via_role", "controller", "app", "CORP\\someone", "CORP\\dba"):
        assert accounts[name].can_login, name
        assert "connect_sql_not_granted" not in accounts[name].attributes, name


# --- permission rows ----------------------------------------------------------------------------------
def test_a_revoke_row_grants_nothing() -> None:
    """sys.server_permissions / sys.database_permissions: state R = Revoke, not a grant."""
    rows = [*SERVER_PERMS, sperm(100, "ALTER ANY DATABASE", "R", "app")]
    db_rows = [*SALES_PERMS, perm(0, "DATABASE", 5, "BACKUP DATABASE", "R")]
    _, perms, _ = run(fake(server_perms=rows, sales_perms=db_rows))
    assert "ALTER ANY DATABASE" not in str(perms["app"]) and "BACKUP DATABASE" not in str(perms["app"])


def test_availability_group_permissions_keep_their_group() -> None:
    """sys.server_permissions: class 108 = Availability Group; the permission is on that group."""
    rows = [*SERVER_PERMS, sperm(108, "ALTER", "G", "app", ag="AG_Sales", major=65536)]
    _, perms, _ = run(fake(server_perms=rows))
    assert perms["app"]["availability group AG_Sales"] == ["ALTER"]
    assert "ALTER" not in perms["app"]["server"]


def test_principal_and_certificate_permissions_keep_their_target() -> None:
    """sys.database_permissions: class 4 = Database principal, 25 = Certificate (major_id is its id)."""
    db_rows = [
        *SALES_PERMS,
        perm(4, "DATABASE_PRINCIPAL", 5, "IMPERSONATE", "G", major=7, principal="etl", principal_type="S"),
        perm(
            4,
            "DATABASE_PRINCIPAL",
            5,
            "ALTER",
            "G",
            major=16390,
            principal="db_datareader",
            principal_type="R",
        ),
        perm(25, "CERTIFICATE", 5, "CONTROL", "G", major=256, certificate="SigningCert"),
    ]
    _, perms, _ = run(fake(sales_perms=db_rows))
    assert perms["app"]["user Sales.etl"] == ["IMPERSONATE"]
    assert perms["app"]["role Sales.db_datareader"] == ["ALTER"]
    assert perms["app"]["certificate Sales.SigningCert"] == ["CONTROL"]


def test_other_securable_classes_are_named_by_their_class() -> None:
    """sys.database_permissions classes without a name join (5 Assembly, 24 Symmetric key,
    26 Asymmetric key) keep their class and id, and none is mistaken for a certificate (25)."""
    db_rows = [
        perm(5, "ASSEMBLY", 5, "REFERENCES", "G", major=65536),
        perm(24, "SYMMETRIC_KEYS", 5, "VIEW DEFINITION", "G", major=256),
        perm(26, "ASYMMETRIC_KEY", 5, "CONTROL", "G", major=257),
    ]
    _, perms, _ = run(fake(sales_perms=db_rows))
    assert perms["app"]["assembly Sales.65536"] == ["REFERENCES"]
    assert perms["app"]["symmetric_keys Sales.256"] == ["VIEW DEFINITION"]
    assert perms["app"]["asymmetric_key Sales.257"] == ["CONTROL"]
    assert not any(scope.startswith(("certificate", "user", "role")) for scope in perms["app"])


# --- roles reach their members -----------------------------------------------------------------------
def test_database_role_permissions_reach_members_through_nested_roles() -> None:
    """sys.database_role_members: a role can be a member of another role; permissions granted to
    the outer role (sys.database_permissions, grantee = role) are the members' too."""
    principals = [*SALES_PRINCIPALS, dbp(16400, "reporting", "R"), dbp(16401, "analysts", "R")]
    members = [
        *SALES_MEMBERS,
        {"role_principal_id": 16401, "member_principal_id": 16400},  # reporting in analysts
        {"role_principal_id": 16400, "member_principal_id": 5},  # app_user in reporting
    ]
    db_rows = [*SALES_PERMS, perm(3, "SCHEMA", 16401, "EXECUTE", "G", schema="rpt")]
    accounts, perms, _ = run(fake(sales_principals=principals, sales_members=members, sales_perms=db_rows))
    assert accounts["[Sales].[analysts]"].is_role
    assert perms["[Sales].[analysts]"] == {"schema Sales.rpt": ["EXECUTE"]}
    assert sorted(perms["app"]["database Sales role"]) == ["db_datareader", "reporting"]
    held = effective_of(perms, accounts, "app")
    assert ("schema Sales.rpt", "EXECUTE", False, ("[Sales].[reporting]", "[Sales].[analysts]")) in held


# Microsoft Learn, "Permissions of Fixed Server Roles" and "Permissions of Fixed Database Roles",
# as the charts word them; the rows below carry none of these (they are built into the roles).
SERVER_ROLE_CHART = {
    "bulkadmin": "Granted: ADMINISTER BULK OPERATIONS",
    "dbcreator": "Granted: CREATE ANY DATABASE",
    "diskadmin": "Granted: ALTER RESOURCES",
    "processadmin": "Granted: ALTER ANY CONNECTION, ALTER SERVER STATE",
    "securityadmin": "Granted: ALTER ANY LOGIN",
    "serveradmin": "Granted: ALTER ANY ENDPOINT, ALTER RESOURCES, ALTER SERVER STATE, ALTER SETTINGS, "
    "SHUTDOWN, VIEW SERVER STATE",
    "setupadmin": "Granted: ALTER ANY LINKED SERVER",
    "sysadmin": "Granted with GRANT option: CONTROL SERVER",
}
DATABASE_ROLE_CHART = {
    "db_accessadmin": "Granted: ALTER ANY USER, CREATE SCHEMA; Granted with GRANT option: CONNECT",
    "db_backupoperator": "Granted: BACKUP DATABASE, BACKUP LOG, CHECKPOINT",
    "db_datareader": "Granted: SELECT",
    "db_datawriter": "Granted: DELETE, INSERT, UPDATE",
    "db_ddladmin": "Granted: ALTER ANY ASSEMBLY, ALTER ANY ASYMMETRIC KEY, ALTER ANY CERTIFICATE, "
    "ALTER ANY CONTRACT, ALTER ANY DATABASE DDL TRIGGER, ALTER ANY DATABASE EVENT NOTIFICATION, "
    "ALTER ANY DATASPACE, ALTER ANY FULLTEXT CATALOG, ALTER ANY MESSAGE TYPE, "
    "ALTER ANY REMOTE SERVICE BINDING, ALTER ANY ROUTE, ALTER ANY SCHEMA, ALTER ANY SERVICE, "
    "ALTER ANY SYMMETRIC KEY, CHECKPOINT, CREATE AGGREGATE, CREATE DEFAULT, CREATE FUNCTION, "
    "CREATE PROCEDURE, CREATE QUEUE, CREATE RULE, CREATE SYNONYM, CREATE TABLE, CREATE TYPE, "
    "CREATE VIEW, CREATE XML SCHEMA COLLECTION, REFERENCES",
    "db_denydatareader": "Denied: SELECT",
    "db_denydatawriter": "Denied: DELETE, INSERT, UPDATE",
    "db_owner": "Granted with GRANT option: CONTROL",
    "db_securityadmin": "Granted: ALTER ANY APPLICATION ROLE, ALTER ANY ROLE, CREATE SCHEMA, VIEW DEFINITION",
}


def charted(text: str) -> set[tuple[str, bool, bool]]:
    """A chart cell as (privilege, grantable, denied) facts."""
    out = set()
    for part in text.split("; "):
        kind, _, names = part.partition(": ")
        for name in names.split(", "):
            out.add((name, kind == "Granted with GRANT option", kind == "Denied"))
    return out


def held_facts(perms: Any, identity: str, scope: str) -> set[tuple[str, bool, bool]]:
    """(privilege, grantable, denied) held in one scope, superusers not collapsed to ALL."""
    return {
        (e.privilege, e.grantable, e.denied)
        for e in effective(perms.structured)[identity]
        if e.scope.render() == scope
    }


def test_fixed_server_roles_carry_their_charted_permissions() -> None:
    """Each member of a fixed server role holds exactly what the chart gives the role, grant
    option and all, through that role; a login in no role holds none of it."""
    logins = [
        *LOGINS,
        *(role(300 + i, r) for i, r in enumerate(SERVER_ROLE_CHART) if r not in ("sysadmin", "dbcreator")),
    ]
    logins += [login(400 + i, f"in_{r}", "S", "SQL_LOGIN") for i, r in enumerate(SERVER_ROLE_CHART)]
    edges = [{"role_name": r, "member_name": f"in_{r}"} for r in SERVER_ROLE_CHART]
    accounts, perms, _ = run(fake(logins=logins, server_roles=edges, server_perms=[]))
    for name, chart in SERVER_ROLE_CHART.items():
        member = f"in_{name}"
        held = held_facts(perms, member, "server")
        assert held == charted(chart), name
        assert {e.via for e in effective(perms.structured)[member] if e.scope.render() == "server"} == {
            (name,)
        }
    assert accounts["in_sysadmin"].is_superuser and not accounts["in_securityadmin"].is_superuser
    assert held_facts(perms, "app", "server") == set()


def test_fixed_database_roles_carry_their_charted_permissions() -> None:
    """Each member of a fixed database role holds exactly what the chart gives the role in that
    database (db_denydatareader's SELECT is a DENY), and nothing of it in another database."""
    principals = [dbp(0, "public", "R")]
    members = []
    for i, name in enumerate(DATABASE_ROLE_CHART):
        principals += [dbp(16384 + i, name, "R"), dbp(10 + i, f"u_{name}", "S", auth="DATABASE")]
        members.append({"role_principal_id": 16384 + i, "member_principal_id": 10 + i})
    _, perms, _ = run(fake(sales_principals=principals, sales_members=members, sales_perms=[]))
    for name, chart in DATABASE_ROLE_CHART.items():
        member = f"[Sales].[u_{name}]"
        assert held_facts(perms, member, "database Sales") == charted(chart), name
        assert held_facts(perms, f"[Sales].[{name}]", "database Sales") == charted(chart), name
        assert held_facts(perms, member, "database master") == set()


def test_fixed_database_roles_reach_a_login_through_its_user() -> None:
    accounts, perms, _ = run(fake())
    assert ("database Sales", "SELECT", False, ("[Sales].[db_datareader]",)) in effective_of(
        perms, accounts, "app"
    )
    assert perms["[Sales].[db_owner]"] == {"database Sales": ["CONTROL WITH GRANT OPTION"]}


def test_grants_to_public_reach_every_login_and_database_user() -> None:
    """Server-level roles (Learn): every login belongs to the public server role; Database-level
    roles: every database user belongs to the public database role. Grants to public apply to all."""
    db_rows = [
        *SALES_PERMS,
        perm(1, "OBJECT_OR_COLUMN", 0, "SELECT", "G", obj="price_list", obj_schema="sales"),
    ]
    accounts, perms, _ = run(fake(sales_perms=db_rows))
    held = effective_of(perms, accounts, "app")
    assert ("endpoint TSQL Default TCP", "CONNECT", False, ("public",)) in held
    assert ("object Sales.sales.price_list", "SELECT", False, ("[Sales].[public]",)) in held
    assert "public" not in perms["app"]["server role"]  # implicit: not written into the snapshot


def test_server_role_permissions_reach_members_ms_database_connector() -> None:
    """Server-level roles (Learn, SQL Server 2022): ##MS_DatabaseConnector## holds CONNECT ANY
    DATABASE, so its members may connect to every database without a user there."""
    logins = [*LOGINS, role(270, "##MS_DatabaseConnector##"), login(290, "reader", "S", "SQL_LOGIN")]
    edges = [*SERVER_ROLES, {"role_name": "##MS_DatabaseConnector##", "member_name": "reader"}]
    rows = [*SERVER_PERMS, sperm(100, "CONNECT ANY DATABASE", "G", "##MS_DatabaseConnector##")]
    accounts, perms, _ = run(fake(logins=logins, server_roles=edges, server_perms=rows))
    assert perms["reader"]["server role"] == ["##MS_DatabaseConnector##"]
    held = effective_of(perms, accounts, "reader")
    assert ("server", "CONNECT ANY DATABASE", False, ("##MS_DatabaseConnector##",)) in held


def test_roles_are_followed_even_when_an_exclusion_rule_hides_them() -> None:
    """The seeded rule `##%##` excludes the ##MS_...## roles from the account list; their grants must
    still reach members, so the adapter collects roles whatever accounts it is given."""
    logins = [*LOGINS, role(270, "##MS_DatabaseConnector##"), login(290, "reader", "S", "SQL_LOGIN")]
    edges = [*SERVER_ROLES, {"role_name": "##MS_DatabaseConnector##", "member_name": "reader"}]
    rows = [*SERVER_PERMS, sperm(100, "CONNECT ANY DATABASE", "G", "##MS_DatabaseConnector##")]
    adapter = sqlserver.Adapter(fake(logins=logins, server_roles=edges, server_perms=rows), SERVER)  # type: ignore[arg-type]
    wanted = [a for a in adapter.list_accounts() if not a.identity.startswith("##")]
    held = effective(adapter.collect_permissions(wanted).structured)["reader"]
    assert any(e.privilege == "CONNECT ANY DATABASE" for e in held)


# --- database users without a login ---------------------------------------------------------------------
def test_a_contained_user_is_an_account_with_its_permissions() -> None:
    """sys.database_principals: authentication_type_desc DATABASE = a contained user with a
    password; it has no server login (no sys.server_principals row with its SID)."""
    principals = [*SALES_PRINCIPALS, dbp(9, "svc_contained", "S", auth="DATABASE")]
    db_rows = [*SALES_PERMS, perm(0, "DATABASE", 9, "CONTROL", "G")]
    accounts, perms, _ = run(fake(sales_principals=principals, sales_perms=db_rows))
    user = accounts["[Sales].[svc_contained]"]
    assert user.can_login and user.attributes["finding"] == sqlserver.CONTAINED
    assert perms["[Sales].[svc_contained]"] == {"database Sales": ["CONTROL"]}


def test_an_orphaned_user_is_an_account_that_cannot_log_in() -> None:
    """sys.database_principals: authentication_type_desc INSTANCE = a user for a login; when no
    sys.server_principals row has its SID, the login is gone (an orphaned user)."""
    principals = [*SALES_PRINCIPALS, dbp(7, "orphan", "S", login_name=None, auth="INSTANCE")]
    accounts, _, _ = run(fake(sales_principals=principals))
    assert accounts["[Sales].[orphan]"].attributes["finding"] == sqlserver.ORPHANED
    assert not accounts["[Sales].[orphan]"].can_login
    assert "[Sales].[guest]" not in accounts  # guest / users without login are not accounts


def test_users_without_a_login_of_their_own_by_kind_and_containment() -> None:
    """sys.database_principals.authentication_type_desc: DATABASE (contained, password) and
    EXTERNAL (Entra ID) users log in to the database; a WINDOWS user logs in by itself only in a
    contained database (elsewhere it needs a group login); NONE (WITHOUT LOGIN) never logs in."""
    databases = [
        *DATABASES,
        {"name": "Cont", "database_id": 9, "state_desc": "ONLINE", "containment": 1, "has_access": 1},
    ]
    users = [
        dbp(0, "public", "R"),
        dbp(20, "CORP\\win", "U", auth="WINDOWS"),
        dbp(21, "pwd_user", "S", auth="DATABASE"),
        dbp(22, "entra@contoso.com", "E", auth="EXTERNAL"),
        dbp(23, "no_login", "S", auth="NONE"),
    ]
    databases[1] = {**databases[1], "containment": None}  # no containment column: not contained
    conn = fake(databases=databases, sales_principals=[*SALES_PRINCIPALS, *users[1:]])
    conn.answers[:0] = [
        ("FROM [Cont].sys.database_principals", users),
        ("FROM [Cont].sys.database_role_members", []),
        ("FROM [Cont].sys.database_permissions", [perm(0, "DATABASE", 20, "CONNECT", "G")]),
    ]
    accounts, perms, _ = run(conn)
    finding = {i: a.attributes["finding"] for i, a in accounts.items() if "finding" in a.attributes}
    assert finding["[Cont].[CORP\\win]"] == sqlserver.CONTAINED
    assert finding["[Sales].[CORP\\win]"] == sqlserver.NO_OWN_LOGIN
    for db in ("Cont", "Sales"):
        assert finding[f"[{db}].[pwd_user]"] == finding[f"[{db}].[entra@contoso.com]"] == sqlserver.CONTAINED
        assert f"[{db}].[no_login]" not in accounts
    assert accounts["[Cont].[CORP\\win]"].can_login and accounts["[Sales].[CORP\\win]"].can_login
    assert perms["[Cont].[CORP\\win]"] == {"database Cont": ["CONNECT"]}


def test_an_application_role_is_a_role_that_cannot_log_in() -> None:
    """sys.database_principals type A: an application role, activated with sp_setapprole."""
    principals = [*SALES_PRINCIPALS, dbp(30, "billing_app", "A")]
    db_rows = [*SALES_PERMS, perm(3, "SCHEMA", 30, "EXECUTE", "G", schema="billing")]
    accounts, perms, _ = run(fake(sales_principals=principals, sales_perms=db_rows))
    app_role, reader = accounts["[Sales].[billing_app]"], accounts["[Sales].[db_datareader]"]
    assert app_role.is_role and not app_role.can_login and app_role.attributes["application_role"]
    assert reader.is_role and not reader.can_login and not reader.attributes["application_role"]
    assert perms["[Sales].[billing_app]"] == {"schema Sales.billing": ["EXECUTE"]}


def test_roles_are_not_members_of_public() -> None:
    """Every login is in the public server role and every user in the public database role;
    roles are not, so public's grants reach a role's members, not the role itself."""
    principals = [*SALES_PRINCIPALS, dbp(16400, "reporting", "R")]
    db_rows = [*SALES_PERMS, perm(1, "OBJECT_OR_COLUMN", 0, "SELECT", "G", obj="prices", obj_schema="s")]
    accounts, perms, _ = run(fake(sales_principals=principals, sales_perms=db_rows))
    for role_identity in ("[Sales].[reporting]", "[Sales].[db_datareader]", "sysadmin"):
        held = effective_of(perms, accounts, role_identity)
        assert not any(via and via[-1] in ("public", "[Sales].[public]") for *_, via in held), role_identity
    assert ("object Sales.s.prices", "SELECT", False, ("[Sales].[public]",)) in effective_of(
        perms, accounts, "app"
    )


def test_a_membership_row_naming_a_principal_not_read_is_skipped() -> None:
    """A role or user created between the principals read and the memberships read appears only in
    sys.database_role_members: that row is left for the next sync, the others are kept."""
    members = [
        *SALES_MEMBERS,
        {"role_principal_id": 16390, "member_principal_id": 999},  # a user created meanwhile
        {"role_principal_id": 998, "member_principal_id": 5},  # a role created meanwhile
    ]
    accounts, perms, _ = run(fake(sales_members=members))
    assert perms["app"]["database Sales role"] == ["db_datareader"]
    assert not any("999" in identity or "998" in identity for identity in accounts)


def test_collecting_lists_first_when_needed_and_only_once() -> None:
    conn = fake()
    adapter = sqlserver.Adapter(conn, SERVER)  # type: ignore[arg-type]
    perms = adapter.collect_permissions([])  # the coordinator may call it on a fresh adapter
    assert perms["[Sales].[db_owner]"] == {"database Sales": ["CONTROL WITH GRANT OPTION"]}
    listed = len(conn.executed)
    accounts = adapter.list_accounts()
    conn.executed.clear()
    adapter.collect_permissions(accounts)
    assert listed and not any("sys.server_principals AS sp" in sql for sql in conn.executed)
    assert not any("FROM [Sales].sys.database_principals" in " ".join(sql.split()) for sql in conn.executed)


# --- failures isolated per database ---------------------------------------------------------------------
def test_a_database_failing_between_listing_and_reading_is_reported_not_fatal() -> None:
    """An availability-group secondary not readable for queries fails with error 976 once read;
    the other databases are still collected and the failed one is reported with its reason."""
    databases = [
        *DATABASES,
        {"name": "AGDb", "database_id": 8, "state_desc": "ONLINE", "containment": 0, "has_access": 1},
    ]
    error = ConnectorError(
        ErrorKind.OTHER,
        "[976] The target database, 'AGDb', is participating in an availability group and is currently not accessible for queries.",
    )
    conn = fake(databases=databases)
    conn.answers.insert(0, ("FROM [AGDb].sys.database_principals", [dbp(1, "dbo", "S", "sa")]))
    conn.answers.insert(0, ("FROM [AGDb].sys.database_role_members", error))
    _, perms, adapter = run(conn)
    assert adapter.notes["databases_unreadable"]["AGDb"].startswith("[976]")
    assert adapter.notes["databases_unreadable"]["Old"] == "database is OFFLINE"
    assert adapter.notes["databases_skipped"] == ["AGDb", "HR", "Old"]
    assert perms["app"]["database Sales"] == ["CONNECT"]


def test_a_database_failing_while_listing_leaves_the_next_one_read() -> None:
    conn = fake()
    conn.answers.insert(
        0, ("FROM [master].sys.database_principals", ConnectorError(ErrorKind.OTHER, "[4060]"))
    )
    accounts, perms, adapter = run(conn)
    assert sorted(adapter.notes["databases_unreadable"]) == ["HR", "Old", "master"]
    assert "[Sales].[db_owner]" in accounts and perms["app"]["database Sales"] == ["CONNECT"]


@pytest.mark.parametrize("state", ["RESTORING", "RECOVERING", "RECOVERY_PENDING", "SUSPECT", "EMERGENCY"])
def test_a_database_not_online_is_reported_not_read(state: str) -> None:
    """sys.databases.state_desc: only an ONLINE database can be queried."""
    databases = [DATABASES[0], {**DATABASES[1], "state_desc": state}]
    conn = fake(databases=databases)
    _, perms, adapter = run(conn)
    assert adapter.notes["databases_unreadable"] == {"Sales": f"database is {state}"}
    assert not any("[Sales]" in sql for sql in conn.executed)
    assert "database Sales" not in perms["app"]


def test_a_database_failing_while_listing_is_reported_not_fatal() -> None:
    """A database that goes offline after sys.databases was read fails its first query."""
    conn = fake(sales_principals=ConnectorError(ErrorKind.PRIVILEGE, "[916] not able to access the database"))
    accounts, perms, adapter = run(conn)
    assert "Sales" in adapter.notes["databases_unreadable"] and "app" in accounts
    assert "database Sales user" not in perms["app"]


@pytest.mark.django_db
def test_it_syncs_through_the_coordinator(monkeypatch: pytest.MonkeyPatch) -> None:
    from accounts_sync.models import ExclusionRule

    ExclusionRule.objects.get_or_create(db_type="sqlserver", pattern="##%##")
    conn = fake()
    monkeypatch.setattr("whalefall.sync.coordinator.open_connection", lambda instance: conn)
    instance = InstanceFactory(db_type="sqlserver")
    with AccountSyncCoordinator(instance, session=SyncSessionFactory()) as coordinator:
        result = coordinator.run()
    assert result.sync_details["collection"]["databases_skipped"] == ["HR", "Old"]
    assert Account.objects.get(identity="app").can_grant
    assert Account.objects.get(identity="sysadmin").is_role
    assert not AccountChange.objects.filter(account__identity="app").exists() and conn.closed
    assert AccountChange.objects.get().details["accounts"] == 11  # the first sync: one baseline entry
    instance.refresh_from_db()
    assert instance.version == "SQL Server 16.0.4135.4"


def test_azure_sql_database_reads_only_the_connected_database() -> None:
    """Azure SQL Database (SERVERPROPERTY('EngineEdition') = 5): sys.server_permissions and the
    other server-level views are not available and three-part names are not allowed; users are
    contained (authentication_type_desc DATABASE / EXTERNAL) or for a login kept in master."""
    azure = ServerInfo("sqlserver", "Azure SQL Database", (12, 0, 2000), "12.0.2000.8")
    principals = [
        dbp(1, "dbo", "S", auth="INSTANCE"),
        dbp(5, "app@contoso.com", "E", auth="EXTERNAL"),
        dbp(0, "public", "R"),
        dbp(16390, "db_datareader", "R"),
    ]
    conn = FakeConnection(
        [
            ("WHERE database_id = DB_ID()", [{**DATABASES[1], "containment": 0}]),
            ("FROM sys.database_principals AS dp WHERE", principals),
            ("FROM sys.database_role_members", [{"role_principal_id": 16390, "member_principal_id": 5}]),
            ("FROM sys.database_permissions", []),
        ],
        azure,
    )
    adapter = sqlserver.Adapter(conn, azure)  # type: ignore[arg-type]
    accounts = {a.identity: a for a in adapter.list_accounts()}
    perms = adapter.collect_permissions(list(accounts.values()))
    assert accounts["[Sales].[app@contoso.com]"].attributes["finding"] == sqlserver.CONTAINED
    assert accounts["[Sales].[dbo]"].attributes["finding"] == sqlserver.AZURE_LOGIN_USER
    assert accounts["[Sales].[dbo]"].can_login
    assert perms["[Sales].[app@contoso.com]"] == {"database Sales role": ["db_datareader"]}
    assert not any("server_p" in sql or "[Sales]" in sql for sql in conn.executed)
