from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime

import pytest
from django.utils import translation

from scheduling.triggers import TriggerError, build_trigger, describe, next_run_times

NOW = datetime(2026, 3, 4, 10, 17, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("trigger_type", "params", "words"),
    [
        ("interval", {"minutes": 30}, "Every 30 minutes"),
        ("interval", {"minutes": 5}, "Every 5 minutes"),
        ("interval", {"hours": 1}, "Every hour"),
        ("interval", {"minutes": 120}, "Every 2 hours"),
        ("interval", {"days": 7}, "Every week"),
        ("interval", {"seconds": 90}, "Every 90 seconds"),
        (
            "interval",
            {"minutes": 5, "start_date": "2030-01-01 00:00"},
            "Every 5 minutes, from 2030-01-01 00:00:00",
        ),
        ("cron", {"hour": 3, "minute": 0}, "At 03:00, every day"),
        ("cron", {"hour": 4}, "At 04:00, every day"),
        ("cron", {"hour": "1,13", "minute": 30}, "At 01:30 and 13:30, every day"),
        ("cron", {"day_of_week": "sun", "hour": 2, "minute": 30}, "At 02:30, only on Sunday"),
        ("cron", {"day_of_week": "mon,fri", "hour": 8, "minute": 0}, "At 08:00, only on Monday and Friday"),
        # APScheduler counts weekdays from 0 = Monday: 0-4 is Monday to Friday, not Sunday to Thursday.
        ("cron", {"day_of_week": "0-4", "hour": 8, "minute": 0}, "At 08:00, Monday through Friday"),
        ("cron", {"day_of_week": 6, "hour": 8, "minute": 0}, "At 08:00, only on Sunday"),
        # A step keeps APScheduler's meaning (0, 2, 4, 6 = Mon, Wed, Fri, Sun), not crontab's.
        (
            "cron",
            {"day_of_week": "*/2", "hour": 1},
            "At 01:00, only on Monday, Wednesday, Friday, and Sunday",
        ),
        (
            "cron",
            {"day_of_week": "mon-fri", "hour": "8-20", "minute": "*/15"},
            "Every 15 minutes, between 08:00 and 20:59, Monday through Friday",
        ),
        ("cron", {"day": 1, "hour": 6, "minute": 0}, "At 06:00, on day 1 of the month"),
        ("cron", {"day": "last fri", "hour": 6}, "At 06:00, on the last Friday of the month"),
        ("cron", {"day": "1st mon", "hour": 6}, "At 06:00, on the first Monday of the month"),
        ("cron", {"day": "last", "hour": 23}, "At 23:00, on the last day of the month"),
        ("cron", {"minute": "*/15"}, "Every 15 minutes"),
        ("cron", {"minute": 0}, "Every hour"),
        ("cron", {"minute": 0, "hour": "*/6"}, "Every 6 hours"),
        ("cron", {"month": 1, "day": 1, "hour": 0}, "At 00:00, on day 1 of the month, only in January"),
        ("cron", {"week": 3, "hour": 5}, "At 05:00, every day, in ISO week 3"),
        ("date", {"run_date": "2030-01-02 03:04"}, "Once, at 2030-01-02 03:04:00"),
    ],
)
def test_it_describes_triggers_in_words(trigger_type: str, params: dict, words: str) -> None:
    assert describe(trigger_type, params) == words


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"hour": 3, "minute": 0}, "在 03:00, 每天"),
        (
            {"day_of_week": "0-4", "hour": "8-20", "minute": "*/15"},
            "每 15 分钟, 在 08:00 和 20:59 之间, 星期一 到 星期五",
        ),
        ({"day_of_week": "sun", "hour": 2, "minute": 30}, "在 02:30, 仅在 星期日"),
        ({"month": "jan", "day": 1, "hour": 0}, "在 00:00, 每月的 1 号, 仅在 一月"),
    ],
)
def test_it_describes_cron_triggers_in_the_active_language(params: dict, words: str) -> None:
    with translation.override("zh-hans"):
        assert describe("cron", params) == words
    assert "星期" not in describe("cron", params)  # back in English outside the override


@pytest.mark.parametrize("day_of_week", ["*/2", "0-4", "sat,sun", "tue-thu", "6", "mon,wed-fri,sun"])
def test_the_words_name_the_weekdays_the_trigger_fires_on(day_of_week: str) -> None:
    """The described weekdays are the ones APScheduler really fires on, over two weeks."""
    trigger = build_trigger("cron", {"day_of_week": day_of_week, "hour": 1})
    fired = {calendar.day_name[t.weekday()] for t in next_run_times(trigger, 14, NOW)}
    words = describe("cron", {"day_of_week": day_of_week, "hour": 1})
    days = list(calendar.day_name)
    named = {day for day in days if day in words}
    for first, last in re.findall(r"(\w+day) through (\w+day)", words):  # a range names its two ends
        named |= set(days[days.index(first) : days.index(last) + 1])
    assert named == fired


def test_it_falls_back_to_the_raw_fields_when_crontab_cannot_say_it() -> None:
    assert describe("cron", {"day": "1st mon,last", "hour": 1}) == "cron day=1st mon,last hour=1"


def test_it_previews_the_next_five_run_times() -> None:
    times = next_run_times(build_trigger("cron", {"hour": 3, "minute": 0}), 5, NOW)
    assert [t.isoformat() for t in times] == [f"2026-03-{d:02d}T03:00:00+00:00" for d in range(5, 10)]
    interval = next_run_times(
        build_trigger("interval", {"minutes": 30, "start_date": "2026-03-04 10:00"}), 3, NOW
    )
    assert [t.strftime("%H:%M") for t in interval] == ["10:30", "11:00", "11:30"]


def test_it_previews_a_single_run_for_a_date_trigger() -> None:
    times = next_run_times(build_trigger("date", {"run_date": "2030-01-02 03:04"}), 5, NOW)
    assert [t.isoformat() for t in times] == ["2030-01-02T03:04:00+00:00"]


def test_it_previews_in_the_project_time_zone(settings: object) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"  # type: ignore[attr-defined]
    times = next_run_times(build_trigger("cron", {"hour": 3, "minute": 0}), 1, NOW)
    assert times[0].isoformat() == "2026-03-05T03:00:00+08:00"


@pytest.mark.parametrize(
    ("trigger_type", "params", "field"),
    [
        ("cron", {"minute": "61"}, "minute"),
        ("cron", {"day_of_week": "funday"}, "day_of_week"),
        ("cron", {}, "trigger_params"),
        ("cron", {"start_date": "soon", "minute": 1}, "start_date"),
        ("interval", {"minutes": "abc"}, "minutes"),
        ("interval", {"hours": True}, "hours"),
        ("date", {}, "run_date"),
        ("hourly", {}, "trigger_type"),
    ],
)
def test_it_names_the_invalid_field(trigger_type: str, params: dict, field: str) -> None:
    with pytest.raises(TriggerError) as err:
        build_trigger(trigger_type, params, now=NOW)
    assert err.value.field == field


def test_it_previews_from_a_known_next_run_time() -> None:
    """A stored job's preview starts at its next_run_time and follows the interval from there."""
    trigger = build_trigger("interval", {"minutes": 30})
    first = datetime(2026, 3, 4, 10, 41, 7, tzinfo=UTC)
    times = next_run_times(trigger, 3, NOW, first=first)
    assert [t.strftime("%H:%M:%S") for t in times] == ["10:41:07", "11:11:07", "11:41:07"]
