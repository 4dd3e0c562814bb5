"""MySQL 8 / 5.7 and older MariaDB catalog shapes (only MariaDB 10.11 runs here).

Rows are what the adapter's queries return from those servers: `privs` is the `CONCAT` of the
Y/N privilege columns in table order, `secret_digest` the server-side SHA2 of plugin and hash.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from accounts_sync import canonical
from accounts_sync.adapters import mysql
from accounts_sync.privileges import effective
from accounts_sync.tests.fakes import FakeConnection
from whalefall.connections.base import ServerInfo

MYSQL8 = ServerInfo("mysql", "MySQL", (8, 0, 36), "8.0.36")
PRIVS = ["Select_priv", "Grant_priv", "Super_priv", "Create_role_priv"]
DB_PRIVS = ["Select_priv", "Insert_priv", "Grant_priv", "Create_tmp_table_priv"]
USER_COLUMNS = [
    "Host",
    "User",
    *PRIVS,
    "plugin",
    "authentication_string",
    "password_expired",
    "password_last_changed",
    "password_lifetime",
    "account_locked",
    "max_connections",
    "ssl_type",
    "ssl_cipher",
]


def flags(columns: list[str], on: set[str]) -> str:
    """What `CONCAT(<priv columns>)` returns."""
    return "".join("Y" if c in on else "N" for c in columns)


def user(name: str, host: str = "%", privs: set[str] = frozenset(), **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "user": name,
        "host": host,
        "plugin": "caching_sha2_password",
        "password_expired": "N",
        "password_last_changed": datetime(2025, 1, 1),
        "password_lifetime": None,
        "account_locked": "N",
        "max_connections": 0,
        "ssl_type": "",
        "ssl_cipher": b"",
        "privs": flags(PRIVS, set(privs)),
        "secret_digest": "d" * 64,
        "has_secret": 1,
    }
    return row | kw


def fake(
    present: list[str], users: list[dict[str, object]], server: ServerInfo = MYSQL8, **extra: object
) -> FakeConnection:
    columns = [{"t": "db", "c": c} for c in ["Host", "Db", "User", *DB_PRIVS]]
    columns += [{"t": "user", "c": c} for c in USER_COLUMNS]
    return FakeConnection(
        [
            ("FROM information_schema.TABLES", [{"t": t} for t in present]),
            ("FROM information_schema.COLUMNS", columns),
            ("FROM mysql.user", users),
            ("FROM mysql.global_priv", extra.get("global_priv", [])),
            ("FROM mysql.db", extra.get("db", [])),
            ("FROM mysql.tables_priv", extra.get("tables", [])),
            ("FROM mysql.columns_priv", extra.get("columns", [])),
            ("FROM mysql.procs_priv", extra.get("procs", [])),
            ("FROM mysql.proxies_priv", extra.get("proxies", [])),
            ("FROM mysql.roles_mapping", extra.get("mapping", [])),
            ("FROM mysql.role_edges", extra.get("edges", [])),
            ("FROM mysql.default_roles", extra.get("defaults", [])),
            ("FROM mysql.global_grants", extra.get("dynamic", [])),
            ("activate_all_roles_on_login", [{"v": extra.get("activate_all", 0)}]),
        ],
        server,
    )


MYSQL8_TABLES = [
    "user",
    "db",
    "tables_priv",
    "columns_priv",
    "procs_priv",
    "proxies_priv",
    "role_edges",
    "default_roles",
    "global_grants",
]


def edge(role: str, member: str, admin: str = "N") -> dict[str, object]:
    return {
        "from_host": "%",
        "from_user": role,
        "to_host": "%",
        "to_user": member,
        "with_admin_option": admin,
    }


def test_it_reads_mysql8_roles_dynamic_privileges_and_lock_columns() -> None:
    conn = fake(
        MYSQL8_TABLES,
        [
            user("app", privs={"Super_priv", "Grant_priv"}, account_locked="Y", ssl_cipher=b"AES256"),
            user("r_read", account_locked="Y", password_expired="Y", has_secret=0),
            user("r_write", account_locked="Y", has_secret=0),
        ],
        edges=[edge("r_read", "app", "Y"), edge("r_write", "app")],
        defaults=[{"host": "%", "user": "app", "default_role_host": "%", "default_role_user": "r_read"}],
        dynamic=[{"user": "app", "host": "%", "priv": "BACKUP_ADMIN", "with_grant_option": "N"}],
        procs=[
            {
                "host": "%",
                "db": "Shop",
                "user": "app",
                "routine_name": "p1",
                "routine_type": "PROCEDURE",
                "proc_priv": "Execute,Alter Routine,Grant",
            }
        ],
        proxies=[
            {"host": "%", "user": "app", "proxied_host": "", "proxied_user": "", "with_grant": 1},
        ],
    )
    adapter = mysql.Adapter(conn, MYSQL8)  # type: ignore[arg-type]
    accounts = {a.identity: a for a in adapter.list_accounts()}
    app = accounts["app@%"]
    assert app.is_superuser and app.is_locked and not app.can_login and not app.is_role
    assert app.attributes["password_last_changed"] == "2025-01-01 00:00:00"
    assert app.attributes["ssl_cipher"] == "AES256" and "ssl_type" not in app.attributes
    assert app.fingerprint == "d" * 64 and "empty_authentication_string" not in app.attributes
    r_read = accounts["r_read@%"]
    assert r_read.is_role and r_read.fingerprint is None  # roles: listed, granted to others
    assert not adapter.uses_global_priv
    perms = adapter.collect_permissions(list(accounts.values()))
    assert perms["app@%"] == {
        "default role": ["r_read@%"],
        "global": ["BACKUP_ADMIN", "SUPER WITH GRANT OPTION"],
        "procedure Shop.p1": ["ALTER ROUTINE WITH GRANT OPTION", "EXECUTE WITH GRANT OPTION"],
        "proxy ''@''": ["PROXY WITH GRANT OPTION"],  # MySQL prints its default as ''@''
        "role": ["r_read@% WITH ADMIN OPTION", "r_write@%"],
    }
    members = perms.structured["app@%"].memberships
    assert members[("role", "r_read@%")].inherit and members[("role", "r_read@%")].default
    assert not members[("role", "r_write@%")].inherit and members[("role", "r_write@%")].set
    assert not any(g.privilege.startswith("GRANT") for g in perms.structured["app@%"].grants)
    assert not any("global_priv" in sql or "roles_mapping" in sql for sql in conn.executed)
    assert not any("SELECT *" in sql for sql in conn.executed)  # only the needed columns


def test_activate_all_roles_on_login_makes_every_granted_role_inherit() -> None:
    conn = fake(
        MYSQL8_TABLES,
        [user("app"), user("r_write", account_locked="Y", has_secret=0)],
        edges=[edge("r_write", "app")],
        tables=[
            {
                "host": "%",
                "db": "s",
                "user": "r_write",
                "table_name": "t",
                "table_priv": "Update",
                "column_priv": "",
            }
        ],
        activate_all=1,
    )
    adapter = mysql.Adapter(conn, MYSQL8)  # type: ignore[arg-type]
    perms = adapter.collect_permissions(adapter.list_accounts())
    assert perms.structured["app@%"].memberships[("role", "r_write@%")].inherit
    held = {(e.privilege, e.via, e.needs_set_role) for e in effective(perms.structured)["app@%"]}
    assert held == {("UPDATE", ("r_write@%",), False)}


def test_it_reads_mysql57_without_role_tables() -> None:
    conn = fake(
        ["user", "db", "tables_priv", "columns_priv", "procs_priv", "proxies_priv"],
        [user("legacy", plugin="mysql_native_password", has_secret=0, secret_digest="e" * 64)],
        server=ServerInfo("mysql", "MySQL", (5, 7, 44), "5.7.44-log"),
        db=[
            {
                "host": "%",
                "db": "Legacy_DB",
                "user": "legacy",
                "p": flags(DB_PRIVS, {"Select_priv", "Create_tmp_table_priv"}),
            },
            {"host": "%", "db": "Other", "user": "legacy", "p": flags(DB_PRIVS, {"Grant_priv"})},
        ],
        tables=[
            {
                "host": "%",
                "db": "Legacy_DB",
                "user": "legacy",
                "table_name": "t",
                "table_priv": "Grant",
                "column_priv": "Select",
            },
            {
                "host": "%",
                "db": "Legacy_DB",
                "user": "legacy",
                "table_name": "u",
                "table_priv": "Grant",
                "column_priv": "",
            },
        ],
        columns=[
            {
                "host": "%",
                "db": "Legacy_DB",
                "user": "legacy",
                "table_name": "t",
                "column_name": "c",
                "column_priv": "Select",
            }
        ],
    )
    adapter = mysql.Adapter(conn, ServerInfo("mysql", "MySQL", (5, 7, 44), "5.7.44-log"))  # type: ignore[arg-type]
    accounts = adapter.list_accounts()
    assert accounts[0].fingerprint is None and accounts[0].attributes["empty_authentication_string"]
    perms = adapter.collect_permissions(accounts)
    assert perms["legacy@%"] == {
        "column Legacy_DB.t.c": ["SELECT WITH GRANT OPTION"],  # the table's option covers its columns
        "database Legacy_DB": ["CREATE TEMPORARY TABLES", "SELECT"],  # case kept
        "database Other": ["USAGE WITH GRANT OPTION"],  # SHOW GRANTS: GRANT USAGE ... WITH GRANT OPTION
        "table Legacy_DB.u": ["USAGE WITH GRANT OPTION"],
    }
    assert not any("role_edges" in sql or "global_grants" in sql for sql in conn.executed)


def global_priv(user: str, host: str, **doc: object) -> dict[str, object]:
    return {"user": user, "host": host, "priv": json.dumps(doc)}


def mariadb(version: tuple[int, ...], rows: list[dict[str, object]], **extra: object) -> mysql.Adapter:
    server = ServerInfo("mysql", "MariaDB", version, ".".join(map(str, version)) + "-MariaDB")
    tables = ["global_priv", "user", "db", "tables_priv", "columns_priv", "procs_priv", "proxies_priv"]
    conn = fake([*tables, "roles_mapping"], [], server=server, global_priv=rows, **extra)
    return mysql.Adapter(conn, server)  # type: ignore[arg-type]


def test_mariadb_access_bits_are_named_per_server_version() -> None:
    bits = (1 << 20) | (1 << 36) | (1 << 38) | (1 << 10) | 1
    rows = [global_priv("ops", "%", access=bits, plugin="mysql_native_password", authentication_string="*AB")]
    names = {
        v: mariadb(v, rows).list_accounts()[0].preloaded["global"]
        for v in [(10, 4, 30), (10, 5, 2), (10, 11, 6)]
    }
    option = " WITH GRANT OPTION"
    assert names[(10, 4, 30)] == ["REPLICATION CLIENT" + option, "SELECT" + option]
    assert names[(10, 5, 2)] == ["BINLOG ADMIN" + option, "BINLOG MONITOR" + option, "SELECT" + option]
    assert names[(10, 11, 6)] == [
        "BINLOG ADMIN" + option,
        "BINLOG MONITOR" + option,
        "SELECT" + option,
        "SLAVE MONITOR" + option,
    ]


# When MariaDB named each renamed or added global privilege bit (its SHOW PRIVILEGES / SHOW GRANTS
# names; release notes and MDEV-20382, MDEV-21743, MDEV-23610): bit -> [(name, first version)].
MARIADB_NAMES_BY_VERSION = {
    20: [("REPLICATION CLIENT", (10, 4, 0)), ("BINLOG MONITOR", (10, 5, 2))],
    29: [("DELETE VERSIONING ROWS", (10, 4, 0)), ("DELETE HISTORY", (10, 4, 13))],
    **{
        bit: [(name, (10, 5, 2))]
        for bit, name in enumerate(
            [
                "SET USER",
                "FEDERATED ADMIN",
                "CONNECTION ADMIN",
                "READ_ONLY ADMIN",
                "REPLICATION SLAVE ADMIN",
                "REPLICATION MASTER ADMIN",
                "BINLOG ADMIN",
                "BINLOG REPLAY",
            ],
            start=30,
        )
    },
    38: [("SLAVE MONITOR", (10, 5, 8))],
    39: [("IGNORE DENIES", (13, 1, 0))],  # the bit that comes with DENY
}


def _before(version: tuple[int, ...]) -> tuple[int, ...]:
    """The release just before: 10.5.2 -> 10.5.1, 10.5.0 -> 10.4.99."""
    major, minor, patch = version
    return (major, minor, patch - 1) if patch else (major, minor - 1, 99)


@pytest.mark.parametrize("bit", sorted(MARIADB_NAMES_BY_VERSION))
def test_each_renamed_or_added_bit_gets_its_name_from_the_release_that_introduced_it(bit: int) -> None:
    """Each bit alone, read on the first release of each of its names and on the one before."""
    rows = [global_priv("ops", "%", access=1 << bit, plugin="mysql_native_password")]
    names = MARIADB_NAMES_BY_VERSION[bit]

    def read(version: tuple[int, ...]) -> list[str]:
        return mariadb(version, rows).list_accounts()[0].preloaded.get("global", [])

    for i, (name, since) in enumerate(names):
        assert read(since) == [name], (bit, since)
        if since > (10, 4, 0):  # the first release with `global_priv`
            assert read(_before(since)) == ([names[i - 1][0]] if i else []), (bit, since)


def test_mariadb_global_priv_attributes_roles_and_proxy() -> None:
    adapter = mariadb(
        (10, 11, 6),
        [
            global_priv(
                "alice",
                "%",
                access=0,
                plugin="mysql_native_password",
                authentication_string="*AB",
                auth_or=[{}, {"plugin": "unix_socket"}],
                ssl_type=3,
                ssl_cipher="AES",
                x509_issuer="/CN=ca",
                x509_subject="/CN=alice",
                max_statement_time=2.5,
                max_questions=7,
                account_locked=True,
                password_last_changed=0,
                password_lifetime=30,
                default_role="r_app",
            ),
            global_priv("r_app", "", access=1, is_role=True),
            global_priv("r_read", "", access=0, is_role=True),
            global_priv("r_base", "", access=2, is_role=True),
            global_priv("nopw", "%", access=0, plugin="mysql_native_password", authentication_string=""),
        ],
        mapping=[
            {"host": "%", "user": "alice", "role": "r_app", "admin_option": "N"},
            {"host": "%", "user": "alice", "role": "r_read", "admin_option": "Y"},
            {"host": "", "user": "r_app", "role": "r_read", "admin_option": "N"},
            {"host": "", "user": "r_read", "role": "r_base", "admin_option": "N"},
        ],
        proxies=[{"host": "%", "user": "alice", "proxied_host": "", "proxied_user": "", "with_grant": 0}],
    )
    accounts = {a.identity: a for a in adapter.list_accounts()}
    alice = accounts["alice@%"]
    assert alice.attributes == {
        "account_locked": "1",
        "default_role": "r_app",
        "is_role": "N",
        "max_connections": 0,
        "max_questions": 7,
        "max_statement_time": "2.500000",
        "max_updates": 0,
        "max_user_connections": 0,
        "password_expired": "Y",
        "password_last_changed": "0",
        "password_lifetime": "30",
        "plugin": "mysql_native_password",
        "ssl_cipher": "AES",
        "ssl_type": "SPECIFIED",
        "x509_issuer": "/CN=ca",
        "x509_subject": "/CN=alice",
    }
    assert alice.is_locked and alice.is_expired and not alice.can_login
    assert alice.fingerprint and "*AB" not in alice.fingerprint and "*AB" not in json.dumps(alice.attributes)
    assert accounts["r_app@"].is_role and accounts["r_app@"].fingerprint is None
    assert accounts["nopw@%"].attributes["empty_authentication_string"] is True
    perms = adapter.collect_permissions(list(accounts.values()))
    assert perms["alice@%"] == {
        "default role": ["r_app@"],
        "proxy ''@'%'": ["PROXY"],  # MariaDB: an empty proxied host is any host
        "role": ["r_app@", "r_read@ WITH ADMIN OPTION"],
    }
    members = perms.structured["alice@%"].memberships
    assert members[("role", "r_app@")].inherit and members[("role", "r_app@")].default
    assert not members[("role", "r_read@")].inherit and members[("role", "r_read@")].admin
    # A role granted to a role is active with it; r_read itself is not a default role of alice.
    assert perms.structured["r_app@"].memberships[("role", "r_read@")].inherit
    held = {(e.privilege, e.via, e.needs_set_role) for e in effective(perms.structured)["alice@%"]}
    assert held == {
        ("PROXY", (), False),
        ("SELECT", ("r_app@",), False),
        ("INSERT", ("r_app@", "r_read@", "r_base@"), False),
        ("INSERT", ("r_read@", "r_base@"), True),  # the same, after SET ROLE r_read
    }


def test_queries_do_not_grow_with_the_number_of_accounts() -> None:
    def run(n: int) -> int:
        rows = [global_priv(f"u{i}", "%", access=i % 3) for i in range(n)]
        adapter = mariadb((10, 11, 6), rows)
        adapter.collect_permissions(adapter.list_accounts())
        return len(adapter.connection.executed)

    assert run(1) == run(200)


def test_a_password_lifetime_ends_exactly_lifetime_days_after_the_last_change(monkeypatch: Any) -> None:
    """MariaDB: `password_last_changed` in epoch seconds, `password_lifetime` in days; expired once
    their sum is past. 1,000 days apart, a day of 86,399 or 86,401 seconds would be 1,000 s off."""
    now = 1_900_000_000.0
    monkeypatch.setattr(mysql.time, "time", lambda: now)
    lifetime = 1000 * 86400

    def expired(**doc: object) -> bool:
        rows = [global_priv("u", "%", access=0, plugin="mysql_native_password", **doc)]
        return mariadb((10, 11, 6), rows).list_accounts()[0].is_expired

    assert expired(password_last_changed=int(now) - lifetime - 500, password_lifetime=1000)
    assert not expired(password_last_changed=int(now) - lifetime + 500, password_lifetime=1000)
    # No last change on record (an account made before the column existed): not expired, no error.
    assert not expired(password_lifetime=1000)
    assert not expired(password_last_changed="never", password_lifetime=1000)


def test_set_columns_read_the_same_whether_the_driver_gives_text_or_sets() -> None:
    """`tables_priv.Table_priv` is a SET: PyMySQL gives 'Select,Grant', drivers that convert SET
    columns give {'Select', 'Grant'}. Two accounts with different sets on one table keep their own."""

    def read(as_sets: bool) -> dict[str, dict[str, list[str]]]:
        def privs(text: str) -> object:
            return set(text.split(",")) if as_sets and text else text

        tables = [
            {"host": "%", "db": "d", "user": u, "table_name": "t", "table_priv": privs(p), "column_priv": ""}
            for u, p in (("alice", "Select,Grant"), ("bob", "Insert"), ("carol", "Insert,Select"))
        ]
        conn = fake(
            ["user", "db", "tables_priv", "columns_priv", "procs_priv", "proxies_priv"],
            [user(n, plugin="mysql_native_password") for n in ("alice", "bob", "carol")],
            server=ServerInfo("mysql", "MySQL", (5, 7, 44), "5.7.44"),
            tables=tables,
        )
        adapter = mysql.Adapter(conn, ServerInfo("mysql", "MySQL", (5, 7, 44), "5.7.44"))  # type: ignore[arg-type]
        return dict(adapter.collect_permissions(adapter.list_accounts()))

    expected = {
        "alice@%": {"table d.t": ["SELECT WITH GRANT OPTION"]},
        "bob@%": {"table d.t": ["INSERT"]},
        "carol@%": {"table d.t": ["INSERT", "SELECT"]},
    }
    assert read(as_sets=False) == expected
    assert read(as_sets=True) == expected


def test_json_documents_as_bytes_decode_like_text() -> None:
    """A binary JSON column comes back as bytes: the one-array fast path cannot join those, and
    each document is then decoded alone, giving the same objects."""
    texts = [b'{"access": 1}', None, '{"plugin": "ed25519"}']
    assert canonical.json_documents(texts) == [{"access": 1}, {}, {"plugin": "ed25519"}]
    assert canonical.json_documents([t.decode() if isinstance(t, bytes) else t for t in texts]) == [
        {"access": 1},
        {},
        {"plugin": "ed25519"},
    ]


# MariaDB 10.11's privilege bits (`privilege_t` in the server's sql/privilege.h), as SHOW GRANTS
# names them; bit 10 is the grant option. The live truth test checks the same names against the
# server itself; this one says which bit carries which, without a server.
MARIADB_10_11_BITS = {
    0: "SELECT",
    1: "INSERT",
    2: "UPDATE",
    3: "DELETE",
    4: "CREATE",
    5: "DROP",
    6: "RELOAD",
    7: "SHUTDOWN",
    8: "PROCESS",
    9: "FILE",
    11: "REFERENCES",
    12: "INDEX",
    13: "ALTER",
    14: "SHOW DATABASES",
    15: "SUPER",
    16: "CREATE TEMPORARY TABLES",
    17: "LOCK TABLES",
    18: "EXECUTE",
    19: "REPLICATION SLAVE",
    20: "BINLOG MONITOR",
    21: "CREATE VIEW",
    22: "SHOW VIEW",
    23: "CREATE ROUTINE",
    24: "ALTER ROUTINE",
    25: "CREATE USER",
    26: "EVENT",
    27: "TRIGGER",
    28: "CREATE TABLESPACE",
    29: "DELETE HISTORY",
    30: "SET USER",
    31: "FEDERATED ADMIN",
    32: "CONNECTION ADMIN",
    33: "READ_ONLY ADMIN",
    34: "REPLICATION SLAVE ADMIN",
    35: "REPLICATION MASTER ADMIN",
    36: "BINLOG ADMIN",
    37: "BINLOG REPLAY",
    38: "SLAVE MONITOR",
}


def test_each_mariadb_10_11_bit_alone_reads_as_its_privilege() -> None:
    rows = [global_priv(f"u{bit}", "%", access=1 << bit, plugin="mysql_native_password") for bit in range(40)]
    read = {a.identity: a.preloaded.get("global", []) for a in mariadb((10, 11, 6), rows).list_accounts()}
    for bit in range(40):
        if bit == 10:
            expected = ["USAGE WITH GRANT OPTION"]
        else:
            expected = [MARIADB_10_11_BITS[bit]] if bit in MARIADB_10_11_BITS else []
        assert read[f"u{bit}@%"] == expected, bit


def test_connection_limits_stored_as_zero_or_null_read_as_zero() -> None:
    """`max_*` limits: 0 and JSON null both mean "no limit", read as the view's 0."""
    rows = [
        global_priv(
            "u", "%", access=0, plugin="mysql_native_password", max_connections=0, max_user_connections=None,
            max_questions=5,
        )
    ]  # fmt: skip
    attrs = mariadb((10, 11, 6), rows).list_accounts()[0].attributes
    assert (attrs["max_connections"], attrs["max_user_connections"], attrs["max_questions"]) == (0, 0, 5)
