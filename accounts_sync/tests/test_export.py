"""export_accounts: canonical, sorted, deterministic output."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from accounts_sync.models import Account, AccountPrivilege, PermissionSnapshot
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


def test_it_shows_effective_privileges_with_their_paths_on_request(instance: object) -> None:
    amy = Account.objects.get(identity="amy")
    for kind, path, privilege, via, verified in [
        ("table", ["shop", "orders"], "SELECT", "r_app ← r_read", True),
        ("table", ["shop", "orders"], "INSERT", "", False),
        ("server", [], "ALL", "superuser", True),
    ]:
        AccountPrivilege.objects.create(
            instance=instance,
            account=amy,
            scope_kind=kind,
            path=path,
            target=".".join(path),
            privilege=privilege,
            via=via,
            verified=verified,
            grantable=via == "superuser",
        )
    text = export("--instance", "pg-one", "--format", "text", "--effective")
    assert [line for line in text.splitlines() if "effective" in line] == [
        "  effective ALL ON server as superuser [grant option]",
        "  effective INSERT ON table shop.orders direct [unverified]",
        "  effective SELECT ON table shop.orders via r_app ← r_read",
    ]
    assert export("--instance", "pg-one", "--format", "text", "--effective") == text
    data = json.loads(export("--instance", "pg-one", "--effective"))
    assert data["accounts"][0]["effective"][2]["path"] == ["shop", "orders"]
    assert data["accounts"][1]["effective"] == []
    assert "effective" not in json.loads(export("--instance", "pg-one"))["accounts"][0]
