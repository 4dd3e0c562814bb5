"""The MariaDB inventory against the engine's own word: SHOW GRANTS / SHOW CREATE USER, fact for fact.

A rich scenario is synced by the least-privilege monitor (SELECT on mysql.*); then, as root, every
account of the scenario is described by the server and the description is compared with the
export (stored snapshot, attributes and facts) and with the adapter's structured facts.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from accounts_sync.adapters import mysql
from accounts_sync.export import export_instance
from accounts_sync.models import Account, AccountChange, ChangeType
from accounts_sync.tests.show_grants import Fact, Reader, create_user_facts, snapshot_facts
from whalefall.connections import open_connection
from whalefall.tests import live

pytestmark = [pytest.mark.live, pytest.mark.django_db]

# Privileges MariaDB 10.5+ keeps only in `global_priv` (no `mysql.user` column shows them).
GLOBAL_PRIV_ONLY = [
    "BINLOG ADMIN",
    "BINLOG MONITOR",
    "BINLOG REPLAY",
    "CONNECTION ADMIN",
    "FEDERATED ADMIN",
    "READ_ONLY ADMIN",
    "REPLICATION MASTER ADMIN",
    "SLAVE MONITOR",
]


@pytest.fixture
def scenario(prefix: str) -> Iterator[dict[str, str]]:
    """Global, database, table, column, routine and proxy grants; nested and default roles;
    admin and grant options at each scope; REQUIRE values, limits, expiry and lock."""
    db = f"{prefix}_db"
    users = {k: f"'{prefix}_{k}'@'%'" for k in ("alice", "bob", "carol", "ops", "allp", "ops2")}
    roles = {k: f"`{prefix}_{k}`" for k in ("r_app", "r_read", "r_admin")}
    u, r = users, roles
    with live.mysql_root() as root:
        live.run(
            root,
            f"CREATE DATABASE `{db}`",
            f"CREATE TABLE `{db}`.t (c INT, d INT)",
            f"CREATE TABLE `{db}`.`or.ders` (a INT)",  # a dot in a name stays part of the name
            f"CREATE PROCEDURE `{db}`.`{prefix}_proc`() SELECT 1",
            f"CREATE FUNCTION `{db}`.`{prefix}_fn`() RETURNS INT DETERMINISTIC RETURN 1",
            f"CREATE USER {u['alice']} IDENTIFIED BY 'Pw_{prefix}' PASSWORD EXPIRE",
            f"CREATE USER {u['bob']} IDENTIFIED BY 'Pw2_{prefix}' ACCOUNT LOCK",
            f"CREATE USER {u['carol']} IDENTIFIED BY 'Pw3_{prefix}' "
            "WITH MAX_STATEMENT_TIME 1.5 MAX_USER_CONNECTIONS 4 MAX_QUERIES_PER_HOUR 99",
            f"CREATE USER {u['ops']} REQUIRE SUBJECT '/CN=ops' AND ISSUER '/CN=ca' AND CIPHER 'AES256-SHA'",
            f"CREATE USER {u['allp']} IDENTIFIED BY 'Pw4_{prefix}'",
            f"CREATE USER {u['ops2']}",
            *(f"CREATE ROLE {x}" for x in roles.values()),
            f"GRANT PROCESS ON *.* TO {u['alice']}",
            f"GRANT SELECT, INSERT ON `{db}`.* TO {u['alice']} WITH GRANT OPTION",
            f"GRANT SELECT (c), UPDATE ON `{db}`.t TO {u['alice']} WITH GRANT OPTION",
            f"GRANT DELETE ON `{db}`.`or.ders` TO {u['alice']}",
            f"GRANT EXECUTE, ALTER ROUTINE ON PROCEDURE `{db}`.`{prefix}_proc` TO {u['alice']} WITH GRANT OPTION",
            f"GRANT EXECUTE ON FUNCTION `{db}`.`{prefix}_fn` TO {u['carol']}",
            f"GRANT USAGE ON `{db}`.* TO {u['carol']} WITH GRANT OPTION",
            f"GRANT SELECT (d) ON `{db}`.t TO {u['carol']} WITH GRANT OPTION",
            f"GRANT {', '.join(GLOBAL_PRIV_ONLY)} ON *.* TO {u['ops']} WITH GRANT OPTION",
            f"GRANT ALL PRIVILEGES ON *.* TO {u['allp']}",
            f"GRANT SELECT ON `{db}`.t TO {r['r_read']}",
            f"GRANT INSERT ON `{db}`.* TO {r['r_app']}",
            f"GRANT RELOAD ON *.* TO {r['r_admin']}",
            f"GRANT {r['r_read']} TO {r['r_app']}",
            f"GRANT {r['r_app']} TO {u['bob']}",
            f"GRANT {r['r_admin']} TO {u['bob']} WITH ADMIN OPTION",
            f"SET DEFAULT ROLE {r['r_app']} FOR {u['bob']}",
            # GRANT PROXY needs the grantor to hold PROXY WITH GRANT OPTION, which only
            # root@localhost has: write the rows GRANT would write (an empty proxied host is
            # root's own default) and reload.
            "INSERT INTO mysql.proxies_priv (Host, User, Proxied_host, Proxied_user, With_grant, Grantor) "
            f"VALUES ('%', '{prefix}_bob', '', '', 0, 'root@localhost'), "
            f"('%', '{prefix}_carol', '%', '{prefix}_alice', 1, 'root@localhost')",
            "FLUSH PRIVILEGES",
        )
    try:
        yield {"db": db, **{k: f"{prefix}_{k}" for k in (*users, *roles)}}
    finally:
        with live.mysql_root() as root:
            live.run(root, *(f"DROP USER IF EXISTS {x}" for x in users.values()))
            live.run(root, *(f"DROP ROLE IF EXISTS {x}" for x in roles.values()))
            live.run(root, f"DROP DATABASE IF EXISTS `{db}`")


def show(root: Any, sql: str) -> list[str]:
    with root.cursor() as cur:
        cur.execute(sql)
        return [row[0] for row in cur.fetchall()]


def described(account: Account) -> str:
    """The account as SHOW GRANTS FOR takes it (a role: its bare name)."""
    if account.is_role:
        return f"`{account.username}`"
    return f"`{account.username}`@`{account.host}`"


def server_reader(root: Any) -> Reader:
    """`ALL PRIVILEGES ON *.*` means every privilege SHOW PRIVILEGES lists but these three."""
    with root.cursor() as cur:
        cur.execute("SHOW PRIVILEGES")
        names = {row[0].upper() for row in cur.fetchall()}
    return Reader(names - {"GRANT OPTION", "USAGE", "PROXY"})


def test_export_agrees_with_show_grants_fact_for_fact(
    mysql_instance: Any, scenario: dict[str, str], prefix: str, sync_scoped: Any
) -> None:
    result, _ = sync_scoped(mysql_instance, f"{prefix}\\_%")
    assert result.status == "completed"
    accounts = {
        a.identity: a
        for a in Account.objects.filter(instance=mysql_instance, identity__startswith=prefix).select_related(
            "snapshot"
        )
    }
    assert len(accounts) == 9
    exported = {
        a["identity"]: a for a in export_instance(mysql_instance)["accounts"] if a["identity"] in accounts
    }
    with open_connection(mysql_instance) as conn:  # the monitor's own, least-privilege view
        adapter = mysql.Adapter(conn)
        listed = [a for a in adapter.list_accounts() if a.identity in accounts]
        structured = adapter.collect_permissions(listed).structured
    mismatches: dict[str, Any] = {}
    with live.mysql_root() as root:
        reader = server_reader(root)
        for ident, account in sorted(accounts.items()):
            said = reader.facts(show(root, f"SHOW GRANTS FOR {described(account)}"))
            truth = said[ident]
            for other, facts in said.items():  # a role's lines include its granted roles' own
                if other != ident and other in accounts:
                    assert facts == snapshot_facts(exported[other]["permissions"]), other
            stored = snapshot_facts(exported[ident]["permissions"])
            facts = structured[ident]
            from_structure = {Fact(g.scope.render(), g.token()) for g in facts.grants}
            from_structure |= {Fact(m.scope, m.token()) for m in facts.memberships.values()}
            from_structure |= {f for f in stored if f.scope == "default role"}  # free text, not a grant
            if stored != truth or from_structure != truth:
                mismatches[ident] = {
                    "server only": sorted(truth - stored),
                    "stored only": sorted(stored - truth),
                    "structure differs": sorted(from_structure ^ truth),
                }
            if not account.is_role:
                said = create_user_facts(show(root, f"SHOW CREATE USER {described(account)}")[0])
                attrs = exported[ident]["attributes"]
                assert exported[ident]["is_locked"] == said.pop("locked"), ident
                assert exported[ident]["is_expired"] == said.pop("expired"), ident
                for key, value in said.items():
                    assert str(attrs.get(key)) == str(value), (ident, key, attrs.get(key), value)
                for key in ("x509_issuer", "x509_subject", "ssl_cipher", "max_statement_time"):
                    assert (key in attrs) == (key in said), (ident, key)
    assert mismatches == {}

    # The facts the issue found missing or wrong are there (so the comparison above means it).
    ops = accounts[f"{prefix}_ops@%"]
    assert ops.snapshot.permissions["global"] == [p + " WITH GRANT OPTION" for p in GLOBAL_PRIV_ONLY]
    assert ops.can_grant and accounts[f"{prefix}_carol@%"].can_grant
    assert ops.attributes["x509_subject"] == "/CN=ops" and ops.attributes["ssl_cipher"] == "AES256-SHA"
    assert accounts[f"{prefix}_carol@%"].attributes["max_statement_time"] == "1.500000"
    assert len(accounts[f"{prefix}_allp@%"].snapshot.permissions["global"]) >= 38  # ALL PRIVILEGES
    bob = accounts[f"{prefix}_bob@%"].snapshot.permissions
    assert bob["proxy ''@'%'"] == ["PROXY"]
    assert not any(
        t.startswith("GRANT") for p in accounts.values() for ts in p.snapshot.permissions.values() for t in ts
    )
    db = scenario["db"]
    alice = structured[f"{prefix}_alice@%"]
    assert any(g.scope.path == (db, "or.ders") and g.privilege == "DELETE" for g in alice.grants)
    members = structured[f"{prefix}_bob@%"].memberships
    app, admin = members[("role", f"{prefix}_r_app@")], members[("role", f"{prefix}_r_admin@")]
    assert app.inherit and app.default and not app.admin  # default role: active at login
    assert not admin.inherit and admin.set and admin.admin  # needs SET ROLE
    assert structured[f"{prefix}_r_app@"].memberships[("role", f"{prefix}_r_read@")].inherit


def test_each_global_priv_only_privilege_change_is_one_entry(
    mysql_instance: Any, scenario: dict[str, str], prefix: str, sync_scoped: Any
) -> None:
    pattern, who = f"{prefix}\\_%", f"'{prefix}_ops2'@'%'"
    sync_scoped(mysql_instance, pattern)
    for action, sql in (("GRANT", "GRANT {} ON *.* TO {}"), ("REVOKE", "REVOKE {} ON *.* FROM {}")):
        for privilege in GLOBAL_PRIV_ONLY:
            with live.mysql_root() as root:
                live.run(root, sql.format(privilege, who))
            _, session = sync_scoped(mysql_instance, pattern)
            changes = [
                (c.account.identity, c.change_type, c.details.get("entries"))
                for c in AccountChange.objects.filter(session=session).select_related("account")
            ]
            entry = {"action": action, "scope": "global", "privileges": [privilege]}
            assert changes == [(f"{prefix}_ops2@%", ChangeType.MODIFY_PRIVILEGE, [entry])], privilege


def test_a_renamed_account_keeps_its_fingerprint(
    mysql_instance: Any, scenario: dict[str, str], prefix: str
) -> None:
    def listed() -> dict[str, mysql.RemoteAccount]:
        with open_connection(mysql_instance) as conn:
            return {
                a.identity: a for a in mysql.Adapter(conn).list_accounts() if a.identity.startswith(prefix)
            }

    before = listed()
    alice, carol = before[f"{prefix}_alice@%"], before[f"{prefix}_carol@%"]
    assert alice.fingerprint and alice.fingerprint != carol.fingerprint
    assert before[f"{prefix}_ops2@%"].fingerprint is None  # no password: no evidence
    with live.mysql_root() as root:
        live.run(root, f"RENAME USER '{prefix}_alice'@'%' TO '{prefix}_alice2'@'%'")
    try:
        after = listed()
        assert after[f"{prefix}_alice2@%"].fingerprint == alice.fingerprint
        assert not any(alice.fingerprint in str(a.attributes) for a in after.values())
    finally:
        with live.mysql_root() as root:
            live.run(root, f"DROP USER IF EXISTS '{prefix}_alice2'@'%'")


def test_pt_show_grants_agrees_where_installed(
    mysql_instance: Any, scenario: dict[str, str], prefix: str, sync_scoped: Any
) -> None:
    """Percona's pt-show-grants as a second witness (optional tool: skipped when absent)."""
    tool = shutil.which("pt-show-grants")
    if not tool:
        pytest.skip("pt-show-grants is not installed (apt-get install percona-toolkit)")
    sync_scoped(mysql_instance, f"{prefix}\\_%")
    users = [f"{prefix}_{k}@%" for k in ("alice", "bob", "carol", "ops", "allp", "ops2")]
    out = subprocess.run(
        [tool, "--host", "127.0.0.1", "--port", "3306", "--user", "root", "--only", ",".join(users)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    lines = [x.rstrip(";") for x in out.splitlines() if x.startswith(("GRANT", "SET DEFAULT ROLE"))]
    with live.mysql_root() as root:
        said = server_reader(root).facts(lines)
    stored = Account.objects.filter(instance=mysql_instance, identity__in=users).select_related("snapshot")
    assert {a.identity: snapshot_facts(a.snapshot.permissions) for a in stored} == {u: said[u] for u in users}


def test_the_mysql_user_reader_agrees_with_global_priv_where_the_view_can_tell(
    mysql_instance: Any, scenario: dict[str, str], prefix: str
) -> None:
    """The `mysql.user` reader (MySQL, MariaDB before 10.4) run live on MariaDB's view of the
    same accounts: its SQL runs, and it agrees with the `global_priv` reader on every fact the
    view carries (the view has no column for the privileges added since 10.5)."""
    with open_connection(mysql_instance) as conn:
        json_reader = mysql.Adapter(conn)
        from_json = {a.identity: a for a in json_reader.list_accounts() if a.identity.startswith(prefix)}
        view_reader = mysql.Adapter(conn)
        view_reader.detect()
        view_reader.tables.discard("global_priv")
        from_view = {a.identity: a for a in view_reader.list_accounts() if a.identity.startswith(prefix)}
    assert from_view.keys() == from_json.keys() and len(from_view) == 9
    # Since 10.5.2 the view's Repl_client_priv column is the BINLOG MONITOR bit (its new name).
    alias = {"REPLICATION CLIENT": "BINLOG MONITOR"}
    view_columns = {alias.get(n, n) for n in map(mysql.priv_name, view_reader.priv_columns)} - {"GRANT"}
    for ident, j in from_json.items():
        v = from_view[ident]
        assert (v.is_role, v.is_expired) == (j.is_role, j.is_expired), ident  # no lock column in the view
        assert (v.fingerprint is None) == (j.fingerprint is None), ident
        shown = [t for t in j.preloaded.get("global", []) if t.split(" WITH ")[0] in view_columns]
        by_view = [t.replace("REPLICATION CLIENT", "BINLOG MONITOR") for t in v.preloaded.get("global", [])]
        assert sorted(by_view) == shown, ident
        same = {k: j.attributes[k] for k in v.attributes if k not in ("account_locked",)}
        assert {k: v.attributes[k] for k in same} == same, ident  # the view has no lock column
    assert from_view[f"{prefix}_ops@%"].attributes["x509_issuer"] == "/CN=ca"


def test_every_global_privilege_alone_reads_as_show_grants_names_it(mysql_instance: Any, prefix: str) -> None:
    """One account per global privilege the server knows (SHOW PRIVILEGES), each granted that one
    privilege alone: the adapter decodes exactly it from `global_priv`'s bitmask, as SHOW GRANTS
    names it. (ALL PRIVILEGES cannot tell one bit from another: every bit is set.) One more holds
    only the grant option."""
    with live.mysql_root() as root:
        with root.cursor() as cur:
            cur.execute("SHOW PRIVILEGES")
            known = sorted(row[0].upper() for row in cur.fetchall())
        privileges = [p for p in known if p not in ("USAGE", "GRANT OPTION", "PROXY")]
        accounts = {p: f"{prefix}_g{i}" for i, p in enumerate(privileges)}
        live.run(
            root,
            *(f"CREATE USER '{u}'@'%'" for u in accounts.values()),
            *(f"GRANT {p} ON *.* TO '{u}'@'%'" for p, u in accounts.items()),
            f"CREATE USER '{prefix}_gopt'@'%'",
            f"GRANT USAGE ON *.* TO '{prefix}_gopt'@'%' WITH GRANT OPTION",
        )
    try:
        with live.mysql_root() as root:
            reader = server_reader(root)
            said = {
                u: reader.facts(show(root, f"SHOW GRANTS FOR '{u}'@'%'"))[f"{u}@%"]
                for u in [*accounts.values(), f"{prefix}_gopt"]
            }
        with open_connection(mysql_instance) as conn:  # the monitor's own, least-privilege view
            adapter = mysql.Adapter(conn)
            listed = [a for a in adapter.list_accounts() if a.identity.startswith(f"{prefix}_g")]
            structured = adapter.collect_permissions(listed).structured
        read = {
            ident.removesuffix("@%"): {Fact(g.scope.render(), g.token()) for g in facts.grants}
            for ident, facts in structured.items()
        }
        assert len(privileges) >= 38  # MariaDB 10.5.8+: the bits up to SLAVE MONITOR
        for privilege, user in accounts.items():
            assert said[user] == {Fact("global", privilege)}, privilege  # the server's own word
            assert read[user] == said[user], privilege
        assert said[f"{prefix}_gopt"] == read[f"{prefix}_gopt"] == {Fact("global", "USAGE WITH GRANT OPTION")}
    finally:
        with live.mysql_root() as root:
            live.run(
                root, *(f"DROP USER IF EXISTS '{u}'@'%'" for u in [*accounts.values(), f"{prefix}_gopt"])
            )
