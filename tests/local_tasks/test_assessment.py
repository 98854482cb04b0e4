"""Assessment services: evaluations, inspection findings, attachments and assignment.

Transfer deadlines are worked out by hand from the working calendar: working
periods 08:00-12:00 and 13:00-17:00, Monday to Friday, Vietnam time. In 2026,
02/03 is a Monday, and 30/04 (Thursday) and 01/05 (Friday) are public holidays.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import threading
import time
import unicodedata
import zipfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import sessionmaker

from node.audit.models import AuditEntry
from node.core import migrate
from node.core.db import make_engine, unit_of_work
from node.core.errors import ConflictError, ValidationError
from node.core.settings import replace
from node.local_tasks import assessment
from node.local_tasks.assessment import (
    AttachmentIntegrityError,
    AttachmentTooLargeError,
    attachments_of,
    classify_task,
    close_finding,
    current_evaluation,
    evaluate_task,
    evaluation_history,
    findings_for_org_unit,
    findings_for_task,
    is_transfer_late,
    open_attachment,
    record_finding,
    resolve_group_assignment,
    store_attachment,
    transfer_deadline,
    transfer_document,
    untransferable_tasks,
)
from node.local_tasks.assessment.models import Attachment, InspectionFinding, TaskEvaluation
from node.local_tasks.inputs import DeadlineInput, DocumentInput, TaskInput
from node.local_tasks.models import (
    ClassificationScheme,
    ClassificationValue,
    Document,
    OrgUnit,
    Task,
    TaskAgency,
    TaskEvent,
)
from node.local_tasks.reference import seed_reference_data
from node.local_tasks.service import create_document
from node.local_tasks.workflow import (
    StaleTaskError,
    WorkflowStateError,
    approve_update,
    submit_update,
    transfer_task,
)
from node.local_tasks.workflow.models import ProgressUpdate

VN = timezone(timedelta(hours=7))
LEAD = "Văn phòng Trung ương Đảng"
OTHER_AGENCY = "Ban Tổ chức Trung ương"
PROVINCES = "Các tỉnh ủy, thành ủy"
_document_numbers = itertools.count(1)


def vn(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN)


def task_input(**fields) -> TaskInput:
    fields.setdefault("content", "Xây dựng kế hoạch triển khai")
    deadline_on = fields.pop("deadline_on", date(2026, 6, 30))
    return TaskInput(deadline=DeadlineInput(text=deadline_on.strftime("%d/%m/%Y"), on=deadline_on,
                                            precision="day"), **fields)


def make_document(session, calendar, tasks: list[TaskInput], *,
                  issued_on: date = date(2026, 3, 2),
                  confidentiality: str = "regular") -> Document:
    regular = confidentiality == "regular"
    if not regular:
        for item in tasks:
            item.content = None
    return create_document(session, DocumentInput(
        reference=f"{next(_document_numbers)}/KH-VPTW", issued_on=issued_on,
        summary="Kế hoạch thực hiện" if regular else None, confidentiality=confidentiality,
        tasks=tasks), calendar=calendar)


def make_task(session, calendar, *, confidentiality: str = "regular", **fields) -> Task:
    fields.setdefault("lead_agencies", [LEAD])
    document = make_document(session, calendar, [task_input(**fields)],
                             confidentiality=confidentiality)
    return document.tasks[0]


def unit(session, code: str) -> OrgUnit:
    return session.scalars(select(OrgUnit).where(OrgUnit.code == code)).one()


def unit_named(session, name: str) -> OrgUnit:
    return session.scalars(select(OrgUnit).where(OrgUnit.name == name)).one()


def row_counts(session) -> dict[str, int]:
    models = (TaskEvent, AuditEntry, TaskEvaluation, InspectionFinding, Attachment, TaskAgency)
    return {model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in models}


def events_of(session, task: Task) -> list[TaskEvent]:
    return list(session.scalars(select(TaskEvent).where(TaskEvent.task_id == task.id)
                                .order_by(TaskEvent.id)))


def last_audit(session) -> AuditEntry:
    return session.scalars(select(AuditEntry).order_by(AuditEntry.sequence.desc()).limit(1)).one()


# Evaluation ------------------------------------------------------------------


def test_first_evaluation_is_current(session, calendar):
    task = make_task(session, calendar)

    evaluation = evaluate_task(session, task, at=vn(2026, 7, 1, 9), actor="ubkt.danhgia",
                               rating="completed", comment="Đúng tiến độ")

    assert current_evaluation(session, task) is evaluation
    assert evaluation.superseded_by_id is None
    assert evaluation.evaluated_by == "ubkt.danhgia"
    assert evaluation.comment == "Đúng tiến độ"
    event = events_of(session, task)[-1]
    assert event.kind == "task.evaluation"
    assert event.detail["outcome"] == "completed"
    assert event.detail["superseded_evaluation_id"] is None
    audit = last_audit(session)
    assert audit.action == "task.evaluation"
    assert audit.object_id == str(evaluation.id)
    assert audit.after["rating"] == "completed"


def test_new_evaluation_supersedes_previous(session, calendar):
    task = make_task(session, calendar)
    first = evaluate_task(session, task, at=vn(2026, 7, 1, 9), actor="ubkt.danhgia",
                          rating="not_fully_completed")

    second = evaluate_task(session, task, at=vn(2026, 8, 3, 9), actor="ubkt.danhgia",
                           rating="excellent")

    assert first.superseded_by_id == second.id
    assert first.rating == "not_fully_completed"
    assert second.superseded_by_id is None
    assert current_evaluation(session, task) is second
    assert evaluation_history(session, task) == [first, second]
    assert events_of(session, task)[-1].detail["superseded_evaluation_id"] == first.id
    assert last_audit(session).before == {"evaluation_id": first.id,
                                          "rating": "not_fully_completed"}


def test_evaluation_rejects_unknown_rating(session, calendar):
    task = make_task(session, calendar)
    before = row_counts(session)

    with pytest.raises(ValidationError) as caught:
        evaluate_task(session, task, at=vn(2026, 7, 1, 9), actor="ubkt.danhgia", rating="good")

    assert [problem.path for problem in caught.value.problems] == ["rating"]
    assert "use one of excellent, completed, not_fully_completed, not_completed" in (
        caught.value.problems[0].message)
    assert row_counts(session) == before


def test_confidential_evaluation_rejects_comment(session, calendar):
    task = make_task(session, calendar, confidentiality="confidential")
    before = row_counts(session)

    with pytest.raises(ValidationError) as caught:
        evaluate_task(session, task, at=vn(2026, 7, 1, 9), actor="ubkt.danhgia",
                      rating="completed", comment="Nội dung mật")

    assert [problem.path for problem in caught.value.problems] == ["comment"]
    assert caught.value.problems[0].value is None
    assert row_counts(session) == before


def test_confidential_evaluation_rating_only(session, calendar):
    task = make_task(session, calendar, confidentiality="top_secret")

    evaluation = evaluate_task(session, task, at=vn(2026, 7, 1, 9), actor="ubkt.danhgia",
                               rating="not_completed", comment="   ")

    assert evaluation.comment is None
    assert evaluation.rating == "not_completed"


def test_evaluation_before_current_rejected(session, calendar):
    task = make_task(session, calendar)
    evaluate_task(session, task, at=vn(2026, 7, 1, 9), actor="ubkt.danhgia", rating="completed")
    before = row_counts(session)

    with pytest.raises(ValidationError, match="before the current evaluation"):
        evaluate_task(session, task, at=vn(2026, 6, 30, 9), actor="ubkt.danhgia",
                      rating="excellent")

    assert row_counts(session) == before


def test_evaluation_needs_actor(session, calendar):
    task = make_task(session, calendar)
    before = row_counts(session)

    with pytest.raises(ValidationError, match="evaluator is missing"):
        evaluate_task(session, task, at=vn(2026, 7, 1, 9), actor=" ", rating="completed")

    assert row_counts(session) == before


def test_concurrent_supersede_rolls_back(session, calendar, monkeypatch):
    task = make_task(session, calendar)
    first = evaluate_task(session, task, at=vn(2026, 7, 1, 9), actor="a", rating="completed")
    evaluate_task(session, task, at=vn(2026, 7, 2, 9), actor="b", rating="excellent")
    before = row_counts(session)
    # A stale read of the current evaluation, as a concurrent writer would have made.
    monkeypatch.setattr(assessment.service, "current_evaluation", lambda session, task: first)

    with pytest.raises(StaleTaskError, match="superseded by someone else"):
        evaluate_task(session, task, at=vn(2026, 7, 3, 9), actor="c", rating="not_completed")

    assert row_counts(session) == before


def test_concurrent_evaluations_keep_one_current(fresh_database_url, calendar):
    engine = make_engine(fresh_database_url)
    try:
        migrate.upgrade(engine)
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        with unit_of_work(factory) as setup:
            seed_reference_data(setup)
            task = make_task(setup, calendar)
            evaluate_task(setup, task, at=vn(2026, 7, 1, 9), actor="a", rating="completed")
            task_id = task.id
        first = factory()
        evaluate_task(first, first.get(Task, task_id), at=vn(2026, 7, 2, 9), actor="b",
                      rating="excellent")
        outcome: list[object] = []

        def evaluate_meanwhile() -> None:
            with factory() as second:
                try:
                    evaluate_task(second, second.get(Task, task_id), at=vn(2026, 7, 3, 9),
                                  actor="c", rating="not_completed")
                    second.commit()
                    outcome.append("stored")
                except StaleTaskError as exc:
                    second.rollback()
                    outcome.append(exc)

        thread = threading.Thread(target=evaluate_meanwhile)
        thread.start()
        # The second evaluation now waits for the first transaction's lock.
        time.sleep(0.5)
        first.commit()
        first.close()
        thread.join(timeout=30)

        with factory() as check:
            history = evaluation_history(check, check.get(Task, task_id))
            current = [row.rating for row in history if row.superseded_by_id is None]
        if engine.dialect.name == "postgresql":
            # The row lock made the second writer read the first one's evaluation.
            assert outcome == ["stored"]
            assert [row.rating for row in history] == ["completed", "excellent", "not_completed"]
            assert current == ["not_completed"]
        else:
            # SQLite has no row lock, so the second writer read the current
            # evaluation before the first one committed, and its supersede failed.
            assert len(outcome) == 1
            assert isinstance(outcome[0], StaleTaskError)
            assert [row.rating for row in history] == ["completed", "excellent"]
            assert current == ["excellent"]
    finally:
        engine.dispose()


# Inspection findings ---------------------------------------------------------


def test_finding_on_task_recorded(session, calendar):
    task = make_task(session, calendar)

    finding = record_finding(session, at=vn(2026, 5, 4, 10), actor="doan.kiemtra",
                             kind="delay_sign", task=task, finding="Chậm xây dựng dự thảo",
                             recommendation="Đẩy nhanh tiến độ")

    assert finding.status == "open"
    assert finding.closed_at is None
    assert findings_for_task(session, task) == [finding]
    event = events_of(session, task)[-1]
    assert event.kind == "inspection.finding"
    assert event.detail["object_id"] == finding.id
    assert event.detail["finding_kind"] == "delay_sign"
    assert last_audit(session).after["finding"] == "Chậm xây dựng dự thảo"


def test_finding_on_org_unit_has_no_event(session):
    agency = unit_named(session, OTHER_AGENCY)
    before = row_counts(session)

    finding = record_finding(session, at=vn(2026, 5, 4, 10), actor="doan.kiemtra",
                             kind="data_error", org_unit=agency, finding="Số liệu báo cáo sai")

    after = row_counts(session)
    assert after["TaskEvent"] == before["TaskEvent"]
    assert after["AuditEntry"] == before["AuditEntry"] + 1
    assert after["InspectionFinding"] == before["InspectionFinding"] + 1
    audit = last_audit(session)
    assert audit.action == "inspection.finding"
    assert audit.object_id == str(finding.id)
    assert audit.after["org_unit_id"] == agency.id


def test_finding_needs_task_or_org_unit(session):
    before = row_counts(session)

    with pytest.raises(ValidationError) as caught:
        record_finding(session, at=vn(2026, 5, 4, 10), actor="doan.kiemtra", kind="secret",
                       finding="Nội dung")

    assert [problem.path for problem in caught.value.problems] == ["task", "kind"]
    assert row_counts(session) == before


def test_finding_needs_text(session, calendar):
    task = make_task(session, calendar)
    before = row_counts(session)

    with pytest.raises(ValidationError) as caught:
        record_finding(session, at=vn(2026, 5, 4, 10), actor="doan.kiemtra", kind="other",
                       task=task, finding="  ")

    assert [problem.path for problem in caught.value.problems] == ["finding"]
    assert row_counts(session) == before


def test_confidential_finding_kind_only(session, calendar):
    task = make_task(session, calendar, confidentiality="confidential")
    before = row_counts(session)

    with pytest.raises(ValidationError) as caught:
        record_finding(session, at=vn(2026, 5, 4, 10), actor="doan.kiemtra",
                       kind="process_violation", task=task, finding="Mật",
                       recommendation="Mật")

    assert [problem.path for problem in caught.value.problems] == ["finding", "recommendation"]
    assert row_counts(session) == before
    finding = record_finding(session, at=vn(2026, 5, 4, 10), actor="doan.kiemtra",
                             kind="process_violation", task=task)
    assert finding.finding is None
    assert finding.recommendation is None


def test_finding_closed_once(session, calendar):
    task = make_task(session, calendar)
    finding = record_finding(session, at=vn(2026, 5, 4, 10), actor="doan.kiemtra",
                             kind="delay_sign", task=task, finding="Chậm tiến độ")

    close_finding(session, finding, at=vn(2026, 6, 1, 15), actor="vptw.theodoi",
                  note="Cơ quan đã bổ sung kế hoạch")

    assert finding.status == "closed"
    assert finding.closed_at == vn(2026, 6, 1, 15)
    assert finding.closed_by == "vptw.theodoi"
    assert finding.closing_note == "Cơ quan đã bổ sung kế hoạch"
    event = events_of(session, task)[-1]
    assert event.kind == "inspection.finding_close"
    assert event.detail["outcome"] == "closed"
    assert last_audit(session).before["status"] == "open"
    before = row_counts(session)
    with pytest.raises(WorkflowStateError, match="already closed by vptw.theodoi at "
                       "2026-06-01 15:00 \\+07:00"):
        close_finding(session, finding, at=vn(2026, 6, 2, 9), actor="x", note="lại")
    assert row_counts(session) == before


def test_close_needs_note_and_order(session, calendar):
    task = make_task(session, calendar)
    finding = record_finding(session, at=vn(2026, 5, 4, 10), actor="doan.kiemtra",
                             kind="other", task=task, finding="Thiếu hồ sơ")
    before = row_counts(session)

    with pytest.raises(ValidationError, match="note is missing"):
        close_finding(session, finding, at=vn(2026, 6, 1, 15), actor="vptw.theodoi")
    with pytest.raises(ValidationError, match="before the finding was recorded"):
        close_finding(session, finding, at=vn(2026, 5, 4, 9), actor="vptw.theodoi", note="Xong")

    assert finding.status == "open"
    assert row_counts(session) == before


def test_findings_visible_to_agency(session, calendar):
    lead = unit_named(session, LEAD)
    other = unit_named(session, OTHER_AGENCY)
    led_task = make_task(session, calendar)
    coordinated_task = make_task(session, calendar, lead_agencies=[OTHER_AGENCY],
                                 coordinating_agencies=[LEAD])
    foreign_task = make_task(session, calendar, lead_agencies=[OTHER_AGENCY])
    on_led = record_finding(session, at=vn(2026, 5, 4, 10), actor="d", kind="delay_sign",
                            task=led_task, finding="A")
    on_unit = record_finding(session, at=vn(2026, 5, 5, 10), actor="d", kind="data_error",
                             org_unit=lead, finding="B")
    on_other_unit = record_finding(session, at=vn(2026, 5, 6, 10), actor="d", kind="other",
                                   org_unit=other, finding="C")
    on_coordinated = record_finding(session, at=vn(2026, 5, 7, 10), actor="d", kind="other",
                                    task=coordinated_task, finding="D")
    on_foreign = record_finding(session, at=vn(2026, 5, 8, 10), actor="d", kind="other",
                                task=foreign_task, finding="E")
    close_finding(session, on_unit, at=vn(2026, 5, 9, 10), actor="d", note="Đã sửa")

    visible = findings_for_org_unit(session, [lead.id])
    open_only = findings_for_org_unit(session, [lead.id], status="open")
    both = findings_for_org_unit(session, [lead.id, other.id])

    assert visible == [on_coordinated, on_unit, on_led]
    assert open_only == [on_coordinated, on_led]
    assert both == [on_foreign, on_coordinated, on_other_unit, on_unit, on_led]
    assert findings_for_org_unit(session, []) == []


# Attachments -----------------------------------------------------------------

PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"


def office_package(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        for name, content in members.items():
            package.writestr(name, content)
    return buffer.getvalue()


DOCX = office_package({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
XLSX = office_package({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})
ODT = office_package({"mimetype": b"application/vnd.oasis.opendocument.text",
                      "content.xml": b"<office:document-content/>"})
ODS = office_package({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet",
                      "content.xml": b"<office:document-content/>"})
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 13
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 16
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64


@pytest.fixture
def upload_settings(settings, tmp_path):
    return replace(settings, instance_path=tmp_path / "instance", max_upload_bytes=1024 * 1024)


def submitted_update(session, calendar, **options) -> ProgressUpdate:
    task = make_task(session, calendar, **options)
    return submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                         reported_state="in_progress", progress_percent=40)


def stored_files(settings) -> list[Path]:
    root = Path(settings.instance_path) / "attachments"
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def test_pdf_stored_by_checksum(session, calendar, upload_settings):
    update = submitted_update(session, calendar)
    digest = hashlib.sha256(PDF).hexdigest()

    attachment = store_attachment(session, update, filename="Báo cáo quý I.pdf",
                                  stream=io.BytesIO(PDF), actor="bo.canbo",
                                  settings=upload_settings)

    assert attachment.sha256 == digest
    assert attachment.size_bytes == len(PDF)
    assert attachment.media_type == "application/pdf"
    assert attachment.stored_path == f"attachments/{digest[:2]}/{digest}"
    assert attachment.uploaded_by == "bo.canbo"
    path = Path(upload_settings.instance_path) / attachment.stored_path
    assert path.read_bytes() == PDF
    assert stored_files(upload_settings) == [path]
    assert attachments_of(session, update) == [attachment]
    event = events_of(session, update.task)[-1]
    assert event.kind == "task.attachment"
    assert event.detail["sha256"] == digest
    assert last_audit(session).after["filename"] == "Báo cáo quý I.pdf"


@pytest.mark.parametrize(("filename", "expected"), [
    ("C:\\Users\\canbo\\Desktop\\bao-cao.pdf", "bao-cao.pdf"),
    ("../../etc/passwd.pdf", "passwd.pdf"),
    (unicodedata.normalize("NFD", "Kết quả.pdf"), "Kết quả.pdf"),
])
def test_filename_cleaned(session, calendar, upload_settings, filename, expected):
    update = submitted_update(session, calendar)

    attachment = store_attachment(session, update, filename=filename, stream=io.BytesIO(PDF),
                                  actor="bo.canbo", settings=upload_settings)

    assert attachment.filename == expected
    assert unicodedata.is_normalized("NFC", attachment.filename)


@pytest.mark.parametrize(("filename", "content", "media_type"), [
    ("a.docx", DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("a.xlsx", XLSX, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("a.odt", ODT, "application/vnd.oasis.opendocument.text"),
    ("a.ods", ODS, "application/vnd.oasis.opendocument.spreadsheet"),
    ("a.doc", OLE2, "application/msword"),
    ("a.xls", OLE2, "application/vnd.ms-excel"),
    ("a.PNG", PNG, "image/png"),
    ("a.jpg", JPEG, "image/jpeg"),
    ("a.jpeg", JPEG, "image/jpeg"),
    ("a.txt", "Báo cáo tiến độ\n".encode(), "text/plain"),
])
def test_office_types_accepted(session, calendar, upload_settings, filename, content, media_type):
    update = submitted_update(session, calendar)

    attachment = store_attachment(session, update, filename=filename, stream=io.BytesIO(content),
                                  actor="bo.canbo", settings=upload_settings)

    assert attachment.media_type == media_type
    assert attachment.size_bytes == len(content)


@pytest.mark.parametrize(("filename", "content", "expected"), [
    ("setup.pdf", EXE, "is not a valid pdf file"),
    ("report.pdf.exe", EXE, "Files of type 'exe' cannot be attached"),
    ("run.sh", b"#!/bin/sh\nrm -rf /\n", "Files of type 'sh' cannot be attached"),
    ("page.html", b"<script>alert(1)</script>", "Files of type 'html' cannot be attached"),
    ("files.zip", office_package({"a.txt": b"x"}), "Files of type 'zip' cannot be attached"),
    ("README", b"text", "Files of type '(none)' cannot be attached"),
    ("note.txt", b"#!/usr/bin/env python\nprint(1)\n", "is not a valid txt file"),
    ("note.txt", b"ab\x00cd", "is not a valid txt file"),
    ("note.txt", b"\xff\xfe\x00bad", "is not a valid txt file"),
    ("sheet.docx", XLSX, "is not a valid docx file"),
    ("macro.docx", office_package({"word/document.xml": b"<w/>", "word/vbaProject.bin": b"x"}),
     "is not a valid docx file"),
    ("text.odt", ODS, "is not a valid odt file"),
    ("image.png", JPEG, "is not a valid png file"),
    ("old.doc", PDF, "is not a valid doc file"),
])
def test_mismatched_or_unsafe_rejected(session, calendar, upload_settings, filename, content,
                                       expected):
    update = submitted_update(session, calendar)
    before = row_counts(session)

    with pytest.raises(ValidationError, match=expected.replace("(", "\\(").replace(")", "\\)")):
        store_attachment(session, update, filename=filename, stream=io.BytesIO(content),
                         actor="bo.canbo", settings=upload_settings)

    assert row_counts(session) == before
    assert stored_files(upload_settings) == []


def test_empty_file_rejected(session, calendar, upload_settings):
    update = submitted_update(session, calendar)
    before = row_counts(session)

    with pytest.raises(ValidationError, match="empty.pdf is empty"):
        store_attachment(session, update, filename="empty.pdf", stream=io.BytesIO(b""),
                         actor="bo.canbo", settings=upload_settings)

    assert row_counts(session) == before
    assert stored_files(upload_settings) == []


def test_upload_limit_in_megabytes(session, calendar, upload_settings):
    update = submitted_update(session, calendar)
    at_limit = PDF + b"0" * (1024 * 1024 - len(PDF))
    before = row_counts(session)

    with pytest.raises(AttachmentTooLargeError, match="upload limit of 1 MB"):
        store_attachment(session, update, filename="big.pdf",
                         stream=io.BytesIO(at_limit + b"0"), actor="bo.canbo",
                         settings=upload_settings)

    assert row_counts(session) == before
    assert stored_files(upload_settings) == []
    attachment = store_attachment(session, update, filename="limit.pdf",
                                  stream=io.BytesIO(at_limit), actor="bo.canbo",
                                  settings=upload_settings)
    assert attachment.size_bytes == 1024 * 1024


def test_same_file_twice_on_update_rejected(session, calendar, upload_settings):
    update = submitted_update(session, calendar)
    first = store_attachment(session, update, filename="a.pdf", stream=io.BytesIO(PDF),
                             actor="bo.canbo", settings=upload_settings)
    before = row_counts(session)

    with pytest.raises(ConflictError, match=f"already attached .* as a.pdf \\(attachment "
                       f"{first.id}\\)"):
        store_attachment(session, update, filename="b.pdf", stream=io.BytesIO(PDF),
                         actor="bo.canbo", settings=upload_settings)

    assert row_counts(session) == before
    assert len(stored_files(upload_settings)) == 1


def test_equal_content_stored_once(session, calendar, upload_settings):
    first_update = submitted_update(session, calendar)
    second_update = submitted_update(session, calendar)

    first = store_attachment(session, first_update, filename="a.pdf", stream=io.BytesIO(PDF),
                             actor="bo.canbo", settings=upload_settings)
    second = store_attachment(session, second_update, filename="b.pdf", stream=io.BytesIO(PDF),
                              actor="bo.canbo", settings=upload_settings)

    assert first.stored_path == second.stored_path
    assert len(stored_files(upload_settings)) == 1


def test_confidential_update_takes_no_file(session, calendar, upload_settings):
    update = submitted_update(session, calendar, confidentiality="confidential")
    before = row_counts(session)

    with pytest.raises(WorkflowStateError, match="confidential or top secret"):
        store_attachment(session, update, filename="a.pdf", stream=io.BytesIO(PDF),
                         actor="bo.canbo", settings=upload_settings)

    assert row_counts(session) == before
    assert stored_files(upload_settings) == []


def test_reviewed_update_takes_no_file(session, calendar, upload_settings):
    update = submitted_update(session, calendar)
    approve_update(session, update, at=vn(2026, 4, 2, 9), actor="bo.lanhdao")
    before = row_counts(session)

    with pytest.raises(WorkflowStateError, match="already approved"):
        store_attachment(session, update, filename="a.pdf", stream=io.BytesIO(PDF),
                         actor="bo.canbo", settings=upload_settings)

    assert row_counts(session) == before


def test_failed_insert_removes_new_file(session, calendar, upload_settings, monkeypatch):
    update = submitted_update(session, calendar)

    def failing_step(*args, **kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(assessment.service, "record_step", failing_step)
    with pytest.raises(RuntimeError, match="audit log unavailable"):
        store_attachment(session, update, filename="a.pdf", stream=io.BytesIO(PDF),
                         actor="bo.canbo", settings=upload_settings)

    # The caller rolls back the row; the file is removed by the service itself.
    assert stored_files(upload_settings) == []


def test_open_verifies_checksum(session, calendar, upload_settings):
    update = submitted_update(session, calendar)
    attachment = store_attachment(session, update, filename="a.pdf", stream=io.BytesIO(PDF),
                                  actor="bo.canbo", settings=upload_settings)
    path = Path(upload_settings.instance_path) / attachment.stored_path

    assert open_attachment(attachment, settings=upload_settings) == PDF

    path.write_bytes(PDF.replace(b"Catalog", b"Katalog"))
    with pytest.raises(AttachmentIntegrityError, match="does not match its checksum"):
        open_attachment(attachment, settings=upload_settings)
    path.unlink()
    with pytest.raises(AttachmentIntegrityError, match="is missing"):
        open_attachment(attachment, settings=upload_settings)


# Assignment: classification --------------------------------------------------


def value(session, scheme: str, code: str) -> ClassificationValue:
    return session.scalars(select(ClassificationValue).join(ClassificationScheme).where(
        ClassificationScheme.code == scheme, ClassificationValue.code == code)).one()


def labels(task: Task) -> list[str]:
    return sorted(f"{item.scheme.code}={item.code}" for item in task.classifications)


def test_classify_keeps_time_value(session, calendar):
    task = make_task(session, calendar, classifications=[("priority", "key")])
    assert labels(task) == ["priority=key", "time=with_deadline"]

    classify_task(session, task, actor="vptw.phanloai", values=[
        value(session, "scope", "nationwide"), value(session, "priority", "urgent"),
        value(session, "other", "ad_hoc")])

    assert labels(task) == ["other=ad_hoc", "priority=urgent", "scope=nationwide",
                            "time=with_deadline"]
    event = events_of(session, task)[-1]
    assert event.kind == "task.classify"
    audit = last_audit(session)
    assert audit.before == {"classifications": ["priority=key", "time=with_deadline"]}
    assert audit.after == {"classifications": ["other=ad_hoc", "priority=urgent",
                                               "scope=nationwide", "time=with_deadline"]}


def test_classify_rejects_invalid_values(session, calendar):
    task = make_task(session, calendar)
    inactive = value(session, "scope", "regional")
    inactive.is_active = False
    session.flush()
    before = row_counts(session)

    with pytest.raises(ValidationError) as caught:
        classify_task(session, task, actor="vptw.phanloai", values=[
            value(session, "time", "regular"), inactive, value(session, "priority", "key"),
            value(session, "priority", "urgent")])

    messages = [problem.message for problem in caught.value.problems]
    assert len(messages) == 3
    assert "leave time=regular out" in messages[0]
    assert "scope=regional is no longer in use" in messages[1]
    assert "priority=key, priority=urgent were given" in messages[2]
    assert labels(task) == ["time=with_deadline"]
    assert row_counts(session) == before


def test_classify_without_change_writes_nothing(session, calendar):
    task = make_task(session, calendar, classifications=[("priority", "key")])
    before = row_counts(session)

    classify_task(session, task, actor="vptw.phanloai", values=[value(session, "priority", "key")])

    assert row_counts(session) == before


# Assignment: groups of agencies ----------------------------------------------


def group_task(session, calendar) -> Task:
    return make_task(session, calendar, lead_agencies=[],
                     group_assignments=[("lead", PROVINCES)])


def test_group_resolved_into_leads(session, calendar):
    task = group_task(session, calendar)
    group = task.group_assignments[0]
    ha_noi, cao_bang = unit(session, "TU01"), unit(session, "TU04")

    added = resolve_group_assignment(session, group, actor="vptw.phanloai",
                                     org_units=[ha_noi, cao_bang, ha_noi])

    assert [(link.org_unit_id, link.role, link.position) for link in added] == [
        (ha_noi.id, "lead", 0), (cao_bang.id, "lead", 1)]
    assert group.resolved_at is not None
    assert "thanh uy ha noi" in task.search_text
    event = events_of(session, task)[-1]
    assert event.kind == "task.group_resolve"
    assert event.detail["added_org_unit_ids"] == [ha_noi.id, cao_bang.id]


def test_group_keeps_existing_link(session, calendar):
    task = make_task(session, calendar, lead_agencies=[LEAD],
                     group_assignments=[("lead", PROVINCES)])
    lead = unit_named(session, LEAD)
    ha_noi = unit(session, "TU01")

    added = resolve_group_assignment(session, task.group_assignments[0], actor="vptw.phanloai",
                                     org_units=[lead, ha_noi])

    assert [(link.org_unit_id, link.position) for link in added] == [(ha_noi.id, 1)]
    assert events_of(session, task)[-1].detail["already_linked_ids"] == [lead.id]


def test_group_resolution_rejected(session, calendar):
    task = group_task(session, calendar)
    group = task.group_assignments[0]
    before = row_counts(session)

    with pytest.raises(ValidationError, match="needs at least one org unit"):
        resolve_group_assignment(session, group, actor="vptw.phanloai", org_units=[])
    with pytest.raises(ValidationError) as caught:
        resolve_group_assignment(session, group, actor="vptw.phanloai",
                                 org_units=[unit(session, "BDVTW")])
    assert "is dissolved; choose an active org unit" in caught.value.problems[0].message
    assert group.resolved_at is None
    assert row_counts(session) == before

    resolve_group_assignment(session, group, actor="vptw.phanloai",
                             org_units=[unit(session, "TU01")])
    resolved = row_counts(session)
    with pytest.raises(WorkflowStateError, match="already resolved"):
        resolve_group_assignment(session, group, actor="vptw.phanloai",
                                 org_units=[unit(session, "TU04")])
    assert row_counts(session) == resolved


# Assignment: transfer --------------------------------------------------------


def mixed_document(session, calendar) -> Document:
    """Make four tasks: ready, with an unresolved lead group, ready with a coordinating group,
    and already transferred."""
    document = make_document(session, calendar, [
        task_input(task_no="1", lead_agencies=[LEAD]),
        task_input(task_no="2", group_assignments=[("lead", PROVINCES)]),
        task_input(task_no="3", lead_agencies=[OTHER_AGENCY],
                   group_assignments=[("coordinating", PROVINCES)]),
        task_input(task_no="4", lead_agencies=[LEAD]),
    ])
    transfer_task(session, document.tasks[3], at=vn(2026, 3, 3, 9), actor="vptw.chuyen",
                  calendar=calendar)
    return document


def test_transfer_deadline_three_working_days(session, calendar):
    document = make_document(session, calendar, [task_input(lead_agencies=[LEAD])])

    # Issued Monday 02/03: Tuesday, Wednesday and Thursday are the three working days.
    assert transfer_deadline(document) == vn(2026, 3, 5, 17)
    assert is_transfer_late(document, vn(2026, 3, 5, 17)) is False
    assert is_transfer_late(document, vn(2026, 3, 5, 17, 1)) is True


def test_transfer_deadline_skips_holidays(session, calendar):
    document = make_document(session, calendar, [task_input(lead_agencies=[LEAD])],
                             issued_on=date(2026, 4, 29))

    # 30/04 and 01/05 are holidays and 02-03/05 a weekend: 04, 05 and 06/05 count.
    assert transfer_deadline(document) == vn(2026, 5, 6, 17)


def test_transfer_deadline_unknown_without_issue(session, calendar):
    document = make_document(session, calendar, [task_input(lead_agencies=[LEAD])],
                             issued_on=None)

    assert transfer_deadline(document) is None
    assert is_transfer_late(document, vn(2026, 3, 5, 17)) is None


def test_transfer_document_skips_unready(session, calendar):
    document = mixed_document(session, calendar)
    tasks = document.tasks

    transferred = transfer_document(session, document, at=vn(2026, 3, 4, 10),
                                    actor="vptw.chuyen", calendar=calendar)

    assert transferred == [tasks[0], tasks[2]]
    assert tasks[0].transferred_at == vn(2026, 3, 4, 10)
    assert tasks[1].transferred_at is None
    assert tasks[3].transferred_at == vn(2026, 3, 3, 9)
    assert events_of(session, tasks[0])[-1].kind == "task.transfer"
    audit = last_audit(session)
    assert audit.action == "document.transfer"
    assert audit.after["transferred_task_ids"] == [tasks[0].id, tasks[2].id]
    assert audit.after["skipped"] == {str(tasks[1].id): "unresolved_lead_group",
                                      str(tasks[3].id): "already_transferred"}
    assert audit.after["is_late"] is False


def test_transfer_after_group_resolved(session, calendar):
    document = mixed_document(session, calendar)
    task = document.tasks[1]
    transfer_document(session, document, at=vn(2026, 3, 4, 10), actor="vptw.chuyen",
                      calendar=calendar)
    resolve_group_assignment(session, task.group_assignments[0], actor="vptw.phanloai",
                             org_units=[unit(session, "TU01")])

    transferred = transfer_document(session, document, at=vn(2026, 3, 6, 10),
                                    actor="vptw.chuyen", calendar=calendar)

    assert transferred == [task]
    assert task.transferred_at == vn(2026, 3, 6, 10)
    assert last_audit(session).after["is_late"] is True


def test_task_without_lead_skipped(session, calendar):
    document = make_document(session, calendar, [task_input(lead_agencies=[LEAD])])
    task = document.tasks[0]
    task.agencies.clear()
    session.flush()
    before = row_counts(session)

    assert untransferable_tasks(document) == {task.id: "no_lead_agency"}
    assert transfer_document(session, document, at=vn(2026, 3, 4, 10), actor="vptw.chuyen",
                             calendar=calendar) == []
    assert row_counts(session) == before


def test_transfer_before_issue_rejected(session, calendar):
    document = make_document(session, calendar, [task_input(lead_agencies=[LEAD])])
    before = row_counts(session)

    with pytest.raises(ValidationError, match="before document .* was issued on 2026-03-02"):
        transfer_document(session, document, at=vn(2026, 3, 1, 10), actor="vptw.chuyen",
                          calendar=calendar)

    assert document.tasks[0].transferred_at is None
    assert row_counts(session) == before


# Migration -------------------------------------------------------------------

ASSESSMENT_TABLES = {"task_evaluations", "inspection_findings", "attachments"}


def test_assessment_migration_reversible(fresh_database_url):
    engine = make_engine(fresh_database_url)
    try:
        migrate.upgrade(engine)
        assert ASSESSMENT_TABLES <= set(inspect(engine).get_table_names())

        migrate.downgrade(engine, "5f3c4d6e7f82")
        assert ASSESSMENT_TABLES & set(inspect(engine).get_table_names()) == set()

        migrate.upgrade(engine)
        assert ASSESSMENT_TABLES <= set(inspect(engine).get_table_names())
        assert migrate.model_differences(engine) == []
    finally:
        engine.dispose()
