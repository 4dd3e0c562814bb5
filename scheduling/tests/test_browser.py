"""End to end in a real headless Chromium: log in, run a job now, watch its session appear."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from scheduling.tests.conftest import SAMPLE
from scheduling.tests.helpers import SchedulerProcess, wait_until
from scheduling.tests.users import OPERATORS, PASSWORD, make_user

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

pytestmark = pytest.mark.browser


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver must be installed in CI")
        pytest.skip("chromium / chromium-driver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations are logged there
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def scheduler(tmp_path: Path, transactional_db: None) -> Iterator[SchedulerProcess]:
    tasks = tmp_path / "tasks.yaml"
    entry = {
        "id": "record_session_hourly",
        "name": "Record a session",
        "function": f"{SAMPLE}.record_session",
        "trigger_type": "cron",
        "trigger_params": {"minute": 0},
    }
    tasks.write_text(yaml.safe_dump({"default_tasks": [entry]}))
    proc = SchedulerProcess(tmp_path, "scheduler", tasks, lease_seconds=5)
    wait_until(lambda: "Active: scheduler" in proc.output, what="the scheduler to start")
    yield proc
    proc.stop()


def page_says(browser: Any, text: str) -> None:
    """Wait for the next page to load and contain `text` (the old page may still be showing)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 15, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: text in d.find_element(By.TAG_NAME, "body").text
    )


def test_it_runs_a_job_from_the_admin_and_shows_its_session(
    browser: Any, live_server: Any, scheduler: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    make_user("otto", OPERATORS)
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.ID, "id_username").send_keys("otto")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    page_says(browser, "Fleet overview")

    browser.get(f"{live_server.url}/admin/scheduling/jobconfig/")
    assert "Scheduler alive on" in browser.find_element(By.ID, "scheduler-status").text
    row = browser.find_element(By.CSS_SELECTOR, "input[name=_selected_action][value=record_session_hourly]")
    row.click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("run_now")
    browser.find_element(By.NAME, "index").click()
    page_says(browser, "Queued 1 run(s); the scheduler starts them within seconds.")

    def session_listed() -> bool:
        browser.get(f"{live_server.url}/admin/whalefall/syncsession/")
        return bool(browser.find_elements(By.CSS_SELECTOR, "#result_list .wf-status-completed"))

    wait_until(session_listed, 20, "the session to appear in the sessions list")
    browser.get(f"{live_server.url}/admin/scheduling/jobconfig/")
    link = browser.find_element(By.LINK_TEXT, "Completed")
    link.click()
    # Asked by a person: recorded as a manual run by that person, not as a scheduled one.
    assert "otto" in browser.page_source
    assert csp_violations(browser) == []


def csp_violations(browser: Any) -> list[str]:
    """Console messages of the pages seen so far that report a Content-Security-Policy block."""
    return [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
