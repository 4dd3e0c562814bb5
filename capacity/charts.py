"""Size-history charts rendered on the server as inline SVG (no CDN, no JavaScript)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

UNITS = ["B", "KB", "MB", "GB", "TB", "PB"]


def human_bytes(value: float | None) -> str:
    """1536 -> '1.5 KB' (binary multiples, as DBAs read them)."""
    if value is None:
        return "-"
    size, unit = float(value), 0
    while abs(size) >= 1024 and unit < len(UNITS) - 1:
        size, unit = size / 1024, unit + 1
    return f"{size:.0f} {UNITS[unit]}" if unit == 0 else f"{size:.1f} {UNITS[unit]}"


def line_chart(
    points: Sequence[tuple[date, int]], *, title: str, width: int = 760, height: int = 240
) -> SafeString:
    """A line of size over time with min/max and first/last labels; an empty note without data."""
    if not points:
        return format_html('<p class="capacity-chart-empty">No size history for {} yet.</p>', title)
    left, right, top, bottom = 80, 10, 12, 28
    first, last = points[0][0], points[-1][0]
    low, high = min(p[1] for p in points), max(p[1] for p in points)
    span_x = max((last - first).days, 1)
    span_y = max(high - low, 1)

    def xy(day: date, size: int) -> str:
        x = left + (day - first).days / span_x * (width - left - right)
        y = top + (1 - (size - low) / span_y) * (height - top - bottom)
        return f"{x:.1f},{y:.1f}"

    line = " ".join(xy(d, s) for d, s in points)
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="2"><title>{}: {}</title></circle>',
        ((*xy(d, s).split(","), d.isoformat(), human_bytes(s)) for d, s in points[-120:]),
    )
    return format_html(
        '<svg class="capacity-chart" role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg" '
        'width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-size="11" font-family="sans-serif">'
        "<title>{title}</title>"
        '<rect x="{l}" y="{t}" width="{pw}" height="{ph}" fill="none" stroke="#ccc"/>'
        '<text x="{lx}" y="{ty}" text-anchor="end">{high}</text>'
        '<text x="{lx}" y="{by}" text-anchor="end">{low}</text>'
        '<text x="{l}" y="{dy}">{first}</text>'
        '<text x="{rx}" y="{dy}" text-anchor="end">{last}</text>'
        '<polyline points="{line}" fill="none" stroke="#417690" stroke-width="2"/>'
        '<g fill="#417690">{dots}</g></svg>',
        title=title,
        w=width,
        h=height,
        l=left,
        t=top,
        pw=width - left - right,
        ph=height - top - bottom,
        lx=left - 6,
        ty=top + 10,
        by=height - bottom,
        dy=height - 8,
        rx=width - right,
        high=human_bytes(high),
        low=human_bytes(low),
        first=first.isoformat(),
        last=last.isoformat(),
        line=mark_safe(line),  # numbers only
        dots=dots,
    )
