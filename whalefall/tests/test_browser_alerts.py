"""In a real headless Chromium: an alert rule set up in the admin fires on a real failed sync and
its delivery shows in the admin; the access-review workbook downloads and holds the synced rows.

Setting up a channel through the admin form (its URL never shown again) and the report page
itself are driven by `accounts_sync/tests/test_browser_questions.py`; here the channel is made in
code and pointed at a local webhook receiver, so the delivery can be checked end to end.
"""

from __future__ import annotations

import json
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from accounts_sync.models import Account, AccountPrivilege
from accounts_sync.tasks import sync_accounts
from whalefall.models import AlertChannel, AlertDelivery, AlertRule, DeliveryStatus
from whalefall.models.alerts import ChannelKind
from whalefall.tests import live
from whalefall.tests.alerting import Receiver
from whalefall.tests.browser import log_in, page_says, shot
from whalefall.tests.factories import CredentialFactory, InstanceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_for_download(folder: Path, suffix: str, timeout: float = 20) -> Path:
    """The finished download (Chromium writes `*.crdownload` until it is complete)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(f"*{suffix}") if p.stat().st_size > 0]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no {suffix} downloaded into {folder}: {list(folder.iterdir())}")


def test_an_alert_rule_fires_on_a_failed_sync_and_the_access_review_downloads(
    browser: Any, live_server: Any, admin_user: Any, receiver: Receiver, mysql_user: Any, tmp_path: Path
) -> None:
    from openpyxl import load_workbook
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    live.require("127.0.0.1", 3306, "MariaDB")
    monitor, password = mysql_user(grants=("GRANT SELECT ON mysql.* TO {user}",))
    sales = InstanceFactory(
        name="sales-maria", port=3306, credential=CredentialFactory(username=monitor, password=password)
    )
    down = InstanceFactory(name="reports-down", port=live.closed_port())
    channel = AlertChannel(name="dba-webhook", kind=ChannelKind.WEBHOOK, format="json")
    channel.set_url(receiver.url)
    channel.save()

    # The rule, as a DBA sets it up in the admin.
    log_in(browser, live_server, "admin", "password", expect="Fleet overview")
    browser.get(f"{live_server.url}/admin/whalefall/alertrule/add/")
    browser.find_element(By.ID, "id_name").send_keys("failed-syncs")
    Select(browser.find_element(By.ID, "id_kind")).select_by_value("session_failed")
    Select(browser.find_element(By.ID, "id_channels_from")).select_by_visible_text("dba-webhook")
    browser.find_element(By.ID, "id_channels_add").click()
    assert [o.text for o in Select(browser.find_element(By.ID, "id_channels_to")).options] == ["dba-webhook"]
    browser.execute_script("window.scrollTo(0, 0)")  # the heading, the kind and the chosen channel
    shot(browser, "alert-rule")
    browser.find_element(By.NAME, "_save").click()
    page_says(browser, "was added successfully")
    rule = AlertRule.objects.get(name="failed-syncs")
    assert rule.kind == "session_failed" and rule.enabled and list(rule.channels.all()) == [channel]

    # A real sync: the MariaDB instance syncs, the other cannot be reached, the session is partial.
    summary = sync_accounts(instance_ids=[sales.pk, down.pk], trigger="manual")
    assert summary["status"] == "partial"
    assert receiver.bodies == []  # nothing is sent from the sync itself, only by the alert run

    out = StringIO()
    call_command("send_alerts", stdout=out)  # what the scheduler runs every minute
    assert json.loads(out.getvalue()) == {"queued": 1, "sent": 1, "failed": 0, "skipped": 0}
    (body,) = receiver.bodies
    assert body["event"] == f"session:{summary['session_id']}" and body["severity"] == "critical"
    assert body["title"] == "Account sync partial: 1 of 2 instances failed"
    assert len(body["lines"]) == 1 and body["lines"][0].startswith("reports-down: failed in connection: ")
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.rule, delivery.channel) == (DeliveryStatus.SENT, rule, channel)

    # The delivery, as the admin shows it.
    browser.get(f"{live_server.url}/admin/whalefall/alertdelivery/")
    page_says(browser, "Account sync partial")
    (row,) = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert "Sent" in row.text and "dba-webhook" in row.text and "failed-syncs" in row.text
    assert "Account sync partial: 1 of 2 instances failed" in row.text
    assert "SECRET-TOKEN" not in browser.page_source
    shot(browser, "alert-deliveries")
    row.find_element(By.CSS_SELECTOR, "th a, td a").click()
    page_says(browser, "reports-down: failed in connection")
    assert "SECRET-TOKEN" not in browser.page_source

    # The access review as a workbook, downloaded by the browser.
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    browser.get(f"{live_server.url}/admin/accounts_sync/account/report/")
    page_says(browser, "Every account with each privilege")
    Select(browser.find_element(By.ID, "id_instances")).select_by_visible_text("sales-maria")
    Select(browser.find_element(By.ID, "id_format")).select_by_value("xlsx")
    shot(browser, "access-report")
    browser.find_element(By.CSS_SELECTOR, "#report-form input[type=submit]").click()
    workbook = load_workbook(wait_for_download(downloads, ".xlsx"), read_only=True)
    assert workbook.sheetnames[:3] == ["Report", "Accounts", "Privileges"]
    report = [tuple(r) for r in workbook["Report"].iter_rows(values_only=True)]
    assert ("instances", "sales-maria") in report

    accounts = list(workbook["Accounts"].iter_rows(values_only=True))
    assert accounts[0][:3] == ("instance", "engine", "account")
    synced = set(Account.objects.filter(instance=sales, is_active=True).values_list("identity", flat=True))
    assert synced and {r[2] for r in accounts[1:]} == synced
    assert {(r[0], r[1]) for r in accounts[1:]} == {("sales-maria", "mysql")}
    mine = next(r for r in accounts[1:] if r[2] == f"{monitor}@%")
    assert mine[5] == "no"  # the monitoring login is no superuser

    privileges = list(workbook["Privileges"].iter_rows(values_only=True))
    assert privileges[0] == (
        "instance",
        "account",
        "privilege",
        "on",
        "how",
        "grant_option",
        "denied",
        "verified",
    )
    assert (
        len(privileges) - 1
        == AccountPrivilege.objects.filter(instance=sales, account__is_active=True).count()
    )
    assert ("sales-maria", f"{monitor}@%", "SELECT", "database mysql", "direct") in {
        r[:5] for r in privileges
    }
