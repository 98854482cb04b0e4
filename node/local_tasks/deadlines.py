"""Reading of deadlines as Vietnamese documents write them.

`parse_deadline` turns a deadline cell into a `DeadlineInput`. The text is
kept as written. `on` is the last day of the stated period. `at` stays None
because the service turns `on` into the end of that day in Vietnam.

Forms read (case, accents, spacing and a trailing dot are ignored):

* a day: ``30/09/2025``, ``1/10/2025``, ``30-09-2025``, ``30.09.2025`` (day
  first), ISO ``2025-09-30``, ``ngày 30 tháng 9 năm 2025``, an Excel date
  serial or a date cell;
* a month: ``6/2025``, ``06/2025``, ``Tháng 6/2025``, ``tháng 6 năm 2025``;
* a quarter: ``Quý II/2026``, ``Quí IV-2025``, ``Quý III Năm 2026``,
  ``Quý 2/2026``;
* a half year: ``6 tháng đầu năm 2026`` (30 June), ``6 tháng cuối năm 2026``;
* a year: ``Năm 2026``, ``2026``;
* words before a period such as ``Trước``, ``Chậm nhất``, ``Trong``,
  ``Hoàn thành trong`` or ``Đến hết``, which do not change its last day;
* ``Thường xuyên``, ``Hằng năm``, ``Định kỳ ...``: no deadline, regular;
* ``2025 và những năm tiếp theo``, ``Từ năm 2025 trở đi``, ``Liên tục``:
  no deadline, continuous;
* ``Khi có phát sinh``, ``Theo yêu cầu``: no deadline, ad hoc;
* an empty cell: no deadline, precision none. NOTE: the time class stays the
  default ``with_deadline`` because an empty cell gives no hint of another.

A period without a year (``Quý II``, ``Tháng 6``, ``30/6``) takes the year of
`issued_on`, and is an error when no issue date is known.

Ranges (``A - B``, ``A đến B``, ``Từ A đến B``, ``Giai đoạn A - B``):

* When both ends are whole years (``2025-2030``, ``Năm 2025 - 2026``), the
  task is a long-term programme: no deadline, time class ``long_term``,
  precision ``range``.
* Otherwise the work has to be done by the end of the later period, so the
  deadline is the last day of the second end, with that end's precision:
  ``Quý IV/2025- Quý II/2026`` is due on 30/06/2026, precision quarter.

A range whose second end comes before its first is an error.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from node.core.i18n import lazy_gettext as _l
from node.core.text import fold, nfc
from node.local_tasks.inputs import DeadlineInput

# Excel's 1900 date system counts 1900-01-01 as serial 1 and, copying a bug of
# Lotus 1-2-3, has a 29 February 1900 as serial 60. From serial 61 on, day
# zero is therefore 1899-12-30.
_EXCEL_EPOCH = date(1899, 12, 30)
_EXCEL_FAKE_LEAP_DAY = 60
_EXCEL_MAX_SERIAL = 2_958_465  # 9999-12-31

# Whole numbers in this range are years written in a number cell, not serials:
# serial 2026 would be a day in 1905.
_YEAR_MIN = 1900
_YEAR_MAX = 2999

_ROMAN_QUARTERS = {"i": 1, "ii": 2, "iii": 3, "iv": 4}

_EXAMPLES = _l(
    "write a day (30/06/2026), a month (6/2026), a quarter (Quý II/2026), a year (2026), "
    "a range of years (2025-2030), or Thường xuyên, Hằng năm or Khi có phát sinh"
)

_MONTH_NAMES = (
    None, _l("January"), _l("February"), _l("March"), _l("April"), _l("May"), _l("June"),
    _l("July"), _l("August"), _l("September"), _l("October"), _l("November"), _l("December"),
)


class DeadlineError(ValueError):
    """A deadline is unreadable or names a date that does not exist; the message quotes it."""


def _error(template: object, **values: object) -> DeadlineError:
    """Build a DeadlineError, its message translated into the current locale.

    Outside a request or `translated_into` block the message stays in English.
    """
    return DeadlineError(str(template).format(**values))


@dataclass(frozen=True)
class _Period:
    """A stated period: its first and last day and how precise it is."""

    start: date
    end: date
    precision: str


# Excel serials ---------------------------------------------------------------


def excel_serial_to_date(serial: float) -> date:
    """Convert an Excel date serial (1900 date system) to a date; a time part is dropped."""
    if isinstance(serial, bool) or not isinstance(serial, int | float) or math.isnan(serial):
        raise _error(_l("Invalid Excel date serial {serial!r}: not a number"), serial=serial)
    whole = math.floor(serial)
    if whole < 1 or whole > _EXCEL_MAX_SERIAL:
        raise _error(_l("Invalid Excel date serial {serial!r}: Excel dates run from 1 "
                        "(01/01/1900) to {maximum} (31/12/9999)"),
                     serial=serial, maximum=_EXCEL_MAX_SERIAL)
    if whole == _EXCEL_FAKE_LEAP_DAY:
        raise _error(_l("Invalid Excel date serial {serial!r}: it is 29/02/1900, a day that "
                        "does not exist"), serial=serial)
    if whole < _EXCEL_FAKE_LEAP_DAY:
        return _EXCEL_EPOCH + timedelta(days=whole + 1)
    return _EXCEL_EPOCH + timedelta(days=whole)


def deadline_from_excel_serial(serial: float) -> DeadlineInput:
    """Build a day deadline from an Excel date serial; the text is the day as dd/mm/yyyy."""
    day = excel_serial_to_date(serial)
    return DeadlineInput(text=_format_day(day), on=day, precision="day")


def _format_day(day: date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"


# Entry point -------------------------------------------------------------------


def parse_deadline(value: object, *, issued_on: date | None = None) -> DeadlineInput:
    """Read a deadline cell: text, number (Excel serial or year), date or datetime.

    Raises DeadlineError for text that matches no known form and for dates
    that do not exist (31/02/2026, month 13, quarter V).
    """
    if value is None:
        return DeadlineInput()
    if isinstance(value, datetime):
        return _from_datetime(value)
    if isinstance(value, date):
        return DeadlineInput(text=_format_day(value), on=value, precision="day")
    if isinstance(value, bool):
        raise _error(_l("Unreadable deadline {value!r}: a true/false cell is not a date"),
                     value=value)
    if isinstance(value, int | float):
        return _from_number(value)
    text = nfc(str(value)).strip()
    if not text:
        return DeadlineInput()
    return _from_text(text, issued_on)


def _from_datetime(value: datetime) -> DeadlineInput:
    text = _format_day(value.date())
    if value.time() != datetime.min.time():
        text += f" {value.hour:02d}:{value.minute:02d}"
    return DeadlineInput(text=text, on=value.date(), precision="day")


def _from_number(value: float) -> DeadlineInput:
    if math.isnan(value) or math.isinf(value):
        raise _error(_l("Unreadable deadline {value!r}: not a number"), value=value)
    if value == int(value) and _YEAR_MIN <= value <= _YEAR_MAX:
        year = int(value)
        return DeadlineInput(text=str(year), on=date(year, 12, 31), precision="year")
    if value < _YEAR_MIN:
        raise _error(_l("Unreadable deadline {value!r}: the number is neither a year nor an "
                        "Excel date serial of a plausible day; {examples}"),
                     value=value, examples=str(_EXAMPLES))
    return deadline_from_excel_serial(value)


# Text forms --------------------------------------------------------------------

_DASHES = re.compile(r"[\u2010-\u2015\u2212]")
_TRAILING_PUNCTUATION = re.compile(r"[\s.;:,]+$")

# Words in front of a period that do not change its last day: "trước ngày",
# "chậm nhất là", "hoàn thành trong", "đến hết", "vào cuối".
_LEADING_FILLER = re.compile(
    r"^(?:(?:hoan thanh|thuc hien|truoc|cham nhat|la|trong|vao|den|het|cuoi|thoi han)\s+)+"
)

_REGULAR_PREFIXES = (
    "thuong xuyen",
    "nhiem vu thuong xuyen",
    "hang nam",
    "hang quy",
    "hang thang",
    "hang tuan",
    "hang ngay",
    "moi nam",
    "dinh ky",
)
_AD_HOC_PREFIXES = (
    "khi co phat sinh",
    "khi phat sinh",
    "khi co yeu cau",
    "theo yeu cau",
    "dot xuat",
)
_CONTINUOUS_PREFIXES = ("lien tuc",)
_CONTINUOUS_SUFFIX = re.compile(
    r"^(?:tu\s+)?(?:nam\s+)?\d{4}\s*"
    r"(?:va\s+(?:nhung|cac)\s+nam\s+(?:tiep theo|sau)|tro di|tro ve sau)$"
)


def _normalise(text: str) -> str:
    """Fold the text and make its punctuation regular: one kind of dash, no trailing dot."""
    folded = fold(_DASHES.sub("-", text))
    return _TRAILING_PUNCTUATION.sub("", folded)


def _from_text(text: str, issued_on: date | None) -> DeadlineInput:
    folded = _normalise(text)
    body = _LEADING_FILLER.sub("", folded)
    kind = _no_deadline_class(folded) or _no_deadline_class(body)
    if kind is not None:
        return DeadlineInput(text=text, precision="none", time_class=kind)

    period = _parse_period(body, text, issued_on.year if issued_on else None)
    if period is not None:
        return DeadlineInput(text=text, on=period.end, precision=period.precision)

    deadline = _parse_range(body, text, issued_on)
    if deadline is not None:
        return deadline
    raise _error(_l("Unreadable deadline '{text}'; {examples}"), text=text,
                 examples=str(_EXAMPLES))


def _no_deadline_class(folded: str) -> str | None:
    """Return the time class of wordings that state no deadline, or None for the others."""
    if folded.startswith(_REGULAR_PREFIXES):
        return "regular"
    if folded.startswith(_AD_HOC_PREFIXES):
        return "ad_hoc"
    if folded.startswith(_CONTINUOUS_PREFIXES) or _CONTINUOUS_SUFFIX.match(folded):
        return "continuous"
    return None


# One period --------------------------------------------------------------------

_SEPARATOR = r"\s*(?:/|-|\.|\s)\s*(?:nam\s+)?"

_ISO_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DAY = re.compile(r"^(?:ngay\s*)?(\d{1,2})\s*([/.-])\s*(\d{1,2})(?:\s*\2\s*(\d{4}))?$")
_WORDY_DAY = re.compile(r"^ngay\s+(\d{1,2})\s+thang\s+(\d{1,2})(?:\s+nam\s+(\d{4}))?$")
_MONTH = re.compile(r"^(?:thang\s*)?(\d{1,2})" + _SEPARATOR + r"(\d{4})$")
_MONTH_NO_YEAR = re.compile(r"^thang\s+(\d{1,2})$")
_QUARTER = re.compile(r"^(?:quy|qui)\s*(iv|i{1,3}|v|\d)(?:" + _SEPARATOR + r"(\d{4}))?$")
_HALF_YEAR = re.compile(
    r"^(?:(?:6|sau)\s+thang|nua)\s+(dau|cuoi)\s+nam(?:\s+(\d{4}))?$"
)
_YEAR = re.compile(r"^(?:nam\s*)?(\d{4})$")


def _parse_period(body: str, text: str, default_year: int | None) -> _Period | None:
    """Read `body` as one period; None when it has none of the known forms."""
    for reader in (_read_day, _read_month, _read_quarter, _read_half_year, _read_year):
        period = reader(body, text, default_year)
        if period is not None:
            return period
    return None


def _year_or_default(year: str | None, text: str, default_year: int | None) -> int:
    if year is not None:
        value = int(year)
        if not _YEAR_MIN <= value <= _YEAR_MAX:
            raise _error(_l("Invalid deadline '{text}': year {year} is outside {first}-{last}"),
                         text=text, year=value, first=_YEAR_MIN, last=_YEAR_MAX)
        return value
    if default_year is None:
        raise _error(_l("Invalid deadline '{text}': it gives no year and the document's issue "
                        "date is unknown; write the year, e.g. 'Quý II/2026'"), text=text)
    return default_year


def _check_month(month: int, text: str) -> None:
    if not 1 <= month <= 12:
        raise _error(_l("Invalid deadline '{text}': month {month} does not exist"), text=text,
                     month=month)


def _day_period(year: int, month: int, day: int, text: str) -> _Period:
    _check_month(month, text)
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise _error(_l("Invalid deadline '{text}': {month_name} {year} has no day {day}; "
                        "write a day from 1 to {last}"),
                     text=text, month_name=str(_MONTH_NAMES[month]), year=year, day=day,
                     last=last)
    day_value = date(year, month, day)
    return _Period(day_value, day_value, "day")


def _month_period(year: int, month: int, text: str) -> _Period:
    _check_month(month, text)
    last = calendar.monthrange(year, month)[1]
    return _Period(date(year, month, 1), date(year, month, last), "month")


def _read_day(body: str, text: str, default_year: int | None) -> _Period | None:
    match = _ISO_DAY.match(body)
    if match:
        year = _year_or_default(match.group(1), text, default_year)
        return _day_period(year, int(match.group(2)), int(match.group(3)), text)
    match = _DAY.match(body)
    if match and (match.group(4) is not None or match.group(2) == "/"):
        year = _year_or_default(match.group(4), text, default_year)
        return _day_period(year, int(match.group(3)), int(match.group(1)), text)
    match = _WORDY_DAY.match(body)
    if match:
        year = _year_or_default(match.group(3), text, default_year)
        return _day_period(year, int(match.group(2)), int(match.group(1)), text)
    return None


def _read_month(body: str, text: str, default_year: int | None) -> _Period | None:
    match = _MONTH.match(body)
    if match:
        year = _year_or_default(match.group(2), text, default_year)
        return _month_period(year, int(match.group(1)), text)
    match = _MONTH_NO_YEAR.match(body)
    if match:
        year = _year_or_default(None, text, default_year)
        return _month_period(year, int(match.group(1)), text)
    return None


def _read_quarter(body: str, text: str, default_year: int | None) -> _Period | None:
    match = _QUARTER.match(body)
    if not match:
        return None
    label = match.group(1)
    quarter = int(label) if label.isdigit() else _ROMAN_QUARTERS.get(label)
    if quarter is None or not 1 <= quarter <= 4:
        raise _error(_l("Invalid deadline '{text}': a year has quarters I to IV only"),
                     text=text)
    year = _year_or_default(match.group(2), text, default_year)
    first_month = 3 * quarter - 2
    last_month = 3 * quarter
    end = date(year, last_month, calendar.monthrange(year, last_month)[1])
    return _Period(date(year, first_month, 1), end, "quarter")


def _read_half_year(body: str, text: str, default_year: int | None) -> _Period | None:
    match = _HALF_YEAR.match(body)
    if not match:
        return None
    year = _year_or_default(match.group(2), text, default_year)
    if match.group(1) == "dau":
        return _Period(date(year, 1, 1), date(year, 6, 30), "half_year")
    return _Period(date(year, 7, 1), date(year, 12, 31), "half_year")


def _read_year(body: str, text: str, default_year: int | None) -> _Period | None:
    match = _YEAR.match(body)
    if not match:
        return None
    year = _year_or_default(match.group(1), text, default_year)
    return _Period(date(year, 1, 1), date(year, 12, 31), "year")


# Ranges ------------------------------------------------------------------------

_RANGE_PREFIX = re.compile(r"^(?:tu\s+|giai doan\s+)+")
_RANGE_SEPARATOR = re.compile(r"\s*-\s*|\s+(?:den|toi)\s+(?:het\s+)?")


def _parse_range(body: str, text: str, issued_on: date | None) -> DeadlineInput | None:
    """Read `body` as two periods joined by a dash or "đến"; None when it is not a range.

    The second end is read first so that a first end without a year
    ("tháng 6 - tháng 9/2025") can take the second end's year.
    """
    body = _RANGE_PREFIX.sub("", body)
    for separator in _RANGE_SEPARATOR.finditer(body):
        left = body[: separator.start()].strip()
        right = body[separator.end():].strip()
        if not left or not right:
            continue
        try:
            last = _parse_period(right, text, issued_on.year if issued_on else None)
            if last is None:
                continue
            first = _parse_period(left, text, last.start.year)
        except DeadlineError:
            continue
        if first is None:
            continue
        if last.end < first.start:
            raise _error(_l("Invalid deadline '{text}': the range ends before it starts"),
                         text=text)
        if first.precision == "year" and last.precision == "year":
            return DeadlineInput(text=text, precision="range", time_class="long_term")
        return DeadlineInput(text=text, on=last.end, precision=last.precision)
    return None

