"""Tests of the `calendar` commands with default settings and the shipped yearly files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from node.local_tasks.calendar_cli import calendar


@pytest.fixture(autouse=True)
def default_settings(monkeypatch):
    """Remove THEODOI_* variables so that every test runs with the default settings."""
    for name in list(os.environ):
        if name.startswith("THEODOI_"):
            monkeypatch.delenv(name)


def run(*args: str) -> Result:
    return CliRunner().invoke(calendar, list(args))


def assert_input_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1
    for fragment in fragments:
        assert fragment in result.stderr


# -- add-hours ---------------------------------------------------------------------------


def test_add_hours_with_offset():
    result = run("add-hours", "2026-03-02T10:30+07:00", "4")
    assert result.exit_code == 0, result.output
    assert result.stdout == "2026-03-02T15:30:00+07:00\n"


def test_add_hours_utc_start():
    result = run("add-hours", "2026-03-02T03:30:00Z", "4")
    assert result.exit_code == 0, result.output
    assert result.stdout == "2026-03-02T15:30:00+07:00\n"


def test_add_hours_local_start():
    result = run("add-hours", "2026-03-02T08:00", "4")
    assert result.exit_code == 0, result.output
    assert result.stdout == "2026-03-02T12:00:00+07:00\n"


def test_add_hours_decimal_hours():
    # Sat 7/3 counts from Mon 9/3 08:00, so 2.5 h ends at 10:30.
    result = run("add-hours", "2026-03-07T10:00+07:00", "2.5")
    assert result.exit_code == 0, result.output
    assert result.stdout == "2026-03-09T10:30:00+07:00\n"


def test_add_hours_negative():
    assert_input_error(run("add-hours", "2026-03-02T10:30", "-4"), "-4", "zero or more")


def test_add_hours_not_a_number():
    assert_input_error(run("add-hours", "2026-03-02T10:30", "four"), "'four'", "e.g. 4 or 2.5")


def test_add_hours_invalid_start():
    assert_input_error(run("add-hours", "2026-02-30T10:30", "4"), "'2026-02-30T10:30'", "ISO 8601")


def test_add_hours_unknown_year():
    assert_input_error(run("add-hours", "2023-03-02T10:30", "4"), "2023", "2023.toml")


def test_add_hours_help_names_units():
    result = run("add-hours", "--help")
    assert result.exit_code == 0
    assert "working hours" in result.stdout
    assert "Asia/Ho_Chi_Minh" in result.stdout
    assert "offset" in result.stdout


# -- add-days ----------------------------------------------------------------------------


def test_add_days_over_makeup_saturday():
    result = run("add-days", "2024-05-02", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout == "2024-05-06\n"


def test_add_days_over_tet():
    result = run("add-days", "2026-02-13", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout == "2026-02-23\n"


def test_add_days_invalid_date():
    assert_input_error(run("add-days", "2026-13-01", "1"), "'2026-13-01'", "YYYY-MM-DD")


def test_add_days_negative_count():
    assert_input_error(run("add-days", "2026-03-02", "-1"), "-1", "zero or more")


def test_add_days_invalid_count():
    assert_input_error(run("add-days", "2026-03-02", "1.5"), "'1.5'", "whole number")


def test_add_days_unknown_year():
    assert_input_error(run("add-days", "2026-12-30", "5"), "No working calendar for 2027")


# -- between -----------------------------------------------------------------------------


def test_between_over_lunch_break():
    result = run("between", "2026-03-02T11:00+07:00", "2026-03-02T14:30+07:00")
    assert result.exit_code == 0, result.output
    assert result.stdout == "2.5\n"


def test_between_whole_day():
    result = run("between", "2026-03-02T08:00", "2026-03-02T17:00")
    assert result.exit_code == 0, result.output
    assert result.stdout == "8\n"


def test_between_over_weekend():
    result = run("between", "2026-03-06T11:00", "2026-03-09T09:30")
    assert result.exit_code == 0, result.output
    assert result.stdout == "6.5\n"


def test_between_rounds_to_four_places():
    # 20 minutes is 0.3333... h.
    result = run("between", "2026-03-02T08:00", "2026-03-02T08:20")
    assert result.exit_code == 0, result.output
    assert result.stdout == "0.3333\n"


def test_between_end_before_start():
    assert_input_error(run("between", "2026-03-02T11:00", "2026-03-02T10:00"), "before start")


def test_between_invalid_end():
    assert_input_error(run("between", "2026-03-02T11:00", "tomorrow"), "END", "'tomorrow'")


# -- show --------------------------------------------------------------------------------


def test_show_2026():
    result = run("show", "2026")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Working calendar 2026 (Asia/Ho_Chi_Minh)"
    assert "Days off:" in lines
    assert "Make-up working days:" in lines
    assert any(line.startswith("  2026-01-02 Fri  Nghỉ Tết Dương lịch") for line in lines)
    assert any(line.startswith("  2026-01-10 Sat  Làm bù") for line in lines)
    assert any(line.startswith("  2026-08-22 Sat  Làm bù") for line in lines)
    assert any("12729/VPCP-KGVX" in line for line in lines)


def test_show_2024_makeup_saturday():
    result = run("show", "2024")
    assert result.exit_code == 0, result.output
    makeup_section = result.stdout.split("Make-up working days:\n", 1)[1]
    assert makeup_section.startswith("  2024-05-04 Sat  ")


def test_show_unknown_year():
    assert_input_error(run("show", "2027"), "No working calendar for 2027")


def test_show_invalid_year():
    assert_input_error(run("show", "next"), "Invalid year 'next'")


# -- settings ----------------------------------------------------------------------------


def test_calendar_dir_from_environment(monkeypatch, tmp_path: Path):
    (tmp_path / "2027.toml").write_text("", encoding="utf-8")
    monkeypatch.setenv("THEODOI_CALENDAR_DIR", str(tmp_path))
    result = run("add-days", "2027-02-03", "1")
    assert result.exit_code == 0, result.output
    # Thu 4/2/2027 to Wed 10/2/2027 are Tết in the holidays package.
    assert result.stdout == "2027-02-11\n"


def test_missing_calendar_dir(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("THEODOI_CALENDAR_DIR", str(tmp_path / "absent"))
    result = run("add-days", "2026-03-02", "1")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Calendar folder not found" in result.stderr
