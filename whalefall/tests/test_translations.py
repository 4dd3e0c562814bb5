"""The Chinese interface is complete and is what a Chinese browser gets.

Completeness is checked the way a translator works: `scripts/messages` (Django's makemessages
with the project's options) runs on a scratch copy of the sources, so a string marked anywhere
but missing from the catalogue shows up here as untranslated, and one whose English changed shows
up as fuzzy. The compiled catalogue itself is built by `scripts/bootstrap.sh`; the fixture below
compiles it too (a no-op when it is current) so that running this file alone works.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
# What the copy leaves out: environments, caches, outputs, version control.
NOT_SOURCES = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", "staticfiles",
    "test-artifacts", "*.sqlite3*", "*.mo", "*.key", ".env", "node_modules", "benchmarks",
)  # fmt: skip


def gettext_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"GNU gettext's {name} is missing: apt-get install gettext (scripts/bootstrap.sh does)")
    return path


@pytest.fixture(scope="session")
def compiled_catalogue() -> Path:
    """The .mo beside the .po, compiled now unless it is newer (what bootstrap does)."""
    gettext_tool("msgfmt")
    call_command("compilemessages", locale=["zh_Hans"], ignore_patterns=[".venv"], verbosity=0)
    mo = CATALOGUE.with_suffix(".mo")
    assert mo.exists() and mo.stat().st_mtime >= CATALOGUE.stat().st_mtime
    return mo


def entries(po: Path, *msgattrib_options: str) -> list[str]:
    """The msgids (with their context) that `msgattrib OPTIONS` selects from a catalogue."""
    out = subprocess.run(
        [gettext_tool("msgattrib"), "--no-wrap", *msgattrib_options, str(po)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found, context, flags = [], "", ""
    for line in out.splitlines():
        if line.startswith("#,"):
            flags = line
        elif line.startswith("msgctxt "):
            context = line[len('msgctxt "') : -1] + " | "
        elif line.startswith("msgid "):
            msgid = line[len('msgid "') : -1]
            if msgid:
                found.append(context + msgid)
            elif "fuzzy" in flags:  # msgattrib always prints the header; it counts only when fuzzy
                found.append("(the catalogue header)")
            context, flags = "", ""
    return found


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalogue as `scripts/messages` makes it from today's sources (in a scratch copy)."""
    copy = tmp_path_factory.mktemp("sources") / "whalefall"
    shutil.copytree(ROOT, copy, ignore=NOT_SOURCES, symlinks=False)
    env = {**os.environ, "PYTHON": sys.executable, "DEBUG": "true", "DATABASE_URL": ""}
    result = subprocess.run(
        ["bash", "scripts/messages"], cwd=copy, env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def test_every_marked_string_has_a_chinese_translation(regenerated: Path) -> None:
    untranslated = entries(regenerated, "--untranslated", "--no-obsolete")
    fuzzy = entries(regenerated, "--only-fuzzy", "--no-obsolete")
    hint = "run `bash scripts/messages`, translate these in locale/zh_Hans (see locale/GLOSSARY.md)"
    assert untranslated == [], f"{hint}; untranslated: {untranslated}"
    assert fuzzy == [], f"{hint}; fuzzy (the English changed, check the Chinese): {fuzzy}"


def test_the_committed_catalogue_is_the_regenerated_one(regenerated: Path) -> None:
    """Same entries as the sources give: nothing translated for a string that no longer exists."""
    ours = set(entries(CATALOGUE, "--no-obsolete"))
    assert ours == set(entries(regenerated, "--no-obsolete")), "run `bash scripts/messages`"


def test_the_catalogue_compiles_with_its_placeholders_intact() -> None:
    """msgfmt checks every %(name)s / {name} placeholder of a msgid is in its msgstr, and the header."""
    result = subprocess.run(
        [
            gettext_tool("msgfmt"),
            "--check-format",
            "--check-header",
            "--statistics",
            "-o",
            os.devnull,
            str(CATALOGUE),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr
    header = CATALOGUE.read_text(encoding="utf-8")
    assert '"Language: zh_Hans\\n"' in header
    assert '"Plural-Forms: nplurals=1; plural=0;\\n"' in header  # Chinese has one form


def test_named_placeholders_only() -> None:
    """`%s` in a translatable string cannot be moved by a translator: ours are all named."""
    positional = [m for m in entries(CATALOGUE) if re.search(r"%[-#0 +]*\d*(\.\d+)?[sdifr]", m)]
    assert positional == []


def page(client: Client, url: str, language: str) -> str:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, url
    return response.content.decode()


def test_a_browser_asking_for_chinese_gets_the_admin_in_chinese(
    admin_client: Client, compiled_catalogue: Path
) -> None:
    from whalefall.tests.factories import InstanceFactory

    InstanceFactory(name="erp-db")
    home = page(admin_client, reverse("admin:index"), "zh-CN,zh;q=0.9,en;q=0.5")
    assert "<title>实例总览 | WhaleFall</title>" in home
    assert '<html lang="zh-hans"' in home
    for text in (
        "实例",
        "凭据",
        "同步会话",
        "告警规则",
        "账户变更",
        "定时作业",
        "高风险账户变更",
        "定时任务",
    ):
        assert text in home, text
    assert "Fleet overview" not in home and "Sync sessions" not in home

    instances = page(admin_client, reverse("admin:whalefall_instance_changelist"), "zh-Hans")
    assert "选择 实例 来修改" in instances  # Django's own words around our model's name
    assert "名称" in instances and "数据库类型" in instances and "erp-db" in instances


def test_a_browser_asking_for_english_gets_english(admin_client: Client, compiled_catalogue: Path) -> None:
    from whalefall.tests.factories import InstanceFactory

    InstanceFactory(name="erp-db")
    home = page(admin_client, reverse("admin:index"), "en-US,en;q=0.9")
    assert "<title>Fleet overview | WhaleFall</title>" in home
    assert "Sync sessions" in home and "实例" not in home
    instances = page(admin_client, reverse("admin:whalefall_instance_changelist"), "en")
    assert (
        "Select instance to change" in instances and "By database type" in instances and "erp-db" in instances
    )


def test_language_code_is_the_default_for_a_browser_that_asks_for_neither(
    admin_client: Client, compiled_catalogue: Path, settings: Any
) -> None:
    settings.LANGUAGE_CODE = "zh-hans"
    assert "<title>实例总览 | WhaleFall</title>" in page(admin_client, reverse("admin:index"), "fr")
    settings.LANGUAGE_CODE = "en-us"
    assert "<title>Fleet overview | WhaleFall</title>" in page(admin_client, reverse("admin:index"), "fr")


def test_the_switcher_in_the_header_chooses_the_language(
    admin_client: Client, compiled_catalogue: Path
) -> None:
    home = page(admin_client, reverse("admin:index"), "en")
    assert 'action="/i18n/setlang/"' in home and 'value="zh-hans"' in home and "简体中文" in home
    response = admin_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    # The choice outweighs what the browser asks for, until it is changed back.
    assert "<title>实例总览 | WhaleFall</title>" in page(admin_client, reverse("admin:index"), "en")
    admin_client.post(reverse("set_language"), {"language": "en", "next": "/admin/"})
    assert "<title>Fleet overview | WhaleFall</title>" in page(admin_client, reverse("admin:index"), "zh-CN")


def test_the_switcher_needs_the_csrf_token(admin_user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/admin/"})
    assert response.status_code == 403


def test_the_login_page_has_the_switcher_too(compiled_catalogue: Path) -> None:
    """Someone not logged in chooses the language of the login form (set_language is public)."""
    client = Client()
    login = page(client, reverse("admin:login"), "en")
    assert 'id="language-switcher"' in login and "Log in" in login
    client.post(reverse("set_language"), {"language": "zh-hans", "next": reverse("admin:login")})
    assert "登录" in page(client, reverse("admin:login"), "en")


def test_alerts_are_written_in_the_teams_language_whoever_queued_them(
    settings: Any, mailoutbox: list[Any], compiled_catalogue: Path
) -> None:
    """An alert goes to a team's channel: LANGUAGE_CODE decides, not the admin user's browser."""
    from whalefall.alerts.delivery import send_alerts, test_event
    from whalefall.models import AlertChannel, AlertDelivery, AlertRule
    from whalefall.models.alerts import ChannelKind

    settings.LANGUAGE_CODE = "zh-hans"
    with translation.override("en"):  # an English-speaking admin pressing "queue a test alert"
        event = test_event(timezone.now())
    assert event.title == "测试告警" and "WhaleFall 可以通过此通道发送告警" in event.lines[0]

    channel = AlertChannel.objects.create(name="dba", kind=ChannelKind.EMAIL, recipients="dba@example.com")
    rule = AlertRule.objects.create(
        name="down", kind="scheduler_down", threshold=1, created_at=timezone.now() - timedelta(hours=1)
    )
    rule.channels.set([channel])
    with translation.override("en"):
        send_alerts(kinds=["scheduler_down"])
    assert AlertDelivery.objects.get().title == "调度器从未运行过"
    assert mailoutbox[0].subject == "[WhaleFall] 调度器从未运行过"

    settings.LANGUAGE_CODE = "en-us"
    with translation.override("zh-hans"):
        assert test_event(timezone.now()).title == "Test alert"


def test_model_names_and_choices_follow_the_active_language() -> None:
    from whalefall.choices import SessionStatus
    from whalefall.models import Instance

    with translation.override("zh-hans"):
        assert str(Instance._meta.verbose_name_plural) == "实例"
        assert str(Instance._meta.get_field("db_type").verbose_name) == "数据库类型"
        assert str(SessionStatus.PARTIAL.label) == "部分成功"
    with translation.override("en"):
        assert str(Instance._meta.verbose_name_plural) == "instances"
        assert str(SessionStatus.PARTIAL.label) == "Partial"


def test_terminal_and_sync_messages_follow_the_active_language(compiled_catalogue: Path) -> None:
    """What a command, the scheduler or a refused run says is written in the team's language;
    the values it is built from (statuses, phases, categories) read as words of that language."""
    from scheduling.config import ConfigError, parse
    from whalefall.management.progress import record_detail
    from whalefall.sync.locks import LockConflict

    failed = {"status": "failed", "failed_phase": "connection", "error": "timeout"}
    done = {"status": "completed", "items_synced": 3}
    since = timezone.now()
    with translation.override("zh-hans"):
        conflict = str(LockConflict("capacity", "db-1-42", None))
        assert conflict.startswith("已有容量采集在运行（锁自 ? 起由 db-1-42")  # noqa: RUF001
        assert record_detail(failed, None) == "在连接阶段失败：timeout"  # noqa: RUF001
        assert record_detail(done, {"items_synced": "已同步"}) == "已完成 (已同步 3)"
        with pytest.raises(ConfigError, match="无效的 YAML"):
            parse("default_tasks: [", "tasks.yaml")
    with translation.override("en"):
        assert str(LockConflict("capacity", "db-1-42", since)).startswith(
            "a capacity sync is already running"
        )
        assert record_detail(failed, None) == "failed in connection: timeout"
        assert record_detail(done, {"items_synced": "synced"}) == "completed (synced 3)"


def test_language_settings_come_from_the_environment() -> None:
    code = "from django.conf import settings; print(settings.LANGUAGE_CODE, settings.TIME_ZONE)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "whalefall.settings", "DEBUG": "true"}
    for extra, expected in [
        ({"LANGUAGE_CODE": "zh-hans", "TIME_ZONE": "Asia/Shanghai"}, "zh-hans Asia/Shanghai"),
        ({"LANGUAGE_CODE": "en-us", "TIME_ZONE": "UTC"}, "en-us UTC"),
    ]:
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env={**env, **extra}, capture_output=True, text=True
        )
        assert result.stdout.strip() == expected, result.stderr
    assert dict(settings.LANGUAGES) == {"en": "English", "zh-hans": "简体中文"}
    middleware = settings.MIDDLEWARE
    locale = middleware.index("django.middleware.locale.LocaleMiddleware")
    assert middleware.index("django.contrib.sessions.middleware.SessionMiddleware") < locale
    assert locale < middleware.index("django.middleware.common.CommonMiddleware")
    example = (ROOT / ".env.example").read_text()
    assert "\nLANGUAGE_CODE=en-us\n" in example and "\nTIME_ZONE=UTC\n" in example


def test_every_account_attribute_label_is_shown_in_chinese(compiled_catalogue: Path) -> None:
    """Labels kept in tables are marked with N_ and translated when shown: each one must reach the
    catalogue (xgettext learns the N_ keyword from the project's makemessages)."""
    from accounts_sync.display import ATTRIBUTES, FACT_LABELS, label

    keys = [*ATTRIBUTES, *FACT_LABELS]
    with translation.override("zh-hans"):
        untranslated = [key for key in keys if not re.search(r"[\u4e00-\u9fff]", label(key))]
    assert untranslated == []
