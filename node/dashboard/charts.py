"""Geometry of the dashboard's charts, drawn as inline SVG by the templates (no script, no CDN)."""

from __future__ import annotations

from dataclasses import dataclass

from node.local_tasks.completion import COMPLETED_ON_TIME

CHART_WIDTH = 640
CHART_HEIGHT = 220
PLOT_LEFT = 44
PLOT_BOTTOM = 30
PLOT_TOP = 12

# On-time completion rate bands of the map, lowest first: (lower bound in %, CSS class).
RATE_BANDS = ((0, "rate-low"), (50, "rate-mid"), (70, "rate-fair"), (85, "rate-high"))


@dataclass(frozen=True)
class Column:
    """One month of the completed-tasks chart: an on-time bar with the late bar on top."""

    label: str
    x: float
    width: float
    on_time: int
    late: int
    on_time_y: float
    on_time_height: float
    late_y: float
    late_height: float


def _plot_height() -> float:
    return CHART_HEIGHT - PLOT_BOTTOM - PLOT_TOP


def nice_maximum(value: int) -> int:
    """Return a round axis maximum of at least `value` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for factor in (1, 2, 5, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def month_columns(months: list[tuple[str, int, int]]) -> tuple[list[Column], int]:
    """Lay out the stacked columns of (YYYY-MM, on time, late); return them and the axis maximum."""
    maximum = nice_maximum(max((on_time + late for _, on_time, late in months), default=0))
    slot = (CHART_WIDTH - PLOT_LEFT) / max(1, len(months))
    scale = _plot_height() / maximum
    base = CHART_HEIGHT - PLOT_BOTTOM
    columns = []
    for index, (month, on_time, late) in enumerate(months):
        on_time_height = on_time * scale
        late_height = late * scale
        year, number = month.split("-")
        columns.append(Column(
            label=f"{number}/{year[2:]}", x=PLOT_LEFT + index * slot + slot * 0.15,
            width=slot * 0.7, on_time=on_time, late=late,
            on_time_y=base - on_time_height, on_time_height=on_time_height,
            late_y=base - on_time_height - late_height, late_height=late_height))
    return columns, maximum


def line_points(values: list[tuple[str, int]]) -> tuple[str, int, list[tuple[float, float, str, int]]]:
    """Return the SVG polyline points of (day, value), the axis maximum and the labelled points.

    `day` is an ISO date (YYYY-MM-DD); the labelled points carry it as dd/mm/yyyy,
    the form every other date on screen takes.
    """
    maximum = nice_maximum(max((value for _, value in values), default=0))
    step = (CHART_WIDTH - PLOT_LEFT - 10) / max(1, len(values) - 1)
    base = CHART_HEIGHT - PLOT_BOTTOM
    points = []
    for index, (day, value) in enumerate(values):
        x = PLOT_LEFT + index * step
        y = base - value * _plot_height() / maximum
        year, month, day_of_month = day.split("-")
        points.append((x, y, f"{day_of_month}/{month}/{year}", value))
    return " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points), maximum, points


def rate_band(counts: dict[str, int]) -> str:
    """Return the CSS class of a province by its on-time completion rate; rate-none without tasks."""
    total = sum(counts.values())
    if not total:
        return "rate-none"
    rate = 100 * counts[COMPLETED_ON_TIME] / total
    band = RATE_BANDS[0][1]
    for lower, name in RATE_BANDS:
        if rate >= lower:
            band = name
    return band
