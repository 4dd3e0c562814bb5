"""Triggers from (trigger_type, trigger_params): validation, words and a preview of run times.

The same code validates the YAML defaults, the admin's trigger form and the scheduler, so a
trigger that is accepted anywhere can be built everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

TRIGGER_TYPES = ("cron", "interval", "date")
CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
INTERVAL_FIELDS = ("weeks", "days", "hours", "minutes", "seconds")
DATE_FIELDS = ("start_date", "end_date")
ALLOWED = {
    "cron": (*CRON_FIELDS, *DATE_FIELDS),
    "interval": (*INTERVAL_FIELDS, *DATE_FIELDS),
    "date": ("run_date",),
}
DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}


class TriggerError(ValueError):
    """A trigger that cannot be built; `field` names the offending parameter (or trigger_type)."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


def _tz() -> Any:
    return settings.TIME_ZONE


def _parse_dt(field: str, value: Any) -> datetime:
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    if parsed is None:
        raise TriggerError(field, f"{value!r} is not a date and time (use YYYY-MM-DD HH:MM[:SS])")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
    return parsed


def _check_keys(trigger_type: str, params: Any) -> dict[str, Any]:
    if trigger_type not in TRIGGER_TYPES:
        raise TriggerError("trigger_type", f"{trigger_type!r} is not one of {', '.join(TRIGGER_TYPES)}")
    if not isinstance(params, dict):
        raise TriggerError("trigger_params", "must be a mapping of trigger fields")
    unknown = sorted(set(params) - set(ALLOWED[trigger_type]))
    if unknown:
        raise TriggerError(
            unknown[0], f"unknown {trigger_type} field (allowed: {', '.join(ALLOWED[trigger_type])})"
        )
    return {k: v for k, v in params.items() if v not in (None, "")}


def _cron(params: dict[str, Any]) -> CronTrigger:
    dates = {k: _parse_dt(k, params[k]) for k in DATE_FIELDS if k in params}
    fields = {k: str(v).strip() for k, v in params.items() if k in CRON_FIELDS}
    if not fields:
        raise TriggerError("trigger_params", "a cron trigger needs at least one field (e.g. minute)")
    for name, value in fields.items():  # one by one, so the error names its field
        try:
            CronTrigger(**{name: value}, timezone=_tz())
        except ValueError as exc:
            raise TriggerError(name, str(exc)) from None
    return CronTrigger(**fields, **dates, timezone=_tz())


def _interval(params: dict[str, Any]) -> IntervalTrigger:
    dates = {k: _parse_dt(k, params[k]) for k in DATE_FIELDS if k in params}
    amounts: dict[str, int] = {}
    for name in INTERVAL_FIELDS:
        if name not in params:
            continue
        value = params[name]
        if isinstance(value, bool) or not str(value).strip().isdigit():
            raise TriggerError(name, f"{value!r} is not a whole number >= 0")
        amounts[name] = int(str(value).strip())
    if not any(amounts.values()):
        raise TriggerError("trigger_params", "an interval needs weeks, days, hours, minutes or seconds > 0")
    return IntervalTrigger(**amounts, **dates, timezone=_tz())


def _date(params: dict[str, Any], now: datetime | None) -> DateTrigger:
    if "run_date" not in params:
        raise TriggerError("run_date", "a date trigger needs run_date")
    run_date = _parse_dt("run_date", params["run_date"])
    if run_date <= (now or timezone.now()):
        raise TriggerError("run_date", f"{params['run_date']} is in the past")
    return DateTrigger(run_date=run_date, timezone=_tz())


def build_trigger(trigger_type: str, params: Any, *, now: datetime | None = None) -> BaseTrigger:
    """Validated APScheduler trigger; raises TriggerError naming the field."""
    clean = _check_keys(trigger_type, params)
    if trigger_type == "cron":
        return _cron(clean)
    if trigger_type == "interval":
        return _interval(clean)
    return _date(clean, now)


def next_run_times(trigger: BaseTrigger, count: int = 5, now: datetime | None = None) -> list[datetime]:
    """The next `count` fire times (fewer for a date trigger), in the project's local time."""
    now = now or timezone.now()
    times: list[datetime] = []
    previous = None
    while len(times) < count:
        fire = trigger.get_next_fire_time(previous, now if previous is None else previous)
        if fire is None or (previous is not None and fire <= previous):
            break
        times.append(timezone.localtime(fire))
        previous = fire
    return times


def _plural(amount: int, unit: str) -> str:
    return f"every {unit}" if amount == 1 else f"every {amount} {unit}s"


def _describe_interval(params: dict[str, Any]) -> str:
    seconds = sum(
        int(params.get(k, 0) or 0) * m
        for k, m in zip(INTERVAL_FIELDS, (604800, 86400, 3600, 60, 1), strict=True)
    )
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            return _plural(seconds // size, unit)
    return _plural(seconds, "second")


def _is_num(value: Any) -> bool:
    return str(value).isdigit()


def _describe_cron(params: dict[str, Any]) -> str:
    p = {k: str(v).strip() for k, v in params.items() if k in CRON_FIELDS}
    minute, hour = p.pop("minute", "0" if "hour" in p else "*"), p.pop("hour", "*")
    if p.pop("second", "0") != "0":
        return "cron " + " ".join(f"{k}={v}" for k, v in sorted(params.items()))
    dow, day = p.pop("day_of_week", "*"), p.pop("day", "*")
    if p:  # month, year, week: no short wording
        return "cron " + " ".join(f"{k}={v}" for k, v in sorted(params.items()))
    if minute.startswith("*/") and hour == "*" and day == dow == "*":
        return _plural(int(minute[2:]), "minute")
    if minute == "*" and hour == "*" and day == dow == "*":
        return "every minute"
    if _is_num(minute) and hour.startswith("*/") and day == dow == "*":
        return f"{_plural(int(hour[2:]), 'hour')} at minute {int(minute)}"
    if _is_num(minute) and hour == "*" and day == dow == "*":
        return f"every hour at minute {int(minute)}"
    if not (_is_num(minute) and all(_is_num(h) for h in hour.split(","))):
        return "cron " + " ".join(f"{k}={v}" for k, v in sorted(params.items()))
    at = "at " + ", ".join(f"{int(h):02d}:{int(minute):02d}" for h in hour.split(","))
    if day == "*" and dow == "*":
        return f"{at} every day"
    if day == "*":
        days = [DAY_NAMES.get(d.strip().lower(), d.strip()) for d in dow.split(",")]
        return f"{at} every {', '.join(days)}"
    if dow == "*" and _is_num(day):
        return f"{at} on day {int(day)} of every month"
    return "cron " + " ".join(f"{k}={v}" for k, v in sorted(params.items()))


def describe(trigger_type: str, params: dict[str, Any]) -> str:
    """Trigger in words for the admin: "every 30 minutes", "at 03:00 every day"."""
    try:
        clean = _check_keys(trigger_type, params)
    except TriggerError:
        return f"invalid {trigger_type} trigger"
    if trigger_type == "interval":
        return _describe_interval(clean)
    if trigger_type == "date":
        when = _parse_dt("run_date", clean.get("run_date", ""))
        return f"once at {timezone.localtime(when):%Y-%m-%d %H:%M}"
    return _describe_cron(clean)
