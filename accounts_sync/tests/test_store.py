"""The coordinator's side of the privilege model, on a scripted adapter (exact control of what
the server "says" from one sync to the next): effective privileges in snapshots and the store,
changes caused by roles, format upgrades, unreadable databases carried over, renames."""

from __future__ import annotations

import gc
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import CASCADE, F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from accounts_sync.adapters.base import AccountAdapter, Collected, Grants, GrantSet, RemoteAccount, Scope
from accounts_sync.coordinator import AccountSyncCoordinator
from accounts_sync.models import (
    Account,
    AccountChange,
    AccountPrivilege,
    AccountSyncState,
    ChangeType,
    PermissionSnapshot,
)
from accounts_sync.tests.fakes import FakeConnection
from whalefall.connections.base import ServerInfo
from whalefall.models import Instance, SyncSession
from whalefall.sync.phases import InstanceResult, PhaseError
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory
from whalefall.tests.test_translations import compiled_catalogue  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
SERVER = ServerInfo("postgresql", "PostgreSQL", (15, 0), "15.0")
ORDERS = Scope.of("table", "shop", "orders")


@dataclass
class World:
    """What the scripted server holds; tests edit it between syncs."""

    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # identity -> RemoteAccount kwargs
    grants: set[tuple[str, Scope, str]] = field(default_factory=set)
    members: dict[tuple[str, str], dict[str, bool]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    prepared: bool = False  # grants as shared prepared sets (as the MySQL adapter records them)

    def add(self, *identities: str, **kwargs: Any) -> None:
        for identity in identities:
            self.accounts[identity] = kwargs

    def hide(self, *databases: str) -> set[tuple[str, Scope, str]]:
        """Stop reporting the grants inside `databases` (as when they cannot be read); returns them."""
        hidden = {g for g in self.grants if g[1].path[:1] and g[1].path[0] in databases}
        self.grants -= hidden
        return hidden


class Scripted(AccountAdapter):
    db_type = "postgresql"

    def __init__(self, connection: Any, server: ServerInfo, world: World) -> None:
        super().__init__(connection, server)
        self.world = world

    def list_accounts(self) -> list[RemoteAccount]:
        self.notes = {k: (dict(v) if isinstance(v, dict) else list(v)) for k, v in self.world.notes.items()}
        return [RemoteAccount(i, i, **kw) for i, kw in sorted(self.world.accounts.items())]

    def listed_in(self, identity: str) -> str | None:
        from accounts_sync.adapters.sqlserver import unquote_first

        return unquote_first(identity)

    def collect_permissions(self, accounts: Sequence[RemoteAccount]) -> Collected:
        grants = Grants(a.identity for a in accounts)
        if self.world.prepared:
            grants.grant_sets(self.prepared_sets())
        else:
            for identity, scope, privilege in sorted(self.world.grants):
                grants.grant(identity, scope, privilege)
        for (identity, role), options in sorted(self.world.members.items()):
            grants.member(identity, role, scope="member of", **options)
        self.notes = {k: (dict(v) if isinstance(v, dict) else list(v)) for k, v in self.world.notes.items()}
        return grants.result()

    def prepared_sets(self) -> list[tuple[str, GrantSet]]:
        """One set per (scope, privileges), shared by every identity that holds exactly those."""
        held: dict[tuple[str, Scope], list[str]] = defaultdict(list)
        for identity, scope, privilege in sorted(self.world.grants):
            held[identity, scope].append(privilege)
        made: dict[tuple[Scope, tuple[str, ...]], GrantSet] = {}
        pairs = []
        for (identity, scope), privileges in sorted(held.items()):
            key = (scope, tuple(privileges))
            if key not in made:
                made[key] = GrantSet.of(scope, [(p, False) for p in privileges])
            pairs.append((identity, made[key]))
        return pairs


Sync = Callable[[], tuple[InstanceResult, SyncSession]]


@pytest.fixture(params=[False, True], ids=["grants", "prepared sets"])
def scripted(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[World, Instance, Sync]:
    """The coordinator on a scripted adapter; every test runs with grants recorded one by one and
    as shared prepared sets (accounts of one shape are worked out once)."""
    world = World(prepared=request.param)
    monkeypatch.setattr("whalefall.sync.coordinator.open_connection", lambda i: FakeConnection([], SERVER))
    monkeypatch.setattr(
        AccountSyncCoordinator, "make_adapter", lambda self, conn: Scripted(conn, SERVER, world)
    )
    instance = InstanceFactory(db_type="postgresql")

    def sync() -> tuple[InstanceResult, SyncSession]:
        session = SyncSessionFactory()
        with AccountSyncCoordinator(instance, session=session) as coordinator:
            return coordinator.run(), session

    return world, instance, sync


def roles_world(world: World) -> None:
    world.add("alice", "bob", "root")
    world.add("r_app", "r_read", "r_admin", is_role=True, can_login=False)
    world.add("PUBLIC", is_role=True, can_login=False)
    world.accounts["root"] = {"is_superuser": True}
    world.grants |= {
        ("r_read", ORDERS, "SELECT"),
        ("r_admin", ORDERS, "DELETE"),
        ("alice", ORDERS, "INSERT"),
        ("PUBLIC", Scope.of("database", "shop"), "CONNECT"),
        ("root", Scope.of("database", "shop"), "OWNER"),
    }
    world.members[("alice", "r_app")] = {}
    world.members[("r_app", "r_read")] = {}
    world.members[("alice", "r_admin")] = {"inherit": False}


def changes(session: SyncSession) -> dict[tuple[str, str], AccountChange]:
    return {(c.account.identity, c.change_type): c for c in AccountChange.objects.filter(session=session)}


def rows(instance: Instance, identity: str) -> set[tuple[str, str, str, str, bool]]:
    return set(
        AccountPrivilege.objects.filter(instance=instance, account__identity=identity).values_list(
            "scope_kind", "target", "privilege", "via", "verified"
        )
    )


def test_snapshots_and_rows_hold_effective_privileges_with_their_path(scripted: Any) -> None:
    world, instance, sync = scripted
    roles_world(world)
    sync()
    alice = Account.objects.get(instance=instance, identity="alice")
    assert alice.snapshot.format == PermissionSnapshot.FORMAT == 2
    assert alice.snapshot.permissions["table shop.orders"] == [
        "DELETE (via r_admin, after SET ROLE)",
        "INSERT",
        "SELECT (via r_app ← r_read)",
    ]
    assert rows(instance, "alice") == {
        ("table", "shop.orders", "INSERT", "", True),
        ("table", "shop.orders", "SELECT", "r_app ← r_read", True),
        ("table", "shop.orders", "DELETE", "r_admin", True),
    }
    # PUBLIC's grants stay on PUBLIC; the superuser is one ALL row besides its direct grants
    assert rows(instance, "PUBLIC") == {("database", "shop", "CONNECT", "", True)}
    assert ("server", "", "ALL", "superuser", True) in rows(instance, "root")
    assert Account.objects.get(identity="root").snapshot.permissions["server"] == ["ALL (as superuser)"]
    needs_set = AccountPrivilege.objects.get(account=alice, privilege="DELETE")
    assert needs_set.needs_set_role and needs_set.path == ["shop", "orders"]


def test_privilege_rows_follow_their_account_and_go_with_their_instance(scripted: Any) -> None:
    """The privilege's instance is a copy of its account's, without a key constraint of its own:
    the sync writes the account's, and deleting an instance still removes its rows, only its."""
    world, instance, sync = scripted
    roles_world(world)
    sync()
    other = InstanceFactory(db_type="postgresql")
    account = Account.objects.create(instance=other, identity="carol", username="carol")
    kept = AccountPrivilege.objects.create(
        instance=other, account=account, scope_kind="table", target="shop.orders", privilege="SELECT"
    )
    written = AccountPrivilege.objects.filter(instance=instance)
    assert written.count() >= 5
    assert not AccountPrivilege.objects.exclude(instance_id=F("account__instance_id")).exists()
    instance.delete()
    assert not AccountPrivilege.objects.filter(instance_id=instance.pk).exists()
    assert list(AccountPrivilege.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not Account.objects.filter(instance_id=instance.pk).exists()


def test_a_privilege_row_is_checked_against_its_account_only() -> None:
    """One deferred key check per privilege row at COMMIT (its account's), not two: the table's
    only foreign-key constraint is to the account, and Django cascades along the instance."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, AccountPrivilege._meta.db_table)
    keys = {tuple(c["columns"]): c["foreign_key"] for c in found.values() if c["foreign_key"]}
    assert keys == {("account_id",): (Account._meta.db_table, "id")}
    assert AccountPrivilege._meta.get_field("instance").remote_field.on_delete is CASCADE


def test_a_role_losing_a_grant_logs_an_effective_change_for_each_member(scripted: Any) -> None:
    world, instance, sync = scripted
    roles_world(world)
    sync()
    world.grants.discard(("r_read", ORDERS, "SELECT"))
    result, session = sync()
    logged = changes(session)
    assert set(logged) == {
        ("r_read", ChangeType.MODIFY_PRIVILEGE),
        ("r_app", ChangeType.MODIFY_PRIVILEGE),
        ("alice", ChangeType.MODIFY_PRIVILEGE),
    }
    assert logged[("alice", ChangeType.MODIFY_PRIVILEGE)].summary == (
        "REVOKE SELECT (via r_app ← r_read) ON table shop.orders"
    )
    assert logged[("r_read", ChangeType.MODIFY_PRIVILEGE)].summary == "REVOKE SELECT ON table shop.orders"
    assert ("table", "shop.orders", "SELECT", "r_app ← r_read", True) not in rows(instance, "alice")
    assert result.items_updated == 3


@pytest.mark.parametrize(
    ("accounts", "language", "summary"),
    [
        (1, "en", "baseline: 1 account"),
        (3, "en", "baseline: 3 accounts"),
        (1, "zh-hans", "基线：1 个账户"),  # noqa: RUF001 - Chinese punctuation
    ],
)
def test_the_baseline_summary_counts_accounts_in_the_running_language(
    scripted: Any,
    compiled_catalogue: Any,  # noqa: F811 - the fixture
    accounts: int,
    language: str,
    summary: str,
) -> None:
    world, instance, sync = scripted
    world.add(*(f"user{i}" for i in range(accounts)))
    with translation.override(language):  # the scheduler's LANGUAGE_CODE
        sync()
    baseline = AccountChange.objects.get(instance=instance)
    assert (baseline.change_type, baseline.summary) == (ChangeType.BASELINE, summary)


def test_a_sync_without_changes_writes_nothing(scripted: Any) -> None:
    world, _instance, sync = scripted
    roles_world(world)
    sync()
    before = sorted(AccountPrivilege.objects.values_list("id", flat=True))
    snapshots = sorted(PermissionSnapshot.objects.values_list("id", "version"))
    result, session = sync()
    assert result.sync_details["collection"]["unchanged"] == len(world.accounts)
    assert sorted(AccountPrivilege.objects.values_list("id", flat=True)) == before
    assert sorted(PermissionSnapshot.objects.values_list("id", "version")) == snapshots
    assert not AccountChange.objects.filter(session=session).exists()


def test_an_older_snapshot_format_is_upgraded_silently(scripted: Any) -> None:
    world, instance, sync = scripted
    roles_world(world)
    sync()
    # What format 1 stored: direct grants only, and no privilege rows.
    for snapshot in PermissionSnapshot.objects.all():
        snapshot.permissions = {
            scope: [t for t in tokens if "(" not in t] for scope, tokens in snapshot.permissions.items()
        }
        snapshot.permissions = {s: t for s, t in snapshot.permissions.items() if t}
        snapshot.format, snapshot.hash = 1, "old"
        snapshot.save()
    AccountPrivilege.objects.all().delete()
    result, session = sync()
    assert result.sync_details["collection"]["format_upgraded"] == len(world.accounts)
    assert not AccountChange.objects.filter(session=session).exists()
    assert set(PermissionSnapshot.objects.values_list("format", "version")) == {(2, 1)}
    assert ("table", "shop.orders", "SELECT", "r_app ← r_read", True) in rows(instance, "alice")
    again, session = sync()
    assert again.sync_details["collection"]["unchanged"] == len(world.accounts)


def test_an_unreadable_database_is_carried_over_unverified_never_revoked(scripted: Any) -> None:
    world, instance, sync = scripted
    roles_world(world)
    other = Scope.of("table", "crm", "leads")
    world.grants.add(("alice", other, "UPDATE"))
    sync()
    # The monitoring login cannot read `shop` any more: its objects' grants are not reported.
    shop = world.hide("shop")
    world.grants.discard(("alice", other, "UPDATE"))  # a real revoke in a readable database
    world.notes = {"databases_unreadable": {"shop": "permission denied for database shop"}}
    result, session = sync()
    assert result.status == "completed"
    assert result.sync_details["collection"]["unverified"] == {"shop": "permission denied for database shop"}
    logged = changes(session)
    assert list(logged) == [("alice", ChangeType.MODIFY_PRIVILEGE)]
    assert logged[("alice", ChangeType.MODIFY_PRIVILEGE)].details["entries"] == [
        {"action": "REVOKE", "scope": "table crm.leads", "privileges": ["UPDATE"]}
    ]
    alice = Account.objects.get(identity="alice")
    assert "SELECT (via r_app ← r_read)" in alice.snapshot.permissions["table shop.orders"]
    assert rows(instance, "alice") == {
        ("table", "shop.orders", "INSERT", "", False),
        ("table", "shop.orders", "SELECT", "r_app ← r_read", False),
        ("table", "shop.orders", "DELETE", "r_admin", False),
    }
    # Readable again, nothing changed meanwhile: no entry, and the rows are verified again.
    world.grants |= shop
    world.notes = {}
    result, session = sync()
    assert not AccountChange.objects.filter(session=session).exists()
    assert result.sync_details["collection"]["baseline"] == {"databases": ["shop"], "grants_not_logged": 0}
    assert not AccountPrivilege.objects.filter(instance=instance, verified=False).exists()


def test_a_database_first_read_after_being_unreadable_is_a_baseline(scripted: Any) -> None:
    world, instance, sync = scripted
    roles_world(world)
    shop = world.hide("shop")
    world.notes = {"databases_skipped": ["shop"]}  # what today's adapters report
    first, _ = sync()
    assert first.sync_details["collection"]["unverified"] == {"shop": "not readable"}
    world.grants |= shop | {("bob", Scope.of("table", "crm", "leads"), "SELECT")}
    world.notes = {}
    result, session = sync()
    logged = changes(session)
    # bob's grant in a database read both times is logged; shop's grants are a baseline
    assert list(logged) == [("bob", ChangeType.MODIFY_PRIVILEGE)]
    assert result.sync_details["collection"]["baseline"]["grants_not_logged"] > 0
    assert ("table", "shop.orders", "SELECT", "r_app ← r_read", True) in rows(instance, "alice")


def test_a_rename_with_the_same_fingerprint_and_permissions_is_one_change(scripted: Any) -> None:
    world, _instance, sync = scripted
    world.add("carol", "dave", fingerprint="fp-carol")
    world.accounts["dave"] = {"fingerprint": "fp-dave"}
    world.grants |= {("carol", ORDERS, "SELECT"), ("dave", ORDERS, "SELECT")}
    sync()
    world.accounts["caroline"] = world.accounts.pop("carol")
    world.grants = {("caroline" if i == "carol" else i, s, p) for i, s, p in world.grants}
    result, session = sync()
    logged = changes(session)
    assert list(logged) == [("caroline", ChangeType.RENAME)]
    rename = logged[("caroline", ChangeType.RENAME)]
    old = Account.objects.get(identity="carol")
    assert rename.details["from"] == "carol" and rename.details["from_account_id"] == old.pk
    assert not old.is_active and old.deactivated_at is not None
    assert result.sync_details["collection"]["renamed"] == 1


@pytest.mark.parametrize("case", ["no fingerprint", "other permissions"])
def test_without_evidence_a_rename_stays_a_deactivation_and_an_addition(scripted: Any, case: str) -> None:
    world, _instance, sync = scripted
    world.add("carol", fingerprint=None if case == "no fingerprint" else "fp")
    world.add("dave")
    world.grants.add(("carol", ORDERS, "SELECT"))
    sync()
    world.accounts["caroline"] = world.accounts.pop("carol")
    world.grants = {("caroline", ORDERS, "INSERT" if case == "other permissions" else "SELECT")}
    _, session = sync()
    assert set(changes(session)) == {("carol", ChangeType.DEACTIVATE), ("caroline", ChangeType.ADD)}


def test_an_account_listed_from_an_unreadable_database_is_kept_not_deactivated(
    scripted: tuple[World, Instance, Sync],
) -> None:
    """A contained user is listed from its database: when that database cannot be read, the user
    is unseen, not gone (no deactivate entry, still active, last_seen_at untouched)."""
    world, instance, sync = scripted
    world.add("app", "[Sa]]les].[svc]", "[Hr].[gone]")
    sync()
    before = Account.objects.get(instance=instance, identity="[Sa]]les].[svc]").last_seen()
    del world.accounts["[Sa]]les].[svc]"], world.accounts["[Hr].[gone]"]
    world.notes = {"databases_unreadable": {"Sa]les": "database is OFFLINE"}}
    result, session = sync()
    kept = Account.objects.get(instance=instance, identity="[Sa]]les].[svc]")
    assert before is not None and listed_at(instance) > before
    assert kept.is_active and kept.last_seen_at == before  # the listing no longer speaks for it
    assert result.sync_details["inventory"]["kept_unlisted"] == 1
    changes = AccountChange.objects.filter(session=session)
    assert [(c.account.identity, c.change_type) for c in changes] == [("[Hr].[gone]", ChangeType.DEACTIVATE)]


def test_unquote_first_reads_the_database_of_a_bracketed_identity() -> None:
    from accounts_sync.adapters.sqlserver import qualified, unquote_first

    assert unquote_first(qualified("Sa]les", "u.x")) == "Sa]les"
    assert unquote_first("login") is None and unquote_first("[broken") is None


def test_account_pages_keep_room_for_last_seen_updates_on_postgresql() -> None:
    """Syncs update accounts in place where they can (a fact changed, `last_seen_at` set or
    emptied for many accounts at once): with room in the page the update stays in place (no new
    entry in the table's indexes)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL storage parameter")
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'accounts_sync_account'")
        assert cursor.fetchone()[0] == ["fillfactor=70"]
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'accounts_sync_account'"
            " AND indexdef LIKE '%%last_seen_at%%'"
        )
        assert cursor.fetchall() == []  # an index on it would rule out the in-place update


def test_the_inventory_counts_the_accounts_left_out_by_exclusion_rules(scripted: Any) -> None:
    from accounts_sync.models import ExclusionRule

    world, instance, sync = scripted
    world.add("alice", "bob", "carol", "monitor_a", "monitor_b")
    ExclusionRule.objects.create(db_type="postgresql", pattern="monitor\\_%")
    result, _ = sync()
    assert result.sync_details["inventory"]["excluded"] == 2
    assert result.sync_details["inventory"]["processed_records"] == 3
    assert set(Account.objects.filter(instance=instance).values_list("identity", flat=True)) == {
        "alice",
        "bob",
        "carol",
    }


def test_a_new_exclusion_rule_leaves_accounts_out_without_inventing_drops(scripted: Any) -> None:
    """A rule added for accounts already tracked: nothing changed on the server, so no drop is
    logged (nor alerted), the accounts do not count towards the suspicious-listing refusal, and
    removing the rule brings them back without a risky reactivation."""
    from accounts_sync.alerts import classify
    from accounts_sync.models import ExclusionRule, Severity

    world, instance, sync = scripted
    world.add("alice", "bob", "monitor_a", "monitor_b", "monitor_c")  # three of five: over half
    sync()
    rule = ExclusionRule.objects.create(db_type="postgresql", pattern="monitor\\_%")
    result, session = sync()
    assert result.status == "completed"  # not refused as a suspicious listing
    logged = changes(session)
    assert set(logged) == {(f"monitor_{x}", ChangeType.DEACTIVATE) for x in "abc"}
    for change in logged.values():
        assert change.details == {"excluded": True} and change.severity == Severity.NORMAL
        assert "still on the server" in change.summary
        assert classify(change, {"dropped_account"}, []) == []
    active = set(Account.objects.filter(instance=instance, is_active=True).values_list("identity", flat=True))
    assert active == {"alice", "bob"}
    del world.accounts["bob"]  # a real drop beside them is still one
    _result, session = sync()
    assert set(changes(session)) == {("bob", ChangeType.DEACTIVATE)}
    rule.delete()
    _result, session = sync()
    logged = changes(session)
    assert set(logged) == {(f"monitor_{x}", ChangeType.REACTIVATE) for x in "abc"}
    assert all(c.details == {"included": True} and c.severity == Severity.NORMAL for c in logged.values())


@pytest.mark.parametrize("case", ["two new with its fingerprint", "two gone with one fingerprint"])
def test_two_candidates_for_one_fingerprint_prove_no_rename(scripted: Any, case: str) -> None:
    world, _instance, sync = scripted
    world.add("carol", "dave", "erin", fingerprint="fp-shared" if case.startswith("two gone") else "fp-carol")
    world.accounts["dave"] = {"fingerprint": "fp-dave"}
    if case.startswith("two gone"):
        world.accounts["dave"] = {"fingerprint": "fp-shared"}
    world.add("frank", "gina")  # stay: two gone of five is no suspicious listing
    world.grants |= {(i, ORDERS, "SELECT") for i in ("carol", "dave", "erin")}
    sync()
    if case.startswith("two new"):
        del world.accounts["carol"]
        world.add("caroline", "carla", fingerprint="fp-carol")
        world.grants = {(i, ORDERS, "SELECT") for i in ("caroline", "carla", "dave", "erin")}
        expected = {("carol", "deactivate"), ("caroline", "add"), ("carla", "add")}
    else:
        del world.accounts["carol"], world.accounts["dave"]
        world.add("caroline", fingerprint="fp-shared")
        world.grants = {(i, ORDERS, "SELECT") for i in ("caroline", "erin")}
        expected = {("carol", "deactivate"), ("dave", "deactivate"), ("caroline", "add")}
    result, session = sync()
    assert {(i, str(kind)) for i, kind in changes(session)} == expected
    assert result.sync_details["collection"]["renamed"] == 0


def test_the_collection_counts_each_updated_account_once(scripted: Any) -> None:
    world, _instance, sync = scripted
    world.add("alice", "bob", "carol")
    world.grants |= {("alice", ORDERS, "SELECT"), ("bob", ORDERS, "SELECT")}
    sync()
    world.grants |= {("alice", ORDERS, "INSERT"), ("alice", ORDERS, "DELETE")}
    result, session = sync()
    collection = result.sync_details["collection"]
    assert (collection["updated"], collection["unchanged"], collection["renamed"]) == (1, 2, 0)
    assert list(changes(session)) == [("alice", ChangeType.MODIFY_PRIVILEGE)]


def test_without_exclusion_rules_for_the_engine_every_account_is_kept(scripted: Any) -> None:
    from accounts_sync.models import ExclusionRule

    world, instance, sync = scripted
    ExclusionRule.objects.filter(db_type="postgresql").delete()
    world.add("alice", "postgres", "pg_monitor")
    result, _ = sync()
    assert result.sync_details["inventory"]["excluded"] == 0
    assert Account.objects.filter(instance=instance).count() == 3


def test_an_attribute_change_is_seen_whichever_way_its_text_sorts(scripted: Any) -> None:
    """The stored attributes are compared as text first (one string comparison): a new value
    that sorts after the old one, then one that sorts before it, are both changes."""
    world, instance, sync = scripted
    world.add("alice", attributes={"valid_until": "2026-01-01"})
    sync()
    for value in ("2027-01-01", "2025-01-01"):
        world.accounts["alice"] = {"attributes": {"valid_until": value}}
        result, _ = sync()
        assert result.sync_details["inventory"]["attributes_changed"] == 1, value
        assert Account.objects.get(instance=instance, identity="alice").attributes == {"valid_until": value}
    result, _ = sync()
    assert result.sync_details["inventory"]["attributes_changed"] == 0


def test_a_changed_account_fact_is_stored(scripted: Any) -> None:
    """Facts beside the attributes (locked, can log in, superuser) are compared one by one."""
    world, instance, sync = scripted
    world.add("alice", "bob")
    sync()
    world.accounts["alice"] = {"is_locked": True, "can_login": False}
    sync()
    alice = Account.objects.get(instance=instance, identity="alice")
    assert (alice.is_locked, alice.can_login) == (True, False)
    assert Account.objects.get(instance=instance, identity="bob").is_locked is False


# --- rules the mutation run found untested ------------------------------------------------------
def test_accounts_of_one_shape_read_alike_but_a_superuser_keeps_all(scripted: Any) -> None:
    world, instance, sync = scripted
    world.add("app1", "app2", "app3")
    world.add("owner", is_superuser=True)
    for identity in ("app1", "app2", "app3", "owner"):
        world.grants.add((identity, ORDERS, "SELECT"))
    world.grants.add(("app3", ORDERS, "INSERT"))
    sync()
    snapshot = {a.identity: a.snapshot.permissions for a in Account.objects.filter(instance=instance)}
    assert snapshot["app1"] == snapshot["app2"] == {"table shop.orders": ["SELECT"]}
    assert snapshot["app3"] == {"table shop.orders": ["INSERT", "SELECT"]}
    assert snapshot["owner"] == {"server": ["ALL (as superuser)"], "table shop.orders": ["SELECT"]}
    assert ("server", "", "ALL", "superuser", True) not in rows(instance, "app1")


def test_a_coordinator_made_without_force_refuses_to_deactivate_more_than_half(scripted: Any) -> None:
    """One of one gone is more than half: refused and recorded as a suspicious listing."""
    world, instance, sync = scripted
    world.add("only")
    sync()
    world.accounts.clear()
    with pytest.raises(PhaseError) as refused:
        sync()
    assert "1 of 1" in refused.value.message
    assert refused.value.sync_details["inventory"] == {
        "status": "failed",
        "suspicious": True,
        "would_deactivate": 1,
        "active": 1,
    }
    assert Account.objects.get(instance=instance, identity="only").is_active


@pytest.mark.parametrize("change", ["lock", "unlock"])
def test_a_changed_fact_is_logged_with_its_values_as_booleans(scripted: Any, change: str) -> None:
    world, instance, sync = scripted
    world.add("alice", is_locked=change == "unlock")
    sync()
    world.add("alice", is_locked=change == "lock")
    _, session = sync()
    entry = changes(session)[("alice", ChangeType.MODIFY_OTHER)]
    locked = entry.details["changes"]["is_locked"]
    assert locked["before"] is (change == "unlock") and locked["after"] is (change == "lock")
    assert Account.objects.get(instance=instance, identity="alice").is_locked is (change == "lock")


@pytest.mark.parametrize(("first", "second"), [("fp-a", "fp-b"), ("fp-b", "fp-a")])
def test_a_new_fingerprint_is_kept_silently_and_an_unchanged_one_writes_nothing(
    scripted: Any, first: str, second: str
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    world, instance, sync = scripted
    world.add("alice", fingerprint=first)
    sync()
    with CaptureQueriesContext(connection) as same:
        sync()  # the same fingerprint: nothing of the account written
    assert not [q for q in same.captured_queries if "fingerprint" in q["sql"] and "UPDATE" in q["sql"]]
    world.add("alice", fingerprint=second)
    _, session = sync()
    assert Account.objects.get(instance=instance, identity="alice").fingerprint == second
    assert not AccountChange.objects.filter(session=session).exists()


def test_a_collection_with_no_active_account_is_skipped_with_zero_counts(scripted: Any) -> None:
    _world, _instance, sync = scripted
    result, _ = sync()
    collection = result.sync_details["collection"]
    assert (collection["status"], collection["updated"], collection["unchanged"]) == ("skipped", 0, 0)


def test_only_databases_readable_again_are_a_baseline(scripted: Any) -> None:
    """shop stays unreadable and crm becomes unreadable: neither is read again, so no baseline."""
    world, _instance, sync = scripted
    roles_world(world)
    world.grants.add(("bob", Scope.of("table", "crm", "leads"), "SELECT"))
    world.notes = {"databases_unreadable": {"shop": "offline"}}
    sync()
    world.notes = {"databases_unreadable": {"shop": "offline", "crm": "offline"}}
    result, _ = sync()
    assert "baseline" not in result.sync_details["collection"]
    assert result.sync_details["collection"]["unverified"] == {"crm": "offline", "shop": "offline"}


def test_an_unchanged_unreadable_database_writes_nothing_the_second_time(scripted: Any) -> None:
    world, instance, sync = scripted
    roles_world(world)
    sync()
    world.hide("shop")
    world.notes = {"databases_unreadable": {"shop": "offline"}}
    sync()  # carried over: the rows become unverified
    before = sorted(AccountPrivilege.objects.filter(instance=instance).values_list("id", "verified"))
    _, session = sync()
    assert sorted(AccountPrivilege.objects.filter(instance=instance).values_list("id", "verified")) == before
    assert not AccountChange.objects.filter(session=session).exists()


def test_grants_still_reported_from_an_unreadable_database_keep_the_others_carried(scripted: Any) -> None:
    """Some of a database's grants may still be reported while it is unreadable (a role's, read
    elsewhere): every stored row not reported is carried, whichever comes first."""
    world, instance, sync = scripted
    world.add("alice")
    tables = [Scope.of("table", "shop", name) for name in ("a", "b", "c", "d")]
    world.grants |= {("alice", t, "SELECT") for t in tables}
    sync()
    world.grants = {("alice", tables[1], "SELECT")}  # only b still reported
    world.notes = {"databases_unreadable": {"shop": "offline"}}
    _, session = sync()
    assert not AccountChange.objects.filter(session=session).exists()
    assert {(t, v) for _k, t, _p, _via, v in rows(instance, "alice")} == {
        ("shop.a", False),
        ("shop.b", True),
        ("shop.c", False),
        ("shop.d", False),
    }


@pytest.mark.parametrize(
    ("other", "privilege"),
    [
        # PostgreSQL reads a database's own ACL from pg_database, not from inside it.
        (Scope.of("database", "shop"), "CONNECT"),
        # Database names may hold dots: `shop.v2` is not inside `shop`.
        (Scope.of("table", "shop.v2", "orders"), "SELECT"),
    ],
    ids=["server catalog", "dotted name"],
)
def test_a_revoke_read_while_a_database_is_unreadable_is_logged_not_carried(
    scripted: Any, monkeypatch: pytest.MonkeyPatch, other: Scope, privilege: str
) -> None:
    """A grant read from elsewhere than the unreadable database (its catalog row, another database
    whose name starts alike) is a real revoke when it goes; the unread table grant is carried."""
    monkeypatch.setattr(Scripted, "server_catalog_kinds", frozenset({"database"}))
    world, instance, sync = scripted
    world.add("alice")
    world.grants |= {("alice", other, privilege), ("alice", ORDERS, "SELECT")}
    sync()
    world.grants = set()
    world.notes = {"databases_unreadable": {"shop": "offline"}}
    _, session = sync()
    entry = changes(session)[("alice", ChangeType.MODIFY_PRIVILEGE)]
    assert entry.details["entries"] == [
        {"action": "REVOKE", "scope": other.render(), "privileges": [privilege]}
    ]
    assert rows(instance, "alice") == {("table", "shop.orders", "SELECT", "", False)}


def test_a_revoke_seen_when_a_database_is_readable_again_is_logged(scripted: Any) -> None:
    """Back from unreadable, the database's grants are a baseline (when they appeared is unknown),
    but one that disappeared meanwhile is a revoke: it is logged."""
    world, _instance, sync = scripted
    roles_world(world)
    sync()
    world.notes = {"databases_unreadable": {"shop": "offline"}}
    shop = world.hide("shop")
    sync()
    world.notes = {}
    world.grants |= shop - {("alice", ORDERS, "INSERT")}
    _, session = sync()
    entry = changes(session)[("alice", ChangeType.MODIFY_PRIVILEGE)]
    assert entry.details["entries"] == [
        {"action": "REVOKE", "scope": "table shop.orders", "privileges": ["INSERT"]}
    ]


def test_a_stored_account_without_a_snapshot_logs_what_it_holds(scripted: Any) -> None:
    world, instance, sync = scripted
    world.add("alice", "bob")
    world.grants.add(("alice", ORDERS, "SELECT"))
    sync()
    PermissionSnapshot.objects.filter(account__instance=instance).delete()
    _, session = sync()
    assert list(changes(session)) == [("alice", ChangeType.MODIFY_PRIVILEGE)]
    assert changes(session)[("alice", ChangeType.MODIFY_PRIVILEGE)].details["entries"] == [
        {"action": "GRANT", "scope": "table shop.orders", "privileges": ["SELECT"]}
    ]


def test_an_account_losing_its_grant_option_can_no_longer_grant(scripted: Any) -> None:
    world, instance, sync = scripted
    world.add("alice")
    world.grants.add(("alice", ORDERS, "SELECT WITH GRANT OPTION"))
    sync()
    assert Account.objects.get(instance=instance, identity="alice").can_grant
    world.grants = {("alice", ORDERS, "SELECT")}
    sync()
    assert not Account.objects.get(instance=instance, identity="alice").can_grant


def test_a_long_change_summary_is_cut_to_the_column(scripted: Any) -> None:
    world, _instance, sync = scripted
    world.add("alice", attributes={f"attribute_number_{i:03d}": "a" for i in range(60)})
    sync()
    world.add("alice", attributes={f"attribute_number_{i:03d}": "b" for i in range(60)})
    _, session = sync()
    summary = changes(session)[("alice", ChangeType.MODIFY_OTHER)].summary
    assert len(summary) == AccountChange._meta.get_field("summary").max_length == 500


def test_only_rows_of_a_database_read_again_are_verified_again(scripted: Any) -> None:
    world, instance, sync = scripted
    roles_world(world)
    crm = Scope.of("table", "crm", "leads")
    world.grants.add(("bob", crm, "SELECT"))
    sync()
    world.hide("shop", "crm")
    world.notes = {"databases_unreadable": {"shop": "offline", "crm": "offline"}}
    sync()
    alice_rows = sorted(
        AccountPrivilege.objects.filter(account__identity="alice").values_list("id", "verified")
    )
    world.grants |= {("bob", crm, "SELECT")}
    world.notes = {"databases_unreadable": {"shop": "offline"}}  # crm is back
    sync()
    assert ("table", "crm.leads", "SELECT", "", True) in rows(instance, "bob")
    after = sorted(AccountPrivilege.objects.filter(account__identity="alice").values_list("id", "verified"))
    assert after == alice_rows  # alice holds nothing in crm: her shop rows are left as they were


# --- last seen: the instance's listing, not a write per account ------------------------------
def listed_at(instance: Instance) -> datetime:
    stamp = AccountSyncState.objects.get(instance=instance).listed_at
    assert stamp is not None
    return stamp


def seen(instance: Instance) -> dict[str, tuple[datetime | None, datetime | None]]:
    """identity -> (its own `last_seen_at`, when it was last seen all told)."""
    rows = Account.objects.filter(instance=instance).with_last_seen()
    return {a.identity: (a.last_seen_at, a.seen_at) for a in rows}  # type: ignore[attr-defined]


def test_a_sync_that_finds_nothing_new_writes_the_instance_state_and_no_account(
    scripted: tuple[World, Instance, Sync],
) -> None:
    world, instance, sync = scripted
    world.add("alice", "bob", "carol")
    world.grants = {("alice", ORDERS, "SELECT")}
    sync()
    first = listed_at(instance)
    assert seen(instance) == {i: (None, first) for i in ("alice", "bob", "carol")}
    with CaptureQueriesContext(connection) as again:
        result, _ = sync()
    assert result.sync_details["collection"]["unchanged"] == 3
    writes = [q["sql"] for q in again.captured_queries if not q["sql"].lstrip().startswith("SELECT")]
    assert not [w for w in writes if 'accounts_sync_account"' in w or "accounts_sync_account " in w]
    assert [w for w in writes if "accounts_sync_accountsyncstate" in w]
    second = listed_at(instance)
    assert second > first
    assert seen(instance) == {i: (None, second) for i in ("alice", "bob", "carol")}


def test_an_account_that_drops_out_keeps_the_last_listing_that_showed_it(
    scripted: tuple[World, Instance, Sync],
) -> None:
    world, instance, sync = scripted
    world.add("alice", "bob")
    sync()
    first = listed_at(instance)
    del world.accounts["bob"]
    sync()
    second = listed_at(instance)
    assert seen(instance) == {"alice": (None, second), "bob": (first, first)}
    assert not Account.objects.get(identity="bob", instance=instance).is_active
    world.add("bob")  # back: reactivated, follows the listings again
    sync()
    third = listed_at(instance)
    assert seen(instance) == {"alice": (None, third), "bob": (None, third)}
    assert Account.objects.get(identity="bob", instance=instance).last_seen() == third


def test_accounts_with_a_time_of_their_own_follow_the_listing_again(
    scripted: tuple[World, Instance, Sync],
) -> None:
    """Rows written before listings were stamped once (or by a limited sync) carry their own
    `last_seen_at`; the next complete sync that lists them empties it."""
    world, instance, sync = scripted
    world.add("alice", "bob")
    sync()
    old = timezone.now() - timedelta(days=3)
    Account.objects.filter(instance=instance).update(last_seen_at=old)
    assert {own for own, _ in seen(instance).values()} == {old}
    with CaptureQueriesContext(connection) as again:
        sync()
    now = listed_at(instance)
    assert seen(instance) == {"alice": (None, now), "bob": (None, now)}
    # Two writes (the accounts, the instance's state): together or not at all.
    writes = [q["sql"] for q in again.captured_queries if not q["sql"].startswith("SELECT")]
    assert [w.split()[0] for w in writes] == ["INSERT", "SAVEPOINT", "UPDATE", "UPDATE", "RELEASE"]


def test_a_sync_limited_to_some_accounts_stamps_them_not_the_instance(
    scripted: tuple[World, Instance, Sync],
) -> None:
    world, instance, sync = scripted
    world.add("app_a", "app_b", "other")
    sync()
    complete = listed_at(instance)
    del world.accounts["app_b"]
    session = SyncSessionFactory()
    with AccountSyncCoordinator(instance, session=session, only_like="app\\_%") as coordinator:
        coordinator.run()
    assert listed_at(instance) == complete  # "other" was not looked at: the instance is not stamped
    assert seen(instance) == {
        "app_a": (coordinator.now, coordinator.now),
        "app_b": (complete, complete),
        "other": (None, complete),
    }


def test_the_first_sync_of_an_instance_stamps_its_state(scripted: tuple[World, Instance, Sync]) -> None:
    world, instance, sync = scripted
    assert not AccountSyncState.objects.filter(instance=instance).exists()
    world.add("alice")
    with CaptureQueriesContext(connection) as first:
        sync()
    state_queries = [q["sql"] for q in first.captured_queries if "accounts_sync_accountsyncstate" in q["sql"]]
    assert len(state_queries) == 2 and state_queries[1].startswith("INSERT")  # read, then one INSERT
    state = AccountSyncState.objects.get(instance=instance)
    assert state.listed_at is not None and state.databases_unreadable == {}
    account = Account.objects.get(instance=instance)
    assert account.last_seen_at is None and account.last_seen() == state.listed_at


def test_an_account_unlisted_twice_keeps_the_last_listing_that_showed_it(
    scripted: tuple[World, Instance, Sync],
) -> None:
    world, instance, sync = scripted
    world.add("app", "[Sa]]les].[svc]")
    sync()
    shown = listed_at(instance)
    del world.accounts["[Sa]]les].[svc]"]
    world.notes = {"databases_unreadable": {"Sa]les": "database is OFFLINE"}}
    sync()
    sync()  # still unreadable: the listings that did not show it do not count
    assert listed_at(instance) > shown
    assert seen(instance)["[Sa]]les].[svc]"] == (shown, shown)


def test_an_account_stamped_by_a_limited_sync_keeps_that_time_when_it_goes(
    scripted: tuple[World, Instance, Sync],
) -> None:
    world, instance, sync = scripted
    world.add("app_a", "other")
    sync()
    with AccountSyncCoordinator(instance, session=SyncSessionFactory(), only_like="app\\_%") as limited:
        limited.run()
    assert limited.now > listed_at(instance)
    del world.accounts["app_a"]
    sync()
    assert seen(instance)["app_a"] == (limited.now, limited.now)


def test_the_collector_resumes_only_once_the_coordinator_and_its_objects_are_gone(
    scripted: tuple[World, Instance, Sync], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resumed while a sync's objects still live, the collector's first pass would scan them all."""
    world, instance, _ = scripted
    world.add("alice", "bob")
    assert gc.isenabled()
    made: list[weakref.ref[AccountSyncCoordinator]] = []
    at_resume: list[bool] = []  # was the coordinator gone when the collector was resumed?
    at_exit: list[bool] = []  # was the collector paused while the connection closed?
    for_session = AccountSyncCoordinator.for_session.__func__  # type: ignore[attr-defined]
    exit_, enable = AccountSyncCoordinator.__exit__, gc.enable

    def tracked(cls: type[AccountSyncCoordinator], *args: Any) -> AccountSyncCoordinator:
        coordinator = for_session(cls, *args)
        made.append(weakref.ref(coordinator))
        return coordinator

    def closing(self: AccountSyncCoordinator, *exc: Any) -> None:
        at_exit.append(gc.isenabled())
        exit_(self, *exc)

    def resumed() -> None:
        at_resume.append(all(ref() is None for ref in made))
        enable()

    monkeypatch.setattr(AccountSyncCoordinator, "for_session", classmethod(tracked))
    monkeypatch.setattr(AccountSyncCoordinator, "__exit__", closing)
    monkeypatch.setattr(gc, "enable", resumed)
    result = AccountSyncCoordinator.sync(instance, SyncSessionFactory())
    assert result.items_created == 2
    assert len(made) == 1 and at_exit == [False] and at_resume == [True]
    assert gc.isenabled()
