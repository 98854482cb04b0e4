"""Due dates of the periodic reports, from Điều 15.1 and Điều 16.2 of the regulation.

The central office sends its summary before the 25th of each month (the
last month of a quarter included), on 25 June and on 20 December. This
module gives each month one summary, for the longest period ending that
month: the year in December, the half-year in June, the quarter in March
and September, the month otherwise. "Before the 25th" makes the 24th the
last day.

Agencies report monthly, quarterly, half-yearly and yearly to the central
office (Điều 15.1), but the regulation names no day for them. Their report
for a period is due a configured number of working days before the
office's summary of that period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from node.local_tasks.calendar import WorkingCalendar

MONTHLY_SUMMARY_LAST_DAY = 24
HALF_YEAR_SUMMARY_DAY = date(2000, 6, 25)
YEAR_SUMMARY_DAY = date(2000, 12, 20)
QUARTER_END_MONTHS = {3: 1, 9: 3}


@dataclass(frozen=True)
class ReportDue:
    """One periodic report and the last day it may be sent."""

    period_kind: str  # month, quarter, half_year or year
    period: str  # "2026-03", "2026-Q1", "2026-H1" or "2026"
    due_on: date


def summary_due_dates(year: int) -> list[ReportDue]:
    """List the central office's summaries of `year` with their due days (Điều 16.2)."""
    dues = []
    for month in range(1, 13):
        if month == 12:
            dues.append(ReportDue("year", f"{year}", YEAR_SUMMARY_DAY.replace(year=year)))
        elif month == 6:
            dues.append(ReportDue("half_year", f"{year}-H1",
                                  HALF_YEAR_SUMMARY_DAY.replace(year=year)))
        elif month in QUARTER_END_MONTHS:
            dues.append(ReportDue("quarter", f"{year}-Q{QUARTER_END_MONTHS[month]}",
                                  date(year, month, MONTHLY_SUMMARY_LAST_DAY)))
        else:
            dues.append(ReportDue("month", f"{year}-{month:02d}",
                                  date(year, month, MONTHLY_SUMMARY_LAST_DAY)))
    return dues


def working_days_before(calendar: WorkingCalendar, day: date, count: int) -> date:
    """Return the working day `count` working days before `day` (`day` itself when 0)."""
    result = day
    counted = 0
    while counted < count:
        result = date.fromordinal(result.toordinal() - 1)
        if calendar.is_working_day(result):
            counted += 1
    return result


def agency_due_dates(calendar: WorkingCalendar, year: int, lead_working_days: int) -> list[ReportDue]:
    """List the agencies' reports of `year`, each due `lead_working_days` before the summary."""
    return [ReportDue(due.period_kind, due.period,
                      working_days_before(calendar, due.due_on, lead_working_days))
            for due in summary_due_dates(year)]
