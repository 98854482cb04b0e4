"""Tests of the working calendar with the shipped yearly files and default working hours.

Expected values are worked out by hand from 08:00-12:00 and 13:00-17:00, Monday to Friday.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from node.core.settings import DEFAULT_CALENDAR_DIR, Settings, WorkingHours
from node.local_tasks.calendar import (
    WEEKLY_DAY_OFF_REASON,
    CalendarError,
    WorkingCalendar,
    load_calendar,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")
SEVEN_HOURS = timedelta(hours=7)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN)


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar(WorkingHours(), DEFAULT_CALENDAR_DIR)


@pytest.fixture
def calendar_copy(tmp_path: Path) -> Path:
    """Return a writable copy of the shipped calendar folder."""
    folder = tmp_path / "calendar"
    folder.mkdir()
    for path in DEFAULT_CALENDAR_DIR.glob("*.toml"):
        shutil.copy(path, folder / path.name)
    return folder


def write_year(folder: Path, year: int, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{year}.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- add_working_hours: the reference cases ----------------------------------------------


def test_add_hours_morning_into_afternoon(calendar):
    result = calendar.add_working_hours(local(2026, 3, 2, 10, 30), 4)
    assert result.isoformat() == "2026-03-02T15:30:00+07:00"


def test_add_hours_from_lunch_break(calendar):
    result = calendar.add_working_hours(local(2026, 3, 2, 12, 30), 4)
    assert result == local(2026, 3, 2, 17, 0)


def test_add_hours_ends_at_period_end(calendar):
    result = calendar.add_working_hours(local(2026, 3, 2, 8, 0), 4)
    assert result == local(2026, 3, 2, 12, 0)


def test_add_hours_into_next_day(calendar):
    result = calendar.add_working_hours(local(2026, 3, 2, 13, 0), 8)
    assert result == local(2026, 3, 3, 12, 0)


def test_add_hours_from_saturday(calendar):
    result = calendar.add_working_hours(local(2026, 3, 7, 10, 0), 4)
    assert result == local(2026, 3, 9, 12, 0)


def test_add_hours_over_april_holidays_2024(calendar):
    # Fri 16:00-17:00 is 1 h. Sat 27/4 to Wed 1/5 are off (29/4 swapped), Thu 2/5 gives 7 h.
    result = calendar.add_working_hours(local(2024, 4, 26, 16, 0), 8)
    assert result == local(2024, 5, 2, 16, 0)


def test_add_hours_utc_start(calendar):
    start = datetime(2026, 3, 2, 3, 30, tzinfo=UTC)
    result = calendar.add_working_hours(start, 4)
    assert result.isoformat() == "2026-03-02T15:30:00+07:00"


def test_add_hours_other_offset_start(calendar):
    # 05:30+02:00 is 10:30+07:00.
    start = datetime(2026, 3, 2, 5, 30, tzinfo=timezone(timedelta(hours=2)))
    result = calendar.add_working_hours(start, 4)
    assert result == local(2026, 3, 2, 15, 30)


def test_add_hours_result_in_local_zone(calendar):
    result = calendar.add_working_hours(datetime(2026, 3, 2, 3, 30, tzinfo=UTC), 1)
    assert result.utcoffset() == SEVEN_HOURS
    assert result.tzinfo == VN


def test_add_hours_from_period_end(calendar):
    result = calendar.add_working_hours(local(2026, 3, 2, 12, 0), 1)
    assert result == local(2026, 3, 2, 14, 0)


def test_add_hours_after_friday_close(calendar):
    result = calendar.add_working_hours(local(2026, 3, 6, 17, 30), 2)
    assert result == local(2026, 3, 9, 10, 0)


def test_add_zero_hours_moves_to_next_period(calendar):
    assert calendar.add_working_hours(local(2026, 3, 2, 12, 30), 0) == local(2026, 3, 2, 13, 0)
    assert calendar.add_working_hours(local(2026, 3, 2, 10, 15), 0) == local(2026, 3, 2, 10, 15)


def test_add_fractional_hours(calendar):
    start = local(2026, 3, 2, 11, 0)
    assert calendar.add_working_hours(start, Decimal("1.5")) == local(2026, 3, 2, 13, 30)
    assert calendar.add_working_hours(start, 0.25) == local(2026, 3, 2, 11, 15)


def test_add_hours_keeps_seconds(calendar):
    start = datetime(2026, 3, 2, 11, 59, 30, tzinfo=VN)
    assert calendar.add_working_hours(start, 1) == datetime(2026, 3, 2, 13, 59, 30, tzinfo=VN)


def test_add_hours_naive_start_rejected(calendar):
    with pytest.raises(CalendarError, match="no time zone"):
        calendar.add_working_hours(datetime(2026, 3, 2, 10, 30), 4)


def test_add_hours_negative_rejected(calendar):
    with pytest.raises(CalendarError, match="-1"):
        calendar.add_working_hours(local(2026, 3, 2, 10, 30), -1)


@pytest.mark.parametrize("hours", [float("nan"), float("inf"), Decimal("NaN"), True, "4"])
def test_add_hours_invalid_number_rejected(calendar, hours):
    with pytest.raises(CalendarError, match="Invalid number of hours"):
        calendar.add_working_hours(local(2026, 3, 2, 10, 30), hours)


def test_add_hours_into_unknown_year(calendar):
    # 31/12/2026 is a Thursday, so 16 h run past the last known day.
    with pytest.raises(CalendarError, match="2027"):
        calendar.add_working_hours(local(2026, 12, 31, 8, 0), 16)


# -- add_working_days --------------------------------------------------------------------


def test_add_days_over_makeup_saturday(calendar):
    # Fri 3/5 is the 1st, Sat 4/5 (make-up working day) the 2nd, Mon 6/5 the 3rd.
    assert calendar.add_working_days(date(2024, 5, 2), 3) == date(2024, 5, 6)


def test_add_days_over_weekend(calendar):
    assert calendar.add_working_days(date(2026, 3, 6), 1) == date(2026, 3, 9)


def test_add_days_zero_returns_same_date(calendar):
    assert calendar.add_working_days(date(2026, 3, 7), 0) == date(2026, 3, 7)


@pytest.mark.parametrize("count", [-1, 1.5, True])
def test_add_days_invalid_count_rejected(calendar, count):
    with pytest.raises(CalendarError, match="Invalid number of working days"):
        calendar.add_working_days(date(2026, 3, 2), count)


def test_add_days_into_unknown_year(calendar):
    with pytest.raises(CalendarError, match="No working calendar for 2027"):
        calendar.add_working_days(date(2026, 12, 30), 5)


def test_add_days_rejects_datetime(calendar):
    with pytest.raises(CalendarError, match="datetime.date"):
        calendar.add_working_days(local(2026, 3, 2, 9), 1)


# -- working days ------------------------------------------------------------------------


def test_tet_2026_days_off(calendar):
    for day in range(16, 21):
        assert not calendar.is_working_day(date(2026, 2, day)), f"2026-02-{day}"
    assert calendar.is_working_day(date(2026, 2, 13))
    assert calendar.is_working_day(date(2026, 2, 23))


def test_tet_2026_skipped_by_add_hours(calendar):
    # Fri 13/2 16:00-17:00 is 1 h. Tết and the weekend follow, and Mon 23/2 gives the 2nd hour.
    result = calendar.add_working_hours(local(2026, 2, 13, 16, 0), 2)
    assert result == local(2026, 2, 23, 9, 0)


def test_tet_2026_skipped_by_add_days(calendar):
    assert calendar.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 23)


def test_new_year_2026_swap(calendar):
    assert calendar.is_working_day(date(2026, 1, 10))
    assert not calendar.is_working_day(date(2026, 1, 2))


def test_national_day_2026_swap(calendar):
    assert calendar.is_working_day(date(2026, 8, 22))
    assert not calendar.is_working_day(date(2026, 8, 31))


def test_april_2025_swap(calendar):
    assert calendar.is_working_day(date(2025, 4, 26))
    assert not calendar.is_working_day(date(2025, 5, 2))


def test_ordinary_days(calendar):
    assert calendar.is_working_day(date(2026, 3, 2))
    assert not calendar.is_working_day(date(2026, 3, 7))
    assert not calendar.is_working_day(date(2026, 3, 8))


def test_unknown_year_2023(calendar):
    with pytest.raises(CalendarError, match="No working calendar for 2023") as info:
        calendar.is_working_day(date(2023, 12, 29))
    assert "2023.toml" in str(info.value)


def test_unknown_year_2027(calendar):
    with pytest.raises(CalendarError, match="No working calendar for 2027"):
        calendar.is_working_day(date(2027, 1, 4))


def test_known_years(calendar):
    assert calendar.years == frozenset({2024, 2025, 2026})


def test_day_off_reason_holiday(calendar):
    assert calendar.day_off_reason(date(2026, 2, 17)) == "Tết Nguyên Đán"


def test_day_off_reason_listed_day(calendar):
    reason = calendar.day_off_reason(date(2026, 1, 2))
    assert reason == "Nghỉ Tết Dương lịch (hoán đổi với thứ Bảy 10/01/2026)"


def test_day_off_reason_weekend(calendar):
    assert calendar.day_off_reason(date(2026, 3, 7)) == WEEKLY_DAY_OFF_REASON


def test_day_off_reason_working_day(calendar):
    assert calendar.day_off_reason(date(2026, 3, 2)) is None
    assert calendar.day_off_reason(date(2026, 1, 10)) is None


def test_days_off_list_2026(calendar):
    days = [entry.day for entry in calendar.days_off(2026)]
    assert date(2026, 1, 2) in days
    assert date(2026, 8, 31) in days
    assert date(2026, 1, 10) not in days
    assert days == sorted(days)


def test_makeup_days_list_2026(calendar):
    days = [entry.day for entry in calendar.makeup_working_days(2026)]
    assert days == [date(2026, 1, 10), date(2026, 8, 22)]


def test_makeup_days_list_2024_2025(calendar):
    assert [entry.day for entry in calendar.makeup_working_days(2024)] == [date(2024, 5, 4)]
    assert [entry.day for entry in calendar.makeup_working_days(2025)] == [date(2025, 4, 26)]


def test_every_entry_has_reason_and_source(calendar):
    for year in sorted(calendar.years):
        for entry in calendar.days_off(year) + calendar.makeup_working_days(year):
            assert entry.reason, entry
            assert entry.source, entry


# -- working_hours_between and end_of_working_day ----------------------------------------


def test_between_over_lunch_break(calendar):
    # 11:00-12:00 and 13:00-14:30.
    hours = calendar.working_hours_between(local(2026, 3, 2, 11, 0), local(2026, 3, 2, 14, 30))
    assert hours == Decimal("2.5")


def test_between_over_weekend(calendar):
    # Fri 11:00-12:00 and 13:00-17:00 is 5 h, Mon 08:00-09:30 is 1.5 h.
    hours = calendar.working_hours_between(local(2026, 3, 6, 11, 0), local(2026, 3, 9, 9, 30))
    assert hours == Decimal("6.5")


def test_between_full_day(calendar):
    hours = calendar.working_hours_between(local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
    assert hours == Decimal(8)


def test_between_same_instant(calendar):
    start = local(2026, 3, 2, 9, 0)
    assert calendar.working_hours_between(start, start) == 0


def test_between_mixed_offsets(calendar):
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    hours = calendar.working_hours_between(start, local(2026, 3, 2, 10, 0))
    assert hours == Decimal(2)


def test_between_end_before_start(calendar):
    with pytest.raises(CalendarError, match="before start"):
        calendar.working_hours_between(local(2026, 3, 2, 10, 0), local(2026, 3, 2, 9, 0))


def test_between_inverts_add_hours(calendar):
    start = local(2026, 2, 12, 9, 45)
    end = calendar.add_working_hours(start, Decimal("13.25"))
    assert calendar.working_hours_between(start, end) == Decimal("13.25")


def test_end_of_working_day(calendar):
    end = calendar.end_of_working_day(date(2026, 3, 2))
    assert end.isoformat() == "2026-03-02T17:00:00+07:00"


def test_end_of_day_unknown_year(calendar):
    with pytest.raises(CalendarError, match="2023"):
        calendar.end_of_working_day(date(2023, 3, 2))


# -- custom working hours and time zone --------------------------------------------------

CUSTOM_HOURS = WorkingHours(periods=((time(7, 30), time(11, 30)), (time(13, 30), time(17, 0))))


def test_custom_hours_add(calendar):
    custom = WorkingCalendar(CUSTOM_HOURS, DEFAULT_CALENDAR_DIR)
    # 10:30-11:30 is 1 h, 13:30-16:30 the other 3 h.
    assert custom.add_working_hours(local(2026, 3, 2, 10, 30), 4) == local(2026, 3, 2, 16, 30)
    assert calendar.add_working_hours(local(2026, 3, 2, 10, 30), 4) == local(2026, 3, 2, 15, 30)


def test_custom_hours_next_day(calendar):
    custom = WorkingCalendar(CUSTOM_HOURS, DEFAULT_CALENDAR_DIR)
    # Mon 13:30-17:00 is 3.5 h, Tue 07:30-11:30 gives 4 h, 13:30-14:00 the last 0.5 h.
    assert custom.add_working_hours(local(2026, 3, 2, 13, 30), 8) == local(2026, 3, 3, 14, 0)


def test_custom_hours_between_and_end(calendar):
    custom = WorkingCalendar(CUSTOM_HOURS, DEFAULT_CALENDAR_DIR)
    day_start, day_end = local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0)
    assert custom.working_hours_between(day_start, day_end) == Decimal("7.5")
    assert custom.end_of_working_day(date(2026, 3, 2)) == local(2026, 3, 2, 17, 0)


def test_custom_weekdays_include_saturday():
    six_days = WorkingCalendar(WorkingHours(weekdays=(1, 2, 3, 4, 5, 6)), DEFAULT_CALENDAR_DIR)
    assert six_days.is_working_day(date(2026, 3, 7))
    assert not six_days.is_working_day(date(2026, 3, 8))
    # Saturday 10/2/2024 is Tết, so it stays off.
    assert not six_days.is_working_day(date(2024, 2, 10))


def test_other_time_zone():
    utc_calendar = WorkingCalendar(WorkingHours(), DEFAULT_CALENDAR_DIR, "UTC")
    result = utc_calendar.add_working_hours(local(2026, 3, 2, 15, 0), 1)
    assert result.isoformat() == "2026-03-02T09:00:00+00:00"


def test_unknown_time_zone():
    with pytest.raises(CalendarError, match="Unknown time zone 'Asia/Saigonn'"):
        WorkingCalendar(WorkingHours(), DEFAULT_CALENDAR_DIR, "Asia/Saigonn")


@pytest.mark.parametrize(
    "hours",
    [
        WorkingHours(periods=()),
        WorkingHours(periods=((time(12, 0), time(8, 0)),)),
        WorkingHours(periods=((time(8, 0), time(12, 0)), (time(11, 0), time(17, 0)))),
        WorkingHours(weekdays=()),
        WorkingHours(weekdays=(0, 1)),
    ],
)
def test_invalid_working_hours(hours):
    with pytest.raises(CalendarError):
        WorkingCalendar(hours, DEFAULT_CALENDAR_DIR)


def test_load_calendar_from_settings(tmp_path):
    write_year(tmp_path, 2026, "")
    settings = Settings(calendar_dir=tmp_path, working_hours=CUSTOM_HOURS)
    loaded = load_calendar(settings)
    assert loaded.years == frozenset({2026})
    assert loaded.hours == CUSTOM_HOURS
    assert loaded.timezone == VN


# -- fingerprint -------------------------------------------------------------------------


def test_fingerprint_is_stable(calendar):
    again = WorkingCalendar(WorkingHours(), DEFAULT_CALENDAR_DIR)
    assert again.fingerprint == calendar.fingerprint
    assert len(calendar.fingerprint) == 64


def test_fingerprint_ignores_folder_path(calendar, calendar_copy):
    assert WorkingCalendar(WorkingHours(), calendar_copy).fingerprint == calendar.fingerprint


def test_fingerprint_changes_with_file(calendar, calendar_copy):
    with (calendar_copy / "2025.toml").open("a", encoding="utf-8") as file:
        file.write("\n# edited\n")
    assert WorkingCalendar(WorkingHours(), calendar_copy).fingerprint != calendar.fingerprint


def test_fingerprint_changes_with_new_year(calendar, calendar_copy):
    write_year(calendar_copy, 2027, "")
    assert WorkingCalendar(WorkingHours(), calendar_copy).fingerprint != calendar.fingerprint


def test_fingerprint_changes_with_hours(calendar):
    custom = WorkingCalendar(CUSTOM_HOURS, DEFAULT_CALENDAR_DIR)
    six_days = WorkingCalendar(WorkingHours(weekdays=(1, 2, 3, 4, 5, 6)), DEFAULT_CALENDAR_DIR)
    assert custom.fingerprint != calendar.fingerprint
    assert six_days.fingerprint != calendar.fingerprint


def test_fingerprint_changes_with_time_zone(calendar):
    utc_calendar = WorkingCalendar(WorkingHours(), DEFAULT_CALENDAR_DIR, "UTC")
    assert utc_calendar.fingerprint != calendar.fingerprint


# -- yearly file format ------------------------------------------------------------------

ENTRY = 'date = {day}\nreason = "Lý do"\nsource = "Nguồn"\n'


def test_empty_year_file_uses_package_holidays(tmp_path):
    write_year(tmp_path, 2027, "")
    plain = WorkingCalendar(WorkingHours(), tmp_path)
    assert not plain.is_working_day(date(2027, 2, 8))
    assert plain.day_off_reason(date(2027, 5, 3)) == "Ngày Quốc tế Lao động (nghỉ bù)"
    assert plain.is_working_day(date(2027, 5, 4))


def test_not_days_off_cancels_holiday(calendar_copy):
    with (calendar_copy / "2026.toml").open("a", encoding="utf-8") as file:
        file.write("\n[[not_days_off]]\n" + ENTRY.format(day="2026-11-24"))
    edited = WorkingCalendar(WorkingHours(), calendar_copy)
    assert edited.is_working_day(date(2026, 11, 24))
    assert date(2026, 11, 24) not in [entry.day for entry in edited.days_off(2026)]
    assert [entry.day for entry in edited.not_days_off(2026)] == [date(2026, 11, 24)]


def test_not_days_off_requires_holiday(tmp_path):
    write_year(tmp_path, 2026, "[[not_days_off]]\n" + ENTRY.format(day="2026-03-02"))
    with pytest.raises(CalendarError, match="2026-03-02, which is not a holiday"):
        WorkingCalendar(WorkingHours(), tmp_path)


def test_days_off_entry_on_weekday(tmp_path):
    write_year(tmp_path, 2026, "[[days_off]]\n" + ENTRY.format(day="2026-03-03"))
    edited = WorkingCalendar(WorkingHours(), tmp_path)
    assert edited.day_off_reason(date(2026, 3, 3)) == "Lý do"
    assert edited.add_working_days(date(2026, 3, 2), 1) == date(2026, 3, 4)


def test_missing_folder(tmp_path):
    with pytest.raises(CalendarError, match="Calendar folder not found"):
        WorkingCalendar(WorkingHours(), tmp_path / "absent")


def test_empty_folder(tmp_path):
    with pytest.raises(CalendarError, match="No yearly calendar files"):
        WorkingCalendar(WorkingHours(), tmp_path)


def test_unexpected_file_name(tmp_path):
    write_year(tmp_path, 2026, "")
    (tmp_path / "2026-draft.toml").write_text("", encoding="utf-8")
    with pytest.raises(CalendarError, match="2026-draft.toml"):
        WorkingCalendar(WorkingHours(), tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("days_off = [", "not valid UTF-8 TOML"),
        ("holiday = []", "unknown keys holiday"),
        ('days_off = "2026-01-02"', "days_off must be an array of tables"),
        ("days_off = [1]", r"days_off\[0\] is invalid"),
        ('[[days_off]]\ndate = 2026-01-02\nreason = "x"\n', "missing source"),
        ("[[days_off]]\n" + ENTRY.format(day="2026-01-02") + "note = 1\n", "unknown keys note"),
        ("[[days_off]]\n" + ENTRY.format(day='"2026-01-02"'), "invalid date '2026-01-02'"),
        ("[[days_off]]\n" + ENTRY.format(day="2026-01-02T08:00:00"), "invalid date"),
        ("[[days_off]]\n" + ENTRY.format(day="2025-12-31"), "move it to 2025.toml"),
        ('[[days_off]]\ndate = 2026-01-02\nreason = " "\nsource = "x"\n', "reason must be"),
        (
            "[[days_off]]\n"
            + ENTRY.format(day="2026-01-02")
            + "[[makeup_working_days]]\n"
            + ENTRY.format(day="2026-01-02"),
            "listed in both days_off and makeup_working_days",
        ),
    ],
)
def test_invalid_year_file(tmp_path, text, message):
    write_year(tmp_path, 2026, text)
    with pytest.raises(CalendarError, match=message):
        WorkingCalendar(WorkingHours(), tmp_path)


# -- whole year -------------------------------------------------------------------------


def test_repeated_queries_match(calendar):
    first = [calendar.is_working_day(date(2026, 1, 1) + timedelta(days=i)) for i in range(365)]
    second = [calendar.is_working_day(date(2026, 1, 1) + timedelta(days=i)) for i in range(365)]
    assert first == second
    # 365 days minus 104 weekend days, minus 14 weekday days off (1-2/1, 16-20/2, 27/4,
    # 30/4, 1/5, 31/8, 1-2/9, 24/11), plus 2 make-up Saturdays.
    assert sum(first) == 249
