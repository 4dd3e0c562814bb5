"""The admin works in a real Chromium under the Content-Security-Policy: no blocked script,
style or image on the pages that use JavaScript (trigger form) or draw SVG charts (capacity)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from capacity.tests.test_admin import fleet  # noqa: F401 - the fixture
from whalefall.tests.browser import csp_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(browser: Any, live_server: Any) -> None:
    from selenium.webdriver.common.by import By

    User.objects.create_superuser("csp-admin", password="a-long-test-password-42")
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.ID, "id_username").send_keys("csp-admin")
    browser.find_element(By.ID, "id_password").send_keys("a-long-test-password-42")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()


def test_admin_pages_run_under_the_policy(browser: Any, live_server: Any, fleet: dict) -> None:  # noqa: F811 - fixture
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    log_in(browser, live_server)
    db, instance = fleet["dbs"][3], fleet["instances"][0]
    for path in (
        "/admin/",
        "/admin/whalefall/instance/",
        "/admin/whalefall/syncsession/",
        f"/admin/capacity/instancedatabase/{db.pk}/history/",
        f"/admin/capacity/instancedatabase/instance/{instance.pk}/",
    ):
        browser.get(f"{live_server.url}{path}")
        assert "Site administration" in browser.title or browser.find_elements(By.ID, "content"), path
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.capacity-chart")
    assert charts and charts[0].size["width"] > 100  # drawn, with its inline styles applied

    browser.get(f"{live_server.url}/admin/scheduling/jobconfig/add/")
    Select(browser.find_element(By.ID, "id_trigger_type")).select_by_value("interval")
    cron_row = browser.find_element(By.CSS_SELECTOR, "[data-field^=cron_]")
    assert not cron_row.is_displayed()  # the static script ran: only interval fields are shown
    assert csp_violations(browser) == []
