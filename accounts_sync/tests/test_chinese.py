"""The account question pages and the access-review report in Chinese.

A Chinese browser (Accept-Language) gets every label, heading, help text and button of the
who-can, permissions-at and report pages in Chinese, and the report it downloads has Chinese
headers and words; the values (names, privileges) stay as the servers have them.
"""

# ruff: noqa: RUF001 - the Chinese expected is written with full-width punctuation

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from accounts_sync.models import Account, AccountChange, AccountPrivilege, ChangeType, PermissionSnapshot
from accounts_sync.reports import Period, write_csv
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory
from whalefall.tests.test_translations import compiled_catalogue  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
CHINESE = "zh-CN,zh;q=0.9,en;q=0.5"


@pytest.fixture
def alice(compiled_catalogue: Path) -> Account:  # noqa: F811 - the fixture
    instance = InstanceFactory(name="sales-db", db_type="mysql")
    account = Account.objects.create(instance=instance, identity="alice@%", username="alice")
    PermissionSnapshot.objects.create(
        account=account, permissions={"table shop.orders": ["SELECT"]}, hash="h"
    )
    AccountPrivilege.objects.create(
        instance=instance,
        account=account,
        privilege="SELECT",
        scope_kind="table",
        path=["shop", "orders"],
        target="shop.orders",
        via="r_app ← r_read",
        grantable=True,
    )
    session = SyncSessionFactory(category="account")
    AccountChange.objects.create(
        account=account,
        instance=instance,
        change_type=ChangeType.MODIFY_PRIVILEGE,
        summary="GRANT SELECT ON table shop.orders",
        session=session,
        session_uuid=session.session_id,
    )
    return account


def chinese_page(client: Any, url: str, params: dict[str, Any] | None = None) -> str:
    response = client.get(url, params or {}, HTTP_ACCEPT_LANGUAGE=CHINESE)
    assert response.status_code == 200, url
    return response.content.decode()


def none_of(page: str, english: tuple[str, ...]) -> list[str]:
    return [text for text in english if text in page]


def test_who_can_page_in_chinese(admin_client: Any, alice: Account) -> None:
    url = reverse("admin:accounts_sync_who_can")
    page = chinese_page(admin_client, url, {"privilege": "select", "on": "shop.*"})
    for text in (
        "谁可以……",
        "根据最近的同步回答",
        "例如 SELECT、DROP、EXECUTE、SUPER。",
        "包括服务器上已不存在的账户",
        'value="查询"',
        "1 个账户，1 条授权",
        "<th>获得方式</th>",
        "<th>授权选项</th>",
        "通过 r_app ← r_read",
    ):
        assert text in page, text
    assert (
        none_of(
            page,
            (
                "Which accounts hold",
                "e.g. SELECT",
                "Empty: every instance.",
                "Include accounts no longer listed",
                'value="Ask"',
                "1 account, 1 grant",
                "<th>How</th>",
                "Grant option",
                "<th>Verified</th>",
                "via r_app",
                ">Home<",
            ),
        )
        == []
    )
    nobody = chinese_page(admin_client, url, {"privilege": "DROP"})
    assert "没有账户。" in nobody and "Nobody." not in nobody


def test_permissions_page_in_chinese_with_the_one_date_format(admin_client: Any, alice: Account) -> None:
    url = reverse("admin:accounts_sync_permissions_at", args=[alice.pk])
    now = chinese_page(admin_client, url)
    assert "当前（最近一次同步）。" in now and "有效权限" in now and "授权选项" in now
    assert "sales-db / alice@%：权限" in now  # the page title
    assert (
        none_of(
            now, ("Now (last sync).", "Effective privileges", 'value="Show"', "grant option", ": permissions")
        )
        == []
    )

    past = chinese_page(admin_client, url, {"at": "2000-01-01 00:00"})
    assert "该账户在 2000-01-01 00:00:00 时尚不存在。" in past  # ISO 8601, 24-hour, with seconds
    with translation.override("en"):
        english = admin_client.get(
            url, {"at": "2000-01-01 00:00"}, HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()
    assert "The account did not exist at 2000-01-01 00:00:00." in english


def test_report_page_and_downloads_in_chinese(admin_client: Any, alice: Account) -> None:
    from openpyxl import load_workbook

    url = reverse("admin:accounts_sync_report")
    page = chinese_page(admin_client, url)
    for text in (
        "权限审查报告",
        'value="下载"',
        "变更起始",
        "变更截止",
        "CSV（权限）",
        "留空：全部启用的实例。",
    ):
        assert text in page, text
    assert none_of(page, ("Download", "Changes from", "CSV (privileges)", "Every account with")) == []

    csv_text = chinese_page(admin_client, url, {"format": "csv"})
    rows = list(csv.reader(io.StringIO(csv_text)))
    assert rows[0] == ["实例", "账户", "权限", "范围", "获得方式", "授权选项", "已拒绝", "已核实"]
    assert rows[1] == [
        "sales-db",
        "alice@%",
        "SELECT",
        "table shop.orders",
        "通过 r_app ← r_read",
        "是",
        "否",
        "是",
    ]
    changes = list(csv.reader(io.StringIO(chinese_page(admin_client, url, {"format": "csv-changes"}))))
    assert changes[0] == ["时间", "实例", "账户", "变更", "摘要", "同步会话"]

    response = admin_client.get(url, {"format": "xlsx"}, HTTP_ACCEPT_LANGUAGE=CHINESE)
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["报告", "账户", "权限", "变更"]
    assert next(book["权限"].iter_rows(values_only=True))[:5] == ("实例", "账户", "权限", "范围", "获得方式")
    title = [row[:2] for row in book["报告"].iter_rows(values_only=True)]
    assert title[0][0] == "WhaleFall 权限审查" and title[2] == ("变更期间", "最早记录 至 现在")


def test_the_command_writes_the_report_in_language_code(alice: Account, settings: Any) -> None:
    """No request: the team's LANGUAGE_CODE decides, as for alerts."""
    settings.LANGUAGE_CODE = "zh-hans"
    out = io.StringIO()
    call_command("access_report", "--instance", "sales-db", stdout=out)
    assert out.getvalue().splitlines()[0] == "实例,账户,权限,范围,获得方式,授权选项,已拒绝,已核实"
    settings.LANGUAGE_CODE = "en-us"
    buffer = io.StringIO()
    write_csv(buffer, [alice.instance], Period(), part="privileges")
    assert (
        buffer.getvalue().splitlines()[0] == "instance,account,privilege,on,how,grant_option,denied,verified"
    )
