"""Triggers from (trigger_type, trigger_params): validation, words and a preview of run times.

The same code validates the YAML defaults, the admin's trigger form and the scheduler, so a
trigger that is accepted anywhere can be built everywhere. Cron triggers are put in words by
cron-descriptor (in the active language) after APScheduler's fields are rewritten in crontab's
conventions: APScheduler counts weekdays from 0 = Monday, crontab from 0 = Sunday.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from django.conf import settings
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.dates import MONTHS, WEEKDAYS
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from whalefall.formats import local_datetime

TRIGGER_TYPES = ("cron", "interval", "date")
CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
INTERVAL_FIELDS = ("weeks", "days", "hours", "minutes", "seconds")
DATE_FIELDS = ("start_date", "end_date")
ALLOWED = {
    "cron": (*CRON_FIELDS, *DATE_FIELDS),
    "interval": (*INTERVAL_FIELDS, *DATE_FIELDS),
    "date": ("run_date",),
}
# APScheduler's weekday names, in its order (0 = Monday); crontab's number is (index + 1) % 7.
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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
        raise TriggerError(
            field, _("%(value)s is not a date and time (use YYYY-MM-DD HH:MM[:SS])") % {"value": repr(value)}
        )
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
    return parsed


def _check_keys(trigger_type: str, params: Any) -> dict[str, Any]:
    if trigger_type not in TRIGGER_TYPES:
        raise TriggerError(
            "trigger_type",
            _("%(value)s is not one of %(types)s")
            % {"value": repr(trigger_type), "types": ", ".join(TRIGGER_TYPES)},
        )
    if not isinstance(params, dict):
        raise TriggerError("trigger_params", _("must be a mapping of trigger fields"))
    unknown = sorted(set(params) - set(ALLOWED[trigger_type]))
    if unknown:
        raise TriggerError(
            unknown[0],
            _("unknown %(type)s field (allowed: %(fields)s)")
            % {"type": trigger_type, "fields": ", ".join(ALLOWED[trigger_type])},
        )
    return {k: v for k, v in params.items() if v not in (None, "")}


def _cron(params: dict[str, Any]) -> CronTrigger:
    dates = {k: _parse_dt(k, params[k]) for k in DATE_FIELDS if k in params}
    fields = {k: str(v).strip() for k, v in params.items() if k in CRON_FIELDS}
    if not fields:
        raise TriggerError("trigger_params", _("a cron trigger needs at least one field (e.g. minute)"))
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
            raise TriggerError(name, _("%(value)s is not a whole number >= 0") % {"value": repr(value)})
        amounts[name] = int(str(value).strip())
    if not any(amounts.values()):
        raise TriggerError(
            "trigger_params", _("an interval needs weeks, days, hours, minutes or seconds > 0")
        )
    return IntervalTrigger(**amounts, **dates, timezone=_tz())


def _date(params: dict[str, Any], now: datetime | None) -> DateTrigger:
    if "run_date" not in params:
        raise TriggerError("run_date", _("a date trigger needs run_date"))
    run_date = _parse_dt("run_date", params["run_date"])
    if run_date <= (now or timezone.now()):
        raise TriggerError("run_date", _("%(when)s is in the past") % {"when": params["run_date"]})
    return DateTrigger(run_date=run_date, timezone=_tz())


def build_trigger(trigger_type: str, params: Any, *, now: datetime | None = None) -> BaseTrigger:
    """Validated APScheduler trigger; raises TriggerError naming the field."""
    clean = _check_keys(trigger_type, params)
    if trigger_type == "cron":
        return _cron(clean)
    if trigger_type == "interval":
        return _interval(clean)
    return _date(clean, now)


def next_run_times(
    trigger: BaseTrigger, count: int = 5, now: datetime | None = None, *, first: datetime | None = None
) -> list[datetime]:
    """The next `count` fire times (fewer for a date trigger), in the project's local time.

    `first` is a fire time already known (a stored job's next_run_time): the list starts there
    and follows the trigger's own state, so it agrees with what the scheduler will do.
    """
    now = now or timezone.now()
    times: list[datetime] = []
    previous = None
    if first is not None:
        times.append(timezone.localtime(first))
        previous = first
    while len(times) < count:
        fire = trigger.get_next_fire_time(previous, now if previous is None else previous)
        if fire is None or (previous is not None and fire <= previous):
            break
        times.append(timezone.localtime(fire))
        previous = fire
    return times


# --- in words ---------------------------------------------------------------------------------
_INTERVAL_UNITS = (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def _every(count: int, unit: str) -> str:
    if unit == "week":
        return (
            _("Every week")
            if count == 1
            else ngettext("Every %(count)d week", "Every %(count)d weeks", count) % {"count": count}
        )
    if unit == "day":
        return (
            _("Every day")
            if count == 1
            else ngettext("Every %(count)d day", "Every %(count)d days", count) % {"count": count}
        )
    if unit == "hour":
        return (
            _("Every hour")
            if count == 1
            else ngettext("Every %(count)d hour", "Every %(count)d hours", count) % {"count": count}
        )
    if unit == "minute":
        return (
            _("Every minute")
            if count == 1
            else ngettext("Every %(count)d minute", "Every %(count)d minutes", count) % {"count": count}
        )
    return (
        _("Every second")
        if count == 1
        else ngettext("Every %(count)d second", "Every %(count)d seconds", count) % {"count": count}
    )


def _describe_interval(params: dict[str, Any]) -> str:
    seconds = sum(
        int(params.get(k, 0) or 0) * size
        for k, (_unit, size) in zip(INTERVAL_FIELDS, _INTERVAL_UNITS, strict=True)
    )
    for unit, size in _INTERVAL_UNITS:
        if seconds % size == 0:
            return _every(seconds // size, unit)
    return _every(seconds, "second")  # pragma: no cover - size 1 always divides


def weekdays_matched(expression: str) -> list[int]:
    """The weekdays (0 = Monday) an APScheduler day_of_week expression fires on, found by asking
    APScheduler itself over one week, so steps like */2 keep APScheduler's meaning exactly."""
    trigger = CronTrigger(day_of_week=expression, timezone=UTC)
    monday = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
    days: list[int] = []
    fire = trigger.get_next_fire_time(None, monday)
    while fire is not None and fire < monday + timedelta(days=7):
        days.append(fire.weekday())
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return sorted(set(days))


def weekday_expression(days: list[int]) -> str:
    """Weekdays (0 = Monday) as an APScheduler day_of_week by name ("mon-fri,sun"); "" for
    none or all seven (every day)."""
    chosen = sorted(set(days))
    if len(chosen) in (0, 7):
        return ""
    parts: list[str] = []
    start = previous = chosen[0]
    for day in [*chosen[1:], None]:
        if day is not None and day == previous + 1:
            previous = day
            continue
        if previous - start >= 2:
            parts.append(f"{WEEKDAY_KEYS[start]}-{WEEKDAY_KEYS[previous]}")
        else:
            parts.extend(WEEKDAY_KEYS[d] for d in range(start, previous + 1))
        if day is not None:
            start = previous = day
    return ",".join(parts)


def _cron_day_of_week(days: list[int]) -> str:
    """Weekdays as crontab names: runs within Monday..Saturday as ranges (MON-FRI), Sunday on
    its own, since crontab's week starts on Sunday and SAT-SUN would not be a range there."""
    if len(days) == 7:
        return "*"
    parts: list[str] = []
    run: list[int] = []
    for day in [d for d in days if d != 6] + [None]:
        if day is not None and run and day == run[-1] + 1:
            run.append(day)
            continue
        if run:
            names = (WEEKDAY_KEYS[run[0]].upper(), WEEKDAY_KEYS[run[-1]].upper())
            parts.append(
                f"{names[0]}-{names[1]}" if len(run) > 2 else ",".join(WEEKDAY_KEYS[d].upper() for d in run)
            )
        run = [day] if day is not None else []
    if 6 in days:
        parts.append("SUN")
    return ",".join(parts)


def _cron_day(field: Any) -> tuple[str, str] | None:
    """APScheduler's day field as crontab's (day, day_of_week) pair when it names weekday
    positions ("1st mon" -> MON#1, "last fri" -> 5L) or the last day ("last" -> L)."""
    from apscheduler.triggers.cron.expressions import LastDayOfMonthExpression, WeekdayPositionExpression

    expressions = field.expressions
    if len(expressions) != 1:
        return (
            None
            if any(isinstance(e, LastDayOfMonthExpression | WeekdayPositionExpression) for e in expressions)
            else (str(field), "*")
        )
    only = expressions[0]
    if isinstance(only, LastDayOfMonthExpression):
        return "L", "*"
    if isinstance(only, WeekdayPositionExpression):
        cron_day = (only.weekday + 1) % 7
        if only.option_num == 5:
            return "?", f"{cron_day}L"
        return "?", f"{WEEKDAY_KEYS[only.weekday].upper()}#{only.option_num + 1}"
    return str(field), "*"


def cron_expression(trigger: CronTrigger) -> tuple[str, str] | None:
    """The trigger as crontab's seven fields (second minute hour day month weekday year) plus
    an ISO week that crontab cannot say ("" when there is none); None if a field has no
    crontab form (a list mixing weekday positions with days)."""
    fields = {f.name: f for f in trigger.fields}
    day = _cron_day(fields["day"])
    if day is None:
        return None
    dom, dow = day
    dow_expr = str(fields["day_of_week"])
    if dow_expr != "*":
        if dow != "*":
            return None
        dow = _cron_day_of_week(weekdays_matched(dow_expr))
        if dom == "*":
            dom = "?" if dow != "*" else "*"
    parts = [str(fields[name]) for name in ("second", "minute", "hour")]
    parts += [dom, str(fields["month"]), dow, str(fields["year"])]
    week = str(fields["week"])
    return " ".join(parts), "" if week == "*" else week


def _cron_locale() -> str:
    """cron-descriptor's locale for the active Django language (zh-hans -> zh_CN, de -> de_DE)."""
    language = translation.to_locale(translation.get_language() or settings.LANGUAGE_CODE)
    aliases = {"zh_Hans": "zh_CN", "zh_Hant": "zh_TW", "zh_CN": "zh_CN", "zh_TW": "zh_TW", "en": "en_US"}
    if language in aliases:
        return aliases[language]
    available = _cron_locales()
    if language in available:
        return language
    prefix = language.split("_")[0] + "_"
    matches = sorted(code for code in available if code.startswith(prefix))
    return matches[0] if matches else "en_US"


@lru_cache(maxsize=1)
def _cron_locales() -> frozenset[str]:
    import cron_descriptor

    folder = Path(cron_descriptor.__file__).parent / "locale"
    return frozenset(p.stem for p in folder.glob("*.mo"))


@lru_cache(maxsize=512)
def _cron_words(expression: str, locale_code: str) -> str:
    """cron-descriptor's sentence; its verbose form ("..., every day") only when the hours are
    fixed, where "At 03:00" alone would not say how often, and not for "Every hour"."""
    from cron_descriptor import ExpressionDescriptor, Options

    hours = expression.split()[2]
    options = Options(locale_code=locale_code, use_24hour_time_format=True, verbose="*" not in hours)
    return ExpressionDescriptor(expression, options).get_description().strip()


def _local_names(text: str) -> str:
    """cron-descriptor names weekdays and months through the process locale (English here);
    Django's own translations put them in the active language."""
    for index, name in enumerate(calendar.day_name):
        text = re.sub(rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])", str(WEEKDAYS[index]), text)
    for index, name in enumerate(calendar.month_name[1:], start=1):
        text = re.sub(rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])", str(MONTHS[index]), text)
    return text


def _raw(params: dict[str, Any]) -> str:
    return "cron " + " ".join(f"{k}={v}" for k, v in sorted(params.items()))


def _describe_cron(params: dict[str, Any]) -> str:
    try:
        trigger = _cron({k: v for k, v in params.items() if k in CRON_FIELDS})
    except TriggerError:
        return _raw(params)
    converted = cron_expression(trigger)
    if converted is None:
        return _raw(params)
    expression, week = converted
    from cron_descriptor import FormatException, MissingFieldException, WrongArgumentException

    try:
        words = _local_names(_cron_words(expression, _cron_locale()))
    except (FormatException, MissingFieldException, WrongArgumentException, ValueError, IndexError):
        return _raw(params)  # an expression cron-descriptor refuses must not break a page
    if week:
        words = _("%(words)s, in ISO week %(week)s") % {"words": words, "week": week}
    return words


def _with_dates(words: str, params: dict[str, Any]) -> str:
    if params.get("start_date"):
        words = _("%(words)s, from %(start)s") % {
            "words": words,
            "start": local_datetime(_parse_dt("start_date", params["start_date"])),
        }
    if params.get("end_date"):
        words = _("%(words)s, until %(end)s") % {
            "words": words,
            "end": local_datetime(_parse_dt("end_date", params["end_date"])),
        }
    return words


def describe(trigger_type: str, params: dict[str, Any]) -> str:
    """Trigger in words for people, in the active language: "Every 30 minutes",
    "At 03:00, every day", "Every 15 minutes, between 08:00 and 20:59, Monday through Friday"."""
    try:
        clean = _check_keys(trigger_type, params)
        if trigger_type == "interval":
            return _with_dates(_describe_interval(clean), clean)
        if trigger_type == "date":
            when = _parse_dt("run_date", clean.get("run_date", ""))
            return _("Once, at %(when)s") % {"when": local_datetime(when)}
        return _with_dates(_describe_cron(clean), clean)
    except TriggerError:
        return _("Invalid %(type)s trigger") % {"type": trigger_type}
