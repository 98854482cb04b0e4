"""Imports into the database through `import_file`, checked against the source files.

Expected values come from reading the example CSV with the csv module, not
from the importer, so a parsing mistake cannot hide behind its own output.
"""

from __future__ import annotations

import csv
import json
import unicodedata
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.audit.models import AuditEntry
from node.core.text import fold
from node.local_tasks.importer.importer import ImportOptions, import_file
from node.local_tasks.models import Document, GroupAssignment, OrgUnit, Task, TaskAgency
from tests.conftest import rolled_back_connection, savepoint, savepoint_sessions

REAL_CSV = "tasks_real_documents.csv"
VIETNAM = timezone(timedelta(hours=7))
# Grave, acute, tilde, hook above and dot below: the five Vietnamese tones.
TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")
# Models whose row counts show whether an import wrote anything.
WRITTEN_MODELS = (Document, Task, OrgUnit, TaskAgency, GroupAssignment, AuditEntry)

# A single-document table as an office would type it. The title row gives
# the document number, and the agencies are seeded org units.
TITLE_ROWS = [
    ["DANH MỤC NHIỆM VỤ TRIỂN KHAI CHUYỂN ĐỔI SỐ NĂM 2026"],
    ["(Kèm theo Kế hoạch số 45/KH-UBND ngày 10/02/2026 của Ủy ban nhân dân tỉnh Cao Bằng)"],
    [],
]
HEADER = ["STT", "Nội dung nhiệm vụ", "Cơ quan chủ trì", "Thời gian hoàn thành", "Độ mật"]
GOOD_ROWS = [
    ["1", "Rà soát hạ tầng mạng nội bộ của các cơ quan Đảng", "Tỉnh ủy Cao Bằng",
     "31/03/2026", "Thường"],
    ["2", "Tổ chức tập huấn kỹ năng số cho cán bộ, công chức", "UBND Cao Bằng",
     "Quý II/2026", ""],
    ["3", "Theo dõi, đôn đốc việc cập nhật dữ liệu dùng chung", "Tỉnh ủy Cao Bằng",
     "Thường xuyên", ""],
]
# File rows 6, 7 and 8 once the title rows, the header and GOOD_ROWS[0] come first.
BAD_ROWS = [
    ["2", "Tổng hợp báo cáo sơ kết quý I", "Tỉnh ủy Cao Bằng", "31/02/2026", ""],
    ["3", "", "UBND Cao Bằng", "Quý II/2026", ""],
    ["4", "Xây dựng kho dữ liệu dùng chung của tỉnh", "Sở Giao thông vận tải tỉnh Hà Giang",
     "6/2026", ""],
]
ABSOLUTELY_SECRET_ROW = ["5", "Rà soát phương án bảo vệ mục tiêu", "Tỉnh ủy Cao Bằng", "9/2026",
                         "Tuyệt mật"]


# Helpers -------------------------------------------------------------------------------


def read_source_rows(examples_dir: Path) -> list[dict[str, str]]:
    with (examples_dir / REAL_CSV).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, rows: list[list[str]], *, encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def count_rows(session: Session) -> dict[str, int]:
    return {model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in WRITTEN_MODELS}


def stored_tasks(session: Session, reference: str) -> list[Task]:
    return list(session.scalars(
        select(Task).join(Document).where(Document.reference == reference).order_by(Task.position)
    ))


def tasks_by_number(session: Session, reference: str) -> dict[str, Task]:
    tasks = stored_tasks(session, reference)
    by_number = {task.task_no: task for task in tasks}
    assert len(by_number) == len(tasks), f"task numbers of {reference} repeat"
    return by_number


def end_of_day_in_vietnam(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59, 999999, tzinfo=VIETNAM)


def source_deadline_day(row: dict[str, str]) -> date | None:
    """Return the day the source file gives for a row's deadline, None when it gives none."""
    text = row["deadline_iso_if_clear"] or row["deadline_period_end_iso"]
    return date.fromisoformat(text) if text else None


def encode_windows_1258(text: str) -> bytes:
    """Encode text as Windows-1258, the way a Vietnamese Windows program saves it.

    The code page has precomposed letters for some vowel and tone pairs only,
    so every other tone is written as a combining mark after its letter.
    """
    encoded = bytearray()
    for char in unicodedata.normalize("NFC", text):
        try:
            encoded += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        decomposed = unicodedata.normalize("NFD", char)
        tones = "".join(mark for mark in decomposed if mark in TONE_MARKS)
        letter = unicodedata.normalize("NFC", "".join(mark for mark in decomposed
                                                       if mark not in TONE_MARKS))
        encoded += (letter + tones).encode("cp1258")
    return bytes(encoded)


# The real CSV ---------------------------------------------------------------------------


def test_real_csv_stores_documents_and_tasks(session: Session, examples_dir: Path) -> None:
    rows_per_document = Counter(row["document_number"] for row in read_source_rows(examples_dir))
    before = count_rows(session)

    result = import_file(session, examples_dir / REAL_CSV, create_agencies=True)

    assert result.problems == []
    assert result.written
    after = count_rows(session)
    assert after["Document"] - before["Document"] == len(rows_per_document) == 5
    assert after["Task"] - before["Task"] == sum(rows_per_document.values()) == 256
    for reference, row_count in rows_per_document.items():
        document = session.scalars(select(Document).where(Document.reference == reference)).one()
        assert document.task_count == row_count, reference
        assert len(stored_tasks(session, reference)) == row_count, reference


class TestImportedRealCsv:
    """Checks of the real CSV imported once for the class; a savepoint undoes each test."""

    @pytest.fixture(scope="class")
    @classmethod
    def class_connection(cls, engine):  # noqa: ANN001, ANN206
        with rolled_back_connection(engine) as connection:
            yield connection

    @pytest.fixture
    def connection(self, class_connection):  # noqa: ANN001, ANN201
        with savepoint(class_connection) as connection:
            yield connection

    @pytest.fixture(scope="class")
    @classmethod
    def real_import(cls, class_connection, examples_dir: Path):  # noqa: ANN001, ANN206
        with savepoint_sessions(class_connection)() as session:
            result = import_file(session, examples_dir / REAL_CSV, create_agencies=True)
            session.commit()
        assert result.problems == []
        return result

    def test_real_csv_document_details(self, session: Session, examples_dir: Path,
                                       real_import) -> None:
        first_rows: dict[str, dict[str, str]] = {}
        for row in read_source_rows(examples_dir):
            first_rows.setdefault(row["document_number"], row)
        for reference, row in first_rows.items():
            document = session.scalars(
                select(Document).where(Document.reference == reference)).one()
            assert document.issued_on == date.fromisoformat(row["issued_date"]), reference
            assert document.issuing_body == row["issuer"], reference
            assert document.summary == row["document_title"], reference
            assert document.confidentiality == "regular", reference

    def test_group_assignments_kept_verbatim(self, session: Session, examples_dir: Path,
                                             real_import) -> None:
        rows = read_source_rows(examples_dir)
        lead_row = next(row for row in rows if row["lead_agency"] == "Các bộ, ngành, địa phương")
        task = tasks_by_number(session, lead_row["document_number"])[lead_row["task_no"]]
        assert ("lead", "Các bộ, ngành, địa phương") in {
            (group.role, group.text) for group in task.group_assignments
        }
        assert task.content == lead_row["task_content"]

        # A group between two agencies of a coordinating cell is kept as written.
        part = "các bộ, ngành, địa phương"
        coordinating_row = next(row for row in rows
                                if part in [piece.strip()
                                            for piece in row["coordinating_agencies"].split(";")])
        tasks = tasks_by_number(session, coordinating_row["document_number"])
        task = tasks[coordinating_row["task_no"]]
        assert ("coordinating", part) in {(group.role, group.text)
                                          for group in task.group_assignments}

    def test_no_org_unit_named_after_group(self, session: Session, real_import) -> None:
        group_texts = set(session.scalars(select(GroupAssignment.text)))
        assert "Các bộ, ngành, địa phương" in group_texts
        unit_names = set(session.scalars(select(OrgUnit.name_folded)))
        for text in group_texts:
            assert fold(text) not in unit_names, text
        for prefix in ("cac bo", "cac so", "cac tinh", "cac co quan", "cac don vi"):
            assert not any(name.startswith(prefix) for name in unit_names), prefix

    def test_real_csv_creates_agencies_for_review(self, session: Session, real_import) -> None:
        created = session.scalars(select(OrgUnit).where(OrgUnit.kind == "imported")).all()
        assert sorted(unit.name for unit in created) == sorted(real_import.created_agencies)
        assert all(unit.needs_review for unit in created)
        assert "Bộ Thông tin và Truyền thông" in {unit.name for unit in created}

    def test_day_deadlines_end_that_day(self, session: Session, examples_dir: Path,
                                        real_import) -> None:
        rows = [row for row in read_source_rows(examples_dir)
                if row["document_number"] == "624/TB-VPCP"]
        assert len(rows) == 74
        tasks = tasks_by_number(session, "624/TB-VPCP")
        for row in rows:
            task = tasks[row["task_no"]]
            day = date.fromisoformat(row["deadline_iso_if_clear"])
            assert task.deadline_text == row["deadline_text"]
            assert task.deadline_on == day, row["task_no"]
            assert task.deadline_at == end_of_day_in_vietnam(day), row["task_no"]
            assert task.deadline_at.astimezone(VIETNAM).time().isoformat() == "23:59:59.999999"
            assert task.deadline_precision == "day"

    def test_period_deadlines_end_last_day(self, session: Session, examples_dir: Path,
                                           real_import) -> None:
        rows = [row for row in read_source_rows(examples_dir)
                if row["deadline_period_end_iso"] and not row["deadline_iso_if_clear"]]
        assert rows
        for row in rows:
            task = tasks_by_number(session, row["document_number"])[row["task_no"]]
            day = date.fromisoformat(row["deadline_period_end_iso"])
            assert task.deadline_on == day, (row["document_number"], row["task_no"])
            assert task.deadline_at == end_of_day_in_vietnam(day)

    def test_regular_tasks_have_no_deadline(self, session: Session, examples_dir: Path,
                                            real_import) -> None:
        rows = [row for row in read_source_rows(examples_dir)
                if row["deadline_text"].lower().startswith("thường xuyên")]
        assert len(rows) >= 19
        for row in rows:
            task = tasks_by_number(session, row["document_number"])[row["task_no"]]
            where = (row["document_number"], row["task_no"])
            assert task.deadline_text == row["deadline_text"], where
            assert task.deadline_on is None, where
            assert task.deadline_at is None, where
            assert task.deadline_precision == "none", where


# The XLSX examples ---------------------------------------------------------------------


def test_xlsx_624_matches_csv(session: Session, examples_dir: Path) -> None:
    rows = [row for row in read_source_rows(examples_dir)
            if row["document_number"] == "624/TB-VPCP"]

    result = import_file(session, examples_dir / "624_TB-VPCP.xlsx", create_agencies=True)

    assert result.problems == []
    tasks = stored_tasks(session, "624/TB-VPCP")
    assert len(tasks) == len(rows)
    for task, row in zip(tasks, rows, strict=True):
        assert task.content == row["task_content"]
        day = date.fromisoformat(row["deadline_iso_if_clear"])
        assert task.deadline_on == day, row["task_no"]
        assert task.deadline_at == end_of_day_in_vietnam(day), row["task_no"]


def test_xlsx_2820_matches_csv(session: Session, examples_dir: Path) -> None:
    rows = [row for row in read_source_rows(examples_dir)
            if row["document_number"] == "2820/QĐ-UBND"]
    # The CSV keeps the unnumbered sub-rows of a task in its other columns.
    # The XLSX gives each of them a row of its own, which becomes a task.
    sub_rows = [row for row in rows
                if "_unparsed_following_cells_verbatim"
                in json.loads(row["other_columns_json"] or "{}")]
    assert len(sub_rows) == 3

    result = import_file(session, examples_dir / "2820_QD-UBND.xlsx", create_agencies=True)

    assert result.problems == []
    tasks = stored_tasks(session, "2820/QĐ-UBND")
    assert len(tasks) == len(rows) + len(sub_rows)
    by_content = {task.content: task for task in tasks}
    assert len(by_content) == len(tasks)
    for row in rows:
        task = by_content[row["task_content"]]
        day = source_deadline_day(row)
        assert task.deadline_text == row["deadline_text"], row["task_no"]
        assert task.deadline_on == day, row["task_no"]
        if day is not None:
            assert task.deadline_at == end_of_day_in_vietnam(day), row["task_no"]


# Broken files --------------------------------------------------------------------------


def test_broken_file_lists_every_bad_row(session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "ke_hoach_loi.csv",
                     [*TITLE_ROWS, HEADER, GOOD_ROWS[0], *BAD_ROWS, GOOD_ROWS[2]])
    before = count_rows(session)

    result = import_file(session, path)

    found = {(problem.row, problem.column, problem.value) for problem in result.problems}
    assert found == {
        (6, "D (Thời gian hoàn thành)", "31/02/2026"),
        (7, "B (Nội dung nhiệm vụ)", ""),
        (8, "C (Cơ quan chủ trì)", "Sở Giao thông vận tải tỉnh Hà Giang"),
    }
    reasons = {problem.row: problem.reason for problem in result.problems}
    assert "February 2026 has no day 31" in reasons[6]
    assert "content is missing" in reasons[7]
    assert "Unknown agency" in reasons[8]
    assert not result.written
    assert count_rows(session) == before


def test_broken_file_creates_no_agency(session: Session, tmp_path: Path) -> None:
    # With --create-agencies the unknown agency is no problem, but the other
    # rows still are, so the org unit made for that agency is rolled back too.
    path = write_csv(tmp_path / "ke_hoach_loi.csv",
                     [*TITLE_ROWS, HEADER, GOOD_ROWS[0], *BAD_ROWS])
    before = count_rows(session)

    result = import_file(session, path, create_agencies=True)

    assert {problem.row for problem in result.problems} == {6, 7}
    assert result.created_agencies == ["Sở Giao thông vận tải tỉnh Hà Giang"]
    assert count_rows(session) == before
    assert session.scalars(select(OrgUnit).where(
        OrgUnit.name == "Sở Giao thông vận tải tỉnh Hà Giang")).first() is None


def test_short_row_creates_no_agency(session: Session, tmp_path: Path) -> None:
    # A comma is missing between the task and the lead agency of row 6, so
    # its deadline sits in the lead-agency column.
    header = ["STT", "Nội dung nhiệm vụ", "Cơ quan chủ trì", "Thời hạn hoàn thành"]
    rows = [
        ["1", "Rà soát hạ tầng mạng nội bộ của các cơ quan Đảng", "Tỉnh ủy Cao Bằng",
         "31/03/2026"],
        ["2", "Cập nhật cơ sở dữ liệuBộ Công an", "30/06/2026"],
    ]
    path = write_csv(tmp_path / "thieu_dau_phay.csv", [*TITLE_ROWS, header, *rows])
    before = count_rows(session)

    result = import_file(session, path, create_agencies=True)

    assert [(problem.row, problem.column, problem.value) for problem in result.problems] == [
        (6, None, None),
    ]
    assert result.problems[0].reason == (
        "The row has 3 cells but the header has 4 columns; check for a missing separator."
    )
    assert result.created_agencies == []
    assert not result.written
    assert count_rows(session) == before
    assert session.scalars(select(OrgUnit).where(OrgUnit.name == "30/06/2026")).first() is None


def test_missing_reference_reported_once(session: Session, tmp_path: Path) -> None:
    # No title rows and no --reference: parsing and the service both see the
    # missing number, and only the first, clearer problem is kept.
    path = write_csv(tmp_path / "khong_so.csv", [HEADER, *GOOD_ROWS])

    result = import_file(session, path)

    assert [(problem.row, problem.column) for problem in result.problems] == [
        (None, "--reference"),
    ]
    assert result.problems[0].reason.startswith("The document number is missing")
    assert not result.written


def test_problems_sorted_across_steps(session: Session, tmp_path: Path) -> None:
    # Parsing finds the bad deadline of row 6. The unknown agency of row 5
    # is found later, when agencies are matched, and the reference without a
    # symbol last, by the service, which reports it at the document's first row.
    rows = [
        ["1", "Xây dựng kho dữ liệu dùng chung", "Sở Giao thông vận tải tỉnh Hà Giang",
         "6/2026", ""],
        ["2", "Tổng hợp báo cáo sơ kết quý I", "Tỉnh ủy Cao Bằng", "31/02/2026", ""],
    ]
    path = write_csv(tmp_path / "thu_tu.csv", [*TITLE_ROWS, HEADER, *rows])

    result = import_file(session, path, ImportOptions(reference="45"))

    assert [(problem.row, problem.column) for problem in result.problems] == [
        (5, "--reference"),
        (5, "C (Cơ quan chủ trì)"),
        (6, "D (Thời gian hoàn thành)"),
    ]


def test_absolutely_secret_row_rejects_file(session: Session, tmp_path: Path) -> None:
    # An absolutely secret mark stops the import before the other rows are
    # checked, so it is the only problem reported, whatever else is wrong.
    path = write_csv(tmp_path / "ke_hoach_loi.csv",
                     [*TITLE_ROWS, HEADER, GOOD_ROWS[0], *BAD_ROWS, ABSOLUTELY_SECRET_ROW])
    before = count_rows(session)

    result = import_file(session, path)

    assert result.rejected
    assert [(problem.row, problem.column, problem.value) for problem in result.problems] == [
        (9, "E (Độ mật)", "Tuyệt mật"),
    ]
    assert "Absolutely secret" in result.problems[0].reason
    assert result.documents == []
    assert count_rows(session) == before


def test_dry_run_writes_nothing(session: Session, examples_dir: Path) -> None:
    before = count_rows(session)

    result = import_file(session, examples_dir / REAL_CSV, create_agencies=True, dry_run=True)

    assert result.problems == []
    assert not result.written
    assert result.dry_run
    assert len(result.documents) == 5
    assert result.task_count == 256
    assert result.created_agencies
    assert count_rows(session) == before


# Text encodings -------------------------------------------------------------------------


def test_decomposed_csv_matches_agency(session: Session, tmp_path: Path) -> None:
    decomposed = [[unicodedata.normalize("NFD", cell) for cell in row]
                  for row in [*TITLE_ROWS, HEADER, *GOOD_ROWS]]
    assert decomposed[4][2] != "Tỉnh ủy Cao Bằng"
    path = write_csv(tmp_path / "nfd.csv", decomposed)

    result = import_file(session, path)

    assert result.problems == []
    assert result.created_agencies == []
    first = stored_tasks(session, "45/KH-UBND")[0]
    assert [agency.org_unit.code for agency in first.agencies] == ["TU04"]
    assert first.content == GOOD_ROWS[0][1]
    document = session.scalars(select(Document).where(Document.reference == "45/KH-UBND")).one()
    assert document.issuing_body == "Ủy ban nhân dân tỉnh Cao Bằng"


def test_windows_1258_csv_stored_as_nfc(session: Session, tmp_path: Path) -> None:
    text = "\r\n".join(",".join(f'"{cell}"' for cell in row)
                       for row in [*TITLE_ROWS, HEADER, *GOOD_ROWS]) + "\r\n"
    data = encode_windows_1258(text)
    # The bytes must hold combining tones, or the test would not reach the NFC step.
    assert data.decode("cp1258") != text
    assert unicodedata.normalize("NFC", data.decode("cp1258")) == text
    path = tmp_path / "cp1258.csv"
    path.write_bytes(data)

    result = import_file(session, path)

    assert result.problems == []
    tasks = stored_tasks(session, "45/KH-UBND")
    assert [task.content for task in tasks] == [row[1] for row in GOOD_ROWS]
    assert [task.deadline_text for task in tasks] == [row[3] for row in GOOD_ROWS]
    assert tasks[1].deadline_on == date(2026, 6, 30)
    assert [agency.org_unit.code for agency in tasks[0].agencies] == ["TU04"]


# Confidentiality and repeated imports ------------------------------------------------------


def test_confidential_table_stores_no_content(session: Session, tmp_path: Path) -> None:
    rows = [["MẬT"], *TITLE_ROWS, HEADER, *[row[:4] + ["Mật"] for row in GOOD_ROWS]]
    path = write_csv(tmp_path / "mat.csv", rows)

    result = import_file(session, path)

    assert result.problems == []
    document = session.scalars(select(Document).where(Document.reference == "45/KH-UBND")).one()
    assert document.confidentiality == "confidential"
    assert document.summary is None
    tasks = stored_tasks(session, "45/KH-UBND")
    assert len(tasks) == len(GOOD_ROWS)
    for task, row in zip(tasks, GOOD_ROWS, strict=True):
        assert task.confidentiality == "confidential"
        assert task.content is None
        assert task.product is None
        assert task.result_summary is None
        assert task.section is None
        assert task.extra is None
        assert fold(row[1]) not in task.search_text
        assert task.task_no == row[0]
        assert task.deadline_text == row[3]
    assert tasks[0].deadline_on == date(2026, 3, 31)
    assert [agency.org_unit.code for agency in tasks[0].agencies] == ["TU04"]


def test_same_file_twice_writes_once(session: Session, examples_dir: Path) -> None:
    first = import_file(session, examples_dir / REAL_CSV, create_agencies=True)
    assert first.written
    session.commit()
    before = count_rows(session)

    second = import_file(session, examples_dir / REAL_CSV, create_agencies=True)

    assert not second.written
    references = {row["document_number"] for row in read_source_rows(examples_dir)}
    assert {problem.value for problem in second.problems} == references
    for problem in second.problems:
        assert "already stored" in problem.reason
    assert second.created_agencies == []
    assert count_rows(session) == before
