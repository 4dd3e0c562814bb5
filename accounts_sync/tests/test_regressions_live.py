"""Bugs the rest of the suite did not notice, each pinned against the live servers' own truth:
a failing account listing, the monitoring connection's own PostgreSQL database, `last_seen_at`
of deactivated accounts, MariaDB password lifetimes, login plugins and grants to PUBLIC."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pytest

from accounts_sync.adapters import mysql as mysql_adapter
from accounts_sync.coordinator import AccountSyncCoordinator
from accounts_sync.models import Account, AccountChange
from accounts_sync.statements import Account as Rendered
from accounts_sync.statements import direct_privileges, statements
from accounts_sync.tasks import sync_accounts
from whalefall.models import Instance, SyncInstanceRecord
from whalefall.sync.phases import PhaseError
from whalefall.tests import live
from whalefall.tests.factories import CredentialFactory, InstanceFactory, SyncSessionFactory

pytestmark = pytest.mark.live
DAY = 86400


def monitored(name: str, password: str, **kw: Any) -> Instance:
    return InstanceFactory(credential=CredentialFactory(username=name, password=password), **kw)


def sync_all(instance: Instance, *, force: bool = False) -> AccountSyncCoordinator:
    """One unscoped pass (every account of the server), as the scheduled task runs it."""
    with AccountSyncCoordinator(instance, session=SyncSessionFactory(), force=force) as coordinator:
        coordinator.run()
    return coordinator


# --- a listing that fails ---------------------------------------------------------------------
@pytest.fixture
def blind_monitor(mysql_user: Any) -> Callable[[], Instance]:
    """A MariaDB monitoring login that can connect but lost SELECT on the account catalog."""

    def make() -> tuple[Instance, str]:
        name, pwd = mysql_user(grants=("GRANT SELECT ON mysql.* TO {user}",))
        return monitored(name, pwd, db_type="mysql", port=3306), name

    return make


def revoke_catalog(name: str) -> None:
    with live.mysql_root() as root:
        live.run(root, f"REVOKE SELECT ON mysql.* FROM '{name}'@'%'")


@pytest.mark.django_db(transaction=True)
def test_a_first_sync_whose_listing_is_denied_fails_in_the_inventory_phase(blind_monitor: Any) -> None:
    instance, name = blind_monitor()
    revoke_catalog(name)
    summary = sync_accounts(instance_ids=[instance.pk], trigger="manual", force=True)
    record = SyncInstanceRecord.objects.get(session__session_id=summary["session_id"])
    assert summary["status"] == "failed"
    assert (record.status, record.failed_phase) == ("failed", "inventory")
    assert "denied" in record.error_message.lower()
    assert record.sync_details["inventory"]["status"] == "failed"
    assert not Account.objects.filter(instance=instance).exists()
    assert not AccountChange.objects.filter(instance=instance).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("force", [False, True], ids=["guarded", "forced"])
def test_a_denied_listing_changes_no_stored_account(
    blind_monitor: Any, mysql_user: Any, prefix: str, sync_scoped: Any, force: bool
) -> None:
    """Not an empty listing: nothing is deactivated, with or without force, and the error says
    why (not the misleading "more than half" refusal)."""
    instance, name = blind_monitor()
    with live.mysql_root() as root:
        live.run(root, *(f"CREATE USER '{prefix}_{i}'@'%'" for i in range(3)))
    try:
        sync_scoped(instance, f"{prefix}\\_%")
        stored = set(
            Account.objects.filter(instance=instance)
            .with_last_seen()
            .values_list("identity", "is_active", "seen_at")
        )
        changes = AccountChange.objects.filter(instance=instance).count()
        assert len(stored) == 3 and changes == 1  # the first sync's baseline entry
        revoke_catalog(name)
        with pytest.raises(PhaseError) as failed:
            sync_scoped(instance, f"{prefix}\\_%", force=force)
        assert failed.value.phase == "inventory"
        assert "denied" in failed.value.message.lower() and "more than half" not in failed.value.message
        after = set(
            Account.objects.filter(instance=instance)
            .with_last_seen()
            .values_list("identity", "is_active", "seen_at")
        )
        assert after == stored
        assert AccountChange.objects.filter(instance=instance).count() == changes
    finally:
        with live.mysql_root() as root:
            live.run(root, *(f"DROP USER IF EXISTS '{prefix}_{i}'@'%'" for i in range(3)))


# --- the monitoring connection's own PostgreSQL database --------------------------------------
@pytest.fixture
def pg_databases(prefix: str) -> Iterator[Callable[..., str]]:
    """Create databases with statements run inside them; dropped (FORCE) at the end."""
    created: list[str] = []

    def make(suffix: str, *statements: str, public_connect: bool = True) -> str:
        name = f"{prefix}_{suffix}"
        created.append(name)
        with live.pg_superuser() as su:
            live.run(su, f"CREATE DATABASE {name}")
            if not public_connect:
                live.run(su, f"REVOKE CONNECT ON DATABASE {name} FROM PUBLIC")
        with live.pg_superuser(name) as conn:
            live.run(conn, *statements)
        return name

    yield make
    with live.pg_superuser() as su:
        live.run(su, *(f"DROP DATABASE IF EXISTS {n} WITH (FORCE)" for n in created))


@pytest.mark.django_db
def test_every_connectable_database_is_read_the_connections_own_included(
    pg_role: Any, pg_databases: Any, sync_scoped: Any
) -> None:
    grantee, _ = pg_role(attrs="NOLOGIN", checked=False)
    own = pg_databases("own", "CREATE TABLE t_own (a int)", f"GRANT SELECT ON t_own TO {grantee}")
    other = pg_databases("other", "CREATE TABLE t_other (a int)", f"GRANT INSERT ON t_other TO {grantee}")
    closed = pg_databases(
        "closed",
        "CREATE TABLE t_closed (a int)",
        f"GRANT DELETE ON t_closed TO {grantee}",
        public_connect=False,
    )
    name, pwd = pg_role(attrs="LOGIN")
    instance = monitored(name, pwd, db_type="postgresql", port=5432, database=own)

    result, _ = sync_scoped(instance, grantee)
    permissions = Account.objects.get(instance=instance, identity=grantee).snapshot.permissions
    assert permissions[f"table {own}.public.t_own"] == ["SELECT"]  # the connection's own database
    assert permissions[f"table {other}.public.t_other"] == ["INSERT"]
    assert not any(scope.startswith(f"table {closed}.") for scope in permissions)
    assert closed in result.sync_details["collection"]["databases_skipped"]
    assert own not in result.sync_details["collection"]["databases_skipped"]


# --- last_seen_at of deactivated accounts -----------------------------------------------------
@pytest.mark.django_db
def test_an_unscoped_sync_leaves_last_seen_at_of_deactivated_accounts_alone(
    mysql_instance: Instance, prefix: str
) -> None:
    users = [f"'{prefix}_stays'@'%'", f"'{prefix}_goes'@'%'"]
    with live.mysql_root() as root:
        live.run(root, *(f"CREATE USER {u}" for u in users))
    try:
        first = sync_all(mysql_instance, force=True)
        with live.mysql_root() as root:
            live.run(root, f"DROP USER {users[1]}")
        second = sync_all(mysql_instance, force=True)
    finally:
        with live.mysql_root() as root:
            live.run(root, *(f"DROP USER IF EXISTS {u}" for u in users))
    stays = Account.objects.get(instance=mysql_instance, identity=f"{prefix}_stays@%")
    goes = Account.objects.get(instance=mysql_instance, identity=f"{prefix}_goes@%")
    assert second.now > first.now
    assert (stays.is_active, stays.last_seen()) == (True, second.now)
    assert (goes.is_active, goes.deactivated_at, goes.last_seen()) == (False, second.now, first.now)


# --- MariaDB password lifetime ----------------------------------------------------------------
def set_password_changed(user: str, seconds_ago: int) -> None:
    """Back-date the password change in MariaDB's own account record (root only)."""
    with live.mysql_root() as root:
        live.run(
            root,
            "UPDATE mysql.global_priv SET Priv = JSON_SET(Priv, '$.password_last_changed', "
            f"UNIX_TIMESTAMP() - {seconds_ago}) WHERE User = '{user}' AND Host = '%'",
            "FLUSH PRIVILEGES",
        )


def engine_says_expired(user: str, password: str) -> bool:
    """Log in as the account: MariaDB refuses work (or the login) once the password expired."""
    try:
        conn = pymysql.connect(host="127.0.0.1", port=3306, user=user, password=password)
    except pymysql.err.OperationalError as exc:
        if exc.args[0] == 1862:  # ER_MUST_CHANGE_PASSWORD_LOGIN
            return True
        raise
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        return False
    except pymysql.err.OperationalError as exc:
        if exc.args[0] == 1820:  # ER_MUST_CHANGE_PASSWORD: logged in, but in "sandbox mode"
            return True
        raise
    finally:
        conn.close()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("expire", "changed_days_ago", "expired"),
    [
        ("PASSWORD EXPIRE NEVER", 400, False),  # stored as password_lifetime = 0
        ("PASSWORD EXPIRE INTERVAL 30 DAY", 40, True),
        ("PASSWORD EXPIRE INTERVAL 30 DAY", 10, False),
        ("PASSWORD EXPIRE DEFAULT", 400, False),  # default_password_lifetime is 0 here: never
        ("PASSWORD EXPIRE", 0, True),
    ],
    ids=["never", "interval-past", "interval-future", "default", "expired-now"],
)
def test_password_lifetime_is_read_as_mariadb_applies_it(
    mysql_instance: Instance, prefix: str, sync_scoped: Any, expire: str, changed_days_ago: int, expired: bool
) -> None:
    user, password = f"{prefix}_pw", live.unique("Pw")
    with live.mysql_root() as root:
        (default_lifetime,) = _one(root, "SELECT @@default_password_lifetime")
        live.run(root, f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}' {expire}")
    try:
        if changed_days_ago:
            set_password_changed(user, changed_days_ago * DAY)
        assert default_lifetime == 0
        assert engine_says_expired(user, password) is expired  # the engine's own verdict
        sync_scoped(mysql_instance, f"{prefix}\\_%")
    finally:
        with live.mysql_root() as root:
            live.run(root, f"DROP USER IF EXISTS '{user}'@'%'")
    account = Account.objects.get(instance=mysql_instance, identity=f"{user}@%")
    assert account.is_expired is expired
    if "INTERVAL" in expire:
        assert int(account.attributes["password_lifetime"]) == 30  # as MariaDB stores it
    if "NEVER" in expire:
        assert int(account.attributes["password_lifetime"]) == 0


def _one(conn: Any, sql: str) -> tuple[Any, ...]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()


# --- login plugins ----------------------------------------------------------------------------
@pytest.mark.django_db
def test_unix_socket_is_a_login_plugin(mysql_instance: Instance, prefix: str, sync_scoped: Any) -> None:
    with live.mysql_root() as root:
        live.run(root, f"CREATE USER '{prefix}_sock'@'localhost' IDENTIFIED VIA unix_socket")
    try:
        sync_scoped(mysql_instance, f"{prefix}\\_%")
    finally:
        with live.mysql_root() as root:
            live.run(root, f"DROP USER IF EXISTS '{prefix}_sock'@'localhost'")
    account = Account.objects.get(instance=mysql_instance, identity=f"{prefix}_sock@localhost")
    assert account.attributes["plugin"] == "unix_socket" and account.can_login is True


def test_mariadb_has_no_mysql_no_login_plugin(prefix: str) -> None:
    """Why the no-login case below uses MySQL catalog rows: MariaDB 10.11 refuses the plugin."""
    with live.mysql_root() as root, pytest.raises(pymysql.err.MySQLError, match="mysql_no_login"):
        live.run(root, f"CREATE USER '{prefix}_nol'@'%' IDENTIFIED WITH mysql_no_login")


@pytest.mark.parametrize(
    ("plugin", "can_login"),
    [
        ("mysql_no_login", False),
        ("caching_sha2_password", True),
        ("mysql_native_password", True),
        ("auth_socket", True),
        ("sha256_password", True),
    ],
)
def test_mysql_no_login_accounts_cannot_log_in(plugin: str, can_login: bool) -> None:
    """A MySQL 8 `mysql.user` row, shaped as the server returns it (the catalog-shaped fake of
    the MySQL variant tests)."""
    from accounts_sync.tests.test_mysql_variants import MYSQL8_TABLES, fake, user

    conn = fake(MYSQL8_TABLES, [user("app", plugin=plugin)])
    [account] = mysql_adapter.Adapter(conn, conn.server).list_accounts()  # type: ignore[arg-type]
    assert account.attributes["plugin"] == plugin
    assert account.can_login is can_login and account.is_locked is False and account.is_expired is False


# --- MariaDB's PUBLIC ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_mariadb_grant_to_public_answers_as_every_account(
    mysql_instance: Instance, prefix: str, sync_scoped: Any
) -> None:
    """MariaDB 10.11 grants to PUBLIC like PostgreSQL: the server keeps them on a role named
    PUBLIC on the empty host. Who can read the database must say "every account", as
    `SHOW GRANTS FOR PUBLIC` does, not name a role nobody seems to hold."""
    from accounts_sync.questions import who_can

    db = f"{prefix}_pub"
    with live.mysql_root() as root, root.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM mysql.global_priv WHERE User = 'PUBLIC' AND Host = ''")
        existed = cur.fetchone()[0] > 0
        live.run(root, f"CREATE DATABASE `{db}`", f"GRANT SELECT ON `{db}`.* TO PUBLIC")
        cur.execute("SHOW GRANTS FOR PUBLIC")
        shown = [row[0] for row in cur.fetchall()]
    try:
        assert f"GRANT SELECT ON `{db}`.* TO PUBLIC" in shown  # the engine's own account of it
        sync_scoped(mysql_instance, "PUBLIC@")
    finally:
        with live.mysql_root() as root:
            live.run(root, f"REVOKE SELECT ON `{db}`.* FROM PUBLIC", f"DROP DATABASE `{db}`")
            if not existed:  # leave the server as it was (the role appears with its first grant)
                live.run(root, "DELETE FROM mysql.global_priv WHERE User = 'PUBLIC' AND Host = ''")
                live.run(root, "FLUSH PRIVILEGES")
    (holder,) = [h for h in who_can("SELECT", f"{db}.t") if h.instance == mysql_instance.name]
    assert (holder.account, holder.is_role, holder.is_public) == ("PUBLIC@", True, True)
    assert holder.path == "to PUBLIC (every account)"
    public = Account.objects.get(instance=mysql_instance, identity="PUBLIC@")
    written = statements(
        Rendered.of(public), direct_privileges(public.privileges.all()), public.snapshot.permissions
    )
    assert [s.sql.rstrip(";") for s in written if not s.sql.startswith("--")] == shown
