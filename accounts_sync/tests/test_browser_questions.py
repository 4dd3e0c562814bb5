"""In a real headless Chromium: ask "Who can…", download the access review, set up an alert channel."""

from __future__ import annotations

from typing import Any

import pytest

from accounts_sync.models import Account, AccountPrivilege
from whalefall.models import AlertChannel
from whalefall.tests.browser import page_says, shot
from whalefall.tests.factories import InstanceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def login(driver: Any, live_server: Any, admin_user: Any) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{live_server.url}/admin/login/")
    driver.find_element(By.ID, "id_username").send_keys("admin")
    driver.find_element(By.ID, "id_password").send_keys("password")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    page_says(driver, "Fleet overview")


def test_who_can_report_and_alert_channel_in_the_browser(
    browser: Any,
    live_server: Any,
    admin_user: Any,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    instance = InstanceFactory(name="sales-db", db_type="mysql")
    account = Account.objects.create(instance=instance, identity="app@%", username="app")
    AccountPrivilege.objects.create(
        instance=instance,
        account=account,
        scope_kind="database",
        path=["sales"],
        target="sales",
        privilege="DROP",
        via="r_app ← r_owner",
    )
    login(browser, live_server, admin_user)
    assert browser.find_element(By.ID, "fleet-overview").is_displayed()
    shot(browser, "home")

    browser.get(f"{live_server.url}/admin/accounts_sync/account/")
    browser.find_element(By.CSS_SELECTOR, ".object-tools a[href$='/who-can/']").click()
    page_says(browser, "Which accounts hold a privilege")
    browser.find_element(By.ID, "id_privilege").send_keys("drop")
    browser.find_element(By.ID, "id_on").clear()
    browser.find_element(By.ID, "id_on").send_keys("sales.*")
    browser.find_element(By.CSS_SELECTOR, "#who-can-form input[type=submit]").click()
    page_says(browser, "1 account, 1 grant")
    row = browser.find_element(By.CSS_SELECTOR, ".who-can-results tbody tr").text
    assert "app@%" in row and "via r_app ← r_owner" in row
    shot(browser, "who-can")

    browser.get(f"{live_server.url}/admin/accounts_sync/account/report/")
    page_says(browser, "Every account with each privilege")
    shot(browser, "access-review")

    browser.get(f"{live_server.url}/admin/whalefall/alertchannel/add/")
    browser.find_element(By.ID, "id_name").send_keys("dba-group")
    Select(browser.find_element(By.ID, "id_kind")).select_by_value("webhook")
    Select(browser.find_element(By.ID, "id_format")).select_by_value("dingtalk")
    browser.find_element(By.ID, "id_url").send_keys(
        "https://oapi.example.invalid/robot/send?access_token=T0KEN"
    )
    browser.find_element(By.NAME, "_save").click()
    page_says(browser, "was added successfully")
    assert "T0KEN" not in browser.page_source and "https://oapi.example.invalid/…" in browser.page_source
    assert AlertChannel.objects.get(name="dba-group").get_url().endswith("T0KEN")
    shot(browser, "alert-channels")
