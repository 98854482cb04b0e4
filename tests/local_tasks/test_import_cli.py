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
# The tests that check English wording ask for it: the node's default locale is vi.
ENGLISH = ("--lang", "en")

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

    result = node_cli("import", *ENGLISH, str(examples_dir / REAL_CSV), "--create-agencies")

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
    result = node_cli("import", *ENGLISH, str(write_broken_csv(tmp_path)))

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
    result = node_cli("import", *ENGLISH, str(write_broken_csv(tmp_path)), "--json")

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
    result = node_cli("import", *ENGLISH, str(examples_dir / REAL_CSV), "--create-agencies",
                      "--dry-run")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "Dry run: the file is valid and nothing was written." in lines
    counts_line = next(line for line in lines if line.startswith("Documents:"))
    assert "   Agencies that would be created: " in counts_line
    assert "Agencies that would be created for review:" in lines
    assert "Agencies created" not in result.stdout
    assert levels(node_cli)["total"] == 0


def test_broken_file_creates_no_agency(node_cli, tmp_path: Path) -> None:  # noqa: ANN001
    result = node_cli("import", *ENGLISH, str(write_broken_csv(tmp_path)), "--create-agencies")

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

    result = node_cli("import", *ENGLISH, str(path), "--reference", "12/KH-UBND",
                      "--create-agencies")

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

    result = node_cli("import", *ENGLISH, str(path), "--json")

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

    result = node_cli("import", *ENGLISH, str(path), "--confidentiality", "mật",
                      "--summary", "Kế hoạch chuyển đổi số năm 2026")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    notes = lines[lines.index("Notes:") + 1:]
    assert notes == [
        "  12/KH-UBND is confidential: only task numbers, agencies and deadlines were kept; "
        "the document summary, task content, products, results and other columns were dropped.",
    ]
    assert "Kế hoạch chuyển đổi số" not in result.stdout


# Report language ------------------------------------------------------------------------

# Hand edits of the real CSV, by file row (the header is row 1): a day that
# February 2026 does not have, and a lead agency (Bộ Nội vụ) deleted.
BAD_DATE_ROW = 5
NO_LEAD_ROW = 6
# The expected problems of that file, in the node's default locale (Vietnamese).
BROKEN_REAL_PROBLEMS_VI = [
    "  văn bản 03/NQ-CP, dòng 5, cột I (deadline_text), giá trị '30/02/2026': "
    "Thời hạn '30/02/2026' không hợp lệ: tháng 2 năm 2026 không có ngày 30; "
    "hãy ghi một ngày từ 1 đến 28",
    "  văn bản 03/NQ-CP, dòng 6, cột G (lead_agency), ô trống: "
    "Thiếu cơ quan chủ trì; hãy ghi ít nhất một cơ quan. Nếu dòng này là tiêu đề mục, "
    "hãy ghi số La Mã hoặc chữ cái ở cột STT.",
]
BROKEN_REAL_PROBLEMS_EN = [
    "  document 03/NQ-CP, row 5, column I (deadline_text), value '30/02/2026': "
    "Invalid deadline '30/02/2026': February 2026 has no day 30; write a day from 1 to 28",
    "  document 03/NQ-CP, row 6, column G (lead_agency), empty cell: "
    "The lead agency is missing; name at least one. If this row is a section heading, "
    "put a Roman numeral or a letter in the STT column.",
]
ABSOLUTELY_SECRET_ROW = 7


def write_real_csv(tmp_path: Path, examples_dir: Path, *, extra_column: str | None = None,
                   edits: dict[int, dict[str, str]]) -> Path:
    """Copy the real CSV with `edits` (file row to new cell values) and an optional extra column."""
    rows = read_source_rows(examples_dir)
    fields = list(rows[0])
    if extra_column is not None:
        fields.append(extra_column)
    for file_row, values in edits.items():
        rows[file_row - 2].update(values)
    path = tmp_path / "tasks_edited.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_broken_real_csv(tmp_path: Path, examples_dir: Path) -> Path:
    return write_real_csv(tmp_path, examples_dir, edits={
        BAD_DATE_ROW: {"deadline_text": "30/02/2026", "deadline_iso_if_clear": "",
                       "deadline_period_end_iso": ""},
        NO_LEAD_ROW: {"lead_agency": ""},
    })


def problem_lines(output: str, heading: str) -> list[str]:
    lines = output.splitlines()
    return lines[lines.index(heading) + 1:]


def test_import_counts_in_vietnamese(node_cli, examples_dir: Path) -> None:  # noqa: ANN001
    rows_per_document = Counter(row["document_number"] for row in read_source_rows(examples_dir))

    result = node_cli("import", str(examples_dir / REAL_CSV), "--create-agencies")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Tệp: {REAL_CSV}"
    assert lines[1] == "Đã nhập."
    assert lines[2].startswith(f"Văn bản: {len(rows_per_document)}   "
                               f"Nhiệm vụ: {sum(rows_per_document.values())}   ")
    assert "   Cơ quan được tạo: " in lines[2]
    assert "Cơ quan được tạo, cần rà soát:" in lines
    for reference, row_count in rows_per_document.items():
        assert any(line.startswith(f"  {reference}: {row_count} nhiệm vụ, ") for line in lines), \
            reference
    assert "Lỗi:" not in lines


def test_broken_real_file_vietnamese(node_cli, tmp_path: Path,  # noqa: ANN001
                                     examples_dir: Path) -> None:
    path = write_broken_real_csv(tmp_path, examples_dir)

    result = node_cli("import", str(path), "--create-agencies")

    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == "Chưa ghi dữ liệu nào: tệp có 2 lỗi. Hãy sửa rồi nhập lại tệp."
    assert "   Cơ quan sẽ được tạo: " in lines[2]
    assert "Cơ quan sẽ được tạo, cần rà soát:" in lines
    assert "Cơ quan được tạo" not in result.stdout
    assert problem_lines(result.stdout, "Lỗi:") == BROKEN_REAL_PROBLEMS_VI
    assert levels(node_cli)["total"] == 0


def test_broken_real_file_json_vietnamese(node_cli, tmp_path: Path,  # noqa: ANN001
                                          examples_dir: Path) -> None:
    path = write_broken_real_csv(tmp_path, examples_dir)

    result = node_cli("import", str(path), "--create-agencies", "--json")

    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["written"] is False
    assert report["problems"] == [
        {"document": "03/NQ-CP", "row": BAD_DATE_ROW, "column": "I (deadline_text)",
         "value": "30/02/2026",
         "reason": "Thời hạn '30/02/2026' không hợp lệ: tháng 2 năm 2026 không có ngày 30; "
                   "hãy ghi một ngày từ 1 đến 28"},
        {"document": "03/NQ-CP", "row": NO_LEAD_ROW, "column": "G (lead_agency)", "value": "",
         "reason": "Thiếu cơ quan chủ trì; hãy ghi ít nhất một cơ quan. Nếu dòng này là tiêu đề "
                   "mục, hãy ghi số La Mã hoặc chữ cái ở cột STT."},
    ]
    assert levels(node_cli)["total"] == 0


def test_node_locale_english(node_cli, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
                             tmp_path: Path, examples_dir: Path) -> None:
    monkeypatch.setenv("THEODOI_DEFAULT_LOCALE", "en")
    path = write_broken_real_csv(tmp_path, examples_dir)

    result = node_cli("import", str(path), "--create-agencies")

    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == ("Nothing was written: the file has 2 problem(s). Correct them and "
                        "import the file again.")
    assert problem_lines(result.stdout, "Problems:") == BROKEN_REAL_PROBLEMS_EN
    assert levels(node_cli)["total"] == 0


def test_lang_option_overrides_node(node_cli, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
                                    tmp_path: Path, examples_dir: Path) -> None:
    monkeypatch.setenv("THEODOI_DEFAULT_LOCALE", "en")
    path = write_broken_real_csv(tmp_path, examples_dir)

    result = node_cli("import", "--lang", "vi", str(path), "--create-agencies")

    assert result.exit_code == 1, result.output
    assert problem_lines(result.stdout, "Lỗi:") == BROKEN_REAL_PROBLEMS_VI


def test_absolutely_secret_row_vietnamese(node_cli, tmp_path: Path,  # noqa: ANN001
                                          examples_dir: Path) -> None:
    secret_row = read_source_rows(examples_dir)[ABSOLUTELY_SECRET_ROW - 2]
    path = write_real_csv(tmp_path, examples_dir, extra_column="confidentiality",
                          edits={ABSOLUTELY_SECRET_ROW: {"confidentiality": "Tuyệt mật"}})

    result = node_cli("import", str(path), "--create-agencies")

    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == "Bị từ chối: không đọc và không ghi dữ liệu nào."
    # The confidentiality column is the 16th, P, after the 15 columns of the real CSV.
    assert problem_lines(result.stdout, "Lỗi:") == [
        "  dòng 7, cột P (confidentiality), giá trị 'Tuyệt mật': Tài liệu tuyệt mật không được "
        "đưa vào hệ thống; không nội dung nào của tệp này được đọc hoặc lưu. Hãy bỏ tệp này "
        "khỏi lần nhập.",
    ]
    assert secret_row["task_content"] not in result.stdout
    assert levels(node_cli)["total"] == 0


def write_one_task_csv(tmp_path: Path) -> Path:
    """Write the title rows, header and first (valid) task row of BROKEN_TABLE."""
    path = tmp_path / "mot_nhiem_vu.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(BROKEN_TABLE[:4])
    return path


def test_stored_document_named_in_both(node_cli, tmp_path: Path) -> None:  # noqa: ANN001
    path = write_one_task_csv(tmp_path)
    first = node_cli("import", str(path))
    assert first.exit_code == 0, first.output

    vietnamese = node_cli("import", str(path))
    english = node_cli("import", *ENGLISH, str(path))

    assert vietnamese.exit_code == 1, vietnamese.output
    assert problem_lines(vietnamese.stdout, "Lỗi:") == [
        "  văn bản 12/KH-UBND, dòng 4, cột --reference, giá trị '12/KH-UBND': "
        "Văn bản này đã có trong hệ thống; mỗi văn bản chỉ nhập một lần.",
    ]
    assert english.exit_code == 1, english.output
    assert problem_lines(english.stdout, "Problems:") == [
        "  document 12/KH-UBND, row 4, column --reference, value '12/KH-UBND': "
        "This document is already stored; import each document once.",
    ]
    assert levels(node_cli)["total"] == 1


def test_unknown_kind_named_in_both(node_cli, tmp_path: Path) -> None:  # noqa: ANN001
    path = write_one_task_csv(tmp_path)

    vietnamese = node_cli("import", str(path), "--kind", "memo")
    english = node_cli("import", *ENGLISH, str(path), "--kind", "memo")

    assert vietnamese.exit_code == 1, vietnamese.output
    assert problem_lines(vietnamese.stdout, "Lỗi:") == [
        "  văn bản 12/KH-UBND, dòng 4, cột --kind, giá trị 'memo': Loại văn bản không xác "
        "định; hãy dùng một mã trong danh sách tại /api/v1/document-kinds.",
    ]
    assert english.exit_code == 1, english.output
    assert problem_lines(english.stdout, "Problems:") == [
        "  document 12/KH-UBND, row 4, column --kind, value 'memo': Unknown document kind; "
        "use a code listed under /api/v1/document-kinds.",
    ]
    assert levels(node_cli)["total"] == 0


def test_old_excel_file_named_in_both(node_cli, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "ke_hoach.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")

    vietnamese = node_cli("import", str(path))
    english = node_cli("import", *ENGLISH, str(path))

    assert vietnamese.exit_code == 1, vietnamese.output
    assert problem_lines(vietnamese.stdout, "Lỗi:") == [
        "  giá trị 'ke_hoach.xls': ke_hoach.xls là tệp Excel 97-2003 cũ; hãy lưu lại dưới "
        "dạng .xlsx rồi nhập tệp đó",
    ]
    assert english.exit_code == 1, english.output
    assert problem_lines(english.stdout, "Problems:") == [
        "  value 'ke_hoach.xls': ke_hoach.xls is an old Excel 97-2003 file; save it as .xlsx "
        "and import that",
    ]


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
