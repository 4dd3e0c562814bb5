"""Admin pages: accounts with readable permissions, the read-only change log, the Instance extras."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts_sync.models import Account, AccountChange, ChangeType, PermissionSnapshot
from whalefall.models import SyncInstanceRecord, TaskRequest
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def data() -> dict[str, Any]:
    instance = InstanceFactory(name="db-one", db_type="postgresql")
    session = SyncSessionFactory(category="account", status="completed")
    SyncInstanceRecord.objects.create(
        session=session, instance=instance, instance_name="db-one", status="completed"
    )
    accounts = []
    for i in range(5):
        acc = Account.objects.create(
            instance=instance,
            identity=f"user{i}",
            username=f"user{i}",
            is_superuser=i == 0,
            attributes={"login": True},
        )
        PermissionSnapshot.objects.create(
            account=acc, permissions={"database shop": ["CONNECT", "<b>x</b>"]}, hash="h"
        )
        AccountChange.objects.create(
            account=acc,
            instance=instance,
            change_type=ChangeType.ADD,
            summary="added",
            session=session,
            session_uuid=session.session_id,
        )
        accounts.append(acc)
    return {"instance": instance, "session": session, "accounts": accounts}


def test_it_filters_accounts(admin_client: Any, data: dict) -> None:
    url = reverse("admin:accounts_sync_account_changelist")
    response = admin_client.get(url, {"instance__db_type": "postgresql", "is_superuser__exact": "1"})
    assert response.status_code == 200
    assert "user0" in response.content.decode() and "user1" not in response.content.decode()


def test_it_shows_permissions_readably_and_escaped(admin_client: Any, data: dict) -> None:
    acc = data["accounts"][0]
    page = admin_client.get(reverse("admin:accounts_sync_account_change", args=[acc.pk])).content.decode()
    assert "<td><bdi>database shop</bdi></td><td><bdi>CONNECT, &lt;b&gt;x&lt;/b&gt;</bdi></td>" in page
    assert "<title>user0 on db-one | WhaleFall</title>" in page
    assert "All changes of this account" in page and "Added" in page


def test_it_keeps_the_change_log_read_only_and_filterable(admin_client: Any, data: dict) -> None:
    url = reverse("admin:accounts_sync_accountchange_changelist")
    response = admin_client.get(
        url, {"change_type__exact": "add", "session": str(data["session"].session_id)}
    )
    assert response.status_code == 200 and response.context["cl"].result_count == 5
    assert admin_client.get(reverse("admin:accounts_sync_accountchange_add")).status_code == 403


def test_it_links_instance_to_accounts_and_last_sync(admin_client: Any, data: dict) -> None:
    page = admin_client.get(
        reverse("admin:whalefall_instance_change", args=[data["instance"].pk])
    ).content.decode()
    assert f"instance__id__exact={data['instance'].pk}" in page and ">5</a>" in page
    assert "Completed" in page


def test_it_queues_a_manual_sync_from_the_instance_list(
    admin_client: Any, data: dict, alive_scheduler: Any
) -> None:
    url = reverse("admin:whalefall_instance_changelist")
    pk = data["instance"].pk
    response = admin_client.post(url, {"action": "sync_accounts_now", "_selected_action": [pk]}, follow=True)
    request = TaskRequest.objects.get()
    assert request.task == "accounts_sync.tasks.sync_accounts"
    assert request.kwargs == {"instance_ids": [pk], "trigger": "manual_single", "created_by": "admin"}
    assert "queued for 1 instance" in response.content.decode()


def test_who_can_page_answers_with_paths_and_escapes_names(admin_client: Any, data: dict) -> None:
    from accounts_sync.models import AccountPrivilege

    acc = data["accounts"][1]
    acc.identity = "<script>x</script>\u202e"
    acc.save()
    AccountPrivilege.objects.create(
        instance=data["instance"],
        account=acc,
        scope_kind="table",
        path=["shop", "public", "orders"],
        target="shop.public.orders",
        privilege="SELECT",
        via="r_app ← r_read",
    )
    url = reverse("admin:accounts_sync_who_can")
    assert "Who can" in admin_client.get(reverse("admin:accounts_sync_account_changelist")).content.decode()
    page = admin_client.get(url, {"privilege": "select", "on": "shop.*"}).content.decode()
    assert "1 account, 1 grant" in page and "via r_app ← r_read" in page
    assert "<script>x</script>" not in page and "\u202e" not in page  # the override is shown, not applied
    assert "<bdi>&lt;script&gt;x&lt;/script&gt;\\u202e</bdi>" in page
    assert "Nobody." in admin_client.get(url, {"privilege": "DROP"}).content.decode()


def test_permissions_page_shows_a_past_state(admin_client: Any, data: dict) -> None:
    acc = data["accounts"][0]
    url = reverse("admin:accounts_sync_permissions_at", args=[acc.pk])
    assert "CONNECT, &lt;b&gt;x&lt;/b&gt;" in admin_client.get(url).content.decode()
    page = admin_client.get(url, {"at": "2000-01-01 00:00"}).content.decode()
    assert "did not exist at 2000-01-01 00:00" in page


def test_permissions_page_says_an_account_was_not_active_then(admin_client: Any, data: dict) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from accounts_sync.models import Account, AccountChange, ChangeType
    from whalefall.tests.factories import SyncSessionFactory

    acc = data["accounts"][0]
    Account.objects.filter(pk=acc.pk).update(
        is_active=False, first_seen_at=timezone.now() - timedelta(days=5)
    )
    AccountChange.objects.filter(account=acc).update(created_at=timezone.now() - timedelta(days=5))  # added
    session = SyncSessionFactory()
    AccountChange.objects.create(
        account=acc, instance=acc.instance, change_type=ChangeType.DEACTIVATE, details={},
        session=session, session_uuid=session.session_id, created_at=timezone.now() - timedelta(days=2),
    )  # fmt: skip
    url = reverse("admin:accounts_sync_permissions_at", args=[acc.pk])
    when = timezone.localtime(timezone.now() - timedelta(days=1))
    page = admin_client.get(url, {"at": f"{when:%Y-%m-%d %H:%M}"}).content.decode()
    assert 'id="permissions-inactive"' in page and "nobody could use then" in page
    when = timezone.localtime(timezone.now() - timedelta(days=3))
    page = admin_client.get(url, {"at": f"{when:%Y-%m-%d %H:%M}"}).content.decode()
    assert 'id="permissions-inactive"' not in page and 'id="permissions-incomplete"' not in page


def test_account_question_pages_need_the_view_permission(client: Any, data: dict) -> None:
    from django.contrib.auth.models import User

    user = User.objects.create_user("nobody", password="x", is_staff=True)
    client.force_login(user)
    assert client.get(reverse("admin:accounts_sync_who_can"), {"privilege": "SELECT"}).status_code == 403
    url = reverse("admin:accounts_sync_permissions_at", args=[data["accounts"][0].pk])
    assert client.get(url).status_code == 403
    assert (
        client.get(reverse("admin:accounts_sync_account_diff", args=[data["accounts"][0].pk])).status_code
        == 403
    )
    assert (
        client.get(reverse("admin:accounts_sync_account_change", args=[data["accounts"][0].pk])).status_code
        == 403
    )
