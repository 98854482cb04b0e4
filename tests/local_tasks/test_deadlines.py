"""Deadline parsing: every wording in the real task tables, Excel serials and invalid dates."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

import pytest

from node.local_tasks.deadlines import (
    DeadlineError,
    deadline_from_excel_serial,
    excel_serial_to_date,
    parse_deadline,
)

EXAMPLE_CSV = Path(__file__).resolve().parents[2] / "examples" / "tasks_real_documents.csv"

# (text as written, last day, precision, time class). Dates worked out by hand.
WITH_DEADLINE = [
    ("30/09/2025", date(2025, 9, 30), "day"),
    ("01/10/2025", date(2025, 10, 1), "day"),
    ("1/10/2025", date(2025, 10, 1), "day"),
    ("30-09-2025", date(2025, 9, 30), "day"),
    ("30.09.2025", date(2025, 9, 30), "day"),
    ("2025-10-01", date(2025, 10, 1), "day"),
    ("ngày 30 tháng 9 năm 2025", date(2025, 9, 30), "day"),
    ("Trước ngày 25/11/2025", date(2025, 11, 25), "day"),
    ("6/2025", date(2025, 6, 30), "month"),
    ("06/2025", date(2025, 6, 30), "month"),
    ("2/2025", date(2025, 2, 28), "month"),
    ("2/2028", date(2028, 2, 29), "month"),
    ("Tháng 6/2025", date(2025, 6, 30), "month"),
    ("tháng 6 năm 2025", date(2025, 6, 30), "month"),
    ("Trong tháng 11 năm 2025", date(2025, 11, 30), "month"),
    ("Quý II/2026", date(2026, 6, 30), "quarter"),
    ("Quí IV-2025", date(2025, 12, 31), "quarter"),
    ("Quý III Năm 2026", date(2026, 9, 30), "quarter"),
    ("Quý 2/2026", date(2026, 6, 30), "quarter"),
    ("quy i/2030", date(2030, 3, 31), "quarter"),
    ("6 tháng đầu năm 2026", date(2026, 6, 30), "half_year"),
    ("6 tháng cuối năm 2026", date(2026, 12, 31), "half_year"),
    ("Năm 2026", date(2026, 12, 31), "year"),
    ("2026", date(2026, 12, 31), "year"),
    ("  NĂM   2026. ", date(2026, 12, 31), "year"),
    ("Quý IV/2025- Quý II/2026", date(2026, 6, 30), "quarter"),
    ("Từ tháng 6 đến tháng 9/2025", date(2025, 9, 30), "month"),
]

WITHOUT_DEADLINE = [
    ("2025-2030", "range", "long_term"),
    ("2025 - 2026", "range", "long_term"),
    ("Năm 2025 - 2026", "range", "long_term"),
    ("Năm 2025-2030", "range", "long_term"),
    ("Giai đoạn 2026 – 2030", "range", "long_term"),
    ("2025 và những năm tiếp theo", "none", "continuous"),
    ("Từ năm 2025 trở đi", "none", "continuous"),
    ("Thường xuyên", "none", "regular"),
    ("Nhiệm vụ thường xuyên", "none", "regular"),
    ("Thường xuyên, hằng năm", "none", "regular"),
    ("Thường xuyên, định kỳ hằng quý báo cáo về Sở Tài chính", "none", "regular"),
    ("Hằng năm", "none", "regular"),
    ("Hàng năm", "none", "regular"),
    ("hằng năm.", "none", "regular"),
    ("HANG NAM", "none", "regular"),
    ("Khi có phát sinh", "none", "ad_hoc"),
    ("Khi có phát sinh.", "none", "ad_hoc"),
]


@pytest.mark.parametrize(("text", "expected_on", "precision"), WITH_DEADLINE)
def test_deadline_forms_with_a_date(text: str, expected_on: date, precision: str) -> None:
    deadline = parse_deadline(text)
    assert deadline.on == expected_on
    assert deadline.precision == precision
    assert deadline.time_class == "with_deadline"
    assert deadline.text == text.strip()
    assert deadline.at is None


@pytest.mark.parametrize(("text", "precision", "time_class"), WITHOUT_DEADLINE)
def test_deadline_forms_without_a_date(text: str, precision: str, time_class: str) -> None:
    deadline = parse_deadline(text)
    assert deadline.on is None
    assert deadline.precision == precision
    assert deadline.time_class == time_class
    assert deadline.text == text.strip()


@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_deadline(value: object) -> None:
    deadline = parse_deadline(value)
    assert deadline.text is None
    assert deadline.on is None
    assert deadline.precision == "none"


def test_decomposed_text_matches() -> None:
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "Quý III Năm 2026")
    deadline = parse_deadline(decomposed)
    assert deadline.on == date(2026, 9, 30)
    assert deadline.text == "Quý III Năm 2026"


def test_year_less_forms_take_issue_year() -> None:
    issued = date(2025, 1, 9)
    assert parse_deadline("Quý II", issued_on=issued).on == date(2025, 6, 30)
    assert parse_deadline("Tháng 10", issued_on=issued).on == date(2025, 10, 31)
    assert parse_deadline("30/6", issued_on=issued).on == date(2025, 6, 30)


def test_year_less_form_without_issue_date() -> None:
    with pytest.raises(DeadlineError, match="Quý II"):
        parse_deadline("Quý II")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("31/02/2026", "February 2026 has no day 31"),
        ("29/02/2025", "February 2025 has no day 29"),
        ("31/04/2026", "April 2026 has no day 31"),
        ("15/13/2026", "month 13 does not exist"),
        ("13/2026", "month 13 does not exist"),
        ("Tháng 0/2026", "month 0 does not exist"),
        ("Quý V/2026", "quarters I to IV"),
        ("2030-2025", "ends before it starts"),
        ("sớm nhất có thể", "Unreadable deadline"),
    ],
)
def test_invalid_deadlines(text: str, fragment: str) -> None:
    with pytest.raises(DeadlineError) as error:
        parse_deadline(text)
    assert text in str(error.value)
    assert fragment in str(error.value)


def test_deadline_error_is_value_error() -> None:
    assert issubclass(DeadlineError, ValueError)


# Excel serials: 2000-01-01 is serial 36526; 2025-01-01 is 36526 + 25 * 365 + 7
# leap days (2000 ... 2024) = 45658; 30/09/2025 is day 273 of 2025, so 45930.
@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        (1, date(1900, 1, 1)),
        (59, date(1900, 2, 28)),
        (61, date(1900, 3, 1)),
        (36526, date(2000, 1, 1)),
        (45658, date(2025, 1, 1)),
        (45930, date(2025, 9, 30)),
        (45930.75, date(2025, 9, 30)),
    ],
)
def test_excel_serial_to_date(serial: float, expected: date) -> None:
    assert excel_serial_to_date(serial) == expected


@pytest.mark.parametrize("serial", [0, -5, 60, 2_958_466])
def test_invalid_excel_serials(serial: float) -> None:
    with pytest.raises(DeadlineError, match=str(serial)):
        excel_serial_to_date(serial)


def test_deadline_from_excel_serial() -> None:
    deadline = deadline_from_excel_serial(45930)
    assert deadline.on == date(2025, 9, 30)
    assert deadline.text == "30/09/2025"
    assert deadline.precision == "day"


def test_number_cells() -> None:
    assert parse_deadline(45930).on == date(2025, 9, 30)
    assert parse_deadline(45930.0).text == "30/09/2025"
    year = parse_deadline(2026)
    assert year.on == date(2026, 12, 31)
    assert year.precision == "year"
    assert year.text == "2026"
    with pytest.raises(DeadlineError):
        parse_deadline(12)
    with pytest.raises(DeadlineError):
        parse_deadline(True)


def test_date_cells() -> None:
    from_date = parse_deadline(date(2025, 10, 31))
    assert from_date.on == date(2025, 10, 31)
    assert from_date.text == "31/10/2025"
    from_datetime = parse_deadline(datetime(2025, 10, 31, 0, 0))
    assert from_datetime.on == date(2025, 10, 31)
    assert from_datetime.text == "31/10/2025"
    assert from_datetime.at is None


def test_every_deadline_of_real_tables() -> None:
    """Every deadline text of the five real documents reads, and matches the derived column."""
    with EXAMPLE_CSV.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 256
    for row in rows:
        deadline = parse_deadline(
            row["deadline_text"], issued_on=date.fromisoformat(row["issued_date"])
        )
        if row["deadline_period_end_iso"]:
            assert deadline.on == date.fromisoformat(row["deadline_period_end_iso"]), row["task_no"]
        if row["deadline_iso_if_clear"]:
            assert deadline.precision == "day", row["task_no"]
            assert deadline.on == date.fromisoformat(row["deadline_iso_if_clear"]), row["task_no"]
