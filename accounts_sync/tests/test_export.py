"""export_accounts: canonical, sorted, deterministic output."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from accounts_sync.models import Account, PermissionSnapshot
from whalefall.tests.factories import InstanceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance() -> object:
    inst = InstanceFactory(name="pg-one", db_type="postgresql")
    for name, perms, active in [
        ("zed", {"b": ["Y", "X"]}, True),
        ("amy", {"global": ["A"]}, True),
        ("old", {}, False),
    ]:
        acc = Account.objects.create(
            instance=inst, identity=name, username=name, is_active=active, attributes={"z": 1, "a": None}
        )
        PermissionSnapshot.objects.create(account=acc, permissions=perms, hash="h")
    return inst


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_accounts", *args, stdout=out)
    return out.getvalue()


def test_it_exports_sorted_json_without_inactive_accounts(instance: object) -> None:
    data = json.loads(export("--instance", "pg-one"))
    assert [a["identity"] for a in data["accounts"]] == ["amy", "zed"]
    assert data["accounts"][0]["permissions"] == {"global": ["A"]}
    assert "last_seen_at" not in data["accounts"][0]


def test_it_is_deterministic(instance: object) -> None:
    first = export("--instance", "pg-one", "--format", "text")
    Account.objects.filter(identity="amy").update(last_seen_at="2030-01-01T00:00:00Z")
    assert export("--instance", "pg-one", "--format", "text") == first
    assert first.splitlines()[:4] == [
        "# pg-one (postgresql)",
        "account amy  [can_login]",
        "  attr a = null",
        "  attr z = 1",
    ]


def test_it_includes_inactive_on_request(instance: object) -> None:
    text = export("--instance", "pg-one", "--format", "text", "--include-inactive")
    assert "account old  [can_login, inactive]" in text


def test_it_rejects_an_unknown_instance() -> None:
    with pytest.raises(CommandError, match="unknown instance"):
        export("--instance", "nope")
