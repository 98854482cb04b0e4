"""Report contents, snapshots and exports, against the hand-worked counts in data.py."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from sqlalchemy import select, update

from node.core.errors import ValidationError
from node.core.settings import Settings
from node.core.timezone import VN_TZ
from node.local_tasks.models import OrgUnit, Task
from node.reports import export, service
from node.reports.errors import ReportStateError
from node.reports.models import ReportSnapshot
from node.reports.periods import Period
from tests.reports import data

APRIL = datetime(2026, 4, 2, 10, 0, tzinfo=VN_TZ)
Q1 = Period("quarterly", date(2026, 1, 1), date(2026, 3, 31))


def _unit(session, code: str) -> OrgUnit:  # noqa: ANN001
    return session.scalar(select(OrgUnit).where(OrgUnit.code == code))


def _produce(session, scope: str = "summary", code: str = "VPTW",  # noqa: ANN001
             period: Period = Q1) -> ReportSnapshot:
    unit = _unit(session, code)
    issuer = unit if scope == "agency" else _unit(session, "VPTW")
    return service.produce_report(session, scope=scope, org_unit=unit, issuer=issuer,
                                  period=period, now=APRIL, actor="tester")


@pytest.fixture
def stored(client, session):  # noqa: ANN001, ANN201
    data.store(client)
    session.expire_all()
    return session


def test_summary_counts_levels_as_of_period_end(stored) -> None:  # noqa: ANN001
    content = _produce(stored).content
    assert content["totals"]["counts"] == data.Q1_COUNTS
    assert content["totals"]["total"] == 8
    assert content["totals"]["overdue"] == 4  # C, G, H, E
    assert content["totals"]["completed"] == 2
    assert content["as_of"] == "2026-03-31T23:59:59.999999+07:00"
    assert [row["task_no"] for row in content["overdue_tasks"]["rows"]] == data.Q1_OVERDUE_ORDER
    assert [row["task_no"] for row in content["completed_tasks"]["rows"]] \
        == data.Q1_COMPLETED_ORDER
    by_document = {row["reference"]: row["total"] for row in content["by_document"]}
    assert by_document == {"10-KH/TW": 7, "11-CT/TW": 1}
    by_agency = {row["code"]: row["total"] for row in content["by_agency"]}
    assert by_agency == {"BTCTW": 4, "UBKTTW": 2, "VPTW": 2}


def test_confidential_task_is_listed_without_content(stored) -> None:  # noqa: ANN001
    rows = _produce(stored).content["overdue_tasks"]["rows"]
    task_h = next(row for row in rows if row["task_no"] == "H")
    assert task_h["confidential"] is True
    assert task_h["content"] is None


def test_agency_report_counts_only_its_tasks(stored) -> None:  # noqa: ANN001
    content = _produce(stored, scope="agency", code="BTCTW").content
    assert content["totals"]["counts"] == data.Q1_COUNTS_BTCTW
    assert [row["task_no"] for row in content["overdue_tasks"]["rows"]] == ["H", "C"]
    assert [row["code"] for row in content["by_agency"]] == ["BTCTW"]


def test_vietnamese_title_and_period_name(stored) -> None:  # noqa: ANN001
    content = _produce(stored).content
    assert content["title"] == ("Tổng hợp tình hình, kết quả thực hiện nhiệm vụ được giao "
                                "quý I năm 2026")


def test_issued_snapshot_does_not_change_after_later_update(stored) -> None:  # noqa: ANN001
    snapshot = _produce(stored)
    service.issue_report(stored, snapshot, at=datetime(2026, 4, 3, 9, tzinfo=VN_TZ),
                         actor="tester")
    assert snapshot.symbol == "1-BC/VPTW"
    content_before = snapshot.content
    docx_text_before = _docx_text(export.render_docx(snapshot))
    # Task C (due 20/03) is reported completed on 25/03, inside Q1: the figures now differ...
    stored.execute(update(Task).where(Task.task_no == "C").values(
        reported_state="completed", completed_at=datetime(2026, 3, 25, 9, tzinfo=VN_TZ)))
    stored.flush()
    stored.expire_all()
    kept = stored.get(ReportSnapshot, snapshot.id)
    assert kept.content == content_before
    assert kept.content_sha256 == service.content_digest(content_before)
    assert _docx_text(export.render_docx(kept)) == docx_text_before
    # ...and producing again makes version 2, with the new figures, superseding version 1.
    again = _produce(stored)
    assert again.version == 2
    assert again.content["totals"]["counts"]["completed_late"] == 2  # B and now C
    assert again.content["totals"]["counts"]["in_progress_overdue"] == 1  # G only
    service.issue_report(stored, again, at=datetime(2026, 4, 4, 9, tzinfo=VN_TZ), actor="tester")
    assert again.symbol == "2-BC/VPTW"
    assert again.supersedes_id == snapshot.id


def test_issued_report_cannot_be_issued_or_edited_again(stored) -> None:  # noqa: ANN001
    snapshot = _produce(stored)
    service.issue_report(stored, snapshot, at=APRIL, actor="tester")
    with pytest.raises(ReportStateError):
        service.issue_report(stored, snapshot, at=APRIL, actor="tester")
    snapshot.content = {**snapshot.content, "title": "changed"}
    with pytest.raises(ValueError, match="is issued"):
        stored.flush()
    stored.rollback()


def test_ad_hoc_period_is_checked() -> None:
    with pytest.raises(ValidationError) as caught:
        service.requested_period("ad_hoc", start=date(2026, 5, 1), end=date(2026, 4, 1))
    assert caught.value.problems[0].path == "period_end"
    with pytest.raises(ValidationError) as caught:
        service.requested_period("weekly", day=date(2026, 5, 1))
    assert caught.value.problems[0].path == "kind"
    assert service.requested_period("quarterly", day=date(2026, 5, 1)) \
        == Period("quarterly", date(2026, 4, 1), date(2026, 6, 30))


def test_ad_hoc_report_over_a_subtree_and_range(stored) -> None:  # noqa: ANN001
    period = service.requested_period("ad_hoc", start=date(2026, 3, 6), end=date(2026, 3, 31))
    content = _produce(stored, scope="agency", code="BTCTW", period=period).content
    # Only A was completed between 06/03 and 31/03; B was completed on 05/03.
    assert [row["task_no"] for row in content["completed_tasks"]["rows"]] == ["A"]
    assert "06/03/2026" in content["title"]
    assert "31/03/2026" in content["title"]


def test_due_reports_are_produced_once(stored, session_factory) -> None:  # noqa: ANN001
    settings = Settings(node_org_unit="VPTW", node_level=0)
    produced = service.produce_due_reports(session_factory, settings, APRIL)
    # Four summaries, and four periodic reports for each of the three lead agencies.
    assert len(produced) == 4 + 3 * 4
    assert service.produce_due_reports(session_factory, settings, APRIL) == []
    stored.expire_all()
    quarterly = stored.scalar(select(ReportSnapshot).where(
        ReportSnapshot.scope == "agency", ReportSnapshot.kind == "quarterly",
        ReportSnapshot.org_unit_id == _unit(stored, "BTCTW").id))
    assert (quarterly.period_start, quarterly.period_end) == (date(2026, 1, 1), date(2026, 3, 31))
    assert quarterly.content["totals"]["counts"] == data.Q1_COUNTS_BTCTW
    summary = stored.scalar(select(ReportSnapshot).where(
        ReportSnapshot.scope == "summary", ReportSnapshot.kind == "quarterly"))
    # The quarterly summary is due before 25/03: figures as of the end of 24/03.
    assert (summary.period_start, summary.period_end) == (date(2025, 12, 25), date(2026, 3, 24))
    # No task changes level between 24/03 and 31/03 in this data: C (due 20/03) and G
    # (due 01/03, completed only on 10/04) are already overdue on 24/03, D is due 30/06.
    assert summary.content["totals"]["counts"] == data.Q1_COUNTS


def test_due_reports_take_place_setting(stored, session_factory) -> None:  # noqa: ANN001
    settings = Settings(node_org_unit="VPTW", node_level=0, reports_place="Cao Bằng")

    produced = service.produce_due_reports(session_factory, settings, APRIL)

    stored.expire_all()
    places = {stored.get(ReportSnapshot, report_id).content["place"] for report_id in produced}
    assert places == {"Cao Bằng"}


# Exports ---------------------------------------------------------------------------


def _docx_text(content: bytes) -> str:
    from docx import Document

    document = Document(io.BytesIO(content))
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def test_docx_is_laid_out_as_a_party_document(stored) -> None:  # noqa: ANN001
    snapshot = _produce(stored)
    service.issue_report(stored, snapshot, at=datetime(2026, 12, 20, 9, tzinfo=VN_TZ),
                         actor="tester")
    from docx import Document

    document = Document(io.BytesIO(export.render_docx(snapshot)))
    header = document.tables[0].rows[0].cells
    assert "VĂN PHÒNG TRUNG ƯƠNG ĐẢNG" in header[0].text
    assert "Số 1-BC/VPTW" in header[0].text
    assert "ĐẢNG CỘNG SẢN VIỆT NAM" in header[1].text
    assert "Hà Nội, ngày 20 tháng 12 năm 2026" in header[1].text
    text = _docx_text(export.render_docx(snapshot))
    assert "BÁO CÁO" in text
    assert snapshot.title in text
    assert "Nơi nhận:" in text
    assert "Hoàn thành đúng hạn" in text


def test_xlsx_reads_back_with_the_counts(stored) -> None:  # noqa: ANN001
    from openpyxl import load_workbook

    snapshot = _produce(stored)
    workbook = load_workbook(io.BytesIO(export.render_xlsx(snapshot)))
    assert workbook.sheetnames == ["Tổng hợp", "Theo cơ quan", "Theo văn bản", "Quá hạn",
                                   "Hoàn thành trong kỳ"]
    rows = [tuple(row) for row in workbook["Tổng hợp"].iter_rows(values_only=True)]
    by_label = {row[0]: row[1] for row in rows if row and row[0]}
    assert by_label["Đang thực hiện quá hạn"] == 2
    assert by_label["Tổng số"] == 8
    overdue = [row for row in workbook["Quá hạn"].iter_rows(values_only=True)]
    assert sum(1 for row in overdue if isinstance(row[0], int)) == 4


def test_pdf_parses_and_shows_the_vietnamese_title(stored) -> None:  # noqa: ANN001
    from pypdf import PdfReader

    snapshot = _produce(stored)
    reader = PdfReader(io.BytesIO(export.render_pdf(snapshot)))
    text = " ".join((page.extract_text() or "") for page in reader.pages)
    normalized = " ".join(text.split())
    assert "BÁO CÁO" in normalized
    assert "quý I năm 2026" in normalized
    assert "ĐẢNG CỘNG SẢN VIỆT NAM" in normalized
    fonts = {str(font) for page in reader.pages
             for font in (page["/Resources"].get_object().get("/Font") or {}).values()}
    assert fonts


def test_pdf_cuts_cell_longer_than_a_page(stored) -> None:  # noqa: ANN001
    from pypdf import PdfReader

    snapshot = _produce(stored)
    # A task led by every province lists all of them in one cell: 1,530 characters.
    provinces = [f"Tỉnh ủy số {number:02d} tỉnh thành phố" for number in range(1, 52)]
    row = snapshot.content["overdue_tasks"]["rows"][0]
    row["leads"] = provinces

    reader = PdfReader(io.BytesIO(export.render_pdf(snapshot)))

    text = " ".join((page.extract_text() or "") for page in reader.pages)
    normalized = " ".join(text.split())
    assert "Tỉnh ủy số 01" in normalized
    assert "Tỉnh ủy số 51" not in normalized
    assert "…" in normalized
    docx_text = _docx_text(export.render_docx(snapshot))
    assert "Tỉnh ủy số 51" in docx_text


def test_scheduler_job_runs_and_repeats_nothing(stored, session_factory) -> None:  # noqa: ANN001
    from node.reports.jobs import produce_reports

    settings = Settings(node_org_unit="VPTW", node_level=0)
    first = produce_reports(session_factory, settings)
    assert first, "the tasks' agencies have reports due for the periods before today"
    assert produce_reports(session_factory, settings) == []
