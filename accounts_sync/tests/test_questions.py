"""who_can and permissions_at, answered from stored rows (the sync that writes them is tested live)."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts_sync.models import Account, AccountChange, AccountPrivilege, ChangeType, PermissionSnapshot
from accounts_sync.questions import object_filter, permissions_at, who_can
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory

pytestmark = pytest.mark.django_db


def _account(instance: Any, identity: str, **kw: Any) -> Account:
    return Account.objects.create(instance=instance, identity=identity, username=identity, **kw)


def _row(account: Account, privilege: str, kind: str, *path: str, **kw: Any) -> AccountPrivilege:
    return AccountPrivilege.objects.create(
        instance=account.instance,
        account=account,
        scope_kind=kind,
        path=list(path),
        target=".".join(path),
        privilege=privilege,
        **kw,
    )


@pytest.fixture
def fleet() -> dict[str, Account]:
    sales = InstanceFactory(name="sales-db", db_type="mysql")
    other = InstanceFactory(name="other-db", db_type="postgresql")
    a = {
        "dba": _account(sales, "dba@%"),
        "app": _account(sales, "app@%"),
        "reader": _account(sales, "reader@%"),
        "col": _account(sales, "col@%"),
        "gone": _account(sales, "gone@%", is_active=False),
        "denied": _account(sales, "denied@%"),
        "root": _account(other, "postgres", is_superuser=True),
        "public": _account(other, "PUBLIC", is_role=True),
        "pg_app": _account(other, "pg_app"),
    }
    _row(a["dba"], "DROP", "global")
    _row(a["app"], "DROP", "database", "sales", grantable=True)
    _row(a["reader"], "SELECT", "table", "sales", "orders", via="r_app ← r_read")
    _row(a["col"], "DROP", "table", "sales", "orders")
    _row(a["col"], "DROP", "table", "salesx", "orders")  # a name that only starts like "sales"
    _row(a["gone"], "DROP", "database", "sales")
    _row(a["denied"], "DROP", "database", "sales")
    _row(a["denied"], "DROP", "table", "sales", "orders", denied=True)
    _row(a["root"], "ALL", "server", via="superuser", grantable=True)
    _row(a["public"], "SELECT", "table", "appdb", "public", "orders")
    _row(a["pg_app"], "SELECT", "table", "appdb", "public", "orders", needs_set_role=True, via="r_x")
    return a


def _names(holders: Any) -> set[str]:
    return {h.account for h in holders}


def test_a_database_wildcard_covers_server_database_and_object_grants(fleet: dict[str, Account]) -> None:
    holders = who_can("drop", "sales.*", instances=["sales-db"])
    # denied@% is DENYed DROP on one table only: it can still drop the rest of the database.
    assert _names(holders) == {"dba@%", "app@%", "col@%", "denied@%"}
    assert {h.target for h in holders if h.account == "col@%"} == {"sales.orders"}  # not salesx


def test_an_exact_object_is_covered_by_enclosing_scopes_only(fleet: dict[str, Account]) -> None:
    assert _names(who_can("DROP", "sales.orders")) == {"dba@%", "app@%", "col@%", "postgres"}
    assert _names(who_can("DROP", "sales")) == {"dba@%", "app@%", "denied@%", "postgres"}


def test_denied_and_inactive_accounts_are_left_out_unless_asked(fleet: dict[str, Account]) -> None:
    assert "denied@%" not in _names(who_can("DROP", "sales.orders"))
    assert "gone@%" in _names(who_can("DROP", "sales.*", include_inactive=True))
    assert "gone@%" not in _names(who_can("DROP", "sales.*"))


def test_paths_say_how_each_account_holds_it(fleet: dict[str, Account]) -> None:
    paths = {h.account: h.path for h in who_can("SELECT", "appdb.public.orders")}
    assert paths == {
        "postgres": "as superuser",
        "PUBLIC": "to PUBLIC (every account)",
        "pg_app": "via r_x (after SET ROLE)",
    }
    (reader,) = [h for h in who_can("SELECT", "sales.orders") if h.account == "reader@%"]
    assert reader.path == "via r_app ← r_read"


def test_object_filter_of_everything_is_unfiltered() -> None:
    assert str(object_filter("*")) == str(object_filter("")) == "(AND: )"


def test_who_can_command_text_and_json(fleet: dict[str, Account]) -> None:
    out = StringIO()
    call_command("who_can", "--privilege", "DROP", "--on", "sales.*", "--instance", "sales-db", stdout=out)
    text = out.getvalue()
    assert "app@%  DROP ON database sales  direct  [grant option]" in text
    assert text.strip().endswith("4 accounts, 4 grants")
    out = StringIO()
    call_command("who_can", "--privilege", "DROP", "--on", "sales", "--json", stdout=out)
    rows = json.loads(out.getvalue())
    assert {r["account"] for r in rows} == {"dba@%", "app@%", "denied@%", "postgres"}
    with pytest.raises(CommandError, match="unknown instance: nope"):
        call_command("who_can", "--privilege", "DROP", "--instance", "nope")


def test_who_can_issues_one_query_whatever_the_fleet(
    fleet: dict[str, Account], django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1):
        who_can("DROP", "sales.*")


@pytest.fixture
def history() -> tuple[Account, list[Any]]:
    """An account added at t0 with SELECT, granted INSERT at t1, revoked SELECT at t2."""
    instance = InstanceFactory(name="hist-db", db_type="mysql")
    session = SyncSessionFactory()
    t0 = timezone.now() - timedelta(days=3)
    t1, t2 = t0 + timedelta(days=1), t0 + timedelta(days=2)
    account = _account(instance, "u@%", first_seen_at=t0)
    PermissionSnapshot.objects.create(account=account, permissions={"database shop": ["INSERT"]}, hash="x")

    def log(when: Any, kind: str, entries: list[dict[str, Any]] | None = None) -> None:
        AccountChange.objects.create(
            account=account,
            instance=instance,
            change_type=kind,
            details={"entries": entries} if entries is not None else {},
            session=session,
            session_uuid=session.session_id,
            created_at=when,
        )

    log(t0, ChangeType.ADD)
    log(
        t1,
        ChangeType.MODIFY_PRIVILEGE,
        [{"action": "GRANT", "scope": "database shop", "privileges": ["INSERT"]}],
    )
    log(
        t2,
        ChangeType.MODIFY_PRIVILEGE,
        [{"action": "REVOKE", "scope": "database shop", "privileges": ["SELECT"]}],
    )
    return account, [t0, t1, t2]


def _held(account: Account, at: Any) -> dict[str, list[str]] | None:
    past = permissions_at(account, at)
    return None if past is None else past.permissions


def test_permissions_at_rebuilds_each_past_state(history: tuple[Account, list[Any]]) -> None:
    account, (t0, t1, t2) = history
    second = timedelta(seconds=1)
    assert permissions_at(account, t0 - second) is None
    assert _held(account, t0 + second) == {"database shop": ["SELECT"]}
    assert _held(account, t1 + second) == {"database shop": ["INSERT", "SELECT"]}
    assert _held(account, t2 + second) == {"database shop": ["INSERT"]}
    assert all(permissions_at(account, t + second).active for t in (t0, t1, t2))  # type: ignore[union-attr]


def _log(account: Account, when: Any, kind: str, target: Account | None = None, **details: Any) -> None:
    session = SyncSessionFactory()
    AccountChange.objects.create(
        account=target or account, instance=account.instance, change_type=kind, details=details,
        session=session, session_uuid=session.session_id, created_at=when,
    )  # fmt: skip


def test_permissions_at_says_when_the_account_was_dropped_then_back(
    history: tuple[Account, list[Any]],
) -> None:
    """Dropped at t3, created again at t4, dropped again at t5 (now inactive): between t3 and t4
    and after t5 it held nothing anyone could use, whatever its last snapshot says."""
    account, (_t0, _t1, t2) = history
    t3, t4, t5 = t2 + timedelta(hours=1), t2 + timedelta(hours=2), t2 + timedelta(hours=3)
    _log(account, t3, ChangeType.DEACTIVATE)
    _log(account, t4, ChangeType.REACTIVATE)
    _log(account, t5, ChangeType.DEACTIVATE)
    Account.objects.filter(pk=account.pk).update(is_active=False)
    account.refresh_from_db()
    second = timedelta(seconds=1)
    states = [permissions_at(account, t + second) for t in (t2, t3, t4, t5)]
    assert [p.active for p in states if p] == [True, False, True, False]
    assert all(p and p.permissions == {"database shop": ["INSERT"]} for p in states)  # last held


def test_permissions_at_knows_an_account_renamed_away_was_active_before(
    history: tuple[Account, list[Any]],
) -> None:
    account, (_t0, _t1, t2) = history
    renamed = _account(account.instance, "u2@%", first_seen_at=t2 + timedelta(hours=1))
    _log(account, t2 + timedelta(hours=1), ChangeType.RENAME, target=renamed, from_account_id=account.pk)
    Account.objects.filter(pk=account.pk).update(is_active=False)
    account.refresh_from_db()
    assert permissions_at(account, t2 + timedelta(minutes=30)).active  # type: ignore[union-attr]
    assert not permissions_at(account, t2 + timedelta(hours=2)).active  # type: ignore[union-attr]
    assert permissions_at(renamed, t2 + timedelta(minutes=30)) is None  # not under that name yet


def test_permissions_at_before_the_kept_change_log_says_it_may_be_incomplete(
    history: tuple[Account, list[Any]], settings: Any
) -> None:
    account, (t0, _t1, t2) = history
    settings.WHALEFALL_CHANGELOG_RETENTION_DAYS = 1  # the log now reaches back one day: past t2
    assert permissions_at(account, t2 + timedelta(hours=12)).complete  # type: ignore[union-attr]
    assert not permissions_at(account, t0 + timedelta(hours=1)).complete  # type: ignore[union-attr]


def test_account_permissions_command_at_a_past_time(history: tuple[Account, list[Any]]) -> None:
    _, (t0, t1, _t2) = history
    out = StringIO()
    at = timezone.localtime(t1 + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    call_command("account_permissions", "--instance", "hist-db", "--account", "u@%", "--at", at, stdout=out)
    assert "database shop: INSERT, SELECT" in out.getvalue()
    out = StringIO()
    before = timezone.localtime(t0 - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    call_command(
        "account_permissions", "--instance", "hist-db", "--account", "u@%", "--at", before, stdout=out
    )
    assert "did not exist" in out.getvalue()
    with pytest.raises(CommandError, match="not an ISO"):
        call_command("account_permissions", "--instance", "hist-db", "--account", "u@%", "--at", "yesterday")
    with pytest.raises(CommandError, match="no account"):
        call_command("account_permissions", "--instance", "hist-db", "--account", "x")


def test_account_permissions_effective_lists_rows_with_paths(fleet: dict[str, Account]) -> None:
    out = StringIO()
    call_command(
        "account_permissions", "--instance", "sales-db", "--account", "reader@%", "--effective", stdout=out
    )
    assert "SELECT ON table sales.orders  via r_app ← r_read" in out.getvalue()


def test_account_permissions_command_says_when_an_account_was_gone(
    history: tuple[Account, list[Any]], settings: Any
) -> None:
    account, (t0, _t1, t2) = history
    _log(account, t2 + timedelta(hours=1), ChangeType.DEACTIVATE)
    Account.objects.filter(pk=account.pk).update(is_active=False)
    settings.WHALEFALL_CHANGELOG_RETENTION_DAYS = 1

    def run(when: Any, *extra: str) -> str:
        out = StringIO()
        at = timezone.localtime(when).strftime("%Y-%m-%dT%H:%M:%S")
        call_command(
            "account_permissions", "--instance", "hist-db", "--account", "u@%", "--at", at, *extra, stdout=out
        )
        return out.getvalue()

    gone = run(t2 + timedelta(hours=2))
    assert "not active then" in gone and "database shop: INSERT" in gone and "change log is kept" not in gone
    early = run(t0 + timedelta(hours=1))
    assert "not active then" not in early and "change log is kept since" in early
    payload = json.loads(run(t2 + timedelta(hours=2), "--json"))
    assert (payload["active"], payload["history_complete"]) == (False, True)
