"""Working-time cases run through the installed `theodoi` console script, as a user runs them.

Working hours are 08:00-12:00 and 13:00-17:00 in Vietnam, Monday to Friday,
without public holidays and with their make-up working days. In 2024,
Monday 29/4 was a day off in exchange for Saturday 4/5, so with the
weekend and the holidays of 30/4 and 1/5 no day from Saturday 27/4
to Wednesday 1/5 was a working day.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

THEODOI = Path(sys.executable).with_name("theodoi")

CASES = [
    (["add-hours", "2026-03-02T10:30:00+07:00", "4"], "2026-03-02T15:30:00+07:00"),
    # The lunch break does not count, so a start inside it counts from 13:00.
    (["add-hours", "2026-03-02T12:30:00+07:00", "4"], "2026-03-02T17:00:00+07:00"),
    (["add-hours", "2026-03-02T08:00:00+07:00", "4"], "2026-03-02T12:00:00+07:00"),
    (["add-hours", "2026-03-02T13:00:00+07:00", "8"], "2026-03-03T12:00:00+07:00"),
    # Saturday: the count starts on Monday at 08:00.
    (["add-hours", "2026-03-07T10:00:00+07:00", "4"], "2026-03-09T12:00:00+07:00"),
    # One hour on Friday 26/4, then the holidays, then seven hours on Thursday 2/5.
    (["add-hours", "2024-04-26T16:00:00+07:00", "8"], "2024-05-02T16:00:00+07:00"),
    # Friday 3/5, the make-up Saturday 4/5, then Monday 6/5.
    (["add-days", "2024-05-02", "3"], "2024-05-06"),
    # 10:00-12:00 and 13:00-14:00.
    (["between", "2026-03-02T10:00:00+07:00", "2026-03-02T14:00:00+07:00"], "3"),
]


@pytest.fixture
def default_environment() -> dict[str, str]:
    """Return the environment without THEODOI_* settings, so the defaults apply."""
    return {name: value for name, value in os.environ.items() if not name.startswith("THEODOI_")}


def test_console_script_installed() -> None:
    assert THEODOI.is_file(), f"{THEODOI} is missing; install the project with pip install -e ."


@pytest.mark.parametrize(("arguments", "expected"), CASES,
                         ids=[" ".join(arguments) for arguments, _ in CASES])
def test_calendar_command(arguments: list[str], expected: str, tmp_path: Path,
                          default_environment: dict[str, str]) -> None:
    completed = subprocess.run(
        [str(THEODOI), "calendar", *arguments],
        capture_output=True, text=True, cwd=tmp_path, env=default_environment, timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == expected + "\n"
    assert completed.stderr == ""
