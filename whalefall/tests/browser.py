"""Shared pieces of the browser tests: a headless Chromium, waiting for a page, logging in,
screenshots under the test artifacts folder, and the console's CSP reports.

Registered as a pytest plugin in the root conftest, so any test can ask for the `browser` fixture.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(
    os.environ.get("WHALEFALL_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)


@pytest.fixture
def browser(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A headless Chromium at 1400 px wide; skipped outside CI when Chromium is not installed.

    `@pytest.mark.browser_language("zh-CN")` makes it a browser whose user reads that language
    (its UI language and the Accept-Language it sends), as a Chinese DBA's browser would be."""
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
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    language = request.node.get_closest_marker("browser_language")
    if language:
        options.add_argument(f"--lang={language.args[0]}")
        options.add_experimental_option("prefs", {"intl.accept_languages": language.args[0]})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations are logged there
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def page_says(browser: Any, text: str) -> None:
    """Wait for the next page to load and contain `text` (the old page may still be showing)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def says(driver: Any) -> bool:
        try:
            return text in driver.find_element(By.TAG_NAME, "body").text
        except StaleElementReferenceException:
            return False
        except WebDriverException as error:
            # The same race as a stale element, as Chromium sometimes reports it: the body found
            # on the old page was replaced by the new one before its text was read.
            if "does not belong to the document" in str(error):
                return False
            raise

    WebDriverWait(browser, 15).until(says)


def log_in(browser: Any, live_server: Any, username: str, password: str, expect: str = "") -> None:
    """Log in through the admin's own form (and wait for `expect` on the page that follows)."""
    from selenium.webdriver.common.by import By

    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.ID, "id_username").send_keys(username)
    browser.find_element(By.ID, "id_password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    if expect:
        page_says(browser, expect)


def shot(browser: Any, name: str) -> Path:
    """Save a 1400 px wide screenshot as test-artifacts/NAME.png (kept by CI for a person to look at)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1400, 1000)
    path = ARTIFACTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path


def sideways(browser: Any) -> list[str]:
    """What scrolls sideways at 1400 px: the page itself, or a box inside it (a change list's
    result table scrolls within its own box when it is too wide). Empty when everything fits."""
    return browser.execute_script(
        """const out = [];
        const page = document.documentElement;
        if (page.scrollWidth > page.clientWidth) out.push('page ' + page.scrollWidth);
        for (const e of document.querySelectorAll('#content *')) {
            const x = getComputedStyle(e).overflowX;
            if ((x === 'auto' || x === 'scroll') && e.scrollWidth > e.clientWidth + 1)
                out.push(e.tagName + '.' + e.className + ' ' + e.scrollWidth + '>' + e.clientWidth);
        }
        return out;"""
    )


def csp_violations(browser: Any) -> list[str]:
    """Console messages of the pages seen so far that report a Content-Security-Policy block."""
    return [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
