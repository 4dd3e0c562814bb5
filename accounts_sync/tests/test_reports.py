"""Access-review reports: CSV and XLSX, from the command and the admin."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts_sync.models import Account, AccountChange, AccountPrivilege, AccountSyncState, ChangeType
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def data() -> dict[str, Any]:
    instance = InstanceFactory(name="sales-db", db_type="mysql")
    other = InstanceFactory(name="other-db", db_type="postgresql")
    session = SyncSessionFactory()
    alice = Account.objects.create(instance=instance, identity="alice@%", username="alice", can_grant=True)
    evil = Account.objects.create(instance=instance, identity="=HYPERLINK(1)@%", username="=HYPERLINK(1)")
    bob = Account.objects.create(instance=other, identity="bob", username="bob")
    for acc, priv, kind, path, via in (
        (alice, "SELECT", "table", ["shop", "orders"], "r_app ← r_read"),
        (alice, "DROP", "database", ["shop"], ""),
        (evil, "SELECT", "global", [], ""),
        (bob, "CONNECT", "database", ["app"], ""),
    ):
        AccountPrivilege.objects.create(
            instance=acc.instance,
            account=acc,
            privilege=priv,
            scope_kind=kind,
            path=path,
            target=".".join(path),
            via=via,
        )
    now = timezone.now()
    for when, summary in (
        (now - timedelta(days=40), "old change"),
        (now - timedelta(days=5), "GRANT DROP ON database shop"),
    ):
        AccountChange.objects.create(
            account=alice,
            instance=instance,
            change_type=ChangeType.MODIFY_PRIVILEGE,
            summary=summary,
            session=session,
            session_uuid=session.session_id,
            created_at=when,
        )
    return {"instance": instance}


def test_csv_lists_each_privilege_with_how_it_is_held(data: dict[str, Any]) -> None:
    out = io.StringIO()
    call_command("access_report", "--instance", "sales-db", stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["account"], r["privilege"], r["on"], r["how"]) for r in rows] == [
        ("'=HYPERLINK(1)@%", "SELECT", "global", "direct"),
        ("alice@%", "DROP", "database shop", "direct"),
        ("alice@%", "SELECT", "table shop.orders", "via r_app ← r_read"),
    ]


def test_csv_changes_are_limited_to_the_period(data: dict[str, Any]) -> None:
    out = io.StringIO()
    start = (timezone.localdate() - timedelta(days=30)).isoformat()
    call_command("access_report", "--part", "changes", "--from", start, stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["summary"] for r in rows] == ["GRANT DROP ON database shop"]


def test_xlsx_has_a_sheet_per_part(data: dict[str, Any], tmp_path: Path) -> None:
    from openpyxl import load_workbook

    target = tmp_path / "review.xlsx"
    call_command("access_report", "--format", "xlsx", "--output", str(target), stderr=io.StringIO())
    book = load_workbook(target)
    assert book.sheetnames[:3] == ["Report", "Accounts", "Privileges"]
    privileges = [row for row in book["Privileges"].iter_rows(values_only=True)]
    assert privileges[0][:4] == ("instance", "account", "privilege", "on") and len(privileges) == 5
    accounts = {row[2] for row in book["Accounts"].iter_rows(min_row=2, values_only=True)}
    assert accounts == {"alice@%", "'=HYPERLINK(1)@%", "bob"}
    assert sum(1 for _ in book.worksheets[3].iter_rows(min_row=2)) == 2


def test_bad_arguments_are_clear_errors(data: dict[str, Any]) -> None:
    with pytest.raises(CommandError, match="unknown instance: nope"):
        call_command("access_report", "--instance", "nope")
    with pytest.raises(CommandError, match="required for xlsx"):
        call_command("access_report", "--format", "xlsx")
    with pytest.raises(CommandError, match="before"):
        call_command("access_report", "--from", "2026-02-01", "--to", "2026-01-01")


def test_the_admin_downloads_the_report(admin_client: Any, data: dict[str, Any]) -> None:
    url = reverse("admin:accounts_sync_report")
    assert "Download" in admin_client.get(url).content.decode()
    response = admin_client.get(url, {"format": "csv", "instances": [data["instance"].pk]})
    assert response["Content-Disposition"].startswith('attachment; filename="whalefall-access-privileges-')
    assert "alice@%,SELECT,table shop.orders,via r_app ← r_read" in response.content.decode()
    response = admin_client.get(url, {"format": "xlsx"})
    assert response.content[:2] == b"PK"  # a zip container: an XLSX workbook


def test_the_title_sheet_lists_instance_names_as_text_not_formulas(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    InstanceFactory(name="=cmd|' /C calc'!A0", db_type="mysql")
    target = tmp_path / "review.xlsx"
    call_command("access_report", "--format", "xlsx", "--output", str(target), stderr=io.StringIO())
    rows = {row[0]: row[1] for row in load_workbook(target)["Report"].iter_rows(values_only=True)}
    assert rows["instances"] == "'=cmd|' /C calc'!A0"


def test_the_accounts_sheet_says_when_each_account_was_last_seen(tmp_path: Path) -> None:
    """An account that follows its instance's listings was last seen by the last one."""
    from openpyxl import load_workbook

    instance = InstanceFactory(name="listed-db", db_type="mysql")
    listed = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    own = listed - timedelta(days=9)
    AccountSyncState.objects.create(instance=instance, listed_at=listed)
    Account.objects.create(instance=instance, identity="follows@%", username="follows", last_seen_at=None)
    Account.objects.create(instance=instance, identity="own@%", username="own", last_seen_at=own)
    target = tmp_path / "review.xlsx"
    call_command("access_report", "--format", "xlsx", "--output", str(target), stderr=io.StringIO())
    sheet = load_workbook(target)["Accounts"]
    header = next(sheet.iter_rows(max_row=1, values_only=True))
    column = header.index("last_seen")
    got = {row[2]: row[column] for row in sheet.iter_rows(min_row=2, values_only=True)}
    local = {name: timezone.localtime(t) for name, t in (("follows@%", listed), ("own@%", own))}
    expected = {name: t.strftime("%Y-%m-%d %H:%M:%S") for name, t in local.items()}
    assert got == expected
