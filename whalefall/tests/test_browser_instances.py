"""The instance health board in a real Chromium at 1400 px: the failing instance first with a red
badge, a per-row Test against the live MariaDB, the instance page with its status on top and the
form's Test connection, all without a horizontal scrollbar or a blocked script."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from whalefall.models import SyncInstanceRecord, Tag
from whalefall.tests import live
from whalefall.tests.browser import csp_violations, log_in, page_says, shot
from whalefall.tests.factories import CredentialFactory, InstanceFactory, SyncSessionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "a-long-test-password-42"


def ran(instance: Any, category: str, status: str, error: str = "", minutes_ago: int = 7) -> None:
    ended = timezone.now() - timedelta(minutes=minutes_ago)
    session = SyncSessionFactory(category=category, status=status, finished_at=ended)
    SyncInstanceRecord.objects.create(
        session=session,
        instance=instance,
        instance_name=instance.name,
        status=status,
        started_at=ended - timedelta(seconds=30),
        finished_at=ended,
        failed_phase="connection" if error else "",
        error_message=error,
    )


def no_sideways_scroll(browser: Any) -> tuple[int, int, int, int]:
    """(page scroll width, window width, results scroll width, results box width)."""
    return tuple(
        browser.execute_script(
            "const r = document.querySelector('.results') || document.body;"
            "return [document.documentElement.scrollWidth, window.innerWidth, r.scrollWidth, r.clientWidth];"
        )
    )


def test_the_health_board_and_the_instance_page(
    browser: Any, live_server: Any, mysql_user: Callable[..., tuple[str, str]]
) -> None:
    from selenium.webdriver.common.by import By

    name, pwd = mysql_user()
    prod, eu = Tag.objects.create(name="prod", colour="red"), Tag.objects.create(name="eu", colour="blue")
    healthy = InstanceFactory(
        name="aa-healthy-mariadb",
        port=3306,
        credential=CredentialFactory(username=name, password=pwd),
        version="MariaDB 10.11",
    )
    healthy.tags.add(prod, eu)
    ran(healthy, "account", "completed")
    ran(healthy, "capacity", "completed", minutes_ago=90)
    failing = InstanceFactory(
        name="zz-failing-mariadb",
        port=live.closed_port(),
        credential=CredentialFactory(username=name, password="Wrong-Pass-9"),
    )
    failing.tags.add(prod)
    ran(failing, "account", "completed", minutes_ago=600)
    ran(
        failing,
        "account",
        "failed",
        "attempt 1 (connection): unreachable: connection refused; "
        "attempt 2 (connection): unreachable: connection refused",
    )
    User.objects.create_superuser("board-admin", password=PASSWORD)
    log_in(browser, live_server, "board-admin", PASSWORD, expect="Fleet overview")

    browser.get(f"{live_server.url}/admin/whalefall/instance/")
    page_says(browser, "zz-failing-mariadb")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert "zz-failing-mariadb" in rows[0].text and "aa-healthy-mariadb" in rows[1].text
    badge = rows[0].find_element(By.CSS_SELECTOR, "td.field-account_status .wf-badge")
    assert badge.text == "failed" and "wf-bad" in badge.get_attribute("class")
    assert "connection refused" in badge.get_attribute("title")
    assert "unreachable" in rows[0].find_element(By.CSS_SELECTOR, "td.field-account_status").text
    shot(browser, "instances-board")
    page_width, window, results_width, results_box = no_sideways_scroll(browser)
    assert page_width <= window and results_width <= results_box

    # The healthy row's Test button: a POST that checks the live MariaDB and comes back here.
    test = rows[1].find_element(By.XPATH, ".//button[normalize-space()='Test']")
    test.click()
    page_says(browser, "OK: MariaDB")
    row = next(
        r for r in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr") if "aa-healthy" in r.text
    )
    assert row.find_element(By.CSS_SELECTOR, "td.field-check_status .wf-badge").text == "ok"
    assert browser.current_url.endswith("/admin/whalefall/instance/")

    # The failing instance's page: status and buttons above the form; the form's Test tries the
    # entered settings (here the closed port) without saving anything.
    browser.get(f"{live_server.url}/admin/whalefall/instance/{failing.pk}/change/")
    status = browser.find_element(By.ID, "instance-status")
    form = browser.find_element(By.ID, "instance_form")
    assert status.location["y"] < form.location["y"]
    assert "unreachable" in status.text and "failed" in status.text
    browser.find_element(By.ID, "test-connection").click()
    page_says(browser, "Connection test failed")
    result = browser.find_element(By.ID, "connection-test")
    assert "unreachable" in result.text and "Wrong-Pass-9" not in browser.page_source
    browser.execute_script("window.scrollTo(0, 0)")
    page_width, window, _, _ = no_sideways_scroll(browser)
    assert page_width <= window
    shot(browser, "instance-change")
    assert csp_violations(browser) == []
