"""Text shown to the operator: control and direction characters written visibly, JSON exact."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command, get_commands, load_command_class
from django.test import Client

from accounts_sync.models import Account, PermissionSnapshot
from whalefall.management.base import SafeOutputCommand
from whalefall.middleware import escape_page_text
from whalefall.tests.factories import InstanceFactory
from whalefall.textsafe import has_unsafe, safe_json, safe_lines, safe_text

HOSTILE = "ev\x1b]0;pwned\x07il\x1b[2J\nforged line \u202eNIMDA\u2066x\u2069\u200f\x9b\x00"
# What a database can store (PostgreSQL refuses NUL in text, and so do the engines' names).
STORED = HOSTILE.replace("\x00", "")
RAW = ["\x1b", "\x07", "\u202e", "\u2066", "\u2069", "\u200f", "\x9b", "\x00"]


def assert_nothing_raw(text: str) -> None:
    assert not any(ch in text for ch in RAW), repr(text)


def test_it_escapes_every_control_and_direction_character_visibly() -> None:
    out = safe_text(HOSTILE)
    assert out == (
        "ev\\x1b]0;pwned\\x07il\\x1b[2J\\nforged line \\u202eNIMDA\\u2066x\\u2069\\u200f\\x9b\\x00"
    )
    assert not has_unsafe(out)
    for code in (*range(0x20), *range(0x7F, 0xA0), 0x202A, 0x202D, 0x2067, 0x200E, 0x061C, 0x2028):
        assert has_unsafe(chr(code)) and not has_unsafe(safe_text(chr(code))), hex(code)
    assert safe_text("Zoë DOMAIN\\user 数据库") == "Zoë DOMAIN\\user 数据库"


def test_lines_keep_their_breaks_and_json_keeps_exact_names() -> None:
    assert safe_lines("a\x1b\nb") == "a\\x1b\nb"
    text = safe_json(json.dumps({"name": HOSTILE}, ensure_ascii=False))
    assert_nothing_raw(text)
    assert json.loads(text) == {"name": HOSTILE}


def our_commands() -> dict[str, str]:
    ours = ("whalefall", "accounts_sync", "capacity", "scheduling")
    return {name: app for name, app in get_commands().items() if app.split(".")[0] in ours}


def test_every_command_of_ours_prints_through_the_escaping_wrapper() -> None:
    commands = our_commands()
    assert {"sync_accounts", "export_accounts", "collect_database_sizes", "check_instances"} <= set(commands)
    plain = [
        n for n, app in commands.items() if not isinstance(load_command_class(app, n), SafeOutputCommand)
    ]
    assert plain == []


@pytest.fixture
def hostile_accounts() -> Any:
    instance = InstanceFactory(name="pg-hostile", db_type="postgresql")
    account = Account.objects.create(
        instance=instance, identity=STORED, username=STORED, attributes={STORED: STORED}
    )
    PermissionSnapshot.objects.create(
        account=account, permissions={f"table db.{STORED}": [f"SELECT{STORED}"]}, hash="h"
    )
    return instance


def export(fmt: str) -> str:
    out = io.StringIO()
    call_command("export_accounts", "--instance", "pg-hostile", "--format", fmt, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_the_text_export_shows_hostile_names_visibly_on_their_own_lines(hostile_accounts: Any) -> None:
    text = export("text")
    assert_nothing_raw(text)
    assert len(text.splitlines()) == 4  # header, account, one attribute, one scope: nothing forged
    assert text.splitlines()[1] == f"account {safe_text(STORED)}  [can_login]"


@pytest.mark.django_db
def test_the_json_export_keeps_the_exact_names(hostile_accounts: Any) -> None:
    text = export("json")
    assert_nothing_raw(text)
    account = json.loads(text)["accounts"][0]
    assert account["identity"] == STORED
    assert account["permissions"] == {f"table db.{STORED}": [f"SELECT{STORED}"]}


@pytest.mark.django_db
def test_command_errors_quoting_names_are_escaped() -> None:
    err = io.StringIO()
    from django.core.management.base import CommandError

    command = load_command_class("accounts_sync", "sync_accounts")
    with pytest.raises(CommandError) as caught:
        call_command(command, "--instance", STORED, stdout=io.StringIO(), stderr=err)
    assert_nothing_raw(str(caught.value))


@pytest.mark.django_db
def test_check_instances_prints_hostile_names_and_server_text_escaped(monkeypatch: Any) -> None:
    from whalefall.services.connection_check import CheckResult

    InstanceFactory(name=f"db{STORED}")
    monkeypatch.setattr(
        "whalefall.management.commands.check_instances.check_instance",
        lambda instance: CheckResult(ok=False, message=f"other: server said {STORED}"),
    )
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("check_instances", stdout=out)
    assert_nothing_raw(out.getvalue())
    name = f"db{safe_text(STORED)}"
    assert out.getvalue().splitlines() == [  # nothing forged: the progress line and the summary
        f"[1/1] {name}: other: server said {safe_text(STORED)}",
        out.getvalue().splitlines()[1],
        f"  failed (1): {name}",
    ]
    assert out.getvalue().splitlines()[1].startswith("0 OK, 1 failed in ")


def test_html_page_text_is_escaped_but_attributes_and_textareas_are_exact() -> None:
    page = f'<td title="{HOSTILE}">{HOSTILE}</td><textarea>{HOSTILE}</textarea>'
    out = escape_page_text(page)
    shown = safe_text(HOSTILE).replace("\\n", "\n")  # a line break is only whitespace in HTML
    assert f">{shown}</td>" in out
    assert f'title="{HOSTILE}"' in out and f"<textarea>{HOSTILE}</textarea>" in out


@pytest.mark.django_db
def test_admin_pages_show_direction_overrides_visibly_and_the_api_keeps_them(admin_client: Client) -> None:
    instance = InstanceFactory(name="\u202enimda")
    page = admin_client.get("/admin/whalefall/instance/").content.decode()
    assert "\u202e" not in page.split('name="', 1)[0] and "\\u202enimda" in page
    change = admin_client.get(f"/admin/whalefall/instance/{instance.pk}/change/").content.decode()
    assert 'value="\u202enimda"' in change  # the form still posts the exact name


def test_console_log_lines_escape_server_text() -> None:
    from whalefall.structured_logging import escape_for_console

    event = escape_for_console(None, "info", {"event": "x", "error": HOSTILE, "n": 3})
    assert_nothing_raw(event["error"])
    assert event["n"] == 3
