"""The `theodoi import` command on a fresh node, and the levels report after it."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import node.cli

REAL_CSV = "tasks_real_documents.csv"
REPORT_AT = "2026-12-04T12:00:00+07:00"
REPORT_DAY = date(2026, 12, 4)
PROBLEM_KEYS = {"document", "row", "column", "value", "reason"}

BROKEN_TABLE = [
    ["DANH MỤC NHIỆM VỤ"],
    ["(Kèm theo Kế hoạch số 12/KH-UBND ngày 05/01/2026 của Ủy ban nhân dân tỉnh Cao Bằng)"],
    ["STT", "Nội dung nhiệm vụ", "Cơ quan chủ trì", "Thời hạn"],
    ["1", "Rà soát hạ tầng mạng nội bộ", "Tỉnh ủy Cao Bằng", "31/03/2026"],
    ["2", "Tổng hợp báo cáo sơ kết quý I", "Tỉnh ủy Cao Bằng", "31/02/2026"],
    ["3", "", "UBND Cao Bằng", "Quý II/2026"],
    ["4", "Xây dựng kho dữ liệu dùng chung", "Sở Giao thông vận tải tỉnh Hà Giang", "6/2026"],
]
# The bad rows of BROKEN_TABLE: (file row, column, value, words of the reason).
BROKEN_ROWS = [
    (5, "D (Thời hạn)", "31/02/2026", "February 2026 has no day 31"),
    (6, "B (Nội dung nhiệm vụ)", "", "content is missing"),
    (7, "C (Cơ quan chủ trì)", "Sở Giao thông vận tải tỉnh Hà Giang", "Unknown agency"),
]

# Deadline texts of the real CSV that fill neither derived column, with the
# last day by which the task is due, or None for a task that has no deadline.
DEADLINES_WITHOUT_DERIVED_DAY: dict[str, date | None] = {
    # Recurring duties and work done when it arises have no deadline.
    "Thường xuyên": None,
    "Nhiệm vụ thường xuyên": None,
    "Thường xuyên, hằng năm": None,
    "Thường xuyên, định kỳ hằng quý báo cáo về Sở Tài chính": None,
    "Hằng năm": None,
    "Hằng năm.": None,
    "hằng năm": None,
    "Hàng năm": None,
    "Khi có phát sinh.": None,
    # Work that goes on from a year onwards has no deadline.
    "2025 và những năm tiếp theo": None,
    # A programme over a range of years has no single deadline. Every range
    # here ends in 2026 or later, so reading the end of its last year as the
    # deadline would not make it overdue at REPORT_DAY either.
    "Năm 2025-2030": None,
    "Năm 2025 - 2026": None,
    "2025 - 2026": None,
    "2025-2026": None,
    # A cell left empty in the source table.
    "": None,
    # A task due in a quarter is due on its last day, 30 September for the third.
    "Quý III Năm 2026": date(2026, 9, 30),
    # Work from one quarter to another is due when the later quarter ends.
    "Quý IV/2025- Quý II/2026": date(2026, 6, 30),
}


@pytest.fixture
def node_cli(monkeypatch: pytest.MonkeyPatch, migrated_node_config: Path):  # noqa: ANN201
    """Return a function that runs `theodoi` on a freshly initialised node."""
    for name in list(os.environ):
        if name.startswith("THEODOI_") and not name.startswith("THEODOI_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("THEODOI_CONFIG", str(migrated_node_config))

    def run(*args: str) -> Result:
        return CliRunner().invoke(node.cli.main, list(args))

    result = run("init")
    assert result.exit_code == 0, result.output
    return run


def read_source_rows(examples_dir: Path) -> list[dict[str, str]]:
    with (examples_dir / REAL_CSV).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_broken_csv(tmp_path: Path) -> Path:
    path = tmp_path / "ke_hoach_loi.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(BROKEN_TABLE)
    return path


def levels(run, *args: str) -> dict:  # noqa: ANN001
    result = run("report", "levels", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def expected_deadline_day(row: dict[str, str]) -> date | None:
    """Return the last day a row of the real CSV is due, None for a task without deadline."""
    derived = row["deadline_iso_if_clear"] or row["deadline_period_end_iso"]
    if derived:
        return date.fromisoformat(derived)
    text = row["deadline_text"]
    assert text in DEADLINES_WITHOUT_DERIVED_DAY, f"no expected deadline for {text!r}"
    return DEADLINES_WITHOUT_DERIVED_DAY[text]


# Import ---------------------------------------------------------------------------------


def test_import_prints_counts(node_cli, examples_dir: Path) -> None:  # noqa: ANN001
    rows_per_document = Counter(row["document_number"] for row in read_source_rows(examples_dir))

    result = node_cli("import", str(examples_dir / REAL_CSV), "--create-agencies")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "Imported." in lines
    counts_line = next(line for line in lines if line.startswith("Documents:"))
    assert counts_line.startswith(f"Documents: {len(rows_per_document)}   "
                                  f"Tasks: {sum(rows_per_document.values())}   ")
    assert "   Agencies created: " in counts_line
    assert "Agencies created for review:" in lines
    for reference, row_count in rows_per_document.items():
        assert any(line.startswith(f"  {reference}: {row_count} task(s)") for line in lines), \
            reference
    assert "Problems:" not in lines


def test_import_json_report(node_cli, examples_dir: Path) -> None:  # noqa: ANN001
    rows_per_document = Counter(row["document_number"] for row in read_source_rows(examples_dir))

    result = node_cli("import", str(examples_dir / REAL_CSV), "--create-agencies", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["file"] == REAL_CSV
    assert report["written"] is True
    assert report["dry_run"] is False
    assert report["problems"] == []
    assert report["counts"]["documents"] == len(rows_per_document)
    assert report["counts"]["tasks"] == sum(rows_per_document.values())
    assert report["counts"]["problems"] == 0
    assert report["counts"]["created_agencies"] == len(report["created_agencies"])
    assert {document["reference"]: document["tasks"]
            for document in report["documents"]} == dict(rows_per_document)


def test_broken_file_text_names_rows(node_cli, tmp_path: Path) -> None:  # noqa: ANN001
    result = node_cli("import", str(write_broken_csv(tmp_path)))

    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("Nothing was written") for line in lines)
    problem_lines = [line for line in lines if line.startswith("  document 12/KH-UBND, row ")]
    assert len(problem_lines) == len(BROKEN_ROWS)
    for row, column, value, reason in BROKEN_ROWS:
        shown_value = f"value '{value}'" if value else "empty cell"
        prefix = f"  document 12/KH-UBND, row {row}, column {column}, {shown_value}: "
        line = next((line for line in problem_lines if line.startswith(prefix)), None)
        assert line is not None, f"no problem line starts with {prefix!r}"
        assert reason in line
    assert levels(node_cli)["total"] == 0


def test_broken_file_json_names_rows(node_cli, tmp_path: Path) -> None:  # noqa: ANN001
    result = node_cli("import", str(write_broken_csv(tmp_path)), "--json")

    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["written"] is False
    assert report["counts"]["problems"] == len(BROKEN_ROWS)
    for problem in report["problems"]:
        assert set(problem) == PROBLEM_KEYS
        assert problem["document"] == "12/KH-UBND"
    found = {(problem["row"], problem["column"], problem["value"])
             for problem in report["problems"]}
    assert found == {(row, column, value) for row, column, value, _ in BROKEN_ROWS}
    reasons = {problem["row"]: problem["reason"] for problem in report["problems"]}
    for row, _, _, reason in BROKEN_ROWS:
        assert reason in reasons[row]
    assert levels(node_cli)["total"] == 0


def test_dry_run_leaves_node_empty(node_cli, examples_dir: Path) -> None:  # noqa: ANN001
    result = node_cli("import", str(examples_dir / REAL_CSV), "--create-agencies", "--dry-run")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "Dry run: the file is valid and nothing was written." in lines
    counts_line = next(line for line in lines if line.startswith("Documents:"))
    assert "   Agencies that would be created: " in counts_line
    assert "Agencies that would be created for review:" in lines
    assert "Agencies created" not in result.stdout
    assert levels(node_cli)["total"] == 0


def test_broken_file_creates_no_agency(node_cli, tmp_path: Path) -> None:  # noqa: ANN001
    result = node_cli("import", str(write_broken_csv(tmp_path)), "--create-agencies")

    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("Nothing was written") for line in lines)
    counts_line = next(line for line in lines if line.startswith("Documents:"))
    assert counts_line.endswith("   Agencies that would be created: 1")
    heading = lines.index("Agencies that would be created for review:")
    assert lines[heading + 1] == "  Sở Giao thông vận tải tỉnh Hà Giang"
    assert "Agencies created" not in result.stdout
    assert levels(node_cli)["total"] == 0


def test_short_row_reported_not_created(node_cli, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "thieu_dau_phay.csv"
    path.write_text(
        "STT,Nội dung nhiệm vụ,Cơ quan chủ trì,Thời hạn hoàn thành\n"
        "1,Rà soát hạ tầng mạng nội bộ,Tỉnh ủy Cao Bằng,31/03/2026\n"
        "2,Cập nhật cơ sở dữ liệuBộ Công an,30/06/2026\n",
        encoding="utf-8",
    )

    result = node_cli("import", str(path), "--reference", "12/KH-UBND", "--create-agencies")

    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    problems = lines[lines.index("Problems:") + 1:]
    assert problems == [
        "  document 12/KH-UBND, row 3: The row has 3 cells but the header has 4 columns; "
        "check for a missing separator.",
    ]
    assert "30/06/2026" not in result.stdout
    assert levels(node_cli)["total"] == 0


def test_missing_reference_reported_once(node_cli, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "khong_so.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(row for row in BROKEN_TABLE if "Kèm theo" not in row[0])

    result = node_cli("import", str(path), "--json")

    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    reference_problems = [problem for problem in report["problems"]
                          if problem["column"] == "--reference"]
    assert len(reference_problems) == 1
    assert reference_problems[0]["row"] is None
    assert reference_problems[0]["reason"].startswith("The document number is missing")


def test_problems_listed_in_row_order(node_cli, tmp_path: Path) -> None:  # noqa: ANN001
    # The unknown agency, found when agencies are matched after parsing, is
    # on the first task row. The bad deadline, found while parsing, is on the last.
    path = tmp_path / "thu_tu.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([*BROKEN_TABLE[:3], BROKEN_TABLE[6], BROKEN_TABLE[4]])

    result = node_cli("import", str(path), "--json")

    assert result.exit_code == 1, result.output
    problems = json.loads(result.stdout)["problems"]
    found = [(problem["row"], problem["column"]) for problem in problems]
    assert found == [(4, "C (Cơ quan chủ trì)"), (5, "D (Thời hạn)")]


def test_confidential_summary_drop_noted(node_cli, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "mat.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(BROKEN_TABLE[:4])

    result = node_cli("import", str(path), "--confidentiality", "mật",
                      "--summary", "Kế hoạch chuyển đổi số năm 2026")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    notes = lines[lines.index("Notes:") + 1:]
    assert notes == [
        "  12/KH-UBND is confidential: only task numbers, agencies and deadlines were kept; "
        "the document summary, task content, products, results and other columns were dropped.",
    ]
    assert "Kế hoạch chuyển đổi số" not in result.stdout


# Levels after the import -----------------------------------------------------------------


def test_levels_after_real_import(node_cli, examples_dir: Path) -> None:  # noqa: ANN001
    rows = read_source_rows(examples_dir)
    # Every imported task is not started, so it is overdue exactly when its
    # deadline, the end of its last day in Vietnam, is before REPORT_AT.
    overdue = 0
    for row in rows:
        day = expected_deadline_day(row)
        if day is not None and day < REPORT_DAY:
            overdue += 1
    result = node_cli("import", str(examples_dir / REAL_CSV), "--create-agencies")
    assert result.exit_code == 0, result.output

    report = levels(node_cli, "--at", REPORT_AT)

    assert report["total"] == len(rows) == 256
    assert report["counts"] == {
        "completed_on_time": 0,
        "completed_late": 0,
        "in_progress_on_time": 0,
        "in_progress_overdue": 0,
        "implemented_not_completed": 0,
        "not_started_on_time": len(rows) - overdue,
        "not_started_overdue": overdue,
    }


def test_levels_count_due_day_on_time(node_cli, examples_dir: Path) -> None:  # noqa: ANN001
    # At noon on 30/09/2025, a deadline of that day has not passed yet.
    rows = read_source_rows(examples_dir)
    due_that_day = sum(1 for row in rows if expected_deadline_day(row) == date(2025, 9, 30))
    assert due_that_day > 0
    result = node_cli("import", str(examples_dir / REAL_CSV), "--create-agencies")
    assert result.exit_code == 0, result.output

    on_the_day = levels(node_cli, "--at", "2025-09-30T12:00:00+07:00")["counts"]
    next_day = levels(node_cli, "--at", "2025-10-01T00:00:00+07:00")["counts"]

    assert next_day["not_started_overdue"] - on_the_day["not_started_overdue"] == due_that_day
