from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduling.triggers import TriggerError, build_trigger, describe, next_run_times

NOW = datetime(2026, 3, 4, 10, 17, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("trigger_type", "params", "words"),
    [
        ("interval", {"minutes": 30}, "every 30 minutes"),
        ("interval", {"minutes": 5}, "every 5 minutes"),
        ("interval", {"hours": 1}, "every hour"),
        ("interval", {"minutes": 120}, "every 2 hours"),
        ("interval", {"days": 7}, "every week"),
        ("interval", {"seconds": 90}, "every 90 seconds"),
        ("cron", {"hour": 3, "minute": 0}, "at 03:00 every day"),
        ("cron", {"hour": 4}, "at 04:00 every day"),
        ("cron", {"hour": "1,13", "minute": 30}, "at 01:30, 13:30 every day"),
        ("cron", {"day_of_week": "sun", "hour": 2, "minute": 30}, "at 02:30 every Sunday"),
        ("cron", {"day_of_week": "mon,fri", "hour": 8, "minute": 0}, "at 08:00 every Monday, Friday"),
        ("cron", {"day": 1, "hour": 6, "minute": 0}, "at 06:00 on day 1 of every month"),
        ("cron", {"minute": "*/15"}, "every 15 minutes"),
        ("cron", {"minute": 5}, "every hour at minute 5"),
        ("cron", {"minute": 0, "hour": "*/6"}, "every 6 hours at minute 0"),
        ("cron", {"month": 1, "day": 1, "hour": 0}, "cron day=1 hour=0 month=1"),
        ("date", {"run_date": "2030-01-02 03:04"}, "once at 2030-01-02 03:04"),
    ],
)
def test_it_describes_triggers_in_words(trigger_type: str, params: dict, words: str) -> None:
    assert describe(trigger_type, params) == words


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
