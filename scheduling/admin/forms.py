"""Admin forms for triggers and new jobs; validation is scheduling.triggers' (one source of truth)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from scheduling.config import JOB_ID
from scheduling.functions import available_functions
from scheduling.models import JobConfig
from scheduling.triggers import (
    CRON_FIELDS,
    INTERVAL_FIELDS,
    TriggerError,
    build_trigger,
    describe,
    next_run_times,
    weekday_expression,
    weekdays_matched,
)

CRON_FORM_FIELDS = ("minute", "hour", "day", "month", "day_of_week")


def _field(name: str) -> str:
    return f"cron_{name}" if name in CRON_FIELDS else name


class TriggerForm(forms.Form):
    """Cron fields, an interval or a date; `clean` builds the trigger and names the bad field."""

    trigger_type = forms.ChoiceField(
        label=_("trigger type"),
        choices=[
            ("cron", pgettext_lazy("trigger type", "cron")),
            ("interval", pgettext_lazy("trigger type", "interval")),
            ("date", pgettext_lazy("trigger type", "date (once)")),
        ],
        initial="cron",
    )
    cron_minute = forms.CharField(required=False, label=_("minute"), help_text=_("0-59, */15, 0,30"))
    cron_hour = forms.CharField(required=False, label=_("hour"), help_text=_("0-23, */6"))
    cron_day = forms.CharField(required=False, label=_("day of month"), help_text=_("1-31, last"))
    cron_month = forms.CharField(required=False, label=_("month"), help_text=_("1-12, jan"))
    cron_day_of_week = forms.TypedMultipleChoiceField(
        required=False,
        coerce=int,
        choices=[(day, WEEKDAYS_ABBR[day]) for day in range(7)],
        widget=forms.CheckboxSelectMultiple(attrs={"class": "wf-weekdays"}),
        label=_("days of the week"),
        help_text=_("None ticked: every day."),
    )
    weeks = forms.CharField(required=False, label=_("every ... weeks"))
    days = forms.CharField(required=False, label=_("every ... days"))
    hours = forms.CharField(required=False, label=_("every ... hours"))
    minutes = forms.CharField(required=False, label=_("every ... minutes"))
    seconds = forms.CharField(required=False, label=_("every ... seconds"))
    run_date = forms.CharField(
        required=False, label=_("run at"), help_text=_("YYYY-MM-DD HH:MM[:SS] (local time)")
    )

    @classmethod
    def initial_for(cls, trigger_type: str, params: dict[str, Any]) -> dict[str, Any]:
        initial: dict[str, Any] = {"trigger_type": trigger_type}
        initial.update({_field(k): v for k, v in params.items()})
        if trigger_type == "cron" and str(params.get("day_of_week", "")).strip() not in ("", "*"):
            try:  # the stored expression (names, numbers, steps) as the days it fires on
                initial["cron_day_of_week"] = weekdays_matched(str(params["day_of_week"]))
            except ValueError:
                initial.pop("cron_day_of_week")
        return initial

    def trigger_params(self) -> dict[str, Any]:
        data, kind = self.cleaned_data, self.cleaned_data.get("trigger_type")
        names = {"cron": CRON_FORM_FIELDS, "interval": INTERVAL_FIELDS, "date": ("run_date",)}.get(
            kind or "", ()
        )
        params = {
            name: weekday_expression(data.get(_field(name)) or [])
            if name == "day_of_week"
            else (data.get(_field(name)) or "").strip()
            for name in names
        }
        params = {k: v for k, v in params.items() if v}
        if kind == "interval":
            params = {k: int(v) if v.isdigit() else v for k, v in params.items()}
        if kind == "cron":
            params = {k: int(v) if v.isdigit() else v for k, v in params.items()}
        return params

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "trigger_type" not in data:
            return data
        params = self.trigger_params()
        try:
            trigger = build_trigger(data["trigger_type"], params)
        except TriggerError as exc:
            target = _field(exc.field)
            if target in self.fields:
                self.add_error(target, exc.message)
            else:
                self.add_error(None, str(exc))
            return data
        data["params"] = params
        data["words"] = describe(data["trigger_type"], params)
        data["preview"] = next_run_times(trigger, 5)
        return data

    @property
    def preview(self) -> list[datetime]:
        return self.cleaned_data.get("preview", []) if self.is_valid() else []


class AddJobForm(TriggerForm):
    """A new (custom) job for one of the registered task functions."""

    function = forms.ChoiceField(label=_("function"), choices=())
    id = forms.CharField(
        max_length=255, label=_("job id"), help_text=_("{action}_{frequency}, e.g. sync_accounts_hourly")
    )
    name = forms.CharField(label=_("name"), max_length=200)
    description = forms.CharField(
        label=_("description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    enabled = forms.BooleanField(label=_("enabled"), required=False, initial=True)

    field_order = ["function", "id", "name", "description", "enabled", "trigger_type"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["function"].choices = [  # type: ignore[attr-defined]  # a ChoiceField
            (p, f"{label} ({p})") for p, label in available_functions().items()
        ]

    def clean_id(self) -> str:
        job_id = self.cleaned_data["id"].strip()
        if not JOB_ID.match(job_id):
            raise forms.ValidationError(
                gettext("Use snake_case {action}_{frequency}, e.g. sync_accounts_hourly.")
            )
        if JobConfig.objects.filter(pk=job_id).exists():
            raise forms.ValidationError(gettext("A job %(job)s already exists.") % {"job": job_id})
        return job_id
