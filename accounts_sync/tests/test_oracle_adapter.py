"""Oracle adapter on rows shaped like the Database Reference's views: DBA_USERS, DBA_ROLES,
DBA_ROLE_PRIVS, DBA_SYS_PRIVS, DBA_SCHEMA_PRIVS (23ai), DBA_TAB_PRIVS, DBA_COL_PRIVS, DBA_TS_QUOTAS
and their CDB_* twins (same columns plus CON_ID). oracledb returns DATE columns as datetime and
VARCHAR2 flags as 'YES' / 'NO'. One test per documented rule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from accounts_sync.adapters import oracle
from accounts_sync.coordinator import AccountSyncCoordinator
from accounts_sync.privileges import effective
from accounts_sync.tests.fakes import FakeConnection
from whalefall.connections.base import ServerInfo
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory

ORACLE_19 = ServerInfo("oracle", "Oracle", (19, 3, 0, 0), "19.3.0.0.0")
ORACLE_23 = ServerInfo("oracle", "Oracle", (23, 5, 0, 24, 7), "23.5.0.24.07")


def user(name: str, status: str, **kw: Any) -> dict[str, Any]:
    """A DBA_USERS row (CON_NAME joined from V$CONTAINERS in a CDB root, else NULL)."""
    return {
        "username": name,
        "user_id": kw.get("uid", 100),
        "account_status": status,
        "lock_date": kw.get("lock_date"),
        "expiry_date": kw.get("expiry_date"),
        "default_tablespace": "USERS",
        "temporary_tablespace": "TEMP",
        "profile": "DEFAULT",
        "authentication_type": kw.get("auth", "PASSWORD"),
        "created": datetime(2024, 1, 2, 3, 4, 5),
        "oracle_maintained": kw.get("maintained", "N"),
        "common": kw.get("common", "NO"),
        "con_name": kw.get("con"),
    }


def role(name: str, **kw: Any) -> dict[str, Any]:
    """A DBA_ROLES row."""
    return {
        "role": name,
        "authentication_type": "NONE",
        "common": kw.get("common", "NO"),
        "oracle_maintained": kw.get("maintained", "N"),
        "con_name": kw.get("con"),
    }


def rp(
    grantee: str, granted: str, admin: str = "NO", default: str = "YES", con: str | None = None
) -> dict[str, Any]:
    """A DBA_ROLE_PRIVS row."""
    return {
        "grantee": grantee,
        "granted_role": granted,
        "admin_option": admin,
        "default_role": default,
        "con_name": con,
    }


USERS = [
    user("SYS", "OPEN", maintained="Y"),
    user("APP", "OPEN"),
    user("ADMIN1", "OPEN"),
    user("OLD", "EXPIRED & LOCKED", lock_date=datetime(2025, 5, 1), expiry_date=datetime(2025, 4, 1)),
    user("GRACE", "EXPIRED(GRACE)"),
]
ROLES = [role("CONNECT", maintained="Y"), role("DBA", maintained="Y"), role("APP_RO")]
ROLE_PRIVS = [
    rp("APP", "CONNECT"),
    rp("APP", "APP_RO", admin="YES", default="NO"),
    rp("ADMIN1", "DBA"),
    rp("SYS", "DBA", admin="YES"),
]
SYS_PRIVS = [
    {"grantee": "APP", "privilege": "CREATE SESSION", "admin_option": "NO", "con_name": None},
    {"grantee": "APP", "privilege": "CREATE TABLE", "admin_option": "YES", "con_name": None},
]


def tab(
    grantee: str, owner: str, table: str, privilege: str, grantable: str = "NO", con: str | None = None
) -> dict[str, Any]:
    """A DBA_TAB_PRIVS row."""
    return {
        "grantee": grantee,
        "owner": owner,
        "table_name": table,
        "privilege": privilege,
        "grantable": grantable,
        "con_name": con,
    }


TAB_PRIVS = [tab("APP", "HR", "EMPLOYEES", "SELECT", "YES"), tab("PUBLIC", "SYS", "DUAL", "SELECT")]
COL_PRIVS = [
    {
        "grantee": "APP",
        "owner": "HR",
        "table_name": "EMPLOYEES",
        "column_name": "SALARY",
        "privilege": "UPDATE",
        "grantable": "NO",
        "con_name": None,
    },
]
QUOTAS = [
    {"username": "APP", "tablespace_name": "USERS", "max_bytes": -1, "con_name": None},
    {"username": "OLD", "tablespace_name": "USERS", "max_bytes": 10485760, "con_name": None},
]
NON_CDB = [{"con_id": "0", "con_name": "ORCL"}]


def view(name: str) -> str:
    """The SQL fragment that reads a dictionary view, owner-qualified: `FROM SYS.DBA_users`."""
    if name == "dictionary":
        return "FROM SYS.DICTIONARY"
    return f"FROM SYS.{name[:3].upper()}{name[3:]}"


def fake(server: ServerInfo = ORACLE_19, **over: Any) -> FakeConnection:
    answers = {
        "SYS_CONTEXT('USERENV', 'CON_ID')": NON_CDB,
        view("dictionary"): [],
        view("dba_users"): USERS,
        view("dba_roles"): ROLES,
        view("dba_role_privs"): ROLE_PRIVS,
        view("dba_sys_privs"): SYS_PRIVS,
        view("dba_tab_privs"): TAB_PRIVS,
        view("dba_col_privs"): COL_PRIVS,
        view("dba_ts_quotas"): QUOTAS,
    }
    for key, value in over.items():
        answers[view(key) if key.startswith(("dba_", "cdb_", "dictionary")) else key] = value
    return FakeConnection(list(answers.items()), server)


def run(conn: FakeConnection, server: ServerInfo = ORACLE_19) -> tuple[dict[str, Any], Any, oracle.Adapter]:
    adapter = oracle.Adapter(conn, server)  # type: ignore[arg-type]
    accounts = adapter.list_accounts()
    return {a.identity: a for a in accounts}, adapter.collect_permissions(accounts), adapter


def test_it_lists_users_with_status_facts() -> None:
    accounts, _, _ = run(fake())
    old = accounts["OLD"]
    assert old.is_locked and old.is_expired and not old.can_login
    assert old.attributes["lock_date"] == "2025-05-01T00:00:00"
    assert accounts["GRACE"].is_expired and accounts["GRACE"].can_login  # still may log in during grace
    assert accounts["ADMIN1"].is_superuser and not accounts["APP"].is_superuser
    assert accounts["SYS"].attributes["oracle_maintained"] is True


def test_it_collects_roles_privileges_and_quotas() -> None:
    _, perms, _ = run(fake())
    assert perms["APP"] == {
        "column HR.EMPLOYEES.SALARY": ["UPDATE"],
        "default role": ["CONNECT"],
        "object HR.EMPLOYEES": ["SELECT WITH GRANT OPTION"],
        "quota": ["USERS UNLIMITED"],
        "role": ["APP_RO WITH ADMIN OPTION", "CONNECT"],
        "system": ["CREATE SESSION", "CREATE TABLE WITH ADMIN OPTION"],
    }
    assert perms["OLD"] == {"quota": ["USERS 10485760 BYTES"]}


# --- ACCOUNT_STATUS / AUTHENTICATION_TYPE --------------------------------------------------------
def test_plain_expired_can_log_in_to_change_the_password() -> None:
    """DBA_USERS.ACCOUNT_STATUS EXPIRED: the password expired; the user can log in and must change it."""
    accounts, _, _ = run(fake(dba_users=[user("EXP", "EXPIRED")]))
    exp = accounts["EXP"]
    assert exp.can_login and exp.is_expired and exp.attributes["must_change_password"]


def test_expired_grace_can_log_in_without_changing_yet() -> None:
    """ACCOUNT_STATUS EXPIRED(GRACE): within the password grace time, the login still succeeds."""
    accounts, _, _ = run(fake(dba_users=[user("G", "EXPIRED(GRACE)")]))
    assert accounts["G"].can_login and not accounts["G"].attributes["must_change_password"]


def test_locked_timed_cannot_log_in() -> None:
    """ACCOUNT_STATUS LOCKED(TIMED): locked after FAILED_LOGIN_ATTEMPTS until PASSWORD_LOCK_TIME."""
    accounts, _, _ = run(
        fake(dba_users=[user("T", "LOCKED(TIMED)"), user("GT", "EXPIRED(GRACE) & LOCKED(TIMED)")])
    )
    assert accounts["T"].is_locked and not accounts["T"].can_login
    assert accounts["GT"].is_locked and not accounts["GT"].can_login


def test_a_schema_only_account_cannot_log_in() -> None:
    """DBA_USERS.AUTHENTICATION_TYPE NONE: a schema-only account (no password, no login) is OPEN."""
    accounts, _, _ = run(fake(dba_users=[user("HR_SCHEMA", "OPEN", auth="NONE")]))
    hr = accounts["HR_SCHEMA"]
    assert not hr.can_login and not hr.is_locked and hr.attributes["schema_only"]


# --- roles, PUBLIC, superuser ----------------------------------------------------------------------
def test_dba_through_a_role_is_superuser() -> None:
    """DBA_ROLE_PRIVS lists roles granted to users and roles: DBA granted to a role the user holds."""
    privs = [*ROLE_PRIVS, rp("OPS_ADMIN", "DBA"), rp("APP", "OPS_ADMIN")]
    accounts, _, _ = run(fake(dba_roles=[*ROLES, role("OPS_ADMIN")], dba_role_privs=privs))
    assert accounts["APP"].is_superuser and accounts["OPS_ADMIN"].is_role


def test_role_to_role_grants_reach_the_user_with_their_path() -> None:
    """DBA_ROLE_PRIVS with a role as GRANTEE: the granted role is enabled with the grantee role."""
    privs = [*ROLE_PRIVS, rp("APP_RO", "HR_READ")]
    tabs = [*TAB_PRIVS, tab("HR_READ", "HR", "JOBS", "SELECT")]
    _, perms, _ = run(fake(dba_roles=[*ROLES, role("HR_READ")], dba_role_privs=privs, dba_tab_privs=tabs))
    held = {
        (e.scope.render(), e.privilege, e.via, e.needs_set_role) for e in effective(perms.structured)["APP"]
    }
    # APP_RO is not a default role of APP: its privileges need SET ROLE.
    assert ("object HR.JOBS", "SELECT", ("APP_RO", "HR_READ"), True) in held
    assert perms["APP_RO"] == {"role": ["HR_READ"]}


def test_grants_to_public_land_on_the_public_pseudo_account() -> None:
    """DBA_TAB_PRIVS.GRANTEE may be PUBLIC: the privilege is every user's."""
    accounts, perms, _ = run(fake())
    assert accounts["PUBLIC"].is_role and perms["PUBLIC"] == {"object SYS.DUAL": ["SELECT"]}
    held = effective(perms.structured, public="PUBLIC")["APP"]
    assert any(e.privilege == "SELECT" and e.via == ("PUBLIC",) for e in held)


# --- what is read is detected --------------------------------------------------------------------------
def test_schema_privileges_are_read_where_the_dictionary_lists_them() -> None:
    """DBA_SCHEMA_PRIVS (23ai): GRANTEE, PRIVILEGE, SCHEMA, ADMIN_OPTION, COMMON, INHERITED."""
    rows = [
        {
            "grantee": "APP",
            "privilege": "SELECT ANY TABLE",
            "schema": "HR",
            "admin_option": "NO",
            "con_name": None,
        }
    ]
    conn = fake(ORACLE_23, dictionary=[{"table_name": "DBA_SCHEMA_PRIVS"}], dba_schema_privs=rows)
    _, perms, _ = run(conn, ORACLE_23)
    assert perms["APP"]["schema HR"] == ["SELECT ANY TABLE"]
    conn19 = fake()
    run(conn19)
    assert not any("schema_privs" in sql for sql in conn19.executed)


def test_a_cdb_root_reads_cdb_views_with_the_container_in_each_scope() -> None:
    """CDB_* views (Database Reference): the DBA_* columns plus CON_ID, one row per container;
    SYS_CONTEXT('USERENV', 'CON_ID') is 1 in the root. Local users of a PDB become NAME@PDB."""
    users = [
        user("C##MON", "OPEN", common="YES", con="CDB$ROOT"),
        user("C##MON", "OPEN", common="YES", con="SALESPDB"),
        user("APP", "OPEN", con="SALESPDB"),
        user("APP", "LOCKED", con="HRPDB"),
    ]
    tabs = [tab("APP", "SALES", "ORDERS", "SELECT", con="SALESPDB")]
    sys_privs = [
        {"grantee": "C##MON", "privilege": "CREATE SESSION", "admin_option": "NO", "con_name": "SALESPDB"}
    ]
    conn = fake(
        **{"SYS_CONTEXT('USERENV', 'CON_ID')": [{"con_id": "1", "con_name": "CDB$ROOT"}]},
        cdb_users=users,
        cdb_roles=[role("DBA", common="YES", maintained="Y", con="CDB$ROOT")],
        cdb_role_privs=[],
        cdb_sys_privs=sys_privs,
        cdb_tab_privs=tabs,
        cdb_col_privs=[],
        cdb_ts_quotas=[],
    )
    accounts, perms, adapter = run(conn)
    assert {"C##MON", "APP@SALESPDB", "APP@HRPDB"} <= set(accounts)
    assert accounts["APP@HRPDB"].is_locked and not accounts["APP@SALESPDB"].is_locked
    assert perms["APP@SALESPDB"] == {"object SALESPDB.SALES.ORDERS": ["SELECT"]}
    assert perms["C##MON"] == {"container SALESPDB": ["CREATE SESSION"]}
    assert not any("FROM SYS.DBA_" in " ".join(sql.split()) for sql in conn.executed)
    assert unqualified(conn.executed) == []
    assert adapter.notes["container"] == "CDB root: all containers"


@pytest.mark.django_db
def test_it_syncs_through_the_coordinator(monkeypatch: pytest.MonkeyPatch) -> None:
    """The seeded exclusion rules hide SYS; roles and PUBLIC are accounts; DBA through a role counts."""
    from accounts_sync.models import Account, ExclusionRule

    ExclusionRule.objects.get_or_create(db_type="oracle", pattern="SYS")
    conn = fake()
    monkeypatch.setattr("whalefall.sync.coordinator.open_connection", lambda instance: conn)
    instance = InstanceFactory(db_type="oracle", database="ORCLPDB1")
    with AccountSyncCoordinator(instance, session=SyncSessionFactory()) as coordinator:
        result = coordinator.run()
    assert result.sync_details["inventory"]["excluded"] == 1
    stored = {a.identity: a for a in Account.objects.filter(instance=instance)}
    assert stored["ADMIN1"].is_superuser and stored["PUBLIC"].is_role and stored["APP_RO"].is_role
    assert not stored["OLD"].can_login and "SYS" not in stored


def test_every_dictionary_view_is_owner_qualified() -> None:
    """A table or private synonym named like a DBA_ view in the login's schema, or a missing public
    synonym, must not change what is read: every view is named with its owner, SYS."""
    conn = fake()
    run(conn)
    assert unqualified(conn.executed) == []


def unqualified(executed: list[str]) -> list[str]:
    import re

    names = (n for sql in executed for n in re.findall(r"(?:FROM|JOIN)\s+([\w.$]+)", sql))
    return [n for n in names if not n.upper().startswith("SYS.")]


# --- found by mutation testing ---------------------------------------------------------------------
@pytest.mark.parametrize("auth", ["PASSWORD", "EXTERNAL", "GLOBAL"])
def test_password_os_and_directory_users_log_in(auth: str) -> None:
    """AUTHENTICATION_TYPE: PASSWORD, EXTERNAL (by the OS or Kerberos: OPS$ users) and GLOBAL
    (enterprise users of a directory) all log in; only NONE is schema-only."""
    accounts, _, _ = run(fake(dba_users=[user("U1", "OPEN", auth=auth)]))
    assert accounts["U1"].can_login and not accounts["U1"].attributes["schema_only"]


def test_connected_inside_a_pdb_reads_the_dba_views_of_that_pdb() -> None:
    """SYS_CONTEXT('USERENV', 'CON_ID') is the PDB's id (3 and up) when connected to a PDB: not the
    root, so the DBA_* views are read and names stay plain."""
    conn = fake(**{"SYS_CONTEXT('USERENV', 'CON_ID')": [{"con_id": "3", "con_name": "ORCLPDB1"}]})
    accounts, _, adapter = run(conn)
    assert adapter.notes["container"] == "ORCLPDB1" and not adapter.cdb_root
    assert "APP" in accounts and "container" not in accounts["APP"].attributes
    assert any("FROM SYS.DBA_users" in " ".join(sql.split()) for sql in conn.executed)


def test_a_container_without_a_name_is_noted_empty() -> None:
    conn = fake(**{"SYS_CONTEXT('USERENV', 'CON_ID')": [{"con_id": "0", "con_name": None}]})
    _, _, adapter = run(conn)
    assert adapter.notes["container"] == ""


def test_collecting_detects_and_lists_first_when_needed_and_only_once() -> None:
    conn = fake()
    adapter = oracle.Adapter(conn, ORACLE_19)  # type: ignore[arg-type]
    perms = adapter.collect_permissions([])  # on a fresh adapter: it detects and lists itself
    assert perms["PUBLIC"] == {"object SYS.DUAL": ["SELECT"]}
    conn.executed.clear()
    accounts = adapter.list_accounts()  # lists again (a new read), but detects once
    assert not any("SYS_CONTEXT" in sql for sql in conn.executed)
    conn.executed.clear()
    adapter.collect_permissions(accounts)
    said = [" ".join(sql.split()) for sql in conn.executed]
    assert not any("SYS_CONTEXT" in s or "FROM SYS.DBA_users" in s or "DBA_role_privs" in s for s in said)


def test_roles_and_public_never_log_in() -> None:
    accounts, _, _ = run(fake())
    for identity in ("CONNECT", "DBA", "APP_RO", "PUBLIC"):
        assert accounts[identity].is_role and not accounts[identity].can_login, identity
    assert accounts["PUBLIC"].attributes == {"pseudo_role": True}


def test_a_common_user_takes_its_facts_from_the_root() -> None:
    """CDB_USERS has a row per container for a common user; the root's is the account (a PDB's
    row may say LOCKED where only that PDB locked it), whatever order the rows come in."""
    users = [
        user("C##OPS", "LOCKED", common="YES", con="SALESPDB"),
        user("C##OPS", "OPEN", common="YES", con="CDB$ROOT"),
        user("SCOTT", "OPEN", con="SALESPDB"),
    ]
    conn = fake(
        **{"SYS_CONTEXT('USERENV', 'CON_ID')": [{"con_id": "1", "con_name": "CDB$ROOT"}]},
        cdb_users=users,
        cdb_roles=[],
        cdb_role_privs=[rp("PUBLIC", "CONNECT", default="NO", con="SALESPDB")],
        cdb_sys_privs=[],
        cdb_tab_privs=[tab("PUBLIC", "SYS", "DUAL", "SELECT", con="SALESPDB")],
        cdb_col_privs=[],
        cdb_ts_quotas=[],
    )
    accounts, perms, _ = run(conn)
    ops = accounts["C##OPS"]
    assert not ops.is_locked and ops.attributes["container"] == "CDB$ROOT"
    assert "SCOTT@SALESPDB" in accounts and "SCOTT" not in accounts  # a local user: NAME@PDB
    assert perms["PUBLIC"]["object SALESPDB.SYS.DUAL"] == ["SELECT"]  # PUBLIC stays PUBLIC
    assert not any(identity.startswith("PUBLIC@") for identity in accounts)


@pytest.mark.parametrize(
    ("grantee", "default", "enabled"),
    [
        ("SCOTT", "YES", True),  # a user's default role is enabled at login
        ("SCOTT", "NO", False),  # any other role needs SET ROLE
        ("APP", "NO", False),
        ("APP_RO", "NO", True),  # a role granted to a role comes with it
        ("PUBLIC", "NO", True),  # a role granted to PUBLIC is every session's
    ],
)
def test_which_granted_roles_are_enabled_without_set_role(grantee: str, default: str, enabled: bool) -> None:
    users = [*USERS, user("SCOTT", "OPEN")]
    privs = [rp(grantee, "HR_READ", default=default)]
    tabs = [tab("HR_READ", "HR", "JOBS", "SELECT")]
    roles = [*ROLES, role("HR_READ")]
    _, perms, _ = run(fake(dba_users=users, dba_roles=roles, dba_role_privs=privs, dba_tab_privs=tabs))
    held = {(e.scope.render(), e.needs_set_role) for e in effective(perms.structured)[grantee]}
    assert {h for h in held if h[0] == "object HR.JOBS"} == {("object HR.JOBS", not enabled)}
    # Only a user's own default roles are listed as such (ALTER USER ... DEFAULT ROLE).
    assert ("default role" in perms[grantee]) == (default == "YES" and grantee not in ("APP_RO", "PUBLIC"))


def test_public_default_roles_are_not_listed_as_a_users_default_roles() -> None:
    privs = [rp("PUBLIC", "HR_READ", default="YES"), rp("APP", "CONNECT", default="YES")]
    roles = [*ROLES, role("HR_READ")]
    _, perms, _ = run(fake(dba_roles=roles, dba_role_privs=privs))
    assert "default role" not in perms["PUBLIC"] and perms["APP"]["default role"] == ["CONNECT"]


def test_names_in_a_cdb_root_without_a_container_or_for_public_stay_plain() -> None:
    """A row whose container the V$CONTAINERS join did not find (dropped meanwhile) keeps its plain
    name, and so does PUBLIC wherever the dictionary lists it."""
    conn = fake(
        **{"SYS_CONTEXT('USERENV', 'CON_ID')": [{"con_id": "1", "con_name": "CDB$ROOT"}]},
        cdb_users=[user("GONE", "OPEN", con=None), user("APP", "OPEN", con="SALESPDB")],
        cdb_roles=[role("PUBLIC", con="SALESPDB"), role("R1", con="SALESPDB")],
        cdb_role_privs=[],
        cdb_sys_privs=[],
        cdb_tab_privs=[],
        cdb_col_privs=[],
        cdb_ts_quotas=[],
    )
    accounts, _, _ = run(conn)
    assert {"GONE", "APP@SALESPDB", "R1@SALESPDB", "PUBLIC"} <= set(accounts)
    assert "PUBLIC@SALESPDB" not in accounts
