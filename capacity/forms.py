"""Sizes typed the way people say them: "500 GB", "2 TB", "750 MiB", stored as bytes.

KB / MB / GB / TB are binary multiples here (1 GB = 1024 MB), as everywhere else in the capacity
pages (`charts.human_bytes`), so a limit typed as "500 GB" reads back as "500 GB" and lines up
with the sizes shown; KiB / MiB / GiB / TiB are accepted as the same units.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from capacity.charts import KIB, UNITS

MULTIPLIERS = {unit.lower(): KIB**i for i, unit in enumerate(UNITS)}
MULTIPLIERS.update({f"{unit[0].lower()}ib": KIB**i for i, unit in enumerate(UNITS) if i})
MULTIPLIERS.update(
    {"": 1, "bytes": 1, "byte": 1, **{unit[0].lower(): KIB**i for i, unit in enumerate(UNITS) if i}}
)
SIZE = re.compile(r"^\s*(?P<number>\d+(?:[.,]\d+)?|[.,]\d+)\s*(?P<unit>[a-z]*)\s*$", re.IGNORECASE)
MAX_BYTES = 2**63 - 1  # a BigIntegerField


def parse_size(text: str) -> int:
    """'500 GB' -> 536870912000; a bare number is bytes. Raises ValueError on anything else."""
    match = SIZE.match(text)
    if not match:
        raise ValueError(text)
    unit = match["unit"].lower()
    if unit not in MULTIPLIERS:
        raise ValueError(text)
    try:
        number = Decimal(match["number"].replace(",", "."))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise ValueError(text) from exc
    return int((number * MULTIPLIERS[unit]).to_integral_value())


def format_size(value: int | None) -> str:
    """Bytes in the largest unit that shows them exactly (two decimals at most): 536870912000 ->
    '500 GB', 1610612736000 -> '1500 GB'; a value no unit shows exactly stays in bytes."""
    if value is None:
        return ""
    for power in range(len(UNITS) - 1, 0, -1):
        scale = KIB**power
        if abs(value) >= scale and (value * 100) % scale == 0:
            number = Decimal(value) / scale
            text = f"{number:.2f}".rstrip("0").rstrip(".")
            return f"{text} {UNITS[power]}"
    return f"{value} B"


class SizeInput(forms.TextInput):
    """Shows the stored bytes in a unit; anything typed (even invalid) is shown back as typed."""

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, int):
            return format_size(value)
        return super().format_value(value)


class SizeField(forms.Field):
    """A byte count typed with its unit ("500 GB", "2 TB", "750 MiB"); empty means none."""

    widget = SizeInput
    default_error_messages = {
        "invalid": _(
            "Enter a size such as “500 GB”, “2 TB” or “750 MiB” (a number alone is bytes; "
            "KB, MB, GB, TB and PB are multiples of 1024)."
        ),
        "negative": _("A size cannot be negative."),
        "too_large": _("That size is too large."),
    }

    def __init__(self, *, max_value: int = MAX_BYTES, **kwargs: Any) -> None:
        kwargs.setdefault("widget", SizeInput(attrs={"placeholder": _("e.g. 500 GB"), "size": 12}))
        self.max_value = max_value
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if text.startswith("-"):
            raise ValidationError(self.error_messages["negative"], code="negative")
        try:
            size = parse_size(text)
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if size > self.max_value:
            raise ValidationError(self.error_messages["too_large"], code="too_large")
        return size

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(data) != self.to_python(initial)
        except ValidationError:
            return True


LIMIT_HELP = _(
    "The disk or quota limit for “days until full” and the limit line, e.g. “500 GB”, “2 TB” "
    "or “750 MiB” (1 GB = 1024 MB, as the sizes are shown). Empty: no limit."
)


class LimitForm(forms.ModelForm):
    """A model form whose `capacity_limit_bytes` is typed with a unit."""

    capacity_limit_bytes = SizeField(required=False, label=_("Capacity limit"), help_text=LIMIT_HELP)
