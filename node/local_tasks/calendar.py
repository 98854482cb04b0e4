"""Working calendar: which days are working days, and working-time arithmetic on them.

National public holidays come from the pinned `holidays` package (country VN). A TOML file
per year in the calendar folder adds the days off and make-up working days that the
Government announces each year (see config/calendar/README.md for the format). Only years
with a file are known. Any computation that touches a date in another year raises
CalendarError instead of guessing.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from node.core.settings import Settings, WorkingHours

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
HOLIDAY_COUNTRY = "VN"
# Without an explicit language, `holidays` picks the names' language from the process
# locale. Vietnamese matches the reasons written in the yearly files.
HOLIDAY_LANGUAGE = "vi"
HOLIDAY_SOURCE = f"holidays {holidays.__version__} ({HOLIDAY_COUNTRY})"
# Reason given for a weekday outside WorkingHours.weekdays ("weekly day off", Labour Code
# 2019 Art. 111), in Vietnamese like the other reasons.
WEEKLY_DAY_OFF_REASON = "Ngày nghỉ hằng tuần"

LIST_KEYS = ("days_off", "makeup_working_days", "not_days_off")
ENTRY_KEYS = frozenset({"date", "reason", "source"})
_YEAR_FILE_NAME = re.compile(r"^\d{4}\.toml$")
_MICROSECONDS_PER_HOUR = 3_600_000_000
# Decimal precision used for hours, independent of the caller's decimal context.
_HOURS_PRECISION = 28


class CalendarError(ValueError):
    """A calendar input or request is invalid. The message names the value and the fix."""


@dataclass(frozen=True)
class CalendarEntry:
    """One listed day: its date, the reason (in Vietnamese) and the source of the rule."""

    day: date
    reason: str
    source: str


@dataclass(frozen=True)
class YearFile:
    """The parsed contents of one yearly calendar file, with its raw bytes."""

    year: int
    path: Path
    content: bytes
    days_off: tuple[CalendarEntry, ...]
    makeup_working_days: tuple[CalendarEntry, ...]
    not_days_off: tuple[CalendarEntry, ...]


# ---------------------------------------------------------------------------
# Reading the yearly files


def _parse_entry(path: Path, year: int, list_key: str, index: int, raw: object) -> CalendarEntry:
    where = f"{path.name}: {list_key}[{index}]"
    if not isinstance(raw, dict):
        raise CalendarError(
            f"{where} is invalid: write each entry as a [[{list_key}]] table "
            "with date, reason and source"
        )
    unknown = sorted(set(raw) - ENTRY_KEYS)
    if unknown:
        raise CalendarError(
            f"{where} has unknown keys {', '.join(unknown)}; use only date, reason and source"
        )
    missing = sorted(ENTRY_KEYS - set(raw))
    if missing:
        raise CalendarError(f"{where} is missing {', '.join(missing)}; add them")

    day = raw["date"]
    # tomllib returns datetime (a subclass of date) for date-times, so exclude it first.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise CalendarError(
            f"{where}: invalid date {day!r}; write a TOML date without quotes, "
            f"e.g. date = {year}-01-02"
        )
    if day.year != year:
        raise CalendarError(
            f"{where}: date {day.isoformat()} is not in {year}; "
            f"move it to {day.year}.toml"
        )
    for text_key in ("reason", "source"):
        value = raw[text_key]
        if not isinstance(value, str) or not value.strip():
            raise CalendarError(f"{where}: {text_key} must be a non-empty string")
    return CalendarEntry(day=day, reason=raw["reason"].strip(), source=raw["source"].strip())


def read_year_file(path: Path) -> YearFile:
    """Parse and validate the calendar file `path`, named after its year (e.g. 2026.toml)."""
    year = int(path.stem)
    content = path.read_bytes()
    try:
        data = tomllib.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CalendarError(f"Calendar file {path} is not valid UTF-8 TOML: {exc}") from None

    unknown = sorted(set(data) - set(LIST_KEYS))
    if unknown:
        raise CalendarError(
            f"Calendar file {path} has unknown keys {', '.join(unknown)}; "
            f"use only {', '.join(LIST_KEYS)}"
        )

    lists: dict[str, tuple[CalendarEntry, ...]] = {}
    for list_key in LIST_KEYS:
        raw_list = data.get(list_key, [])
        if not isinstance(raw_list, list):
            raise CalendarError(
                f"Calendar file {path}: {list_key} must be an array of tables, "
                f"written as [[{list_key}]] sections"
            )
        lists[list_key] = tuple(
            _parse_entry(path, year, list_key, index, raw)
            for index, raw in enumerate(raw_list)
        )

    # A date listed twice, in one list or in two, is a contradiction or a copy error.
    seen: dict[date, str] = {}
    for list_key in LIST_KEYS:
        for entry in lists[list_key]:
            if entry.day in seen:
                raise CalendarError(
                    f"Calendar file {path}: {entry.day.isoformat()} is listed in both "
                    f"{seen[entry.day]} and {list_key}; keep one entry"
                )
            seen[entry.day] = list_key

    return YearFile(
        year=year,
        path=path,
        content=content,
        days_off=lists["days_off"],
        makeup_working_days=lists["makeup_working_days"],
        not_days_off=lists["not_days_off"],
    )


def read_calendar_dir(calendar_dir: Path) -> dict[int, YearFile]:
    """Read every yearly file (YYYY.toml) in `calendar_dir`, keyed by year."""
    if not calendar_dir.is_dir():
        raise CalendarError(
            f"Calendar folder not found: {calendar_dir}; "
            "set calendar_dir (THEODOI_CALENDAR_DIR) to the folder of the yearly files"
        )
    year_files: dict[int, YearFile] = {}
    for path in sorted(calendar_dir.glob("*.toml")):
        if not _YEAR_FILE_NAME.match(path.name):
            raise CalendarError(
                f"Unexpected calendar file {path}; name each yearly file YYYY.toml "
                "(e.g. 2026.toml) or move other files out of the folder"
            )
        year_file = read_year_file(path)
        year_files[year_file.year] = year_file
    if not year_files:
        raise CalendarError(
            f"No yearly calendar files in {calendar_dir}; add one YYYY.toml per year "
            "with that year's days off and make-up working days"
        )
    return year_files


# ---------------------------------------------------------------------------
# Checking arguments


def _validate_hours(hours: WorkingHours) -> WorkingHours:
    if not hours.periods:
        raise CalendarError("Working hours have no periods; give at least one, e.g. 08:00-12:00")
    previous_end: time | None = None
    for period in hours.periods:
        start, end = period
        if not isinstance(start, time) or not isinstance(end, time):
            raise CalendarError(f"Invalid working period {period!r}; give two datetime.time values")
        if start.tzinfo is not None or end.tzinfo is not None:
            raise CalendarError(
                f"Working period {start}-{end} carries a time zone; give local times without one"
            )
        if end <= start or (previous_end is not None and start < previous_end):
            raise CalendarError(
                f"Working period {start:%H:%M}-{end:%H:%M} must end after it starts "
                "and begin after the previous period ends"
            )
        previous_end = end
    if not hours.weekdays or any(day not in range(1, 8) for day in hours.weekdays):
        raise CalendarError(
            f"Invalid working weekdays {list(hours.weekdays)!r}; "
            "list ISO weekdays from 1 (Monday) to 7 (Sunday)"
        )
    return hours


def _load_zone(tz_name: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(
            f"Unknown time zone {tz_name!r}; give an IANA name such as {DEFAULT_TIMEZONE}"
        ) from None


def _hours_to_microseconds(hours: float | Decimal) -> int:
    """Convert a non-negative number of hours to whole microseconds, rounding half to even."""
    if isinstance(hours, bool) or not isinstance(hours, int | float | Decimal):
        raise CalendarError(
            f"Invalid number of hours {hours!r}; give an int, float or Decimal"
        )
    # str() of a float is its shortest round-trip form, so 0.1 h becomes exactly 360 s.
    value = hours if isinstance(hours, Decimal) else Decimal(str(hours))
    if not value.is_finite():
        raise CalendarError(f"Invalid number of hours {hours}; give a finite number")
    if value < 0:
        raise CalendarError(
            f"Invalid number of hours {hours}; working hours to add must be zero or more"
        )
    with localcontext(prec=_HOURS_PRECISION + 12):
        microseconds = (value * _MICROSECONDS_PER_HOUR).to_integral_value(ROUND_HALF_EVEN)
    return int(microseconds)


def _timedelta_to_hours(duration: timedelta) -> Decimal:
    microseconds = duration // timedelta(microseconds=1)
    with localcontext(prec=_HOURS_PRECISION):
        return Decimal(microseconds) / Decimal(_MICROSECONDS_PER_HOUR)


def _require_date(value: object, name: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise CalendarError(
            f"Invalid {name} {value!r}; give a datetime.date (for a datetime, "
            "pass its local date)"
        )
    return value


# ---------------------------------------------------------------------------
# The calendar


class WorkingCalendar:
    """Working days and working hours of one node, in the local time zone.

    A day is a working day when its ISO weekday is in `hours.weekdays` and it is neither a
    public holiday of `holidays` (minus a file's not_days_off) nor a day off listed in a
    yearly file. A make-up working day listed in a yearly file is always a working day.

    Working periods are half-open: 12:00 is outside 08:00-12:00. Durations are measured on
    the local wall clock.
    NOTE: for a time zone with daylight saving time (not Asia/Ho_Chi_Minh), the hour
    skipped or repeated at a change is not accounted for.
    """

    def __init__(
        self, hours: WorkingHours, calendar_dir: Path, tz_name: str = DEFAULT_TIMEZONE
    ) -> None:
        self._hours = _validate_hours(hours)
        self._tz_name = tz_name
        self._tz = _load_zone(tz_name)
        self._calendar_dir = Path(calendar_dir)
        self._year_files = read_calendar_dir(self._calendar_dir)
        self._years = frozenset(self._year_files)

        # expand=False keeps lookups of other years from silently adding them.
        self._holidays = holidays.country_holidays(
            HOLIDAY_COUNTRY,
            years=sorted(self._years),
            language=HOLIDAY_LANGUAGE,
            expand=False,
        )
        self._listed_days_off: dict[date, CalendarEntry] = {}
        self._makeup_days: dict[date, CalendarEntry] = {}
        self._not_days_off: dict[date, CalendarEntry] = {}
        for year_file in self._year_files.values():
            self._listed_days_off.update((entry.day, entry) for entry in year_file.days_off)
            self._makeup_days.update((entry.day, entry) for entry in year_file.makeup_working_days)
            for entry in year_file.not_days_off:
                if entry.day not in self._holidays:
                    raise CalendarError(
                        f"Calendar file {year_file.path}: not_days_off lists "
                        f"{entry.day.isoformat()}, which is not a holiday in {HOLIDAY_SOURCE}; "
                        "remove the entry"
                    )
                self._not_days_off[entry.day] = entry

        self._fingerprint = self._compute_fingerprint()
        # Per-date caches, because an import of thousands of tasks looks up the same days.
        self._reason_cache: dict[date, str | None] = {}
        self._periods_cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    # -- inputs --------------------------------------------------------------

    @property
    def hours(self) -> WorkingHours:
        """Working periods and weekdays of this calendar."""
        return self._hours

    @property
    def timezone(self) -> ZoneInfo:
        """Local time zone of the working periods and of every returned datetime."""
        return self._tz

    @property
    def years(self) -> frozenset[int]:
        """Years that have a calendar file. Every other year is unknown."""
        return self._years

    @property
    def fingerprint(self) -> str:
        """SHA-256 hex digest of every input that can move a computed deadline.

        It covers the yearly files' bytes, the `holidays` version, the time zone and the
        working hours. A deadline stored with a different fingerprint was computed from
        other inputs and may be out of date.
        """
        return self._fingerprint

    def _compute_fingerprint(self) -> str:
        digest = hashlib.sha256()

        def add(label: str, data: bytes) -> None:
            # Length-prefixing each part keeps different inputs from hashing the same bytes.
            digest.update(label.encode("utf-8") + b"\0")
            digest.update(len(data).to_bytes(8, "big") + data)

        periods = ",".join(
            f"{start.isoformat()}-{end.isoformat()}" for start, end in self._hours.periods
        )
        add("holidays", holidays.__version__.encode("utf-8"))
        add("country", HOLIDAY_COUNTRY.encode("utf-8"))
        add("timezone", self._tz_name.encode("utf-8"))
        add("periods", periods.encode("utf-8"))
        add("weekdays", ",".join(map(str, self._hours.weekdays)).encode("utf-8"))
        for year in sorted(self._year_files):
            add(f"file {year}", self._year_files[year].content)
        return digest.hexdigest()

    def _require_year(self, year: int) -> None:
        if year not in self._years:
            raise CalendarError(
                f"No working calendar for {year}: add {year}.toml with that year's days off "
                "and make-up working days to the calendar folder (setting calendar_dir)"
            )

    # -- days ----------------------------------------------------------------

    def day_off_reason(self, d: date) -> str | None:
        """Return why `d` is not a working day, or None when it is one."""
        if d in self._reason_cache:
            return self._reason_cache[d]
        _require_date(d, "date")
        self._require_year(d.year)
        reason = self._compute_day_off_reason(d)
        self._reason_cache[d] = reason
        return reason

    def _compute_day_off_reason(self, d: date) -> str | None:
        if d in self._makeup_days:
            return None
        listed = self._listed_days_off.get(d)
        if listed is not None:
            return listed.reason
        if d not in self._not_days_off:
            names = self._holidays.get_list(d)
            if names:
                return "; ".join(names)
        if d.isoweekday() not in self._hours.weekdays:
            return WEEKLY_DAY_OFF_REASON
        return None

    def is_working_day(self, d: date) -> bool:
        """Return whether `d` is a working day. Raises CalendarError for an unknown year."""
        return self.day_off_reason(d) is None

    def add_working_days(self, d: date, n: int) -> date:
        """Return the date of the `n`-th working day after `d`, not counting `d` itself.

        With n == 0 the result is `d`, whether or not it is a working day.
        """
        _require_date(d, "date")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise CalendarError(
                f"Invalid number of working days {n!r}; give a whole number, zero or more"
            )
        self._require_year(d.year)
        day = d
        counted = 0
        while counted < n:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day

    def days_off(self, year: int) -> list[CalendarEntry]:
        """List the public holidays and listed days off of `year`, sorted by date.

        The list merges the `holidays` public holidays, including those on a weekend,
        with the file's days_off. A file entry replaces the package's entry for the same
        date. Plain weekly days off, make-up working days and not_days_off are left out.
        """
        self._require_year(year)
        entries: dict[date, CalendarEntry] = {}
        for day, names in sorted(self._holidays.items()):
            # `names` joins the names of holidays sharing the date with "; ".
            if day.year == year:
                entries[day] = CalendarEntry(day, names, HOLIDAY_SOURCE)
        entries.update((entry.day, entry) for entry in self._year_files[year].days_off)
        return [
            entries[day]
            for day in sorted(entries)
            if day not in self._makeup_days and day not in self._not_days_off
        ]

    def makeup_working_days(self, year: int) -> list[CalendarEntry]:
        """List the make-up working days of `year` from its file, sorted by date."""
        self._require_year(year)
        return sorted(self._year_files[year].makeup_working_days, key=lambda entry: entry.day)

    def not_days_off(self, year: int) -> list[CalendarEntry]:
        """List the `holidays` public holidays of `year` that its file cancels, sorted by date."""
        self._require_year(year)
        return sorted(self._year_files[year].not_days_off, key=lambda entry: entry.day)

    # -- hours ---------------------------------------------------------------

    def _periods_on(self, d: date) -> tuple[tuple[datetime, datetime], ...]:
        periods = self._periods_cache.get(d)
        if periods is None:
            periods = tuple(
                (
                    datetime.combine(d, start, tzinfo=self._tz),
                    datetime.combine(d, end, tzinfo=self._tz),
                )
                for start, end in self._hours.periods
            )
            self._periods_cache[d] = periods
        return periods

    def _to_local(self, value: object, name: str) -> datetime:
        if not isinstance(value, datetime):
            raise CalendarError(f"Invalid {name} {value!r}; give a timezone-aware datetime")
        if value.tzinfo is None or value.utcoffset() is None:
            raise CalendarError(
                f"{name.capitalize()} {value.isoformat()} has no time zone; "
                "give an offset such as +07:00"
            )
        return value.astimezone(self._tz)

    def end_of_working_day(self, d: date) -> datetime:
        """Return the end of the last working period on `d`, in local time.

        The result does not depend on whether `d` is a working day, but the year of `d`
        must be known.
        """
        _require_date(d, "date")
        self._require_year(d.year)
        return self._periods_on(d)[-1][1]

    def add_working_hours(self, start: datetime, hours: float | Decimal) -> datetime:
        """Return the instant at which `hours` of working time after `start` have passed.

        `start` must be timezone-aware and may use any offset. The result is in local time.
        Time outside the working periods is skipped, so a start outside them counts from
        the next period start. When the time runs out exactly at a period end, the result
        is that period end (08:00 + 4 h gives 12:00, not 13:00). With hours == 0 the
        result is the first working instant at or after `start`. Hours are rounded to
        whole microseconds.
        """
        remaining = timedelta(microseconds=_hours_to_microseconds(hours))
        cursor = self._to_local(start, "start")
        while True:
            day = cursor.date()
            if self.is_working_day(day):
                for period_start, period_end in self._periods_on(day):
                    if cursor >= period_end:
                        continue
                    cursor = max(cursor, period_start)
                    available = period_end - cursor
                    if remaining <= available:
                        return cursor + remaining
                    remaining -= available
                    cursor = period_end
            # The loop always ends: it returns, or an unknown year raises CalendarError.
            cursor = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self._tz)

    def working_hours_between(self, start: datetime, end: datetime) -> Decimal:
        """Return the working hours from `start` to `end`, both timezone-aware.

        The result is exact when the duration is a whole number of 36-second steps
        (0.01 h) and is rounded to 28 significant digits otherwise. Raises CalendarError
        when `end` is before `start`.
        """
        start_local = self._to_local(start, "start")
        end_local = self._to_local(end, "end")
        if end_local < start_local:
            raise CalendarError(
                f"End {end.isoformat()} is before start {start.isoformat()}; "
                "give the earlier instant first"
            )
        total = timedelta(0)
        day = start_local.date()
        last_day = end_local.date()
        while day <= last_day:
            if self.is_working_day(day):
                for period_start, period_end in self._periods_on(day):
                    overlap = min(period_end, end_local) - max(period_start, start_local)
                    if overlap > timedelta(0):
                        total += overlap
            day += timedelta(days=1)
        return _timedelta_to_hours(total)


def load_calendar(settings: Settings) -> WorkingCalendar:
    """Build the working calendar from the node settings."""
    return WorkingCalendar(settings.working_hours, settings.calendar_dir, settings.timezone)
