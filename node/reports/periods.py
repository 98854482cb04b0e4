"""Reporting periods and the dates reports fall due on (Điều 15.1, 16.2).

An agency reports for each calendar month, quarter, half-year and year; its
report is due the day after the period ends and describes the period as of
the end of its last day.

The central office's summary is due before the 25th of each month (and of
the last month of each quarter), on 25 June and on 20 December (Điều 16.2).
The regulation names the due dates only, so this node takes the figures as
of the end of the day before: the 24th of each month for the monthly and
quarterly summaries, 24 June for the half-yearly one and 19 December for
the yearly one. A monthly or quarterly summary starts the day after the
previous one's cut-off; the half-yearly and yearly summaries start on
20 December of the year before, the day after the last yearly cut-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from node.local_tasks.service import end_of_day

AGENCY_KINDS = ("monthly", "quarterly", "half_yearly", "yearly")
SUMMARY_KINDS = ("monthly", "quarterly", "half_yearly", "yearly")
SUMMARY_CUTOFF_DAY = 24
HALF_YEAR_CUTOFF = (6, 24)
YEAR_CUTOFF = (12, 19)


@dataclass(frozen=True)
class Period:
    """A reporting period: its kind and first and last day (inclusive)."""

    kind: str
    start: date
    end: date

    @property
    def end_instant(self) -> datetime:
        return end_of_day(self.end)

    def as_of(self, now: datetime) -> datetime:
        """Return the instant the figures describe: the period's end, or `now` before it."""
        return min(self.end_instant, now)


def _month_end(year: int, month: int) -> date:
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def calendar_period(kind: str, day: date) -> Period:
    """Return the calendar month, quarter, half-year or year that contains `day`."""
    if kind == "monthly":
        return Period(kind, day.replace(day=1), _month_end(day.year, day.month))
    if kind == "quarterly":
        first = (day.month - 1) // 3 * 3 + 1
        return Period(kind, date(day.year, first, 1), _month_end(day.year, first + 2))
    if kind == "half_yearly":
        first = 1 if day.month <= 6 else 7
        return Period(kind, date(day.year, first, 1), _month_end(day.year, first + 5))
    if kind == "yearly":
        return Period(kind, date(day.year, 1, 1), date(day.year, 12, 31))
    raise ValueError(f"unknown period kind {kind!r}; use one of {AGENCY_KINDS}")


def last_ended_calendar_period(kind: str, today: date) -> Period:
    """Return the latest calendar period of `kind` that ended before `today`."""
    current = calendar_period(kind, today)
    return calendar_period(kind, current.start - timedelta(days=1))


def summary_period(kind: str, end: date) -> Period:
    """Return the summary period of `kind` cut off on `end` (see the module docstring)."""
    if kind == "monthly":
        previous = end.replace(day=1) - timedelta(days=1)
        return Period(kind, previous.replace(day=SUMMARY_CUTOFF_DAY + 1), end)
    if kind == "quarterly":
        month = end.month - 3 if end.month > 3 else end.month + 9
        year = end.year if end.month > 3 else end.year - 1
        return Period(kind, date(year, month, SUMMARY_CUTOFF_DAY + 1), end)
    if kind in ("half_yearly", "yearly"):
        return Period(kind, date(end.year - 1, *YEAR_CUTOFF) + timedelta(days=1), end)
    raise ValueError(f"unknown summary kind {kind!r}; use one of {SUMMARY_KINDS}")


def _summary_cutoffs(kind: str, year: int) -> list[date]:
    if kind == "monthly":
        return [date(year, month, SUMMARY_CUTOFF_DAY) for month in range(1, 13)]
    if kind == "quarterly":
        return [date(year, month, SUMMARY_CUTOFF_DAY) for month in (3, 6, 9, 12)]
    if kind == "half_yearly":
        return [date(year, *HALF_YEAR_CUTOFF)]
    if kind == "yearly":
        return [date(year, *YEAR_CUTOFF)]
    raise ValueError(f"unknown summary kind {kind!r}; use one of {SUMMARY_KINDS}")


def summary_due_on(period: Period) -> date:
    """Return the day a summary of `period` is due: the day after its cut-off."""
    return period.end + timedelta(days=1)


def last_due_summary_period(kind: str, today: date) -> Period:
    """Return the latest summary period of `kind` whose due day is `today` or earlier."""
    cutoffs = [*_summary_cutoffs(kind, today.year - 1), *_summary_cutoffs(kind, today.year)]
    return summary_period(kind, [day for day in cutoffs if day + timedelta(days=1) <= today][-1])
