"""The jobs admin in Chinese: the trigger form, its errors, and the built-in jobs' names.

A built-in job's name is stored as its task's English label and translated where it is shown, so
the page follows the reader's language (and LANGUAGE_CODE may change later) while the stored
row, its fingerprint and the YAML comparison stay the same.
"""

# ruff: noqa: RUF001 - the Chinese expected is written with full-width punctuation

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from accounts_sync.tasks import SYNC_ACCOUNTS
from scheduling import job_configs
from scheduling.config import builtin_defaults
from scheduling.models import JobConfig
from whalefall.tests.test_translations import compiled_catalogue  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
CHINESE = "zh-CN,zh;q=0.9,en;q=0.5"


@pytest.fixture(autouse=True)
def builtin_jobs(compiled_catalogue: Path) -> None:  # noqa: F811 - the fixture
    with translation.override("zh-hans"):  # a scheduler started with LANGUAGE_CODE=zh-hans
        job_configs.sync_defaults(builtin_defaults())


def test_the_trigger_form_in_chinese(operator: Client) -> None:
    url = reverse("admin:scheduling_jobconfig_trigger", args=[SYNC_ACCOUNTS.job_id])
    page = operator.get(url, HTTP_ACCEPT_LANGUAGE=CHINESE).content.decode()
    for text in (
        "分钟",
        "小时",
        "日期（每月第几天）",
        "月份",
        "每隔几周",
        "每隔几分钟",
        "运行时间",
        "date（仅一次）",
    ):
        assert text in page, text
    english = (
        "minute:",
        "hour:",
        "day of month",
        "every ... weeks",
        "every ... minutes",
        "run at",
        "date (once)",
    )
    assert [text for text in english if text in page] == []

    data = {"trigger_type": "interval", "minutes": "-3", "_save": "1"}
    errors = operator.post(url, data, HTTP_ACCEPT_LANGUAGE=CHINESE).context["form"].errors
    assert errors["minutes"] == ["'-3' 不是大于等于 0 的整数"]
    data = {"trigger_type": "date", "run_date": "2001-01-01 00:00", "_save": "1"}
    errors = operator.post(url, data, HTTP_ACCEPT_LANGUAGE=CHINESE).context["form"].errors
    assert errors["run_date"] == ["2001-01-01 00:00 已经过去"]


def test_the_add_form_labels_and_task_names_in_chinese(operator: Client) -> None:
    page = operator.get(
        reverse("admin:scheduling_jobconfig_add"), HTTP_ACCEPT_LANGUAGE=CHINESE
    ).content.decode()
    assert "作业 ID" in page and f"账户同步 ({SYNC_ACCOUNTS.path})" in page
    assert "job id" not in page and "Account sync" not in page
    data = {"function": SYNC_ACCOUNTS.path, "id": SYNC_ACCOUNTS.job_id, "name": "x", "trigger_type": "cron"}
    data["cron_minute"] = "0"
    errors = operator.post(reverse("admin:scheduling_jobconfig_add"), data, HTTP_ACCEPT_LANGUAGE=CHINESE)
    assert errors.context["form"].errors["id"] == [f"作业 {SYNC_ACCOUNTS.job_id} 已存在。"]


def test_builtin_job_names_are_stored_in_english_and_shown_in_the_readers_language(operator: Client) -> None:
    job = JobConfig.objects.get(pk=SYNC_ACCOUNTS.job_id)
    assert (job.name, job.description) == (
        "Account sync",
        "Inventory and permissions of every active instance's accounts.",
    )
    changelist = reverse("admin:scheduling_jobconfig_changelist")
    chinese = operator.get(changelist, HTTP_ACCEPT_LANGUAGE=CHINESE).content.decode()
    assert "账户同步" in chinese and "历史清理" in chinese and "容量采集" in chinese
    assert "Account sync" not in chinese and "History cleanup" not in chinese
    detail = operator.get(
        reverse("admin:scheduling_jobconfig_change", args=[job.pk]), HTTP_ACCEPT_LANGUAGE=CHINESE
    )
    assert "每个启用实例的账户清单及其权限。" in detail.content.decode()
    english = operator.get(changelist, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Account sync" in english and "账户同步" not in english

    # A name typed by an operator is data: shown as typed in every language.
    JobConfig.objects.filter(pk=job.pk).update(name="Nightly sync (ops)")
    chinese = operator.get(changelist, HTTP_ACCEPT_LANGUAGE=CHINESE).content.decode()
    assert "Nightly sync (ops)" in chinese and "账户同步" not in chinese


def test_stored_names_do_not_change_with_the_language(settings: Any) -> None:
    """Starting the scheduler again in another language changes no stored name (no re-apply)."""
    before = {j.pk: (j.name, j.fingerprint()) for j in JobConfig.objects.all()}
    settings.LANGUAGE_CODE = "en-us"
    job_configs.sync_defaults(builtin_defaults())
    assert {j.pk: (j.name, j.fingerprint()) for j in JobConfig.objects.all()} == before
