"""The instance list as a health board: badges from the latest runs, failing first, tags, per-row
buttons, the form's Test connection on unsaved settings, and a constant number of queries."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from scheduling.tests.users import OPERATORS, VIEWERS, make_user
from whalefall.models import Credential, Instance, SyncInstanceRecord, Tag, TaskRequest
from whalefall.tests import live
from whalefall.tests.factories import CredentialFactory, InstanceFactory, SyncSessionFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:whalefall_instance_changelist"


@pytest.fixture
def root() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def record(instance: Instance, category: str, status: str, *, minutes_ago: int = 5, **fields: Any) -> Any:
    """A finished per-instance record of a session of `category`."""
    session = SyncSessionFactory(category=category, status=status, finished_at=timezone.now())
    ended = timezone.now() - timedelta(minutes=minutes_ago)
    return SyncInstanceRecord.objects.create(
        session=session,
        instance=instance,
        instance_name=instance.name,
        status=status,
        started_at=ended - timedelta(seconds=20),
        finished_at=ended,
        **fields,
    )


def rows(page: str) -> list[str]:
    """The changelist's rows, in order, as HTML."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr.*?</tr>", body, re.S)


def row_of(page: str, name: str) -> str:
    return next(r for r in rows(page) if f">{name}<" in r or f">{name} <" in r)


def test_each_row_shows_its_last_check_sync_and_collection(root: Client) -> None:
    inst = InstanceFactory(name="db-a")
    inst.record_check(False, "authentication: Access denied for user 'monitor'")
    # An older success, then retries that ended on an authentication error: the newest counts.
    record(inst, "account", "completed", minutes_ago=600)
    failed = record(
        inst,
        "account",
        "failed",
        minutes_ago=3,
        failed_phase="connection",
        error_message="attempt 1 (connection): unreachable: refused; "
        "attempt 2 (connection): authentication: <script>alert(1)</script> denied",
    )
    record(inst, "capacity", "completed", sync_details={"warnings": ["database 'big' not read: timeout"]})
    InstanceFactory(name="db-b")  # never checked nor synced

    page = root.get(reverse(CHANGELIST)).content.decode()
    a, b = row_of(page, "db-a"), row_of(page, "db-b")
    for header in ("last check", "last account sync", "last capacity collection"):
        assert header in page.lower()
    cells = re.findall(r'<td class="field-(\w+)">(.*?)</td>', a, re.S)
    by_field = dict(cells)
    assert ">failed<" in by_field["check_status"] and ">authentication<" in by_field["check_status"]
    account = by_field["account_status"]
    session_url = reverse("admin:whalefall_syncsession_change", args=[failed.session_id])
    assert f'href="{session_url}"' in account and ">failed<" in account
    assert ">authentication<" in account and "3\xa0minutes ago" in account
    # The message on hover, escaped: a server's text never becomes markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in account and "<script>alert" not in page
    capacity = by_field["capacity_status"]
    assert ">partial<" in capacity and "database &#x27;big&#x27; not read: timeout" in capacity
    assert b.count(">never<") == 3


def test_a_password_echoed_in_an_error_is_masked_on_the_board_and_the_page(root: Client) -> None:
    cred = CredentialFactory(password="Sekr1t-Pw-99")
    inst = InstanceFactory(name="db-p", credential=cred)
    cred.get_password()  # this process has decrypted it (a Test button, a sync in the same process)
    record(inst, "account", "failed", error_message="authentication: bad login with Sekr1t-Pw-99")
    board = root.get(reverse(CHANGELIST)).content.decode()
    page = root.get(reverse("admin:whalefall_instance_change", args=[inst.pk])).content.decode()
    assert "bad login with" in board and "bad login with" in page
    assert "Sekr1t-Pw-99" not in board and "Sekr1t-Pw-99" not in page


def test_failing_instances_come_first_and_any_column_can_still_sort(root: Client) -> None:
    healthy = InstanceFactory(name="aaa-healthy")
    record(healthy, "account", "completed")
    failing = InstanceFactory(name="zzz-failing")
    record(failing, "capacity", "failed", error_message="timeout: read timed out")
    check_failed = InstanceFactory(name="mmm-check")
    check_failed.record_check(False, "unreachable: connection refused")
    InstanceFactory(name="bbb-never")

    order = [
        re.search(r">([a-z]+-[a-z]+)<", r).group(1)
        for r in rows(root.get(reverse(CHANGELIST)).content.decode())
    ]
    assert order == ["mmm-check", "zzz-failing", "aaa-healthy", "bbb-never"]
    # A click on the name column header (o=1) sorts by name alone.
    by_name = root.get(reverse(CHANGELIST) + "?o=1").content.decode()
    assert [re.search(r">([a-z]+-[a-z]+)<", r).group(1) for r in rows(by_name)] == sorted(order)
    failing_only = root.get(reverse(CHANGELIST) + "?health=failing").content.decode()
    assert len(rows(failing_only)) == 2 and "aaa-healthy" not in failing_only


def fleet(n: int) -> None:
    tags = [Tag.objects.get_or_create(name=f"env-{i}", colour="blue")[0] for i in range(2)]
    session = SyncSessionFactory(category="account", status="partial", finished_at=timezone.now())
    cap = SyncSessionFactory(category="capacity", status="completed", finished_at=timezone.now())
    for i in range(n):
        inst = InstanceFactory(name=f"fleet-{Instance.objects.count():04d}")
        inst.tags.add(tags[i % 2])
        for s, status in ((session, "failed" if i % 3 else "completed"), (cap, "completed")):
            SyncInstanceRecord.objects.create(
                session=s,
                instance=inst,
                instance_name=inst.name,
                status=status,
                error_message="unreachable: refused" if status == "failed" else "",
                started_at=timezone.now(),
                finished_at=timezone.now(),
            )


def test_the_board_costs_the_same_queries_for_3_and_300_instances(
    root: Client, django_assert_max_num_queries: Any
) -> None:
    url = reverse(CHANGELIST)
    fleet(3)
    with CaptureQueriesContext(connection) as small:
        assert root.get(url).status_code == 200
    fleet(297)
    with django_assert_max_num_queries(len(small)):
        page = root.get(url).content.decode()
    shown = rows(page)  # the first page: failing instances first
    assert len(shown) == 100 and all(">failed<" in r and "wf-tag-blue" in r for r in shown)


def test_tags_show_as_chips_filter_the_list_and_are_edited_on_the_form(root: Client) -> None:
    prod = Tag.objects.create(name="prod", colour="red")
    Tag.objects.create(name="<b>eu</b>")
    tagged = InstanceFactory(name="db-tagged")
    tagged.tags.add(prod)
    InstanceFactory(name="db-plain")

    page = root.get(reverse(CHANGELIST)).content.decode()
    assert '<span class="wf-tag wf-tag-red">prod</span>' in row_of(page, "db-tagged")
    assert f"?tags__id__exact={prod.pk}" in page  # the sidebar filter
    assert "&lt;b&gt;eu&lt;/b&gt;" in page and "<b>eu</b>" not in page
    filtered = root.get(reverse(CHANGELIST) + f"?tags__id__exact={prod.pk}").content.decode()
    assert "db-tagged" in filtered and "db-plain" not in filtered
    assert "db-tagged" in root.get(reverse(CHANGELIST) + "?q=prod").content.decode()

    form = root.get(reverse("admin:whalefall_instance_change", args=[tagged.pk])).content.decode()
    assert 'id="id_tags"' in form and "selectfilter" in form  # filter_horizontal
    plain = Instance.objects.get(name="db-plain")
    response = root.post(
        reverse("admin:whalefall_instance_change", args=[plain.pk]),
        {**form_data(plain), "tags": [prod.pk]},
    )
    assert response.status_code == 302
    assert list(plain.tags.values_list("name", flat=True)) == ["prod"]


def form_data(instance: Instance, **changes: Any) -> dict[str, Any]:
    data = {
        "name": instance.name,
        "db_type": instance.db_type,
        "host": instance.host,
        "port": instance.port or "",
        "database": instance.database,
        "credential": instance.credential_id or "",
        "is_active": "on" if instance.is_active else "",
        "tls": instance.tls,
        "wallet_location": instance.wallet_location,
        "description": instance.description,
    }
    return {**data, **changes}


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(make_user("otto", OPERATORS))
    return client


@pytest.fixture
def viewer() -> Client:
    client = Client()
    client.force_login(make_user("vera", VIEWERS))
    return client


def test_row_buttons_are_offered_by_permission_and_link_to_the_lists(
    operator: Client, viewer: Client
) -> None:
    inst = InstanceFactory(name="db-row")
    page = operator.get(reverse(CHANGELIST)).content.decode()
    row = row_of(page, "db-row")
    for key in ("test", "sync", "collect"):
        assert f'formaction="{reverse(f"admin:whalefall_instance_{key}", args=[inst.pk])}"' in row
    assert 'form="wf-row-action"' in row and '<form id="wf-row-action" method="post"' in page
    accounts = reverse("admin:accounts_sync_account_changelist") + f"?instance__id__exact={inst.pk}"
    capacity = reverse("admin:capacity_instancedatabase_changelist") + f"?instance__id__exact={inst.pk}"
    assert f'href="{accounts}"' in row and f'href="{capacity}"' in row
    for url in (accounts, capacity):  # the filters are accepted, not bounced with ?e=1
        response = operator.get(url)
        assert response.status_code == 200 and "e=1" not in response.get("Location", "")
    seen = row_of(viewer.get(reverse(CHANGELIST)).content.decode(), "db-row")
    assert "formaction" not in seen and f'href="{accounts}"' in seen


def test_the_row_test_button_checks_one_instance_and_comes_back(
    operator: Client, mysql_user: Callable[..., tuple[str, str]]
) -> None:
    name, pwd = mysql_user()
    good = InstanceFactory(
        name="db-good", port=3306, credential=CredentialFactory(username=name, password=pwd)
    )
    other = InstanceFactory(name="db-other", port=live.closed_port())
    back = reverse(CHANGELIST) + "?db_type__exact=mysql"
    response = operator.post(reverse("admin:whalefall_instance_test", args=[good.pk]), {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    page = operator.get(back).content.decode()
    assert re.search(r"[Dd]b-good: OK: MariaDB", page) and "Tested" not in page
    good.refresh_from_db()
    other.refresh_from_db()
    assert good.last_check_ok is True and other.last_check_at is None
    assert ">ok<" in row_of(page, "db-good")
    # A foreign `next` is not followed.
    response = operator.post(
        reverse("admin:whalefall_instance_test", args=[good.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse(CHANGELIST)
    assert operator.get(reverse("admin:whalefall_instance_test", args=[good.pk])).status_code == 405


def test_row_sync_and_collect_queue_the_same_requests_as_the_actions(
    operator: Client, alive_scheduler: Any
) -> None:
    inst = InstanceFactory(name="db-q")
    InstanceFactory(name="db-not-me")
    operator.post(reverse("admin:whalefall_instance_sync", args=[inst.pk]))
    operator.post(reverse("admin:whalefall_instance_collect", args=[inst.pk]))
    queued = {r.task: r.kwargs for r in TaskRequest.objects.all()}
    assert queued == {
        "accounts_sync.tasks.sync_accounts": {
            "instance_ids": [inst.pk],
            "trigger": "manual_single",
            "created_by": "otto",
        },
        "capacity.tasks.collect_database_sizes": {
            "instance_ids": [inst.pk],
            "trigger": "manual_single",
            "created_by": "otto",
        },
    }


def test_a_viewer_cannot_run_row_actions(viewer: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[Any] = []
    monkeypatch.setattr("whalefall.admin.instances.check_instance", called.append)
    inst = InstanceFactory()
    for key in ("test", "sync", "collect"):
        assert viewer.post(reverse(f"admin:whalefall_instance_{key}", args=[inst.pk])).status_code == 403
    assert called == [] and not TaskRequest.objects.exists()


def test_row_buttons_need_the_csrf_token(alive_scheduler: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("otto", OPERATORS))
    inst = InstanceFactory()
    assert client.post(reverse("admin:whalefall_instance_sync", args=[inst.pk])).status_code == 403
    assert not TaskRequest.objects.exists()


def test_the_summary_of_a_test_with_failures_is_an_error_with_plurals(
    root: Client, mysql_user: Callable[..., tuple[str, str]]
) -> None:
    name, pwd = mysql_user()
    good = InstanceFactory(name="good", port=3306, credential=CredentialFactory(username=name, password=pwd))
    down = InstanceFactory(name="down", port=live.closed_port())
    both = [good.pk, down.pk]
    page = root.post(
        reverse(CHANGELIST), {"action": "test_connection", "_selected_action": both}, follow=True
    ).content.decode()
    assert '<li class="error">Tested 2 instances: 1 OK, 1 failed.</li>' in page
    page = root.post(
        reverse(CHANGELIST), {"action": "test_connection", "_selected_action": [good.pk]}, follow=True
    ).content.decode()
    # One instance: its own line is the whole story (the admin may capitalise the first letter).
    assert "Tested" not in page and re.search(r'<li class="success">[Gg]ood: OK: MariaDB', page)


def test_the_add_form_tests_unsaved_settings_without_saving(
    root: Client, mysql_user: Callable[..., tuple[str, str]]
) -> None:
    name, pwd = mysql_user()
    cred = CredentialFactory(username=name, password=pwd)
    blank = Instance(name="new-db", db_type="mysql", host="127.0.0.1", port=3306, credential=cred)
    add = reverse("admin:whalefall_instance_add")
    assert 'name="_test_connection"' in root.get(add).content.decode()
    page = root.post(add, {**form_data(blank), "_test_connection": "1"}).content.decode()
    assert not Instance.objects.exists()
    assert 'id="connection-test"' in page and "Connection test succeeded" in page and "MariaDB" in page
    assert 'value="new-db"' in page  # the entered settings are still in the form
    # A wrong password (another credential) is reported, and never shown.
    wrong = CredentialFactory(username=name, password="Wrong-Pass-42")
    page = root.post(add, {**form_data(blank, credential=wrong.pk), "_test_connection": "1"}).content.decode()
    assert "Connection test failed" in page and "authentication:" in page
    assert "Wrong-Pass-42" not in page and pwd not in page and not Instance.objects.exists()
    # Settings the model refuses are shown as the form's errors, not tried.
    page = root.post(
        add, {**form_data(blank, wallet_location="/w"), "_test_connection": "1"}
    ).content.decode()
    assert "The SID and wallet options apply to Oracle only." in page and 'id="connection-test"' not in page


def test_the_change_form_tests_edited_settings_with_the_stored_password(
    root: Client, mysql_user: Callable[..., tuple[str, str]]
) -> None:
    name, pwd = mysql_user()
    inst = InstanceFactory(
        name="db-edit", port=live.closed_port(), credential=CredentialFactory(username=name, password=pwd)
    )
    url = reverse("admin:whalefall_instance_change", args=[inst.pk])
    page = root.post(url, {**form_data(inst, port=3306), "_test_connection": "1"}).content.decode()
    assert "Connection test succeeded" in page
    page = root.post(url, {**form_data(inst), "_test_connection": "1"}).content.decode()
    assert "Connection test failed" in page and "unreachable" in page
    inst.refresh_from_db()
    assert inst.port != 3306 and inst.last_check_at is None  # neither saved nor recorded


def test_testing_on_the_form_is_for_those_who_may_connect(
    root: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    editor = User.objects.create_user("eddie", password="pw", is_staff=True)
    editor.user_permissions.add(*Permission.objects.filter(codename__in=["view_instance", "change_instance"]))
    client = Client()
    client.force_login(editor)
    called: list[Any] = []
    monkeypatch.setattr("whalefall.admin.instances.try_connection", called.append)
    inst = InstanceFactory()
    url = reverse("admin:whalefall_instance_change", args=[inst.pk])
    assert 'name="_test_connection"' not in client.get(url).content.decode()
    assert client.post(url, {**form_data(inst), "_test_connection": "1"}).status_code == 403
    assert called == []


def test_the_change_page_puts_status_and_buttons_above_the_form(root: Client) -> None:
    inst = InstanceFactory(name="db-top")
    record(inst, "account", "failed", error_message="privilege: SELECT denied on mysql.user")
    page = root.get(reverse("admin:whalefall_instance_change", args=[inst.pk])).content.decode()
    status = page.index('id="instance-status"')
    assert status < page.index('id="instance_form"')
    block = page[status : page.index('id="instance_form"')]
    assert "privilege: SELECT denied on mysql.user" in block and ">failed<" in block
    assert block.count(">never<") == 2
    assert reverse("admin:whalefall_instance_test", args=[inst.pk]) in block


def test_the_credential_add_form_does_not_speak_of_a_current_password(root: Client) -> None:
    add = root.get(reverse("admin:whalefall_credential_add")).content.decode()
    assert "Leave empty to keep the current" not in add and "Stored encrypted." in add
    cred = CredentialFactory()
    change = root.get(reverse("admin:whalefall_credential_change", args=[cred.pk])).content.decode()
    assert "Leave empty to keep the current password." in change


@pytest.mark.django_db(transaction=True)
def test_the_migration_turns_comma_separated_tags_into_tags_and_back() -> None:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    # Found by name, not number: migrations added to the app in parallel get renumbered.
    after = [
        next(
            k
            for k in executor.loader.disk_migrations
            if k[0] == "whalefall" and k[1].endswith("_instance_tags")
        )
    ]
    before = [d for d in executor.loader.disk_migrations[after[0]].dependencies if d[0] == "whalefall"]
    try:
        executor.migrate(before)
        old = executor.loader.project_state(before).apps.get_model("whalefall", "Instance")
        old.objects.create(name="a", db_type="mysql", host="h", tags="prod, eu,prod , ")
        old.objects.create(name="b", db_type="mysql", host="h", tags="")
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        new = executor.loader.project_state(after).apps.get_model("whalefall", "Instance")
        got = {i.name: sorted(t.name for t in i.tags.all()) for i in new.objects.all()}
        assert got == {"a": ["eu", "prod"], "b": []}
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        assert dict(old.objects.values_list("name", "tags")) == {"a": "eu, prod", "b": ""}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(leaves)


def test_the_credential_form_tests_the_entered_login_on_a_chosen_instance(
    root: Client, mysql_user: Callable[..., tuple[str, str]]
) -> None:
    name, pwd = mysql_user()
    target = InstanceFactory(name="db-target", port=3306)
    add = reverse("admin:whalefall_credential_add")
    entered = {
        "name": "monitor",
        "username": name,
        "password": pwd,
        "description": "",
        "_test_connection": "1",
    }
    page = root.post(add, {**entered, "test_instance": target.pk}).content.decode()
    assert "Connection test succeeded" in page and "MariaDB" in page and "type the password again" in page
    assert not Credential.objects.filter(name="monitor").exists() and pwd not in page
    page = root.post(add, {**entered, "password": "Typo-Pass-1", "test_instance": target.pk}).content.decode()
    assert "Connection test failed" in page and "authentication:" in page and "Typo-Pass-1" not in page
    page = root.post(add, entered).content.decode()
    assert "Choose an instance to try the credential on." in page and 'id="connection-test"' not in page

    # On the change form an empty password means the stored one.
    cred = CredentialFactory(username=name, password=pwd)
    change = reverse("admin:whalefall_credential_change", args=[cred.pk])
    kept = {"name": cred.name, "username": name, "password": "", "description": "", "_test_connection": "1"}
    page = root.post(change, {**kept, "test_instance": target.pk}).content.decode()
    assert "Connection test succeeded" in page and "type the password again" not in page
    page = root.post(change, {**kept, "username": "nobody_here", "test_instance": target.pk}).content.decode()
    assert "Connection test failed" in page and "authentication:" in page
    cred.refresh_from_db()
    assert (cred.username, cred.get_password()) == (name, pwd)  # nothing saved


def test_only_operators_get_the_credential_test(monkeypatch: pytest.MonkeyPatch) -> None:
    editor = User.objects.create_user("cora", password="pw", is_staff=True)
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_credential", "view_credential"])
    )
    client = Client()
    client.force_login(editor)
    called: list[Any] = []
    monkeypatch.setattr("whalefall.admin.instances.try_connection", called.append)
    add = reverse("admin:whalefall_credential_add")
    page = client.get(add).content.decode()
    assert "test_instance" not in page and "_test_connection" not in page
    target = InstanceFactory()
    data = {
        "name": "n",
        "username": "u",
        "password": "p",
        "test_instance": target.pk,
        "_test_connection": "1",
    }
    assert client.post(add, data).status_code == 403
    assert called == [] and not Credential.objects.filter(name="n").exists()


def test_an_app_puts_a_row_button_only_for_an_action_it_adds() -> None:
    from whalefall.admin.instances import ROW_ACTIONS, extend_instance_admin

    def not_added(modeladmin: Any, request: Any, queryset: Any) -> None: ...

    with pytest.raises(ValueError, match="not one of the actions given"):
        extend_instance_admin(row_buttons={"other": (not_added, "Other")})
    with pytest.raises(ValueError, match="already 'test_connection'"):
        extend_instance_admin(actions=(not_added,), row_buttons={"test": (not_added, "Test")})
    assert "other" not in ROW_ACTIONS and ROW_ACTIONS["test"][0] == "test_connection"
    # The apps' own buttons, added with their actions.
    assert ROW_ACTIONS["sync"][0] == "sync_accounts_now" and ROW_ACTIONS["collect"][0] == "collect_sizes_now"
