"""The SVG size chart: round size steps, date steps as the range needs, tooltips, forecast, limit."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.utils.formats import date_format

from capacity.charts import chart_range, date_ticks, nice_step, size_chart, size_scale
from capacity.services.forecast import forecast

GB, MB = 1024**3, 1024**2
DAY0 = date(2024, 3, 1)


def labels(low: float, high: float) -> list[str]:
    scale = size_scale(low, high)
    return [scale.label(t) for t in scale.ticks()]


def growing(days: int, start: int, per_day: int) -> list[tuple[date, int]]:
    return [(DAY0 + timedelta(days=d), start + d * per_day) for d in range(days)]


def test_nice_steps_are_one_two_or_five_times_a_power_of_ten() -> None:
    assert [nice_step(x) for x in (0.7, 1.0, 1.3, 3.0, 7.5, 12, 420)] == [1, 1, 2, 5, 10, 20, 500]


def test_size_labels_step_in_the_unit_a_dba_would_say() -> None:
    assert labels(0, 3.5 * GB) == ["0", "1 GB", "2 GB", "3 GB", "4 GB"]
    assert labels(0, 900 * MB) == ["0", "200 MB", "400 MB", "600 MB", "800 MB", "1000 MB"]
    assert labels(0, 1.6 * GB) == ["0", "0.5 GB", "1.0 GB", "1.5 GB", "2.0 GB"]
    # a small change on a large size: not against zero, and in MB rather than "1.002 GB"
    assert labels(1000 * MB, 1010 * MB)[:2] == ["1000 MB", "1002 MB"]
    assert labels(GB, 1.01 * GB) == ["1020 MB", "1025 MB", "1030 MB", "1035 MB"]
    assert labels(4 * GB, 7.8 * GB) == ["4 GB", "5 GB", "6 GB", "7 GB", "8 GB"]
    assert labels(0, 0) == ["0", "0.2 KB", "0.4 KB", "0.6 KB", "0.8 KB", "1.0 KB"]  # an empty database


def test_date_labels_step_by_day_week_month_or_year_as_the_range_needs() -> None:
    def step(days: int) -> tuple[str, int]:
        chosen, ticks = date_ticks(DAY0, DAY0 + timedelta(days=days), 1000)
        assert len(ticks) >= 2
        return chosen.kind, chosen.count

    assert step(8) == ("day", 1)
    assert step(30) == ("week", 1)
    assert step(120) in {("week", 2), ("month", 1)}
    assert step(365) in {("month", 1), ("month", 2)}
    assert step(3 * 365) in {("month", 3), ("month", 6)}
    assert step(12 * 365)[0] == "year"


def test_week_and_month_ticks_fall_on_mondays_and_first_days() -> None:
    _, weeks = date_ticks(DAY0, DAY0 + timedelta(days=40), 700)
    assert all(d.weekday() == 0 for d in weeks)
    step, months = date_ticks(DAY0 + timedelta(days=5), DAY0 + timedelta(days=400), 1000)
    assert step.kind == "month"  # one or two months, as long as the format's month names are
    first = next(date(2024, m, 1) for m in range(4, 13) if (m - 1) % step.count == 0)
    assert months[0] == first and all(d.day == 1 and (d.month - 1) % step.count == 0 for d in months)
    assert len(months) == len({(d.year, d.month) for d in months}) >= 6


def test_the_chart_has_gridlines_labels_and_a_tooltip_per_point() -> None:
    points = growing(60, 4 * GB, 20 * MB)
    svg = str(size_chart(points, title="pg / orders"))
    y_labels = re.findall(r'class="y-label"[^>]*>([^<]*)<', svg)
    x_labels = re.findall(r'class="x-label"[^>]*>([^<]*)<', svg)
    assert y_labels == ["4.0 GB", "4.5 GB", "5.0 GB", "5.5 GB"]
    assert len(x_labels) >= 4 and svg.count('class="grid"') == len(y_labels) + len(x_labels)
    titles = re.findall(r'<g class="point"><title>([^<]*)</title>', svg)
    assert len(titles) == 60
    assert titles[-1] == f"{date_format(points[-1][0], 'DATE_FORMAT')}: 5.2 GB"
    assert "forecast" not in svg and "limit" not in svg  # neither was given


def test_the_forecast_is_dashed_from_the_last_point_and_ends_at_the_limit_it_reaches() -> None:
    points = growing(60, 4 * GB, 20 * MB)  # 5276 MB on the last day, +20 MB a day
    limit = int(5.5 * GB)
    svg = str(size_chart(points, title="pg / orders", forecast=forecast(points, limit=limit), limit=limit))
    assert re.search(r'<g class="forecast">.*stroke-dasharray="6 4"', svg)
    full = points[-1][0] + timedelta(days=18)  # (5632 MB - 5276 MB) / 20 MB = 17.8 days
    assert f"<title>Full around {date_format(full, 'DATE_FORMAT')} (limit 5.5 GB)</title>" in svg
    assert f"full around {date_format(full, 'DATE_FORMAT')}</text>" in svg  # written on the chart too
    assert '<g class="limit"><title>Limit: 5.5 GB</title>' in svg
    assert "forecast (+20.0 MB/day)" in svg  # the legend


def test_a_forecast_short_of_the_limit_says_where_it_ends() -> None:
    points = growing(30, GB, MB)
    svg = str(size_chart(points, title="x", forecast=forecast(points, limit=2 * GB), limit=2 * GB))
    end = points[-1][0] + timedelta(days=10)  # a third of the 29 days shown
    assert f"<title>Forecast for {date_format(end, 'DATE_FORMAT')}: 1.0 GB</title>" in svg


def test_a_limit_far_above_the_data_is_named_instead_of_squashing_the_line() -> None:
    points = growing(30, GB, MB)
    svg = str(size_chart(points, title="x", limit=1024 * GB))
    assert '<g class="limit">' not in svg
    assert "limit 1.0 TB (above the chart)" in svg
    y_labels = re.findall(r'class="y-label"[^>]*>([^<]*)<', svg)
    assert y_labels[-1] == "1060 MB"  # the scale follows the data, not the limit


def test_a_limit_already_passed_is_drawn_inside_the_plot() -> None:
    points = growing(30, 8 * GB, 10 * MB)
    svg = str(size_chart(points, title="x", limit=5 * GB))
    y_labels = re.findall(r'class="y-label"[^>]*>([^<]*)<', svg)
    assert y_labels[0] == "4 GB" and y_labels[-1] == "9 GB"
    limit_y = float(re.search(r'<g class="limit"><title>[^<]*</title><line x1="\d+" y1="([\d.]+)"', svg)[1])
    frame = re.search(r'<rect class="frame" x="\d+" y="(\d+)" width="\d+" height="(\d+)"', svg)
    assert int(frame[1]) < limit_y < int(frame[1]) + int(frame[2])


def test_names_from_servers_are_escaped_and_an_empty_history_says_so() -> None:
    svg = str(size_chart(growing(3, GB, MB), title="<script>alert(1)</script>"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    empty = str(size_chart([], title="db<1>"))
    assert "No size history for db&lt;1&gt; in this range yet." in empty


def test_long_ranges_keep_one_tooltip_per_run_of_points() -> None:
    points = growing(1200, GB, MB)
    svg = str(size_chart(points, title="x"))
    titles = re.findall(r'<g class="point"><title>([^<]*)</title>', svg)
    assert 300 <= len(titles) <= 401
    assert titles[-1].startswith(date_format(points[-1][0], "DATE_FORMAT"))  # the latest is always there


@pytest.mark.parametrize(
    ("key", "days"), [("30d", 30), ("90d", 90), ("1y", 365), ("all", None), (None, 365), ("bogus", 365)]
)
def test_ranges_by_name_with_a_default(key: str | None, days: int | None) -> None:
    assert chart_range(key).days == days
