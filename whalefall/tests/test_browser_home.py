"""The home page of a fleet with work to do, in a real Chromium at 1400 px: an instance failing
inside a partial run, a risky account change and a database filling up are on it, and the
failing figure opens the instance board showing that instance. Then the capacity, executions,
run request and alert lists, filled with long names, each without sideways scrolling.
Screenshots: home-fleet.png and list-*.png under test-artifacts/."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from accounts_sync.models import Account, AccountChange, ChangeType
from capacity.models import DatabaseSizeStat, InstanceDatabase
from scheduling.models import JobConfig, JobRunSession
from whalefall.models import (
    AlertChannel,
    AlertDelivery,
    AlertRule,
    SyncInstanceRecord,
    SyncSession,
    TaskRequest,
)
from whalefall.models.alerts import ChannelKind
from whalefall.tests.browser import csp_violations, log_in, page_says, shot, sideways
from whalefall.tests.factories import InstanceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "a-long-test-password-42"
LONG_ERROR = (
    "attempt 1 (connection): unreachable: (2003, \"Can't connect to MySQL server on "
    "'erp-mysql-primary.dc1.example.internal' ([Errno 111] Connection refused)\"); "
    "attempt 2 (connection): unreachable: (2003, \"Can't connect to MySQL server on "
    "'erp-mysql-primary.dc1.example.internal' ([Errno 111] Connection refused)\")"
)


def a_fleet_with_work() -> SyncSession:
    """Three instances synced in one partial run (erp failed, crm fine); a new superuser on crm;
    an orders database of erp a few days from its limit, and more databases of long names."""
    now = timezone.now().replace(microsecond=0)
    session = SyncSession.objects.create(
        category="account",
        trigger="scheduled",
        created_by="scheduler",
        status="partial",
        started_at=now - timedelta(minutes=12),
        finished_at=now - timedelta(minutes=11),
        total_instances=3,
        successful_instances=2,
        failed_instances=1,
    )
    erp = InstanceFactory(name="erp-mysql-primary", host="erp-mysql-primary.dc1.example.internal")
    crm = InstanceFactory(name="crm-postgres", db_type="postgresql", port=5432)
    dw = InstanceFactory(name="dw-oracle-reporting", db_type="oracle", port=1521)
    for inst in (erp, crm, dw):
        failed = inst is erp
        SyncInstanceRecord.objects.create(
            session=session,
            instance=inst,
            instance_name=inst.name,
            status="failed" if failed else "completed",
            failed_phase="connection" if failed else "",
            error_message=LONG_ERROR if failed else "",
            attempts=2 if failed else 1,
            started_at=session.started_at,
            finished_at=session.finished_at,
        )
    account = Account.objects.create(instance=crm, identity="etl_superuser", username="etl_superuser")
    AccountChange.objects.create(
        account=account,
        instance=crm,
        change_type=ChangeType.ADD,
        details={"is_superuser": True, "can_login": True, "permissions": {}},
        summary="added",
        session=session,
        session_uuid=session.session_id,
    )
    today = timezone.localdate()
    for inst, name, limit, start, step in (
        (erp, "orders_archive_2019_to_2024_partitioned", 100 * 2**30, 90 * 2**30, 2**30),
        (crm, "customer_relationship_history", None, 40 * 2**30, 2**28),
        (dw, "REPORTING_FACTS_TABLESPACE_WITH_A_LONG_NAME", 2**40, 2**39, 2**26),
    ):
        db = InstanceDatabase.objects.create(instance=inst, name=name, capacity_limit_bytes=limit)
        for day in range(5):
            DatabaseSizeStat.objects.create(
                database=db,
                instance=inst,
                collected_date=today - timedelta(days=4 - day),
                size_bytes=start + step * day,
                data_bytes=start + step * day - 2**20,
                log_bytes=2**20,
            )
    return session


def scheduler_history(session: SyncSession) -> None:
    """A job that ran into the partial session, another that raised, and a run request."""
    now = timezone.now().replace(microsecond=0)
    for job_id, name in (
        ("sync_accounts_hourly", "Account sync of every active instance, every hour"),
        ("collect_capacity_nightly", "Capacity collection and aggregation, every night"),
    ):
        JobConfig.objects.create(
            id=job_id,
            name=name,
            function="accounts_sync.tasks.sync_accounts",
            trigger_type="cron",
            trigger_params={"minute": 5},
        )
        DjangoJob.objects.create(id=job_id, next_run_time=now + timedelta(hours=1), job_state=b"")
    DjangoJobExecution.objects.create(
        job_id="sync_accounts_hourly",
        status="Executed",
        run_time=session.started_at,
        duration=Decimal("61.7342"),
        finished=Decimal(str(session.started_at.timestamp() + 61.7342)),
    )
    JobRunSession.objects.create(job_id="sync_accounts_hourly", run_time=session.started_at, session=session)
    DjangoJobExecution.objects.create(
        job_id="collect_capacity_nightly",
        status="Error!",
        run_time=now - timedelta(hours=7),
        duration=Decimal("0.318"),
        exception="OperationalError: could not connect to server: Connection refused. " * 4,
    )
    TaskRequest.objects.create(
        task="capacity.tasks.collect_and_aggregate_capacity_for_every_active_instance",
        job_id="collect_capacity_nightly",
        requested_by="a.dba.with.a.long.username@example.com",
        status="failed",
        claimed_by="scheduler-host-01.dc1.example.internal:4242",
        finished_at=now - timedelta(minutes=3),
        error="RuntimeError: the capacity collection of erp-mysql-primary failed: " + LONG_ERROR,
        session=session,
    )


def alerts() -> None:
    webhook = AlertChannel(name="dba-team-webhook-with-a-long-name", kind=ChannelKind.WEBHOOK, format="slack")
    webhook.set_url("https://hooks.slack.example.com/services/T0000000/B0000000/XXXXXXXXXXXXXXXX")
    webhook.save()
    email = AlertChannel.objects.create(
        name="dba-on-call-mail",
        kind=ChannelKind.EMAIL,
        recipients="dba-oncall@example.com, database-platform-team@example.com, sre-lead@example.com",
    )
    rule = AlertRule.objects.create(
        name="Failed or partial syncs of production instances", kind="session_failed"
    )
    rule.channels.add(webhook, email)
    for n, channel in enumerate((webhook, email)):
        AlertDelivery.objects.create(
            rule=rule,
            channel=channel,
            event_key=f"session-{n}",
            title="Account sync partial: erp-mysql-primary failed (unreachable) on 2 attempts, 2 of 3 instances ok",
            status="failed" if n else "sent",
            attempts=3,
            last_error="SMTPServerDisconnected: Connection unexpectedly closed by mail.example.internal:587"
            if n
            else "",
        )


def test_the_home_shows_the_work_and_the_failing_figure_opens_the_board(
    browser: Any, live_server: Any
) -> None:
    from selenium.webdriver.common.by import By

    a_fleet_with_work()
    User.objects.create_superuser("home-admin", password=PASSWORD)
    log_in(browser, live_server, "home-admin", PASSWORD, expect="Fleet overview")

    failing = browser.find_element(By.ID, "panel-failing")
    assert "1 failing now" in failing.text
    rows = failing.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 1 and "erp-mysql-primary" in rows[0].text and "unreachable" in rows[0].text
    assert "crm-postgres" not in failing.text
    risky = browser.find_element(By.ID, "panel-risky-changes").text
    assert "etl_superuser" in risky and "1 in 24 h" in risky
    capacity = browser.find_element(By.ID, "panel-capacity")
    assert "full in 6 days" in capacity.text and "orders_archive_2019_to_2024_partitioned" in capacity.text
    assert sideways(browser) == []
    assert (
        browser.execute_script(
            """return [...document.querySelectorAll('.wf-panel')].filter(p =>
            [...p.querySelectorAll('table')].some(t =>
                t.getBoundingClientRect().right > p.getBoundingClientRect().right + 1)).map(p => p.id)"""
        )
        == []
    ), "a panel's table sticks out of its box"
    shot(browser, "home-fleet")

    failing.find_element(By.PARTIAL_LINK_TEXT, "failing now").click()
    page_says(browser, "erp-mysql-primary")
    assert "health=failing" in browser.current_url
    listed = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")]
    assert len(listed) == 1 and "erp-mysql-primary" in listed[0]

    capacity_link = "#panel-capacity a[href*='/history/']"
    browser.back()
    page_says(browser, "Fleet overview")
    browser.find_elements(By.CSS_SELECTOR, capacity_link)[1].click()  # the "full in 6 days" cell
    page_says(browser, "orders_archive_2019_to_2024_partitioned: size history")
    assert csp_violations(browser) == []


LISTS = [
    ("capacity/instancedatabase/", "REPORTING_FACTS_TABLESPACE_WITH_A_LONG_NAME", "capacity-databases"),
    ("capacity/databasesizestat/", "orders_archive_2019_to_2024_partitioned", "capacity-sizes"),
    ("django_apscheduler/djangojobexecution/", "Account sync of every active instance", "executions"),
    ("whalefall/taskrequest/", "collect_and_aggregate_capacity", "task-requests"),
    ("whalefall/alertrule/", "Failed or partial syncs of production instances", "alert-rules"),
    ("whalefall/alertchannel/", "dba-team-webhook-with-a-long-name", "alert-channels"),
    ("whalefall/alertdelivery/", "Account sync partial: erp-mysql-primary", "alert-deliveries"),
]


def test_the_capacity_scheduler_and_alert_lists_fit_1400_px(browser: Any, live_server: Any) -> None:
    session = a_fleet_with_work()
    scheduler_history(session)
    alerts()
    User.objects.create_superuser("list-admin", password=PASSWORD)  # with the action checkboxes
    log_in(browser, live_server, "list-admin", PASSWORD, expect="Fleet overview")
    scrolling = {}
    for path, text, name in LISTS:
        browser.get(f"{live_server.url}/admin/{path}")
        page_says(browser, text)
        shot(browser, f"list-{name}")
        scrolling[path] = sideways(browser)
    assert scrolling == {path: [] for path, _text, _name in LISTS}
    assert csp_violations(browser) == []
