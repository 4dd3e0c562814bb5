"""In a real headless Chromium at 1400 px: the account list, an account, its versions compared,
and the risky changes of the week; nothing scrolls sideways. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts_sync.adapters.mysql import mariadb_bits
from accounts_sync.models import Account, AccountChange, AccountPrivilege, ChangeType, PermissionSnapshot
from accounts_sync.privileges import Scope
from whalefall.connections.base import parse_version
from whalefall.tests.browser import csp_violations, log_in, page_says, shot, sideways
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
VERSION = "10.11.19-MariaDB-0+deb12u1"


def holds(
    account: Account, kind: str, *path: str, privileges: list[str], via: str = "", grantable: bool = False
) -> None:
    for privilege in privileges:
        AccountPrivilege.objects.create(
            instance=account.instance,
            account=account,
            scope_kind=kind,
            path=list(path),
            target=Scope.of(kind, *path).target,
            privilege=privilege,
            via=via,
            grantable=grantable,
        )


def fleet() -> dict[str, Any]:
    """A MariaDB and a PostgreSQL instance as two syncs left them: a baseline two days ago, then
    a grant of ALL with the grant option, an unlock, a new login that can write, a role change."""
    now = timezone.now()
    maria = InstanceFactory(name="sales-maria", db_type="mysql", version=VERSION)
    pg = InstanceFactory(name="crm-postgres", db_type="postgresql", version="PostgreSQL 16.4")
    first, later = SyncSessionFactory(status="completed"), SyncSessionFactory(status="completed")
    for instance, n in ((maria, 6), (pg, 3)):
        AccountChange.objects.create(
            instance=instance,
            change_type=ChangeType.BASELINE,
            details={"accounts": n, "roles": 1, "superusers": 1, "logins": n - 1},
            summary=f"baseline: {n} accounts",
            session=first,
            session_uuid=first.session_id,
            created_at=now - timedelta(days=2),
        )

    def account(instance: Any, identity: str, **kw: Any) -> Account:
        user, _, host = identity.rpartition("@") if instance.db_type == "mysql" else (identity, "", "")
        return Account.objects.create(
            instance=instance,
            identity=identity,
            username=user,
            host=host,
            **{"first_seen_at": now - timedelta(days=2), "first_seen_session_uuid": first.session_id, **kw},
        )

    root = account(maria, "root@localhost", is_superuser=True, can_grant=True)
    holds(root, "global", privileges=[n for _m, n in mariadb_bits(parse_version(VERSION))], grantable=True)
    app = account(
        maria,
        "app_backend_service_with_a_long_name@10.20.%",
        can_grant=True,
        attributes={"password_last_changed": "1796156865", "password_lifetime": "90", "is_role": "N",
                    "max_user_connections": 20, "ssl_type": "ANY", "account_locked": "N", "password_expired": "N"},
    )  # fmt: skip
    holds(app, "database", "sales", privileges=["SELECT", "INSERT", "UPDATE", "DELETE"])
    holds(app, "database", "sales_archive", privileges=["ALL PRIVILEGES"], grantable=True)
    holds(app, "table", "crm", "customers", privileges=["SELECT"])
    holds(app, "column", "crm", "customers", "email", privileges=["UPDATE"])
    holds(app, "table", "crm", "orders", privileges=["SELECT"], via="r_reporting@")
    PermissionSnapshot.objects.create(
        account=app,
        hash="h",
        permissions={
            "database sales": ["DELETE", "INSERT", "SELECT", "UPDATE"],
            "database sales_archive": ["ALL PRIVILEGES WITH GRANT OPTION"],
            "table crm.customers": ["SELECT"],
            "column crm.customers.email": ["UPDATE"],
            "table crm.orders": ["SELECT (via r_reporting@)"],
            "role": ["r_reporting@"],
        },
    )
    report = account(maria, "report@%", attributes={"account_locked": "N"})
    holds(report, "database", "sales", privileges=["SELECT"])
    ops = account(maria, "ops@10.0.%", first_seen_session_uuid=later.session_id)
    holds(ops, "global", privileges=["PROCESS", "RELOAD"])
    holds(ops, "database", "sales", privileges=["INSERT"])
    account(maria, "old_etl@%", is_active=False, is_locked=True)
    account(maria, "r_reporting@", is_role=True, can_login=False)
    postgres = account(pg, "postgres", is_superuser=True, attributes={"superuser": True, "login": True})
    holds(postgres, "database", "crm", privileges=["OWNER", "CONNECT", "CREATE", "TEMPORARY"])
    crm_app = account(
        pg, "crm_app", is_expired=True, attributes={"login": True, "valid_until": "2026-01-01 00:00:00+00"}
    )
    holds(crm_app, "table", "crm", "public", "orders", privileges=["SELECT", "INSERT"])
    account(pg, "readers", is_role=True, can_login=False)

    def change(acc: Account, kind: str, details: dict, summary: str, hours: float) -> AccountChange:
        return AccountChange.objects.create(
            account=acc,
            instance=acc.instance,
            change_type=kind,
            details=details,
            summary=summary,
            session=later,
            session_uuid=later.session_id,
            created_at=now - timedelta(hours=hours),
        )

    change(
        app,
        ChangeType.MODIFY_PRIVILEGE,
        {"entries": [{"action": "GRANT", "scope": "database sales", "privileges": ["DELETE", "UPDATE"]}]},
        "GRANT DELETE, UPDATE ON database sales",
        30,
    )
    change(
        app,
        ChangeType.MODIFY_PRIVILEGE,
        {"entries": [
            {"action": "GRANT", "scope": "database sales_archive", "privileges": ["ALL PRIVILEGES WITH GRANT OPTION"]},
            {"action": "REVOKE", "scope": "database sales_archive", "privileges": ["SELECT"]},
        ]},
        "GRANT ALL PRIVILEGES WITH GRANT OPTION ON database sales_archive; REVOKE SELECT ON database sales_archive",
        3,
    )  # fmt: skip
    change(
        app,
        ChangeType.MODIFY_OTHER,
        {"changes": {"max_user_connections": {"before": 5, "after": 20}}},
        "changed max_user_connections",
        2,
    )
    change(
        report,
        ChangeType.MODIFY_OTHER,
        {"changes": {"is_locked": {"before": True, "after": False}}},
        "changed is_locked",
        5,
    )
    change(
        ops,
        ChangeType.ADD,
        {"can_login": True, "is_superuser": False, "permissions": {"global": ["PROCESS", "RELOAD"], "database sales": ["INSERT"]}},
        "added",
        20,
    )  # fmt: skip
    change(crm_app, ChangeType.MODIFY_OTHER, {"changes": {"can_login": {"before": False, "after": True}}}, "changed can_login", 50)  # fmt: skip
    return {"app": app}


def test_accounts_risky_changes_and_versions_in_the_browser(
    browser: Any, live_server: Any, admin_user: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    data = fleet()
    log_in(browser, live_server, "admin", "password", expect="Fleet overview")
    panel = browser.find_element(By.ID, "panel-risky-changes").text
    assert "3 in 24 h" in panel and "4 in 7 days" in panel

    browser.find_element(By.CSS_SELECTOR, "#panel-risky-changes a[href*='when=7d']").click()
    page_says(browser, "changed can_login")  # the oldest risky change of the week
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 4
    assert rows[0].text.count("critical") == 1 and "sales_archive" in rows[0].text  # newest first
    severities = [r.find_element(By.CSS_SELECTOR, "td.field-severity_badge").text for r in rows]
    assert sorted(severities) == ["critical", "high", "high", "high"]
    assert sideways(browser) == []
    shot(browser, "risky-changes")

    rows[0].find_element(By.CSS_SELECTOR, "td.field-when a").click()
    page_says(browser, "ALL / SUPER / CONTROL granted")
    assert browser.title.startswith(
        "app_backend_service_with_a_long_name@10.20.%: Privileges changed on sales-maria"
    )
    details = browser.find_element(By.CSS_SELECTOR, ".wf-diff").text
    assert (
        "GRANT ALL PRIVILEGES ON `sales_archive`.* TO" in details
        and "REVOKE SELECT ON `sales_archive`.*" in details
    )
    assert sideways(browser) == []
    shot(browser, "account-change")

    browser.get(f"{live_server.url}/admin/accounts_sync/account/")
    page_says(browser, "app_backend_service_with_a_long_name")
    row = next(
        r for r in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr") if "app_backend" in r.text
    )
    assert "grant option" in row.text and "9 privileges" not in row.text
    assert "7 grants in 3 databases" in row.text and "via 1 role" in row.text
    assert not browser.find_elements(By.CSS_SELECTOR, "#result_list img[src*='icon-no']")
    assert sideways(browser) == []
    shot(browser, "accounts-list")

    row.find_element(By.LINK_TEXT, "app_backend_service_with_a_long_name@10.20.%").click()
    page_says(browser, "GRANT `r_reporting`")
    statements = browser.find_element(By.ID, "statements").text
    assert (
        "GRANT ALL PRIVILEGES ON `sales_archive`.* TO `app_backend_service_with_a_long_name`@`10.20.%` WITH GRANT OPTION;"
        in statements
    )
    assert "GRANT `r_reporting` TO `app_backend_service_with_a_long_name`@`10.20.%`;" in statements
    assert "1796156865" not in browser.page_source and "90 days" in browser.page_source
    assert sideways(browser) == []
    shot(browser, "account-detail")

    browser.find_element(By.CSS_SELECTOR, ".object-tools a[href$='/versions/']").click()
    page_says(browser, "Changes in between")
    Select(browser.find_element(By.ID, "id_from")).select_by_index(3)  # v1: as first seen
    browser.find_element(By.CSS_SELECTOR, "#versions-form input[type=submit]").click()
    page_says(browser, "v1 ·")
    added = browser.find_elements(By.CSS_SELECTOR, "#diff-privileges tr.wf-added")
    removed = browser.find_elements(By.CSS_SELECTOR, "#diff-privileges tr.wf-removed")
    assert len(added) == 3 and len(removed) == 1
    assert "REVOKE SELECT ON `sales_archive`.* FROM" in removed[0].text
    assert "20" in browser.find_element(By.ID, "diff-attributes").text
    assert sideways(browser) == []
    shot(browser, "account-diff")
    assert csp_violations(browser) == []
    assert data["app"].changes.count() == 3
