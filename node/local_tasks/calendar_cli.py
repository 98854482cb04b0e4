"""`calendar` commands: working-time arithmetic with the node's working calendar.

Settings come from `load_settings()` ($THEODOI_CONFIG and THEODOI_* variables). Invalid
input exits with status 2 and invalid settings or calendar files with status 1. Either
way, the only output is one error message on stderr.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import NoReturn

import click

from node.core.settings import SettingsError, load_settings
from node.local_tasks.calendar import CalendarEntry, CalendarError, WorkingCalendar, load_calendar

EXIT_INVALID_CONFIG = 1
EXIT_INVALID_INPUT = 2
# `between` prints hours rounded to this step (0.36 s).
HOURS_OUTPUT_STEP = Decimal("0.0001")
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Lets "-4" reach the command as an argument, so that it is rejected with a clear
# message instead of click's "No such option".
ACCEPT_NEGATIVE_NUMBERS = {"ignore_unknown_options": True}


def _fail(message: str, exit_code: int) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    raise click.exceptions.Exit(exit_code)


def _load_calendar() -> WorkingCalendar:
    try:
        return load_calendar(load_settings())
    except (SettingsError, CalendarError) as exc:
        _fail(str(exc), EXIT_INVALID_CONFIG)


def _parse_instant(text: str, name: str, calendar: WorkingCalendar) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        _fail(
            f"Invalid {name} {text!r}; write an ISO 8601 date and time "
            "such as 2026-03-02T10:30 or 2026-03-02T10:30+07:00",
            EXIT_INVALID_INPUT,
        )
    if value.tzinfo is None:
        value = value.replace(tzinfo=calendar.timezone)
    return value


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"Invalid date {text!r}; write it as YYYY-MM-DD, e.g. 2026-03-02", EXIT_INVALID_INPUT)


def _parse_whole_number(text: str, name: str, example: str) -> int:
    try:
        return int(text)
    except ValueError:
        _fail(f"Invalid {name} {text!r}; give a whole number, e.g. {example}", EXIT_INVALID_INPUT)


def _format_hours(hours: Decimal) -> str:
    """Format hours as a plain decimal number without trailing zeros ("4.5", "8")."""
    text = format(hours.quantize(HOURS_OUTPUT_STEP, rounding=ROUND_HALF_EVEN), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _format_entry(entry: CalendarEntry) -> str:
    weekday = WEEKDAY_NAMES[entry.day.weekday()]
    return f"  {entry.day.isoformat()} {weekday}  {entry.reason}  [{entry.source}]"


@click.group(name="calendar")
def calendar() -> None:
    """Compute working time with the node's working calendar.

    Working days exclude weekends, Vietnamese public holidays and the days off listed in
    the yearly calendar files, and include their make-up working days.
    """


@calendar.command(name="add-hours", context_settings=ACCEPT_NEGATIVE_NUMBERS)
@click.argument("start")
@click.argument("hours")
def add_hours(start: str, hours: str) -> None:
    """Print the instant HOURS working hours after START.

    START is an ISO 8601 date and time, e.g. 2026-03-02T10:30+07:00 or 2026-03-02T03:30Z.
    Without an offset it is read as local time in the node's time zone (Asia/Ho_Chi_Minh
    unless the settings change it). HOURS is a number of working hours, zero or more,
    e.g. 4 or 2.5. The result is printed in ISO 8601 with the local offset, e.g.
    2026-03-02T15:30:00+07:00.
    """
    working_calendar = _load_calendar()
    start_at = _parse_instant(start, "START", working_calendar)
    try:
        amount = Decimal(hours.strip())
    except InvalidOperation:
        _fail(
            f"Invalid number of hours {hours!r}; give a decimal number, e.g. 4 or 2.5",
            EXIT_INVALID_INPUT,
        )
    try:
        result = working_calendar.add_working_hours(start_at, amount)
    except CalendarError as exc:
        _fail(str(exc), EXIT_INVALID_INPUT)
    click.echo(result.isoformat())


@calendar.command(name="add-days", context_settings=ACCEPT_NEGATIVE_NUMBERS)
@click.argument("day", metavar="DATE")
@click.argument("count", metavar="N")
def add_days(day: str, count: str) -> None:
    """Print the date (YYYY-MM-DD) of the N-th working day after DATE.

    DATE is written YYYY-MM-DD and is not counted itself. N is a number of working days,
    zero or more.
    """
    working_calendar = _load_calendar()
    start_day = _parse_date(day)
    days = _parse_whole_number(count, "number of working days", "3")
    try:
        result = working_calendar.add_working_days(start_day, days)
    except CalendarError as exc:
        _fail(str(exc), EXIT_INVALID_INPUT)
    click.echo(result.isoformat())


@calendar.command()
@click.argument("start")
@click.argument("end")
def between(start: str, end: str) -> None:
    """Print the working hours from START to END.

    START and END are ISO 8601 dates and times, e.g. 2026-03-02T10:30+07:00. Without an
    offset they are read as local time in the node's time zone (Asia/Ho_Chi_Minh unless
    the settings change it). The result is a number of hours, rounded to 4 decimal
    places, e.g. 4.5 or 8.
    """
    working_calendar = _load_calendar()
    start_at = _parse_instant(start, "START", working_calendar)
    end_at = _parse_instant(end, "END", working_calendar)
    try:
        hours = working_calendar.working_hours_between(start_at, end_at)
    except CalendarError as exc:
        _fail(str(exc), EXIT_INVALID_INPUT)
    click.echo(_format_hours(hours))


@calendar.command()
@click.argument("year")
def show(year: str) -> None:
    """List the days off and make-up working days of YEAR with reasons and sources.

    Plain weekends are not listed.
    """
    working_calendar = _load_calendar()
    year_number = _parse_whole_number(year, "year", "2026")
    try:
        days_off = working_calendar.days_off(year_number)
        makeup_days = working_calendar.makeup_working_days(year_number)
        cancelled = working_calendar.not_days_off(year_number)
    except CalendarError as exc:
        _fail(str(exc), EXIT_INVALID_INPUT)

    click.echo(f"Working calendar {year_number} ({working_calendar.timezone.key})")
    click.echo("Days off:")
    for entry in days_off:
        click.echo(_format_entry(entry))
    if not days_off:
        click.echo("  (none)")
    click.echo("Make-up working days:")
    for entry in makeup_days:
        click.echo(_format_entry(entry))
    if not makeup_days:
        click.echo("  (none)")
    if cancelled:
        click.echo("Package holidays that are working days here:")
        for entry in cancelled:
            click.echo(_format_entry(entry))
