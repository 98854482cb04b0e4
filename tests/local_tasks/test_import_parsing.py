"""Import parsing without a database: headers, CSV and XLSX reading, rows, problems, reports."""

from __future__ import annotations

import csv
import json
import unicodedata
from datetime import date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook

from node.local_tasks.import_cli import import_command
from node.local_tasks.importer import headers as h
from node.local_tasks.importer.importer import ImportOptions, Problem, parse_file, sort_problems
from node.local_tasks.importer.readers import decode_csv_bytes, read_csv_bytes, read_table
from node.local_tasks.importer.report import format_problem, render_json, render_text
from node.local_tasks.importer.storing import DocumentSummary, ImportResult, summarise

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FUNDING = "Nguồn kinh phí"
INVESTMENT = "Đầu tư công hoặc nguồn vốn hợp pháp khác (nếu có)"
RECURRENT = "Chi thường xuyên hoặc nguồn vốn hợp pháp khác (nếu có)"


def csv_rows(reference: str) -> list[dict[str, str]]:
    with (EXAMPLES / "tasks_real_documents.csv").open(encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["document_number"] == reference]


def windows_1258(text: str) -> bytes:
    """Encode as Windows-1258 does: base letters precomposed, tones as combining marks."""
    tones = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
    pieces = []
    for char in unicodedata.normalize("NFC", text):
        decomposed = unicodedata.normalize("NFD", char)
        base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in tones))
        pieces.append(base + "".join(c for c in decomposed if c in tones))
    return "".join(pieces).encode("cp1258")


def write_csv(path: Path, lines: list[list[str]], *, encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(lines)
    return path


def problem_places(problems: list[Problem]) -> list[tuple[int | None, str | None, object]]:
    return [(problem.row, problem.column, problem.value) for problem in problems]


SMALL_TABLE = [
    ["KẾ HOẠCH THỰC HIỆN"],
    ["(Kèm theo Kế hoạch số 617/KH-UBND ngày 01/12/2025 của Ủy ban nhân dân tỉnh Đồng Tháp)"],
    [],
    ["STT", "Nội dung nhiệm vụ", "Cơ quan chủ trì", "Cơ quan phối hợp", "Thời gian hoàn thành"],
    ["I", "NÂNG CAO NHẬN THỨC VÀ ĐỔI MỚI TƯ DUY", "", "", ""],
    ["1", "Triển khai đánh giá mức độ chuyển đổi số trong các doanh nghiệp trên địa bàn Tỉnh.",
     "Sở KH&CN", "Các sở, ban, ngành tỉnh; UBND các xã, phường", "Thường xuyên"],
    ["2", "Xây dựng Bộ tiêu chí đánh giá mức độ chuyển đổi số doanh nghiệp.", "Sở KH&CN",
     "Các sở, ban, ngành tỉnh", "Quí IV-2025"],
]


# Headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "field_name"),
    [
        ("STT", h.TASK_NO), ("TT", h.TASK_NO), ("Số TT", h.TASK_NO), ("stt", h.TASK_NO),
        ("Nhiệm vụ", h.CONTENT), ("Nội dung nhiệm vụ", h.CONTENT), ("Nội dung", h.CONTENT),
        ("Tên nhiệm vụ", h.CONTENT), ("NHIỆM VỤ", h.CONTENT),
        ("Cơ quan chủ trì", h.LEAD), ("Đơn vị chủ trì", h.LEAD), ("Chủ trì", h.LEAD),
        ("Cơ quan chủ trì\nthực hiện", h.LEAD), ("Co quan chu tri", h.LEAD),
        ("Cơ quan phối hợp", h.COORDINATING), ("Đơn vị phối hợp", h.COORDINATING),
        ("Phối hợp", h.COORDINATING),
        ("Cơ quan theo dõi", h.MONITORING),
        ("Thời gian", h.DEADLINE), ("Thời hạn", h.DEADLINE), ("Thời hạn hoàn thành", h.DEADLINE),
        ("Thời gian hoàn thành", h.DEADLINE), ("Tiến độ", h.DEADLINE),
        ("Thời gian dự kiến hoàn thành", h.DEADLINE), ("Thời hạn hoàn thành (5)", h.DEADLINE),
        ("Sản phẩm", h.PRODUCT), ("Kết quả, sản phẩm", h.PRODUCT), ("Kết quả dự kiến", h.PRODUCT),
        ("Ghi chú", h.NOTE), ("Độ mật", h.CONFIDENTIALITY),
        ("document_number", h.REFERENCE), ("task_no", h.TASK_NO), ("task_content", h.CONTENT),
        ("lead_agency", h.LEAD), ("coordinating_agencies", h.COORDINATING),
        ("deadline_text", h.DEADLINE), ("product", h.PRODUCT), ("section", h.SECTION),
        ("issued_date", h.ISSUED_ON), ("document_title", h.SUMMARY), ("issuer", h.ISSUER),
        ("other_columns_json", h.EXTRA_JSON), ("source_ref", h.SOURCE),
        ("deadline_iso_if_clear", h.DERIVED_DEADLINE_DAY),
        ("deadline_period_end_iso", h.DERIVED_DEADLINE_END),
    ],
)
def test_header_variants(cell: str, field_name: str) -> None:
    assert h.match_header(cell) == field_name


@pytest.mark.parametrize("cell", ["Nguồn kinh phí", "Văn bản giao nhiệm vụ", "", None])
def test_other_headers_stay_extra(cell: str | None) -> None:
    assert h.match_header(cell) is None


def test_decomposed_header_matches() -> None:
    assert h.match_header(unicodedata.normalize("NFD", "Thời hạn hoàn thành")) == h.DEADLINE


def test_header_row_after_title_rows() -> None:
    rows = [list(row) for row in SMALL_TABLE]
    assert h.find_header_row(rows) == 3


def test_header_row_missing() -> None:
    assert h.find_header_row([["Nhiệm vụ", "Thời hạn"], ["Một việc", "2026"]]) is None


def test_header_map_labels_and_extra() -> None:
    header = h.map_header_row(["TT", "Nhiệm vụ", "Cơ quan chủ trì", "Nguồn kinh phí"])
    assert header.columns == {h.TASK_NO: 0, h.CONTENT: 1, h.LEAD: 2}
    assert header.extra == {3: "Nguồn kinh phí"}
    assert header.label(h.LEAD) == "C (Cơ quan chủ trì)"


def test_column_letters() -> None:
    assert h.column_letter(0) == "A"
    assert h.column_letter(25) == "Z"
    assert h.column_letter(26) == "AA"
    assert h.column_letter(27) == "AB"


@pytest.mark.parametrize(
    ("label", "index"),
    [("A (STT)", 0), ("E (Thời hạn)", 4), ("Z", 25), ("AA", 26), ("AB (Ghi chú)", 27),
     ("--reference", None), ("", None), (None, None)],
)
def test_column_index_of_label(label: str | None, index: int | None) -> None:
    assert h.column_index(label) == index


def test_header_width_ignores_empty_tail() -> None:
    assert h.map_header_row(["STT", "Nhiệm vụ", None, "Chủ trì", None, None]).width == 4
    assert h.map_header_row([]).width == 0


# CSV reading ---------------------------------------------------------------------------


def test_csv_encodings_read_alike(tmp_path: Path) -> None:
    text = "STT,Nhiệm vụ,Cơ quan chủ trì\n1,Tổ chức học tập kinh nghiệm,Sở Khoa học và Công nghệ\n"
    variants = {
        "utf-8": text.encode("utf-8"),
        "utf-8-sig": b"\xef\xbb\xbf" + text.encode("utf-8"),
        "cp1258": windows_1258(text),
        "utf-16": text.encode("utf-16"),
    }
    for encoding, data in variants.items():
        decoded, found = decode_csv_bytes(data)
        assert found == encoding
        assert decoded == text
        table = read_csv_bytes(data)
        assert table.rows[1].values == ["1", "Tổ chức học tập kinh nghiệm",
                                        "Sở Khoa học và Công nghệ"]


def test_windows_1258_bytes_are_decomposed() -> None:
    # The test data must really use combining tones, or the NFC step is not tested.
    data = windows_1258("Thời hạn")
    assert data.decode("cp1258") != "Thời hạn"
    assert unicodedata.normalize("NFC", data.decode("cp1258")) == "Thời hạn"


def test_cp1258_file_imports(tmp_path: Path) -> None:
    path = tmp_path / "bang.csv"
    text = "\n".join(",".join(f'"{cell}"' for cell in row) for row in SMALL_TABLE)
    path.write_bytes(windows_1258(text))
    result = parse_file(path, ImportOptions())
    assert result.problems == []
    document = result.documents[0].document
    assert document.reference == "617/KH-UBND"
    assert document.tasks[0].lead_agencies == ["Sở KH&CN"]
    assert document.tasks[1].deadline.on == date(2025, 12, 31)


def test_semicolon_delimited_csv(tmp_path: Path) -> None:
    path = tmp_path / "semicolons.csv"
    path.write_text("STT;Nhiệm vụ;Cơ quan chủ trì;Thời hạn\n1;Việc một;Bộ Y tế;6/2026\n",
                    encoding="utf-8")
    result = parse_file(path, ImportOptions(reference="1/KH-X"))
    assert result.problems == []
    assert result.documents[0].document.tasks[0].deadline.on == date(2026, 6, 30)


def test_decomposed_cells_come_out_nfc(tmp_path: Path) -> None:
    decomposed = [[unicodedata.normalize("NFD", cell) for cell in row] for row in SMALL_TABLE]
    result = parse_file(write_csv(tmp_path / "nfd.csv", decomposed), ImportOptions())
    task = result.documents[0].document.tasks[0]
    assert task.content == SMALL_TABLE[5][1]
    assert task.lead_agencies == ["Sở KH&CN"]
    assert task.group_assignments == [("coordinating", "Các sở, ban, ngành tỉnh"),
                                      ("coordinating", "UBND các xã, phường")]
    assert task.section == "I. NÂNG CAO NHẬN THỨC VÀ ĐỔI MỚI TƯ DUY"


def test_unsupported_file_kinds(tmp_path: Path) -> None:
    for name in ("old.xls", "notes.docx"):
        path = tmp_path / name
        path.write_bytes(b"not a table")
        result = parse_file(path, ImportOptions())
        assert len(result.problems) == 1
        assert name in result.problems[0].reason


# The small table: title rows, header block, sections ---------------------------------------


def test_small_table_with_title_rows(tmp_path: Path) -> None:
    result = parse_file(write_csv(tmp_path / "617.csv", SMALL_TABLE), ImportOptions())
    assert result.problems == []
    parsed = result.documents[0]
    document = parsed.document
    assert document.reference == "617/KH-UBND"
    assert document.issued_on == date(2025, 12, 1)
    assert document.issuing_body == "Ủy ban nhân dân tỉnh Đồng Tháp"
    assert [task.task_no for task in document.tasks] == ["1", "2"]
    assert parsed.task_rows == [6, 7]
    assert document.tasks[0].deadline.time_class == "regular"
    assert document.tasks[1].deadline.precision == "quarter"
    assert document.source_sha256 is not None


def test_options_replace_header_block(tmp_path: Path) -> None:
    options = ImportOptions(reference="999/KH-UBND", issued_on=date(2025, 12, 2),
                            issuer="UBND tỉnh Đồng Tháp", summary="Kế hoạch chuyển đổi số",
                            kind="plan")
    result = parse_file(write_csv(tmp_path / "617.csv", SMALL_TABLE), options)
    document = result.documents[0].document
    assert document.reference == "999/KH-UBND"
    assert document.issued_on == date(2025, 12, 2)
    assert document.issuing_body == "UBND tỉnh Đồng Tháp"
    assert document.summary == "Kế hoạch chuyển đổi số"
    assert document.kind_code == "plan"
    assert any("999/KH-UBND" in note and "617/KH-UBND" in note for note in result.notes)


def test_missing_reference_reported(tmp_path: Path) -> None:
    rows = [row for row in SMALL_TABLE if not row or "Kèm theo" not in row[0]]
    result = parse_file(write_csv(tmp_path / "no_number.csv", rows), ImportOptions())
    assert [(problem.row, problem.column) for problem in result.problems] == [(None, "--reference")]


# Row problems -------------------------------------------------------------------------------


def test_every_row_problem_reported(tmp_path: Path) -> None:
    lines = [
        ["DANH MỤC NHIỆM VỤ"],
        ["STT", "Nhiệm vụ", "Cơ quan chủ trì", "Thời hạn", "Ghi chú"],
        ["1", "Việc có hạn sai", "Bộ Y tế", "31/02/2026", ""],
        ["2", "Việc thiếu cơ quan chủ trì", "", "6/2026", ""],
        ["3", "Việc có tháng sai", "Bộ Tài chính", "13/2026", "cần xem lại"],
        ["4", "", "Bộ Công an", "2026", ""],
        ["5", "Việc đúng", "Bộ Nội vụ", "Quý II/2026", ""],
    ]
    result = parse_file(write_csv(tmp_path / "problems.csv", lines),
                        ImportOptions(reference="12/KH-BYT"))
    found = {(problem.row, problem.column, problem.value) for problem in result.problems}
    assert found == {
        (3, "D (Thời hạn)", "31/02/2026"),
        (4, "C (Cơ quan chủ trì)", ""),
        (5, "D (Thời hạn)", "13/2026"),
        (6, "B (Nhiệm vụ)", ""),
    }
    reasons = {problem.row: problem.reason for problem in result.problems}
    assert "February 2026 has no day 31" in reasons[3]
    assert "lead agency is missing" in reasons[4]
    assert "month 13 does not exist" in reasons[5]
    assert "content is missing" in reasons[6]
    tasks = result.documents[0].document.tasks
    assert len(tasks) == 5
    assert tasks[2].extra == {"Ghi chú": "cần xem lại"}


# The header of the file a user imported when a separator was missing on one row.
USER_HEADER = ["STT", "Nội dung nhiệm vụ", "Cơ quan chủ trì", "Thời hạn hoàn thành"]
FULL_ROW = ["1", "Rà soát hạ tầng mạng nội bộ", "Bộ Công an", "31/03/2026"]
# "Cập nhật cơ sở dữ liệu" and "Bộ Công an" lost the comma between them.
SHORT_ROW = ["2", "Cập nhật cơ sở dữ liệuBộ Công an", "30/06/2026"]


def test_short_row_reported_once(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "short.csv", [USER_HEADER, FULL_ROW, SHORT_ROW])

    result = parse_file(path, ImportOptions(reference="5/KH-X"))

    assert problem_places(result.problems) == [(3, None, None)]
    assert result.problems[0].reason == (
        "The row has 3 cells but the header has 4 columns; check for a missing separator."
    )
    assert result.problems[0].document == "5/KH-X"
    parsed = result.documents[0]
    assert parsed.task_rows == [2]
    assert parsed.document.tasks[0].lead_agencies == ["Bộ Công an"]


def test_long_row_reported(tmp_path: Path) -> None:
    lines = [
        USER_HEADER,
        FULL_ROW,
        ["2", "Cập nhật cơ sở dữ liệu", "Bộ Công an", "Bộ Y tế", "30/06/2026"],
    ]
    result = parse_file(write_csv(tmp_path / "long.csv", lines), ImportOptions(reference="5/KH-X"))

    assert problem_places(result.problems) == [(3, "E", "30/06/2026")]
    assert result.problems[0].reason.startswith(
        "The row has 5 cells but the header has 4 columns; check for a separator too many"
    )
    assert result.documents[0].task_rows == [2]


def test_empty_cells_past_header_accepted(tmp_path: Path) -> None:
    lines = [
        [*USER_HEADER, "", ""],
        [*FULL_ROW, "", "", ""],
        ["2", "Việc hai", "Bộ Y tế", "2026", ""],
    ]
    result = parse_file(write_csv(tmp_path / "tail.csv", lines), ImportOptions(reference="5/KH-X"))

    assert result.problems == []
    assert result.documents[0].task_rows == [2, 3]


def test_short_section_row_accepted(tmp_path: Path) -> None:
    lines = [USER_HEADER, ["I", "NHIỆM VỤ CHUNG"], FULL_ROW]
    result = parse_file(write_csv(tmp_path / "section.csv", lines),
                        ImportOptions(reference="5/KH-X"))

    assert result.problems == []
    assert result.documents[0].document.tasks[0].section == "I. NHIỆM VỤ CHUNG"


def test_xlsx_cell_past_header_reported(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(USER_HEADER)
    sheet.append([1, "Việc một", "Bộ Y tế", "6/2026"])
    sheet.append([2, "Việc hai", "Bộ Y tế", "9/2026", None, "cần xem lại"])
    path = tmp_path / "wide.xlsx"
    workbook.save(path)

    result = parse_file(path, ImportOptions(reference="5/KH-X"))

    assert problem_places(result.problems) == [(3, "F", "cần xem lại")]
    assert "The row has 6 cells but the header has 4 columns" in result.problems[0].reason


@pytest.mark.parametrize(
    "lead", ["30/06/2026", "Quý II/2026", "Thường xuyên", "Tháng 6", "Bộ Công an 30/06/2026"],
)
def test_deadline_in_lead_cell_reported(tmp_path: Path, lead: str) -> None:
    lines = [USER_HEADER, FULL_ROW, ["2", "Cập nhật cơ sở dữ liệu", lead, ""]]
    result = parse_file(write_csv(tmp_path / "lead.csv", lines), ImportOptions(reference="5/KH-X"))

    assert problem_places(result.problems) == [(3, "C (Cơ quan chủ trì)", lead)]
    assert result.problems[0].reason.startswith("Reads as a date or deadline, not an agency")
    assert result.documents[0].document.tasks[1].lead_agencies == []


def test_deadline_in_coordinating_cell_reported(tmp_path: Path) -> None:
    lines = [
        ["STT", "Nhiệm vụ", "Cơ quan chủ trì", "Cơ quan phối hợp", "Thời hạn"],
        ["1", "Việc một", "Bộ Y tế", "Bộ Tài chính; 31/12/2026", ""],
    ]
    result = parse_file(write_csv(tmp_path / "coord.csv", lines), ImportOptions(reference="5/KH-X"))

    assert problem_places(result.problems) == [(2, "D (Cơ quan phối hợp)", "31/12/2026")]
    task = result.documents[0].document.tasks[0]
    assert task.lead_agencies == ["Bộ Y tế"]
    assert task.coordinating_agencies == []


def test_agency_names_with_numbers_accepted(tmp_path: Path) -> None:
    lines = [
        ["STT", "Nhiệm vụ", "Cơ quan chủ trì", "Cơ quan phối hợp", "Thời hạn"],
        ["1", "Việc một", "Ban Chỉ đạo 35", "các địa phương báo cáo trước 30/6/2026", "2026"],
    ]
    result = parse_file(write_csv(tmp_path / "names.csv", lines), ImportOptions(reference="5/KH-X"))

    assert result.problems == []
    task = result.documents[0].document.tasks[0]
    assert task.lead_agencies == ["Ban Chỉ đạo 35"]
    assert task.group_assignments == [
        ("coordinating", "các địa phương báo cáo trước 30/6/2026"),
    ]


def test_problems_sorted_by_row_and_column(tmp_path: Path) -> None:
    # Found in another order: the missing content of row 2 only when the
    # document is built, after the missing lead agency of row 3.
    lines = [
        ["STT", "Nhiệm vụ", "Cơ quan chủ trì", "Thời hạn"],
        ["1", "", "Bộ Y tế", "31/02/2026"],
        ["2", "Việc hai", "", "6/2026"],
    ]
    result = parse_file(write_csv(tmp_path / "order.csv", lines), ImportOptions())

    assert problem_places(result.problems) == [
        (None, "--reference", None),
        (2, "B (Nhiệm vụ)", ""),
        (2, "D (Thời hạn)", "31/02/2026"),
        (3, "C (Cơ quan chủ trì)", ""),
    ]


def test_sort_problems_orders_columns_by_index() -> None:
    problems = [
        Problem(4, "AA (Ghi chú)", "x", "late column"),
        Problem(4, "B (Nhiệm vụ)", "", "early column"),
        Problem(2, "C (Cơ quan chủ trì)", "", "earlier row"),
        Problem(4, None, None, "whole row"),
        Problem(None, None, None, "whole file"),
        Problem(None, "--reference", None, "option"),
    ]

    ordered = [problem.reason for problem in sort_problems(problems)]

    assert ordered == ["whole file", "option", "earlier row", "whole row", "early column",
                       "late column"]


def test_problem_line_names_row_column_value() -> None:
    line = format_problem(Problem(12, "E (Thời hạn)", "31/02/2026", "reason text", "1/KH-X"))
    assert line == "document 1/KH-X, row 12, column E (Thời hạn), value '31/02/2026': reason text"


def test_derived_deadline_column_checked(tmp_path: Path) -> None:
    lines = [
        ["document_number", "task_no", "task_content", "lead_agency", "deadline_text",
         "deadline_period_end_iso"],
        ["1/KH-X", "1", "Việc một", "Bộ Y tế", "Quý II/2026", "2026-06-30"],
        ["1/KH-X", "2", "Việc hai", "Bộ Y tế", "Quý II/2026", "2026-03-31"],
    ]
    result = parse_file(write_csv(tmp_path / "derived.csv", lines), ImportOptions())
    assert [(problem.row, problem.value) for problem in result.problems] == [(3, "2026-03-31")]


def test_no_header_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "plain.csv", [["a", "b"], ["1", "2"]])
    result = parse_file(path, ImportOptions())
    assert len(result.problems) == 1
    assert "No header row found" in result.problems[0].reason


# Confidentiality -----------------------------------------------------------------------------


@pytest.mark.parametrize("mark", ["Độ mật: Tuyệt mật", "TUYỆT MẬT", "Độ mật: tuyet mat"])
def test_absolutely_secret_title_rejected(tmp_path: Path, mark: str) -> None:
    lines = [[mark], *SMALL_TABLE]
    result = parse_file(write_csv(tmp_path / "secret.csv", lines), ImportOptions())
    assert result.rejected
    assert result.documents == []
    assert len(result.problems) == 1
    assert result.problems[0].row == 1
    assert "Absolutely secret" in result.problems[0].reason


def test_absolutely_secret_option_rejected(tmp_path: Path) -> None:
    result = parse_file(write_csv(tmp_path / "t.csv", SMALL_TABLE),
                        ImportOptions(confidentiality="Tuyệt mật"))
    assert result.rejected
    assert result.problems[0].column == "--confidentiality"


def test_absolutely_secret_column_rejected(tmp_path: Path) -> None:
    lines = [
        ["STT", "Nhiệm vụ", "Cơ quan chủ trì", "Độ mật"],
        ["1", "Việc một", "Bộ Y tế", "Mật"],
        ["2", "Việc hai", "Bộ Y tế", "Tuyệt Mật"],
    ]
    result = parse_file(write_csv(tmp_path / "t.csv", lines), ImportOptions(reference="1/KH-X"))
    assert result.rejected
    assert [(problem.row, problem.column) for problem in result.problems] == [(3, "D (Độ mật)")]


def test_confidential_table_keeps_no_content(tmp_path: Path) -> None:
    lines = [["MẬT"], *SMALL_TABLE]
    result = parse_file(write_csv(tmp_path / "mat.csv", lines), ImportOptions())
    assert result.problems == []
    document = result.documents[0].document
    assert document.confidentiality == "confidential"
    assert document.summary is None
    for task in document.tasks:
        assert task.content is None
        assert task.product is None
        assert task.result_summary is None
        assert task.section is None
        assert task.extra is None
    assert document.tasks[0].lead_agencies == ["Sở KH&CN"]
    assert document.tasks[1].deadline.on == date(2025, 12, 31)
    assert len(result.notes) == 1
    assert "task content, products, results and other columns were dropped" in result.notes[0]
    assert "summary" not in result.notes[0]


def test_confidential_note_names_summary(tmp_path: Path) -> None:
    options = ImportOptions(confidentiality="mật", summary="Kế hoạch chuyển đổi số năm 2026")
    result = parse_file(write_csv(tmp_path / "mat.csv", SMALL_TABLE), options)

    assert result.problems == []
    assert result.documents[0].document.summary is None
    assert result.notes == [
        "617/KH-UBND is confidential: only task numbers, agencies and deadlines were kept; "
        "the document summary, task content, products, results and other columns were dropped."
    ]


def test_stricter_confidentiality_wins(tmp_path: Path) -> None:
    lines = [["Độ mật: Tối mật"], *SMALL_TABLE]
    result = parse_file(write_csv(tmp_path / "t.csv", lines), ImportOptions(confidentiality="mật"))
    assert result.documents[0].document.confidentiality == "top_secret"


# The multi-document CSV ----------------------------------------------------------------------


def test_real_csv_gives_five_documents() -> None:
    result = parse_file(EXAMPLES / "tasks_real_documents.csv", ImportOptions())
    assert result.problems == []
    counts = {item.document.reference: len(item.document.tasks) for item in result.documents}
    assert counts == {"03/NQ-CP": 140, "624/TB-VPCP": 74, "617/KH-UBND": 11,
                      "2820/QĐ-UBND": 25, "310/KH-UBND": 6}
    document = result.documents[3].document
    assert document.issued_on == date(2025, 11, 19)
    assert document.issuing_body == "Ủy ban nhân dân Thành phố Hồ Chí Minh"
    assert document.summary.startswith("Quyết định ban hành Kế hoạch triển khai")
    assert document.source.startswith("github:tnt305/tai_lieu_noi_bo@94c5034")
    first = document.tasks[0]
    assert first.task_no == "I.1"
    assert first.extra == {FUNDING: RECURRENT}
    assert result.documents[3].task_rows[0] == 227


def test_real_csv_agency_cells() -> None:
    result = parse_file(EXAMPLES / "tasks_real_documents.csv", ImportOptions())
    tasks = {task.task_no: task for task in result.documents[2].document.tasks}  # 617/KH-UBND
    assert tasks["8"].lead_agencies == ["Sở KH&CN"]
    assert tasks["8"].coordinating_agencies == ["Ban Quản lý Khu kinh tế", "Sở Công Thương"]
    assert tasks["8"].group_assignments == [
        ("coordinating", "các doanh nghiệp viễn thông"),
        ("coordinating", "các cơ quan, đơn vị liên quan"),
    ]


def test_document_details_must_agree(tmp_path: Path) -> None:
    lines = [
        ["document_number", "issued_date", "task_no", "task_content", "lead_agency"],
        ["1/KH-X", "2025-01-09", "1", "Việc một", "Bộ Y tế"],
        ["1/KH-X", "2025-01-10", "2", "Việc hai", "Bộ Y tế"],
        ["2/KH-X", "09/01/2025", "1", "Việc ba", "Bộ Y tế"],
    ]
    result = parse_file(write_csv(tmp_path / "t.csv", lines), ImportOptions())
    assert [(problem.row, problem.value) for problem in result.problems] == [(3, "2025-01-10")]
    assert "row 2" in result.problems[0].reason
    assert result.documents[1].document.issued_on == date(2025, 1, 9)


# XLSX examples --------------------------------------------------------------------------------


def test_xlsx_2820_document_and_sections() -> None:
    result = parse_file(EXAMPLES / "2820_QD-UBND.xlsx", ImportOptions())
    assert result.problems == []
    document = result.documents[0].document
    assert document.reference == "2820/QĐ-UBND"
    assert document.issued_on == date(2025, 11, 19)
    assert document.issuing_body == "UBND Thành phố Hồ Chí Minh"
    # 25 numbered tasks and the 3 unnumbered sub-rows of II.1, IV.2 and V.1.
    assert len(document.tasks) == 28
    sections = list(dict.fromkeys(task.section for task in document.tasks))
    assert sections == list(dict.fromkeys(row["section"] for row in csv_rows("2820/QĐ-UBND")))


def test_xlsx_2820_matches_source_rows() -> None:
    document = parse_file(EXAMPLES / "2820_QD-UBND.xlsx", ImportOptions()).documents[0].document
    main_tasks = [task for task in document.tasks
                  if not task.content.startswith(("Xây dựng hạ tầng kỹ thuật dự phòng",
                                                   "Thực hiện sao lưu dữ liệu",
                                                   "Quản lý, vận hành, quy hoạch"))]
    source = csv_rows("2820/QĐ-UBND")
    assert len(main_tasks) == len(source)
    for task, row in zip(main_tasks, source, strict=True):
        assert task.task_no == row["task_no"].split(".")[1]
        assert task.content == row["task_content"]
        assert task.deadline.text == row["deadline_text"]
        assert (task.product or "") == row["product"]
        assert task.section == row["section"]


def test_xlsx_2820_merged_cells() -> None:
    parsed = parse_file(EXAMPLES / "2820_QD-UBND.xlsx", ImportOptions()).documents[0]
    tasks = parsed.document.tasks
    # Section IV: funding merged down from IV.1 over IV.2, its sub-row, IV.3 and IV.4.
    section_four = [task for task in tasks if task.section.startswith("IV.")]
    assert [task.task_no for task in section_four] == ["1", "2", "2", "3", "4"]
    assert all(task.extra == {FUNDING: INVESTMENT} for task in section_four)
    # Section VI has no funding cell at all.
    assert all(task.extra is None for task in tasks if task.section.startswith("VI."))
    # The sub-row of II.1 shares the STT, coordinating, deadline and result cells of II.1.
    main, sub = tasks[4], tasks[5]
    assert sub.content.startswith("Xây dựng hạ tầng kỹ thuật dự phòng")
    assert sub.task_no == main.task_no == "1"
    assert sub.lead_agencies == ["Trung tâm Chuyển đổi số Thành phố"]
    assert sub.coordinating_agencies == main.coordinating_agencies == ["Sở Khoa học và Công nghệ"]
    assert sub.deadline.on == date(2026, 12, 31)
    assert sub.product == "Cổng thông tin cơ sở dữ liệu quốc gia về quy hoạch"
    # The sub-row of IV.2 has its own lead and coordinating agency.
    sub_four = section_four[2]
    assert sub_four.lead_agencies == ["Sở Khoa học và Công nghệ"]
    assert sub_four.coordinating_agencies == ["Sở Tài chính"]
    assert sub_four.group_assignments == []


def test_xlsx_624_serial_deadlines() -> None:
    result = parse_file(EXAMPLES / "624_TB-VPCP.xlsx", ImportOptions())
    assert result.problems == []
    document = result.documents[0].document
    assert document.reference == "624/TB-VPCP"
    assert document.issued_on == date(2025, 11, 16)
    assert document.issuing_body == "Văn phòng Chính phủ"
    source = csv_rows("624/TB-VPCP")
    assert len(document.tasks) == len(source) == 74
    for task, row in zip(document.tasks, source, strict=True):
        assert task.task_no == row["task_no"].rsplit(".", 1)[1]
        assert task.content == row["task_content"]
        assert task.section == row["section"]
        assert task.deadline.on == date.fromisoformat(row["deadline_iso_if_clear"])
        assert task.deadline.text == row["deadline_text"]
        assert task.deadline.precision == "day"
        assert task.extra == json.loads(row["other_columns_json"])


def test_xlsx_624_merged_leads() -> None:
    tasks = parse_file(EXAMPLES / "624_TB-VPCP.xlsx", ImportOptions()).documents[0].document.tasks
    # Tasks 3 to 8 of the first sub-table are all led by Bộ Tài chính, in one merged cell.
    assert [task.lead_agencies for task in tasks[2:8]] == [["Bộ Tài chính"]] * 6
    assert tasks[0].group_assignments == [("lead", "Các cơ quan Trung ương và địa phương")]


def test_xlsx_rows_keep_merges_and_types() -> None:
    table = read_table(EXAMPLES / "624_TB-VPCP.xlsx")
    # Row 9 is task 3 of the first sub-table, and its lead cell starts a merged range.
    assert table.rows[8].values[3] == "Bộ Tài chính"
    assert 3 not in table.rows[8].inherited
    assert table.rows[9].values[3] == "Bộ Tài chính"
    assert 3 in table.rows[9].inherited
    assert isinstance(table.rows[8].values[4], datetime)
    last = table.rows[-1]
    assert last.values[4] == 45930  # third sub-table: a bare serial, 30/09/2025


def test_xlsx_made_at_run_time(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Số: 45/KH-BCĐ"])
    sheet.append(["Hà Nội, ngày 09 tháng 01 năm 2025"])
    sheet.append(["STT", "Nhiệm vụ", "Cơ quan chủ trì", "Cơ quan phối hợp", "Thời hạn"])
    sheet.append([1, "Việc một", "Bộ Y tế", "Bộ Công an", 45930])
    sheet.append([None, None, None, "Bộ Tài chính", None])
    sheet.append([2, "Việc hai", "Bộ Nội vụ", None, datetime(2025, 10, 31)])
    sheet.append([3, "Việc ba", "Bộ Tư pháp", None, 2026])
    # Task 1 spans rows 4 and 5: STT, task and deadline merged, a second coordinating agency.
    for column in ("A", "B", "C", "E"):
        sheet.merge_cells(f"{column}4:{column}5")
    path = tmp_path / "made.xlsx"
    workbook.save(path)

    result = parse_file(path, ImportOptions())
    assert result.problems == []
    document = result.documents[0].document
    assert document.reference == "45/KH-BCĐ"
    assert document.issued_on == date(2025, 1, 9)
    assert len(document.tasks) == 3
    first, second, third = document.tasks
    assert first.coordinating_agencies == ["Bộ Công an", "Bộ Tài chính"]
    assert first.deadline.on == date(2025, 9, 30)
    assert second.deadline.on == date(2025, 10, 31)
    assert third.deadline.on == date(2026, 12, 31)
    assert third.deadline.precision == "year"


def test_xlsx_sheet_choice(tmp_path: Path) -> None:
    workbook = Workbook()
    workbook.active.title = "Ghi chú"
    workbook.active.append(["Bảng này không có nhiệm vụ"])
    tasks = workbook.create_sheet("Nhiệm vụ")
    tasks.append(["TT", "Nhiệm vụ", "Chủ trì"])
    tasks.append([1, "Việc một", "Bộ Y tế"])
    path = tmp_path / "sheets.xlsx"
    workbook.save(path)
    assert read_table(path).sheet == "Nhiệm vụ"
    result = parse_file(path, ImportOptions(reference="1/KH-X", sheet="Ghi chú"))
    assert "No header row found" in result.problems[0].reason
    missing = parse_file(path, ImportOptions(reference="1/KH-X", sheet="Không có"))
    assert "no sheet named 'Không có'" in missing.problems[0].reason


# Reports ---------------------------------------------------------------------------------------


def test_text_and_json_reports(tmp_path: Path) -> None:
    lines = [
        ["STT", "Nhiệm vụ", "Cơ quan chủ trì", "Cơ quan phối hợp", "Thời hạn"],
        ["1", "Việc một", "Bộ Y tế", "Các bộ, ngành, địa phương", "31/02/2026"],
        ["2", "Việc hai", "Bộ Y tế", "", "2026"],
    ]
    parsed = parse_file(write_csv(tmp_path / "r.csv", lines), ImportOptions(reference="7/KH-X"))
    result = summarise(parsed, dry_run=True)

    text = render_text(result)
    assert "Documents: 1   Tasks: 2   Group assignments: 1   Agencies that would be created: 0" \
        in text
    assert "Nothing was written: the file has 1 problem(s)" in text
    assert "row 2, column E (Thời hạn), value '31/02/2026'" in text

    data = json.loads(render_json(result))
    assert data["counts"] == {"documents": 1, "tasks": 2, "group_assignments": 1,
                              "created_agencies": 0, "problems": 1}
    problem = data["problems"][0]
    assert problem["row"] == 2
    assert problem["column"] == "E (Thời hạn)"
    assert problem["value"] == "31/02/2026"
    assert "February 2026 has no day 31" in problem["reason"]
    assert data["written"] is False


def report_with_agencies(*, written: bool, dry_run: bool, problems: list[Problem]) -> ImportResult:
    return ImportResult(
        file_name="t.csv", dry_run=dry_run, written=written,
        documents=[DocumentSummary("7/KH-X", 2, 0, "regular")],
        created_agencies=["Sở Giao thông vận tải tỉnh Hà Giang", "Bộ Công an"],
        problems=problems,
    )


def test_written_report_says_created() -> None:
    result = report_with_agencies(written=True, dry_run=False, problems=[])

    lines = render_text(result).splitlines()

    assert "Documents: 1   Tasks: 2   Group assignments: 0   Agencies created: 2" in lines
    assert "Agencies created for review:" in lines
    assert result.summary_line() == (
        "1 document(s), 2 task(s), 0 group assignment(s), 2 agency(ies) created; written"
    )


@pytest.mark.parametrize(
    ("dry_run", "problems", "outcome"),
    [
        (True, [], "not written (dry run)"),
        (False, [Problem(3, None, None, "bad row")], "not written: 1 problem(s)"),
        (True, [Problem(3, None, None, "bad row")], "not written: 1 problem(s)"),
    ],
)
def test_unwritten_report_says_would_be_created(dry_run: bool, problems: list[Problem],
                                                outcome: str) -> None:
    result = report_with_agencies(written=False, dry_run=dry_run, problems=problems)

    text = render_text(result)

    lines = text.splitlines()
    assert ("Documents: 1   Tasks: 2   Group assignments: 0   Agencies that would be created: 2"
            in lines)
    assert "Agencies that would be created for review:" in lines
    assert "Agencies created" not in text
    assert result.summary_line() == (
        "1 document(s), 2 task(s), 0 group assignment(s), 2 agency(ies) would be created; "
        + outcome
    )


# Command line without a database ----------------------------------------------------------------


def test_cli_rejects_bad_issue_date(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", SMALL_TABLE)
    outcome = CliRunner().invoke(import_command, [str(path), "--issued-on", "31/02/2025"])
    assert outcome.exit_code == 2
    assert "not a date" in outcome.output


def test_cli_rejects_unknown_confidentiality(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", SMALL_TABLE)
    outcome = CliRunner().invoke(import_command, [str(path), "--confidentiality", "nội bộ"])
    assert outcome.exit_code == 2


def test_cli_rejects_other_file_kinds(tmp_path: Path) -> None:
    path = tmp_path / "t.pdf"
    path.write_bytes(b"%PDF")
    outcome = CliRunner().invoke(import_command, [str(path)])
    assert outcome.exit_code == 2


def test_cli_absolutely_secret_exits_one(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [["Độ mật: Tuyệt mật"], *SMALL_TABLE])
    outcome = CliRunner().invoke(import_command, [str(path), "--json"])
    assert outcome.exit_code == 1
    data = json.loads(outcome.output)
    assert data["rejected"] is True
    assert data["counts"]["tasks"] == 0
    assert "Triển khai" not in outcome.output


def test_absolutely_secret_without_header(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [["TUYỆT MẬT"], ["Một bảng không có tiêu đề cột"]])
    result = parse_file(path, ImportOptions())
    assert result.rejected
    assert "Absolutely secret" in result.problems[0].reason


def test_absolutely_secret_option_reads_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing.csv"  # never read, so it need not exist
    result = parse_file(path, ImportOptions(confidentiality="tuyệt mật"))
    assert result.rejected
    assert result.problems[0].column == "--confidentiality"


@pytest.mark.parametrize(("query", "reason"), [
    ("?lang=vi", "Thời hạn '31/02/2026' không hợp lệ: tháng 2 năm 2026 không có ngày 31; "
                 "hãy ghi một ngày từ 1 đến 28"),
    ("?lang=en", "Invalid deadline '31/02/2026': February 2026 has no day 31; "
                 "write a day from 1 to 28"),
])
def test_problem_follows_request_locale(app, tmp_path: Path,  # noqa: ANN001
                                        query: str, reason: str) -> None:
    lines = [
        ["STT", "Nhiệm vụ", "Cơ quan chủ trì", "Thời hạn"],
        ["1", "Tổng hợp báo cáo sơ kết quý I", "Bộ Tài chính", "31/02/2026"],
    ]
    path = write_csv(tmp_path / "ngay_sai.csv", lines)

    with app.test_request_context(f"/{query}"):
        result = parse_file(path, ImportOptions(reference="12/KH-BYT"))
        text = format_problem(result.problems[0])

    assert problem_places(result.problems) == [(2, "D (Thời hạn)", "31/02/2026")]
    assert result.problems[0].reason == reason
    assert text.endswith(f": {reason}")
