"""A Chinese DBA's browser gets the admin in Chinese, and the header's switcher changes it.

Chromium runs with its UI language and Accept-Language set to Chinese, as a browser in China is;
nothing in WhaleFall is configured for it (LANGUAGE_CODE stays en-us).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from whalefall.models import SyncInstanceRecord
from whalefall.tests.browser import csp_violations, log_in, page_says, shot
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory
from whalefall.tests.test_translations import compiled_catalogue  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.browser_language("zh-CN"),
    pytest.mark.django_db(transaction=True),
]
PASSWORD = "a-long-test-password-42"


def a_small_fleet() -> None:
    """Three instances, one of which failed its last account sync (so the home has work to show)."""
    session = SyncSessionFactory(
        category="account", status="partial", finished_at=timezone.now() - timedelta(minutes=5)
    )
    for name, failed in (("erp-mysql", True), ("crm-pg", False), ("dw-oracle", False)):
        instance = InstanceFactory(name=name)
        SyncInstanceRecord.objects.create(
            session=session,
            instance=instance,
            instance_name=name,
            status="failed" if failed else "completed",
            failed_phase="connection" if failed else "",
            error_message="authentication: Access denied for user 'monitor'" if failed else "",
            started_at=session.finished_at - timedelta(seconds=20),
            finished_at=session.finished_at,
        )


def test_the_admin_speaks_chinese_to_a_chinese_browser(
    browser: Any,
    live_server: Any,
    compiled_catalogue: Path,  # noqa: F811 - the fixture
) -> None:
    from selenium.webdriver.common.by import By

    User.objects.create_superuser("dba", password=PASSWORD)
    a_small_fleet()
    browser.get(f"{live_server.url}/admin/login/")
    assert browser.find_element(By.CSS_SELECTOR, "input[type=submit]").get_attribute("value") == "登录"
    log_in(browser, live_server, "dba", PASSWORD, expect="当前失败的实例")

    assert browser.title == "实例总览 | WhaleFall"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-hans"
    failing = browser.find_element(By.ID, "panel-failing").text
    assert "当前 1 个失败" in failing and "erp-mysql" in failing and "最近账户同步" in failing
    apps = browser.find_element(By.ID, "content-main").text.upper()  # app captions are upper-cased
    for name in ("实例", "凭据", "告警", "同步会话", "告警规则", "账户变更", "定时作业"):
        assert name in apps, name
    shot(browser, "chinese-home")

    # The model's link (the block above it is also named 实例).
    browser.find_element(By.CSS_SELECTOR, "#content-main th a[href$='/whalefall/instance/']").click()
    page_says(browser, "选择 实例 来修改")
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#result_list thead th")]
    assert "名称" in headers and "服务器" in headers, headers
    rows = browser.find_element(By.ID, "result_list").text
    assert "erp-mysql" in rows and "crm-pg" in rows and "dw-oracle" in rows
    assert "数据库类型" in browser.find_element(By.ID, "changelist-filter").text
    shot(browser, "chinese-instances")

    # The switcher in the header: English for this user, whatever the browser asks for, and back.
    browser.find_element(By.CSS_SELECTOR, "#language-switcher button[value=en]").click()
    page_says(browser, "Select instance to change")
    assert browser.find_element(By.CSS_SELECTOR, "#language-switcher button[value=en]").get_attribute(
        "aria-current"
    )
    browser.get(f"{live_server.url}/admin/")
    page_says(browser, "Instances failing now")
    browser.find_element(By.CSS_SELECTOR, "#language-switcher button[value=zh-hans]").click()
    page_says(browser, "当前失败的实例")
    assert csp_violations(browser) == []
