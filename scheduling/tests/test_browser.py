"""End to end in a real headless Chromium: log in, run a job now, watch its session appear."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from scheduling.tests.conftest import SAMPLE
from scheduling.tests.helpers import SchedulerProcess, wait_until
from scheduling.tests.users import OPERATORS, PASSWORD, make_user
from whalefall.tests.browser import csp_violations, page_says

pytestmark = pytest.mark.browser


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
    page_says(browser, "Queued 1 run; the scheduler starts it within seconds.")

    def session_listed() -> bool:
        browser.get(f"{live_server.url}/admin/whalefall/syncsession/")
        return bool(browser.find_elements(By.CSS_SELECTOR, "#result_list .wf-status-completed"))

    wait_until(session_listed, 20, "the session to appear in the sessions list")
    browser.get(f"{live_server.url}/admin/scheduling/jobconfig/")
    link = browser.find_element(By.CSS_SELECTOR, "#result_list a.wf-session-link")
    assert link.text == "completed"
    link.click()
    # Asked by a person: recorded as a manual run by that person, not as a scheduled one.
    assert "otto" in browser.page_source
    assert csp_violations(browser) == []
