"""Admin messages keep identifiers as typed: the page must not capitalise a name that starts one."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from whalefall.tests import live
from whalefall.tests.factories import InstanceFactory

pytestmark = pytest.mark.django_db


def test_a_message_that_starts_with_an_instance_name_keeps_its_case(client: Client) -> None:
    client.force_login(User.objects.create_superuser("root-admin", password="x-long-pass-42"))
    down = InstanceFactory(name="wfx-mariadb-down", port=live.closed_port())
    response = client.post(
        reverse("admin:whalefall_instance_changelist"),
        {"action": "test_connection", "_selected_action": [down.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "wfx-mariadb-down: unreachable:" in page
    assert "Wfx-mariadb-down" not in page
