"""The capacity pages in a real Chromium: the chart (gridlines, tooltips, forecast, limit, range
links), the database list and a limit typed with its unit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from django.utils.formats import date_format

from capacity.charts import human_bytes
from capacity.models import DatabaseSizeStat, InstanceCapacity, InstanceDatabase, InstanceSizeStat
from whalefall.tests.browser import csp_violations, log_in, page_says, shot
from whalefall.tests.factories import InstanceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GB = 1024**3
DAYS = 150


@pytest.fixture
def database() -> InstanceDatabase:
    """Five months of a database growing 20 MB a day from 4 GB, with a 7.5 GB limit a month ahead."""
    instance = InstanceFactory(name="wf-pg-<prod>")
    db = InstanceDatabase.objects.create(instance=instance, name="orders", capacity_limit_bytes=int(7.5 * GB))
    today = timezone.localdate()
    DatabaseSizeStat.objects.bulk_create(
        DatabaseSizeStat(
            database=db,
            instance=instance,
            collected_date=today - timedelta(days=DAYS - 1 - day),
            size_bytes=4 * GB + day * 20 * 1024**2 + (day % 7) * 3 * 1024**2,
        )
        for day in range(DAYS)
    )
    small = InstanceDatabase.objects.create(instance=instance, name="audit")
    DatabaseSizeStat.objects.bulk_create(
        DatabaseSizeStat(
            database=small,
            instance=instance,
            collected_date=today - timedelta(days=day),
            size_bytes=300 * 1024**2,
        )
        for day in range(DAYS)
    )
    InstanceSizeStat.objects.bulk_create(
        InstanceSizeStat(
            instance=instance, collected_date=s.collected_date, size_bytes=s.size_bytes + 300 * 1024**2
        )
        for s in DatabaseSizeStat.objects.filter(database=db)
    )
    InstanceCapacity.objects.create(instance=instance, capacity_limit_bytes=10 * GB)
    return db


def test_the_chart_reads_like_a_dashboard(browser: Any, live_server: Any, database: InstanceDatabase) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    User.objects.create_superuser("dba", password="a-long-test-password-42")
    log_in(browser, live_server, "dba", "a-long-test-password-42", expect="Fleet overview")
    browser.get(f"{live_server.url}/admin/capacity/instancedatabase/{database.pk}/history/")
    page_says(browser, "wf-pg-<prod> / orders: size history")

    chart = browser.find_element(By.CSS_SELECTOR, "svg.capacity-chart")
    assert chart.size["width"] > 1000  # drawn at the page's width, not as a thumbnail
    y_labels = [e.text for e in chart.find_elements(By.CSS_SELECTOR, "text.y-label")]
    assert y_labels == ["4 GB", "5 GB", "6 GB", "7 GB", "8 GB"]  # round steps in GB, the limit inside
    x_labels = [e.text for e in chart.find_elements(By.CSS_SELECTOR, "text.x-label")]
    assert 4 <= len(x_labels) <= 12 and len(set(x_labels)) == len(x_labels)
    assert len(chart.find_elements(By.CSS_SELECTOR, "line.grid")) == len(y_labels) + len(x_labels)

    points = chart.find_elements(By.CSS_SELECTOR, "g.point")
    assert len(points) == DAYS
    last = DatabaseSizeStat.objects.filter(database=database).latest("collected_date")
    tooltip = points[-1].find_element(By.TAG_NAME, "title").get_attribute("textContent")
    assert tooltip == f"{date_format(last.collected_date, 'DATE_FORMAT')}: {human_bytes(last.size_bytes)}"
    ActionChains(browser).move_to_element(points[-1]).perform()

    forecast = chart.find_element(By.CSS_SELECTOR, "g.forecast line")
    assert forecast.get_attribute("stroke-dasharray")
    limit = chart.find_element(By.CSS_SELECTOR, "g.limit")
    assert limit.find_element(By.TAG_NAME, "title").get_attribute("textContent") == "Limit: 7.5 GB"
    forecast_title = chart.find_element(By.CSS_SELECTOR, "g.forecast title").get_attribute("textContent")
    assert forecast_title.startswith("Full around")  # ~0.6 GB left at ~20 MB a day: within the 50 days drawn
    assert browser.find_element(By.CSS_SELECTOR, ".capacity-ranges a.selected").text == "1 year"
    shot(browser, "capacity-chart")

    browser.find_element(By.LINK_TEXT, "30 days").click()
    page_says(browser, "wf-pg-<prod> / orders: size history")
    assert browser.current_url.endswith("?range=30d")
    assert browser.find_element(By.CSS_SELECTOR, ".capacity-ranges a.selected").text == "30 days"
    chart = browser.find_element(By.CSS_SELECTOR, "svg.capacity-chart")
    assert len(chart.find_elements(By.CSS_SELECTOR, "g.point")) == 30
    shorter = [e.text for e in chart.find_elements(By.CSS_SELECTOR, "text.x-label")]
    assert shorter != x_labels  # weeks now, not months
    shot(browser, "capacity-chart-30d")

    browser.get(f"{live_server.url}/admin/capacity/instancedatabase/")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert [r.text.split(" 6.9 GB")[0].split(" 300.0 MB")[0] for r in rows] == [
        "wf-pg-<prod> / orders",
        "wf-pg-<prod> / audit",
    ]  # largest first
    shot(browser, "capacity-databases")
    browser.find_element(By.LINK_TEXT, "wf-pg-<prod>").click()
    page_says(browser, "wf-pg-<prod>: capacity")
    chart = browser.find_element(By.CSS_SELECTOR, "svg.capacity-chart")
    assert (
        chart.find_element(By.CSS_SELECTOR, "g.limit title").get_attribute("textContent") == "Limit: 10.0 GB"
    )
    shot(browser, "capacity-instance")
    browser.get(f"{live_server.url}/admin/capacity/instancedatabase/{database.pk}/change/")
    limit_field = browser.find_element(By.ID, "id_capacity_limit_bytes")
    assert limit_field.get_attribute("value") == "7.5 GB"
    limit_field.clear()
    limit_field.send_keys("2 TB")
    browser.find_element(By.NAME, "_save").click()
    page_says(browser, "was changed successfully")
    database.refresh_from_db()
    assert database.capacity_limit_bytes == 2 * 1024**4
    assert csp_violations(browser) == []
