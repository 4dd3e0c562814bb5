"""Instance and credential admin: passwords are write-only; Test connection reports clearly."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from whalefall.models import Credential, Instance
from whalefall.tests import live
from whalefall.tests.factories import CredentialFactory, InstanceFactory


@pytest.fixture
def admin_client_(db: None) -> Client:
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_it_never_renders_a_stored_password(admin_client_: Client) -> None:
    cred = CredentialFactory(password="Hidden-Pass-77")
    page = admin_client_.get(reverse("admin:whalefall_credential_change", args=[cred.pk])).content.decode()
    assert "Hidden-Pass-77" not in page and cred.password_encrypted not in page
    assert 'type="password"' in page


def test_it_keeps_the_password_when_left_empty_and_replaces_it_when_given(admin_client_: Client) -> None:
    cred = CredentialFactory(password="Keep-Me-1")
    url = reverse("admin:whalefall_credential_change", args=[cred.pk])
    admin_client_.post(url, {"name": cred.name, "username": "newuser", "password": "", "description": ""})
    cred.refresh_from_db()
    assert (cred.username, cred.get_password()) == ("newuser", "Keep-Me-1")
    admin_client_.post(
        url, {"name": cred.name, "username": "newuser", "password": "Replaced-2", "description": ""}
    )
    cred.refresh_from_db()
    assert cred.get_password() == "Replaced-2"


def test_it_requires_a_password_for_a_new_credential(admin_client_: Client) -> None:
    resp = admin_client_.post(
        reverse("admin:whalefall_credential_add"), {"name": "n", "username": "u", "password": ""}
    )
    assert resp.status_code == 200 and not Credential.objects.exists()
    assert "A new credential needs a password." in resp.content.decode()


def test_it_tests_connections_from_the_admin(
    admin_client_: Client, mysql_user: Callable[..., tuple[str, str]]
) -> None:
    name, pwd = mysql_user()
    good = InstanceFactory(name="good", port=3306, credential=CredentialFactory(username=name, password=pwd))
    bad = InstanceFactory(
        name="bad", port=3306, credential=CredentialFactory(username=name, password="Bad-Pass-3")
    )
    down = InstanceFactory(name="down", port=live.closed_port())
    resp = admin_client_.post(
        reverse("admin:whalefall_instance_changelist"),
        {"action": "test_connection", "_selected_action": [good.pk, bad.pk, down.pk]},
        follow=True,
    )
    page = resp.content.decode()
    assert "good: OK: MariaDB" in page and " ms" in page  # names as typed, not capitalised
    assert "bad: authentication:" in page and "down: unreachable:" in page
    assert '<li class="error">Tested 3 instances: 1 OK, 2 failed.</li>' in page
    assert pwd not in page and "Bad-Pass-3" not in page
    assert Instance.objects.get(pk=good.pk).version.startswith("10.")


def test_it_lists_instances_without_a_query_per_row(
    admin_client_: Client, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    InstanceFactory.create_batch(15)
    with django_assert_max_num_queries(12):
        assert admin_client_.get(reverse("admin:whalefall_instance_changelist")).status_code == 200


def test_it_carries_every_app_extension_on_the_one_instance_admin(admin_client_: Client) -> None:
    """accounts_sync and capacity both extend the instance admin through extend_instance_admin."""
    instance = InstanceFactory()
    changelist = admin_client_.get(reverse("admin:whalefall_instance_changelist")).content.decode()
    for action in ("test_connection", "sync_accounts_now", "collect_sizes_now"):
        assert f'value="{action}"' in changelist
    change = admin_client_.get(
        reverse("admin:whalefall_instance_change", args=[instance.pk])
    ).content.decode()
    assert "last account sync" in change.lower() and "never" in change
    add = admin_client_.get(reverse("admin:whalefall_instance_add"))
    assert add.status_code == 200 and "last account sync" not in add.content.decode().lower()
