"""Size-history charts rendered on the server as inline SVG (no CDN, no JavaScript).

A chart is read like a monitoring dashboard: gridlines at round sizes in the unit a DBA would say
(1-2-5 steps of KB / MB / GB / TB), dates at day, week, month or year steps as the range needs, a
tooltip (SVG ``<title>``) on every point, the forecast as a dashed line from the last point and
the limit as a red line. Everything is drawn from numbers and escaped text, so it needs no script
and passes the Content-Security-Policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from capacity.services.forecast import Forecast

UNITS = ["B", "KB", "MB", "GB", "TB", "PB"]
KIB = 1024

#: Labels drawn over lines keep a ring of background colour around their letters.
HALO = mark_safe('stroke="#fff" stroke-width="4" stroke-linejoin="round" paint-order="stroke"')

COLOURS = {
    "line": "#417690",
    "forecast": "#7b1fa2",
    "limit": "#c62828",
    "grid": "#e3e3e3",
    "axis": "#999999",
    "text": "#555555",
}


def human_bytes(value: float | None) -> str:
    """1536 -> '1.5 KB' (binary multiples, as DBAs read them)."""
    if value is None:
        return "-"
    size, unit = float(value), 0
    while abs(size) >= KIB and unit < len(UNITS) - 1:
        size, unit = size / KIB, unit + 1
    return f"{size:.0f} {UNITS[unit]}" if unit == 0 else f"{size:.1f} {UNITS[unit]}"


# --- date ranges -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChartRange:
    """One choice of the range selector: the last `days` days, or all of the history."""

    key: str
    label: StrOrPromise
    days: int | None

    def since(self, today: date) -> date | None:
        return None if self.days is None else today - timedelta(days=self.days - 1)


RANGES = (
    ChartRange("30d", gettext_lazy("30 days"), 30),
    ChartRange("90d", gettext_lazy("90 days"), 90),
    ChartRange("1y", gettext_lazy("1 year"), 365),
    ChartRange("all", gettext_lazy("All"), None),
)
DEFAULT_RANGE = "1y"
RANGE_PARAM = "range"


def chart_range(key: str | None) -> ChartRange:
    """The range named in the query string; the default for a missing or unknown name."""
    by_key = {r.key: r for r in RANGES}
    return by_key.get(key or "", by_key[DEFAULT_RANGE])


# --- scales ----------------------------------------------------------------------------------------
def nice_step(raw: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least `raw` (> 0)."""
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * magnitude >= raw * (1 - 1e-9):
            return m * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


@dataclass(frozen=True)
class SizeScale:
    """The y axis: from `low` to `high` bytes, a gridline every `step` bytes, labelled in `unit`."""

    low: float
    high: float
    step: float
    unit: int  # index into UNITS

    def ticks(self) -> list[float]:
        count = round((self.high - self.low) / self.step)
        return [self.low + i * self.step for i in range(count + 1)]

    def label(self, value: float) -> str:
        if abs(value) < self.step / 1e6:
            return "0"
        in_unit = value / KIB**self.unit
        decimals = max(0, -math.floor(math.log10(self.step / KIB**self.unit) + 1e-9))
        return f"{in_unit:.{decimals}f} {UNITS[self.unit]}"


TARGET_Y_TICKS = 5


def size_scale(low: float, high: float) -> SizeScale:
    """Round bounds and a 1-2-5 step in the unit of the largest value (one unit smaller when
    the step would need more than one decimal there): '0.5 GB' steps, not '536870912'."""
    low, high = min(low, high), max(low, high)
    if low >= 0 and low <= high / 2:
        low = 0.0  # sizes read against zero unless the change is small beside the total
    if high - low <= 0:
        spread = abs(high) * 0.1 or KIB
        low, high = max(0.0, low - spread), high + spread
    unit = 0
    while unit < len(UNITS) - 1 and max(abs(low), abs(high)) >= KIB ** (unit + 1):
        unit += 1
    while True:
        scale = KIB**unit
        step = nice_step((high - low) / scale / TARGET_Y_TICKS)
        if step >= 0.1 or unit == 0:
            break
        unit -= 1
    if unit == 0:
        step = max(step, 1.0)
    start = math.floor(low / scale / step + 1e-9) * step
    end = math.ceil(high / scale / step - 1e-9) * step
    if end <= start:
        end = start + step
    return SizeScale(start * scale, end * scale, step * scale, unit)


@dataclass(frozen=True)
class DateStep:
    """A candidate spacing of the date labels."""

    kind: str  # day, week, month, year
    count: int

    def ticks(self, first: date, last: date) -> Iterator[date]:
        if self.kind == "day":
            day = first + timedelta(days=(-first.toordinal()) % self.count)
            while day <= last:
                yield day
                day += timedelta(days=self.count)
        elif self.kind == "week":
            monday = first + timedelta(days=(-first.weekday()) % 7)
            while monday <= last:
                if (monday.toordinal() // 7) % self.count == 0:
                    yield monday
                monday += timedelta(days=7)
        else:
            months = 12 if self.kind == "year" else 1
            every = months * self.count
            index = first.year * 12 + first.month - 1
            if first.day > 1:
                index += 1
            while True:
                index += (-index) % every
                day = date(index // 12, index % 12 + 1, 1)
                if day > last:
                    return
                yield day
                index += every

    def label(self, day: date) -> str:
        if self.kind in ("day", "week"):
            return date_format(day, "SHORT_DATE_FORMAT")
        return date_format(day, "YEAR_MONTH_FORMAT")


DATE_STEPS = [
    DateStep("day", 1),
    DateStep("day", 2),
    DateStep("week", 1),
    DateStep("week", 2),
    DateStep("month", 1),
    DateStep("month", 2),
    DateStep("month", 3),
    DateStep("month", 6),
    DateStep("year", 1),
    DateStep("year", 2),
    DateStep("year", 5),
    DateStep("year", 10),
]
CHAR_PX = 7.0  # width of a date label character at the chart's font size (digits are wide)
LEGEND_CHAR_PX = 6.2  # average width of a character of words
LABEL_GAP_PX = 18.0


def date_ticks(first: date, last: date, width: float) -> tuple[DateStep, list[date]]:
    """The finest step whose labels fit side by side in `width` pixels, with at least one tick."""
    fallback: tuple[DateStep, list[date]] | None = None
    for step in DATE_STEPS:
        ticks = list(step.ticks(first, last))
        if not ticks:
            continue
        longest = max(len(step.label(t)) for t in ticks)
        fallback = fallback or (step, ticks)
        if len(ticks) * (longest * CHAR_PX + LABEL_GAP_PX) <= width:
            return step, ticks
        fallback = (step, ticks)
    if fallback is None:  # a range shorter than one day step: label its first day
        return DATE_STEPS[0], [first]
    return fallback


def forecast_days(span_days: int) -> int:
    """How far the dashed forecast reaches: a third of the range shown, a week to 90 days."""
    return max(7, min(90, round(span_days / 3)))


# --- the chart -------------------------------------------------------------------------------------
MAX_HOVER_POINTS = 400  # beyond this, one tooltip target per run of points (the last one's value)


def size_chart(
    points: Sequence[tuple[date, int]],
    *,
    title: str,
    forecast: Forecast | None = None,
    limit: int | None = None,
    width: int = 1100,
    height: int = 340,
) -> SafeString:
    """A size-over-time chart: gridlines, axes, a tooltip per point, the forecast and the limit.

    `points` are (day, bytes) sorted by day; `forecast` continues the line from the last point
    at its growth per day (drawn when it has at least two samples); `limit` is drawn as a line,
    or noted above the chart when it is far above everything else.
    """
    if not points:
        return format_html(
            '<p class="capacity-chart-empty">{}</p>',
            _("No size history for %(name)s in this range yet.") % {"name": title},
        )
    left, right, top, bottom = 84, 24, 34, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    first, last = points[0][0], points[-1][0]
    span = max((last - first).days, 1)

    growth = forecast.growth_per_day if forecast and forecast.samples >= 2 else None
    ahead = forecast_days(span) if growth is not None else 0
    end_day = last + timedelta(days=ahead)
    last_size = points[-1][1]
    # the forecast: (days after the last point, bytes) at its start and its end
    projection: list[tuple[float, float]] = []
    full_on: date | None = None
    if growth is not None:
        days: float = ahead
        if limit is not None and growth > 0 and last_size < limit:
            to_full = (limit - last_size) / growth
            if to_full <= ahead:
                days, full_on = to_full, last + timedelta(days=math.ceil(to_full))
        projection = [(0.0, float(last_size)), (days, max(0.0, last_size + growth * days))]

    sizes = [float(s) for _d, s in points] + [s for _d, s in projection]
    low, high = min(sizes), max(sizes)
    limit_shown = limit is not None and limit <= max(high, 1) * 2
    if limit is not None and limit_shown:
        low = min(low, float(limit) * 0.96)  # a database already past its limit
        high = max(high, float(limit) * 1.04)  # room for the limit's label
    y_scale = size_scale(low, high)
    x_first, x_last = first, max(end_day, first + timedelta(days=1))
    x_span = (x_last - x_first).days

    def x(day: date, later: float = 0.0) -> float:
        return round(left + ((day - x_first).days + later) / x_span * plot_w, 1)

    def y(size: float) -> float:
        return round(top + (1 - (size - y_scale.low) / (y_scale.high - y_scale.low)) * plot_h, 1)

    parts: list[SafeString] = []
    # gridlines and y labels
    for value in y_scale.ticks():
        py = y(value)
        parts.append(
            format_html(
                '<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>'
                '<text class="y-label" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
                left,
                py,
                left + plot_w,
                py,
                COLOURS["grid"],
                left - 8,
                py,
                y_scale.label(value),
            )
        )
    step, ticks = date_ticks(x_first, x_last, plot_w)
    for day in ticks:
        px = x(day)
        anchor = "middle"
        text_width = len(step.label(day)) * CHAR_PX
        if px - text_width / 2 < 0:
            anchor = "start"
        elif px + text_width / 2 > width:
            anchor = "end"
        parts.append(
            format_html(
                '<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>'
                '<text class="x-label" x="{}" y="{}" text-anchor="{}">{}</text>',
                px,
                top,
                px,
                top + plot_h,
                COLOURS["grid"],
                px,
                top + plot_h + 18,
                anchor,
                step.label(day),
            )
        )
    parts.append(
        format_html(
            '<rect class="frame" x="{}" y="{}" width="{}" height="{}" fill="none" stroke="{}"/>',
            left,
            top,
            plot_w,
            plot_h,
            COLOURS["axis"],
        )
    )

    # the limit
    if limit is not None and limit_shown:
        ly = y(limit)
        parts.append(
            format_html(
                '<g class="limit"><title>{}</title>'
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2"/>'
                '<text x="{}" y="{}" text-anchor="end" fill="{}" {}>{}</text></g>',
                _("Limit: %(size)s") % {"size": human_bytes(limit)},
                left,
                ly,
                left + plot_w,
                ly,
                COLOURS["limit"],
                left + plot_w - 4,
                round(ly - 6, 1),
                COLOURS["limit"],
                HALO,
                _("limit %(size)s") % {"size": human_bytes(limit)},
            )
        )

    # the measured line and a tooltip target per point (or per run of points on long ranges)
    line = " ".join(f"{x(d):.1f},{y(s):.1f}" for d, s in points)
    parts.append(
        format_html(
            '<polyline class="size-line" points="{}" fill="none" stroke="{}" stroke-width="2" '
            'stroke-linejoin="round"/>',
            line,
            COLOURS["line"],
        )
    )
    run = max(1, math.ceil(len(points) / MAX_HOVER_POINTS))
    hover = points[run - 1 :: run] if run > 1 else points
    if run > 1 and hover[-1] != points[-1]:
        hover = [*hover, points[-1]]
    dot = 3 if len(hover) <= 120 else 2
    parts.append(
        format_html(
            '<g class="points" fill="{}">{}</g>',
            COLOURS["line"],
            format_html_join(
                "",
                '<g class="point"><title>{}</title><circle class="hit" cx="{}" cy="{}" r="7" '
                'fill="transparent"/><circle class="dot" cx="{}" cy="{}" r="{}"/></g>',
                (
                    (
                        _("%(date)s: %(size)s")
                        % {"date": date_format(d, "DATE_FORMAT"), "size": human_bytes(s)},
                        x(d),
                        y(s),
                        x(d),
                        y(s),
                        dot,
                    )
                    for d, s in hover
                ),
            ),
        )
    )

    # the forecast
    if projection:
        (_start, s0), (days, s1) = projection
        colour = COLOURS["limit"] if full_on else COLOURS["forecast"]
        if full_on:
            end_title = _("Full around %(date)s (limit %(size)s)") % {
                "date": date_format(full_on, "DATE_FORMAT"),
                "size": human_bytes(limit),
            }
        else:
            end_title = _("Forecast for %(date)s: %(size)s") % {
                "date": date_format(last + timedelta(days=round(days)), "DATE_FORMAT"),
                "size": human_bytes(s1),
            }
        parts.append(
            format_html(
                '<g class="forecast"><title>{}</title>'
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2" '
                'stroke-dasharray="6 4"/>'
                '<circle cx="{}" cy="{}" r="4" fill="{}"/></g>',
                end_title,
                x(last),
                y(s0),
                x(last, days),
                y(s1),
                colour,
                x(last, days),
                y(s1),
                colour,
            )
        )
        if full_on:  # said on the chart too: the one date a DBA looks for
            parts.append(
                format_html(
                    '<text class="full-label" x="{}" y="{}" text-anchor="end" fill="{}" {}>{}</text>',
                    left + plot_w - 4,
                    round(y(float(limit)) + 17, 1),  # type: ignore[arg-type]
                    COLOURS["limit"],
                    HALO,
                    _("full around %(date)s") % {"date": date_format(full_on, "DATE_FORMAT")},
                )
            )

    parts.append(_legend(width - right, 18, growth, limit, limit_shown))
    return format_html(
        '<svg class="capacity-chart" role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg" '
        'width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-size="12" font-family="sans-serif" '
        'fill="{text}"><title>{title}</title>{body}</svg>',
        title=title,
        w=width,
        h=height,
        text=COLOURS["text"],
        body=mark_safe("".join(parts)),  # each part is built by format_html from numbers and escaped text
    )


def _legend(
    right: float, baseline: float, growth: float | None, limit: int | None, shown: bool
) -> SafeString:
    """Keys for the lines, right-aligned above the plot; a limit far above the data is named here."""
    items: list[tuple[str, str, str]] = [(_("size"), COLOURS["line"], "")]
    if growth is not None:
        per_day = ("+" if growth > 0 else "") + human_bytes(growth)
        items.append((_("forecast (%(growth)s/day)") % {"growth": per_day}, COLOURS["forecast"], "6 4"))
    if limit is not None:
        text = _("limit") if shown else _("limit %(size)s (above the chart)") % {"size": human_bytes(limit)}
        items.append((text, COLOURS["limit"], ""))
    out: list[SafeString] = []
    x = right
    for text, colour, dash in reversed(items):
        width = len(text) * LEGEND_CHAR_PX
        out.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2"{}/>'
                '<text x="{}" y="{}" dominant-baseline="middle">{}</text>',
                round(x - width - 30, 1),
                baseline,
                round(x - width - 8, 1),
                baseline,
                colour,
                format_html(' stroke-dasharray="{}"', dash) if dash else "",
                round(x - width - 4, 1),
                baseline,
                text,
            )
        )
        x -= width + 44
    return format_html('<g class="legend">{}</g>', mark_safe("".join(out)))
