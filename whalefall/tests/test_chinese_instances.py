"""The instance and credential pages in Chinese: fieldset titles, columns and form errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from whalefall.tests.factories import CredentialFactory, InstanceFactory
from whalefall.tests.test_translations import compiled_catalogue  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
CHINESE = "zh-CN,zh;q=0.9,en;q=0.5"


def test_instance_form_fieldsets_in_chinese(
    admin_client: Client,
    compiled_catalogue: Path,  # noqa: F811 - the fixture
) -> None:
    instance = InstanceFactory(name="erp-db")
    change = reverse("admin:whalefall_instance_change", args=[instance.pk])
    page = admin_client.get(change, HTTP_ACCEPT_LANGUAGE=CHINESE).content.decode()
    for title in ("连接选项", "备注", "最近已知状态", "活动"):  # "活动": the apps' fields
        assert f">{title}</h2>" in page, title
    english = ("Connection options", "Notes</h2>", "Last known state", "Activity")
    assert [text for text in english if text in page] == []

    # Adding: nothing is known yet, so the two state blocks are left out, in any language.
    add = admin_client.get(reverse("admin:whalefall_instance_add"), HTTP_ACCEPT_LANGUAGE=CHINESE)
    assert "连接选项" in add.content.decode()
    assert "最近已知状态" not in add.content.decode() and "活动" not in add.content.decode()


def test_credential_pages_in_chinese(
    admin_client: Client,
    compiled_catalogue: Path,  # noqa: F811 - the fixture
) -> None:
    CredentialFactory(name="monitor-ro")
    listing = admin_client.get(reverse("admin:whalefall_credential_changelist"), HTTP_ACCEPT_LANGUAGE=CHINESE)
    assert "已设置密码" in listing.content.decode() and "password set" not in listing.content.decode()
    data = {"name": "new", "username": "monitor", "password": "", "description": ""}
    added = admin_client.post(reverse("admin:whalefall_credential_add"), data, HTTP_ACCEPT_LANGUAGE=CHINESE)
    assert "新凭据需要设置密码。" in added.content.decode()
    assert "A new credential needs a password." not in added.content.decode()
