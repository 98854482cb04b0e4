"""Workflow services of Điều 6 and 15: transfer, receipt, objections, updates, explanations.

Expected instants are worked out by hand from the working calendar: working
periods 08:00-12:00 and 13:00-17:00, Monday to Friday, Vietnam time. In 2026,
06/03 is a Friday, and 30/04 (Thursday) and 01/05 (Friday) are public holidays.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, inspect, select

from node.audit.models import AuditEntry
from node.core import migrate
from node.core.db import make_engine
from node.core.errors import ValidationError
from node.local_tasks.inputs import DeadlineInput, DocumentInput, TaskInput
from node.local_tasks.models import OrgUnit, Task, TaskDeadline, TaskEvent
from node.local_tasks.service import create_document, find_org_unit
from node.local_tasks.workflow import (
    IdempotencyKeyReusedError,
    SelfApprovalError,
    StaleTaskError,
    WorkflowStateError,
    answer_explanation,
    approve_update,
    confirm_receipt,
    decide_objection,
    lodge_objection,
    open_explanations_for_missed_checkpoints,
    request_explanation,
    return_update,
    submit_update,
    transfer_task,
    update_task_fields,
)
from node.local_tasks.workflow.history import require_text
from node.local_tasks.workflow.models import (
    ExplanationRequest,
    Objection,
    ProgressUpdate,
    Receipt,
)

VN = timezone(timedelta(hours=7))
LEAD = "Văn phòng Trung ương Đảng"
OTHER_AGENCY = "Ban Tổ chức Trung ương"
_document_numbers = itertools.count(1)


def vn(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=VN)


def make_task(session, calendar, *, confidentiality: str = "regular",
              issued_on: date = date(2026, 3, 2), deadline_on: date = date(2026, 6, 30)) -> Task:
    regular = confidentiality == "regular"
    task_input = TaskInput(
        task_no="1", content="Xây dựng kế hoạch triển khai" if regular else None,
        lead_agencies=[LEAD],
        deadline=DeadlineInput(text=deadline_on.strftime("%d/%m/%Y"), on=deadline_on,
                               precision="day"))
    document = create_document(session, DocumentInput(
        reference=f"{next(_document_numbers)}/KH-VPTW", issued_on=issued_on,
        summary="Kế hoạch thực hiện" if regular else None, confidentiality=confidentiality,
        tasks=[task_input]), calendar=calendar)
    return document.tasks[0]


def received_task(session, calendar, *, transferred_at: datetime, received_at: datetime,
                  **options) -> Task:
    task = make_task(session, calendar, **options)
    transfer_task(session, task, at=transferred_at, actor="vptw.chuyen", calendar=calendar)
    confirm_receipt(session, task, at=received_at, actor="bo.nhan", calendar=calendar)
    return task


def due_at(task: Task, kind: str) -> datetime | None:
    return next(row.due_at for row in task.deadlines if row.kind == kind)


def row_counts(session) -> dict[str, int]:
    models = (TaskEvent, AuditEntry, TaskDeadline, Receipt, Objection, ProgressUpdate,
              ExplanationRequest)
    return {model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in models}


def events_of(session, task: Task) -> list[TaskEvent]:
    return list(session.scalars(select(TaskEvent).where(TaskEvent.task_id == task.id)
                                .order_by(TaskEvent.id)))


# Transfer and receipt --------------------------------------------------------


def test_transfer_sets_receipt_deadline(session, calendar):
    task = make_task(session, calendar)

    transfer_task(session, task, at=vn(2026, 3, 6, 16, 30), actor="vptw.chuyen", calendar=calendar)

    assert task.transferred_at == vn(2026, 3, 6, 16, 30)
    # 16:30-17:00 on Friday is half an hour, and the other 3.5 hours run from 08:00 on Monday.
    assert due_at(task, "receipt") == vn(2026, 3, 9, 11, 30)
    event = events_of(session, task)[-1]
    assert event.kind == "task.transfer"
    assert event.actor == "vptw.chuyen"
    assert event.at == vn(2026, 3, 6, 16, 30)
    assert event.detail["outcome"] == "transferred"
    assert event.detail["content"] == "task transferred to its lead agency"


def test_transfer_twice_rejected(session, calendar):
    task = make_task(session, calendar)
    transfer_task(session, task, at=vn(2026, 3, 6, 16, 30), actor="vptw.chuyen", calendar=calendar)
    before = row_counts(session)

    with pytest.raises(WorkflowStateError, match="already transferred at 2026-03-06 16:30 \\+07:00"):
        transfer_task(session, task, at=vn(2026, 3, 9, 8), actor="vptw.chuyen", calendar=calendar)

    assert row_counts(session) == before


@pytest.mark.parametrize(("minute", "late"), [(30, False), (31, True)])
def test_receipt_on_time_or_late(session, calendar, minute, late):
    task = make_task(session, calendar)
    transfer_task(session, task, at=vn(2026, 3, 6, 16, 30), actor="vptw.chuyen", calendar=calendar)

    receipt = confirm_receipt(session, task, at=vn(2026, 3, 9, 11, minute), actor="bo.nhan",
                              calendar=calendar)

    assert receipt.due_at == vn(2026, 3, 9, 11, 30)
    assert receipt.is_late is late
    assert task.received_at == vn(2026, 3, 9, 11, minute)
    event = events_of(session, task)[-1]
    assert event.kind == "task.receipt"
    assert event.actor == "bo.nhan"
    assert event.detail["outcome"] == ("late" if late else "on_time")
    audit = session.scalars(select(AuditEntry).order_by(AuditEntry.sequence.desc())).first()
    assert audit.action == "task.receipt"
    assert audit.object_id == str(receipt.id)
    assert audit.actor == "bo.nhan"


def test_receipt_sets_objection_deadline(session, calendar):
    task = make_task(session, calendar)
    transfer_task(session, task, at=vn(2026, 3, 6, 16, 30), actor="vptw.chuyen", calendar=calendar)

    confirm_receipt(session, task, at=vn(2026, 3, 9, 11, 30), actor="bo.nhan", calendar=calendar)

    # Monday 11:30-12:00 and 13:00-17:00 give 4.5 hours, and 3.5 more run from 08:00 on Tuesday.
    assert due_at(task, "objection") == vn(2026, 3, 10, 11, 30)


def test_receipt_twice_rejected(session, calendar):
    task = received_task(session, calendar, transferred_at=vn(2026, 3, 6, 16, 30),
                         received_at=vn(2026, 3, 9, 10))
    before = row_counts(session)

    with pytest.raises(WorkflowStateError) as raised:
        confirm_receipt(session, task, at=vn(2026, 3, 9, 11), actor="bo.nhan", calendar=calendar)

    assert "already confirmed at 2026-03-09 10:00 +07:00" in raised.value.message
    assert row_counts(session) == before
    assert task.received_at == vn(2026, 3, 9, 10)


def test_receipt_before_transfer_rejected(session, calendar):
    task = make_task(session, calendar)
    before = row_counts(session)

    with pytest.raises(WorkflowStateError, match="has not been transferred"):
        confirm_receipt(session, task, at=vn(2026, 3, 9, 10), actor="bo.nhan", calendar=calendar)

    assert row_counts(session) == before
    assert task.received_at is None


def test_rejection_names_task_as_pages_do(session, calendar):
    task = make_task(session, calendar)

    with pytest.raises(WorkflowStateError) as raised:
        confirm_receipt(session, task, at=vn(2026, 3, 9, 10), actor="bo.nhan", calendar=calendar)

    # The pages head the task "Task 1" (its number in the document), not by its database id.
    assert str(raised.value).startswith(f"Task 1 of {task.document.reference} has not been")


def test_receipt_needs_zone_aware_instant(session, calendar):
    task = make_task(session, calendar)
    transfer_task(session, task, at=vn(2026, 3, 6, 16, 30), actor="vptw.chuyen", calendar=calendar)
    before = row_counts(session)

    with pytest.raises(ValidationError) as raised:
        confirm_receipt(session, task, at=datetime(2026, 3, 9, 10), actor="bo.nhan",
                        calendar=calendar)

    assert raised.value.problems[0].path == "at"
    assert row_counts(session) == before


def test_receipt_in_unknown_year_not_judged(session, calendar):
    task = make_task(session, calendar)
    # The calendar folder has no file for 2030, so no deadline can be computed then.
    transfer_task(session, task, at=vn(2030, 3, 1, 9), actor="vptw.chuyen", calendar=calendar)
    receipt = confirm_receipt(session, task, at=vn(2030, 3, 1, 10), actor="bo.nhan",
                              calendar=calendar)

    assert receipt.due_at is None
    assert receipt.is_late is None
    assert events_of(session, task)[-1].detail["outcome"] == "deadline_unknown"
    before = row_counts(session)
    with pytest.raises(WorkflowStateError, match="objection deadline of task .* is unknown"):
        lodge_objection(session, task, at=vn(2030, 3, 1, 11), actor="bo.nhan",
                        reason="Giao nhầm", kind="wrong_task", calendar=calendar)
    assert row_counts(session) == before


# Objections ------------------------------------------------------------------


def weekend_task(session, calendar) -> Task:
    # Received Friday 11:00: 1 hour before noon and 4 after give 5 hours,
    # so the 8-hour objection window ends Monday 09/03 at 11:00.
    return received_task(session, calendar, transferred_at=vn(2026, 3, 6, 8),
                         received_at=vn(2026, 3, 6, 11))


@pytest.mark.parametrize("lodged_at", [vn(2026, 3, 7, 10), vn(2026, 3, 9, 11)])
def test_objection_window_spans_weekend(session, calendar, lodged_at):
    task = weekend_task(session, calendar)
    assert due_at(task, "objection") == vn(2026, 3, 9, 11)

    objection = lodge_objection(session, task, at=lodged_at, actor="bo.nhan",
                                reason="Không thuộc chức năng của đơn vị",
                                kind="outside_competence", calendar=calendar)

    assert objection.status == "open"
    assert objection.lodged_by == "bo.nhan"
    event = events_of(session, task)[-1]
    assert event.kind == "task.objection"
    assert event.detail["outcome"] == "open"
    assert event.detail["reason"] == "Không thuộc chức năng của đơn vị"


def test_objection_after_window_rejected(session, calendar):
    task = weekend_task(session, calendar)
    before = row_counts(session)

    with pytest.raises(WorkflowStateError) as raised:
        lodge_objection(session, task, at=vn(2026, 3, 9, 11, 1), actor="bo.nhan",
                        reason="Không thuộc chức năng", kind="outside_competence",
                        calendar=calendar)

    assert "ended at 2026-03-09 11:00 +07:00" in raised.value.message
    assert row_counts(session) == before


def test_objection_before_receipt_rejected(session, calendar):
    task = make_task(session, calendar)
    transfer_task(session, task, at=vn(2026, 3, 6, 8), actor="vptw.chuyen", calendar=calendar)
    before = row_counts(session)

    with pytest.raises(WorkflowStateError, match="no confirmed receipt"):
        lodge_objection(session, task, at=vn(2026, 3, 6, 9), actor="bo.nhan",
                        reason="Giao nhầm", kind="wrong_task", calendar=calendar)

    assert row_counts(session) == before


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_objection_needs_reason(session, calendar, reason):
    task = weekend_task(session, calendar)
    before = row_counts(session)

    with pytest.raises(ValidationError) as raised:
        lodge_objection(session, task, at=vn(2026, 3, 6, 14), actor="bo.nhan", reason=reason,
                        kind="wrong_task", calendar=calendar)

    assert raised.value.problems[0].path == "reason"
    assert "reason is missing" in raised.value.message
    assert row_counts(session) == before


def test_objection_unknown_kind_rejected(session, calendar):
    task = weekend_task(session, calendar)
    before = row_counts(session)

    with pytest.raises(ValidationError) as raised:
        lodge_objection(session, task, at=vn(2026, 3, 6, 14), actor="bo.nhan", reason="Giao nhầm",
                        kind="too_hard", calendar=calendar)

    assert raised.value.problems[0].path == "kind"
    assert "wrong_task, outside_competence, other" in raised.value.message
    assert row_counts(session) == before


def test_second_open_objection_rejected(session, calendar):
    task = weekend_task(session, calendar)
    first = lodge_objection(session, task, at=vn(2026, 3, 6, 14), actor="bo.nhan",
                            reason="Giao nhầm", kind="wrong_task", calendar=calendar)
    before = row_counts(session)

    with pytest.raises(WorkflowStateError, match=f"open objection {first.id}"):
        lodge_objection(session, task, at=vn(2026, 3, 6, 15), actor="bo.nhan",
                        reason="Giao nhầm lần nữa", kind="other", calendar=calendar)

    assert row_counts(session) == before


def holiday_objection(session, calendar) -> Objection:
    # Received Tuesday 28/04 14:00, so objections are possible until Wednesday 29/04 14:00.
    task = received_task(session, calendar, transferred_at=vn(2026, 4, 28, 8),
                         received_at=vn(2026, 4, 28, 14))
    return lodge_objection(session, task, at=vn(2026, 4, 29, 10), actor="bo.nhan",
                           reason="Không thuộc chức năng", kind="outside_competence",
                           calendar=calendar)


def test_feedback_deadline_skips_holidays(session, calendar):
    objection = holiday_objection(session, calendar)

    # The next working day after Wednesday 29/04 is Monday 04/05: Thursday 30/04
    # and Friday 01/05 are holidays, then comes the weekend.
    assert objection.feedback_due_at == vn(2026, 5, 4, 17)
    assert due_at(objection.task, "feedback") == vn(2026, 5, 4, 17)


@pytest.mark.parametrize(("decided_at", "late"),
                         [(vn(2026, 5, 4, 17), False), (vn(2026, 5, 4, 17, 0, 1), True)])
def test_rejection_on_time_or_late(session, calendar, decided_at, late):
    objection = holiday_objection(session, calendar)

    decide_objection(session, objection, at=decided_at, actor="vptw.xuly", accept=False,
                     reason="Nhiệm vụ đúng chức năng của đơn vị", reassign_to=None)

    assert objection.status == "rejected"
    assert objection.decided_late is late
    assert objection.decision_reason == "Nhiệm vụ đúng chức năng của đơn vị"
    event = events_of(session, objection.task)[-1]
    assert event.kind == "task.objection_decision"
    assert event.actor == "vptw.xuly"
    assert event.detail["outcome"] == "rejected"
    assert event.detail["decided_late"] is late


def test_rejection_needs_reason(session, calendar):
    objection = holiday_objection(session, calendar)
    before = row_counts(session)

    with pytest.raises(ValidationError) as raised:
        decide_objection(session, objection, at=vn(2026, 5, 4, 9), actor="vptw.xuly",
                         accept=False, reason="  ", reassign_to=None)

    assert raised.value.problems[0].path == "reason"
    assert objection.status == "open"
    assert row_counts(session) == before


def test_decision_twice_rejected(session, calendar):
    objection = holiday_objection(session, calendar)
    decide_objection(session, objection, at=vn(2026, 5, 4, 9), actor="vptw.xuly", accept=True,
                     reason=None, reassign_to=None)
    before = row_counts(session)

    with pytest.raises(WorkflowStateError, match="already accepted at 2026-05-04 09:00"):
        decide_objection(session, objection, at=vn(2026, 5, 4, 10), actor="vptw.xuly",
                         accept=False, reason="Đổi ý", reassign_to=None)

    assert objection.status == "accepted"
    assert row_counts(session) == before


def test_acceptance_reassigns_and_restarts(session, calendar):
    objection = holiday_objection(session, calendar)
    task = objection.task
    other = find_org_unit(session, OTHER_AGENCY)

    decide_objection(session, objection, at=vn(2026, 5, 4, 9), actor="vptw.xuly", accept=True,
                     reason="Chuyển cho cơ quan đúng chức năng", reassign_to=other)

    assert objection.status == "accepted"
    assert objection.reassigned_to_id == other.id
    assert [link.org_unit_id for link in task.agencies if link.role == "lead"] == [other.id]
    assert "ban to chuc trung uong" in task.search_text
    assert "van phong trung uong dang" not in task.search_text
    assert task.transferred_at is None
    assert task.received_at is None
    kinds = {row.kind for row in task.deadlines}
    assert "receipt" not in kinds
    assert "objection" not in kinds
    assert "feedback" in kinds
    with pytest.raises(WorkflowStateError, match="has not been transferred"):
        confirm_receipt(session, task, at=vn(2026, 5, 4, 10), actor="btc.nhan", calendar=calendar)

    transfer_task(session, task, at=vn(2026, 5, 4, 10), actor="vptw.chuyen", calendar=calendar)
    receipt = confirm_receipt(session, task, at=vn(2026, 5, 4, 13), actor="btc.nhan",
                              calendar=calendar)
    assert receipt.due_at == vn(2026, 5, 4, 15)
    assert receipt.is_late is False
    receipts = session.scalars(select(Receipt).where(Receipt.task_id == task.id)).all()
    assert len(receipts) == 2


def test_rejection_cannot_reassign(session, calendar):
    objection = holiday_objection(session, calendar)
    other = find_org_unit(session, OTHER_AGENCY)
    before = row_counts(session)

    with pytest.raises(ValidationError) as raised:
        decide_objection(session, objection, at=vn(2026, 5, 4, 9), actor="vptw.xuly",
                         accept=False, reason="Không chấp nhận", reassign_to=other)

    assert raised.value.problems[0].path == "reassign_to"
    assert row_counts(session) == before


# Progress updates --------------------------------------------------------------


def test_submitted_update_leaves_task_unchanged(session, calendar):
    task = make_task(session, calendar)
    version = task.version

    update = submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                           reported_state="in_progress", progress_percent=40,
                           milestone="Dự thảo lần 1", results="Đã lấy ý kiến",
                           next_steps="Hoàn thiện dự thảo")

    assert update.status == "submitted"
    assert update.submitted_by == "bo.canbo"
    assert task.reported_state == "not_started"
    assert task.progress_percent is None
    assert task.version == version
    assert events_of(session, task)[-1].kind == "task.progress_submit"


def test_approval_applies_completion(session, calendar):
    task = make_task(session, calendar)
    update = submit_update(session, task, at=vn(2026, 6, 20, 15), actor="bo.canbo",
                           reported_state="completed", progress_percent=100,
                           results="Đã ban hành kế hoạch")
    version = task.version

    approve_update(session, update, at=vn(2026, 6, 21, 9), actor="bo.lanhdao")

    assert update.status == "approved"
    assert update.reviewed_by == "bo.lanhdao"
    assert task.reported_state == "completed"
    assert task.completed_at == vn(2026, 6, 20, 15)
    assert task.progress_percent == 100
    assert task.result_summary == "Đã ban hành kế hoạch"
    assert task.version == version + 1
    event = events_of(session, task)[-1]
    assert event.kind == "task.progress_approve"
    assert event.actor == "bo.lanhdao"
    assert event.detail["outcome"] == "approved"


def test_approval_bumps_version_without_change(session, calendar):
    task = make_task(session, calendar)
    update = submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                           reported_state="not_started", progress_percent=0)
    version = task.version

    approve_update(session, update, at=vn(2026, 4, 1, 10), actor="bo.lanhdao")

    assert task.version == version + 1


def test_submitter_cannot_approve(session, calendar):
    task = make_task(session, calendar)
    update = submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                           reported_state="in_progress", progress_percent=10)
    before = row_counts(session)

    with pytest.raises(SelfApprovalError, match="cannot also approve"):
        approve_update(session, update, at=vn(2026, 4, 1, 10), actor="bo.canbo")

    assert update.status == "submitted"
    assert task.reported_state == "not_started"
    assert row_counts(session) == before


def test_approval_twice_rejected(session, calendar):
    task = make_task(session, calendar)
    update = submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                           reported_state="in_progress", progress_percent=10)
    approve_update(session, update, at=vn(2026, 4, 1, 10), actor="bo.lanhdao")
    before = row_counts(session)

    with pytest.raises(WorkflowStateError, match="already approved by bo.lanhdao"):
        approve_update(session, update, at=vn(2026, 4, 1, 11), actor="bo.lanhdao")

    assert row_counts(session) == before


def test_older_update_not_approved_after_newer(session, calendar):
    task = make_task(session, calendar)
    older = submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                          reported_state="in_progress", progress_percent=20)
    newer = submit_update(session, task, at=vn(2026, 4, 8, 9), actor="bo.canbo",
                          reported_state="in_progress", progress_percent=60)
    approve_update(session, newer, at=vn(2026, 4, 8, 10), actor="bo.lanhdao")
    before = row_counts(session)

    with pytest.raises(WorkflowStateError, match=f"Update {newer.id} .* is already approved"):
        approve_update(session, older, at=vn(2026, 4, 8, 11), actor="bo.lanhdao")

    assert task.progress_percent == 60
    assert row_counts(session) == before


def test_returned_update_keeps_history(session, calendar):
    task = make_task(session, calendar)
    first = submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                          reported_state="in_progress", progress_percent=30)

    return_update(session, first, at=vn(2026, 4, 1, 10), actor="bo.lanhdao",
                  comment="Bổ sung kết quả cụ thể")
    second = submit_update(session, task, at=vn(2026, 4, 1, 14), actor="bo.canbo",
                           reported_state="in_progress", progress_percent=30,
                           results="Đã hoàn thành khảo sát")

    assert first.status == "returned"
    assert first.review_comment == "Bổ sung kết quả cụ thể"
    assert second.id != first.id
    assert task.progress_percent is None
    updates = session.scalars(select(ProgressUpdate).where(ProgressUpdate.task_id == task.id)
                              .order_by(ProgressUpdate.id)).all()
    assert [update.status for update in updates] == ["returned", "submitted"]
    assert events_of(session, task)[-2].kind == "task.progress_return"


def test_return_needs_comment(session, calendar):
    task = make_task(session, calendar)
    update = submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                           reported_state="in_progress", progress_percent=10)
    before = row_counts(session)

    with pytest.raises(ValidationError) as raised:
        return_update(session, update, at=vn(2026, 4, 1, 10), actor="bo.lanhdao", comment="")

    assert raised.value.problems[0].path == "comment"
    assert raised.value.message == "comment is missing; write it and submit again"
    assert update.status == "submitted"
    assert row_counts(session) == before


def test_idempotency_key_returns_first_update(session, calendar):
    task = make_task(session, calendar)
    first = submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                          reported_state="in_progress", progress_percent=40,
                          idempotency_key="form-7f2c")
    before = row_counts(session)

    again = submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                          reported_state="in_progress", progress_percent=40,
                          idempotency_key="form-7f2c")

    assert again.id == first.id
    assert row_counts(session) == before


def test_idempotency_key_with_other_content_rejected(session, calendar):
    task = make_task(session, calendar)
    submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                  reported_state="in_progress", progress_percent=40, idempotency_key="form-7f2c")
    before = row_counts(session)

    with pytest.raises(IdempotencyKeyReusedError, match="'form-7f2c' was already used"):
        submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                      reported_state="in_progress", progress_percent=50,
                      idempotency_key="form-7f2c")

    assert row_counts(session) == before


@pytest.mark.parametrize(("at", "state"), [
    (vn(2026, 7, 10, 9), "in_progress"),  # in progress, overdue
    (vn(2026, 7, 10, 9), "not_started"),  # not started, overdue
    (vn(2026, 5, 10, 9), "ended_not_completed"),  # before the deadline, still ended
    (vn(2026, 7, 10, 9), "will_not_carry_out"),
])
def test_overdue_update_needs_difficulties(session, calendar, at, state):
    task = make_task(session, calendar)
    before = row_counts(session)

    with pytest.raises(ValidationError) as raised:
        submit_update(session, task, at=at, actor="bo.canbo", reported_state=state,
                           progress_percent=10, results="Đã báo cáo kết quả")

    assert [problem.path for problem in raised.value.problems] == ["difficulties"]
    assert row_counts(session) == before
    update = submit_update(session, task, at=at, actor="bo.canbo", reported_state=state, progress_percent=10,
                           difficulties="Thiếu kinh phí")
    assert update.difficulties == "Thiếu kinh phí"


@pytest.mark.parametrize(("at", "state"), [
    (vn(2026, 6, 30, 23, 59), "in_progress"),  # the deadline is the end of 30/06
    (vn(2026, 7, 10, 9), "completed"),  # completed late is no longer at risk
])
def test_on_time_update_needs_no_difficulties(session, calendar, at, state):
    task = make_task(session, calendar)

    update = submit_update(session, task, at=at, actor="bo.canbo", reported_state=state,
                           progress_percent=10, results="Đã báo cáo kết quả")

    assert update.difficulties is None


def test_confidential_update_accepts_state_only(session, calendar):
    task = make_task(session, calendar, confidentiality="confidential")
    before = row_counts(session)

    with pytest.raises(ValidationError) as raised:
        submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                      reported_state="in_progress", results="Nội dung mật",
                      next_steps="Bước tiếp theo")

    assert [problem.path for problem in raised.value.problems] == ["results", "next_steps"]
    assert all(problem.value is None for problem in raised.value.problems)
    assert row_counts(session) == before
    update = submit_update(session, task, at=vn(2026, 7, 10, 9), actor="bo.canbo",
                           reported_state="in_progress", progress_percent=10)
    assert update.reported_state == "in_progress"


def test_update_rejects_invalid_values(session, calendar):
    task = make_task(session, calendar)
    before = row_counts(session)

    with pytest.raises(ValidationError) as raised:
        submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                      reported_state="finished", progress_percent=140)

    assert [problem.path for problem in raised.value.problems] == [
        "reported_state", "progress_percent"]
    assert row_counts(session) == before


def test_concurrent_key_returns_stored_update(session, calendar, monkeypatch):
    from node.local_tasks.workflow import progress

    task = make_task(session, calendar)
    first = submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                          reported_state="in_progress", progress_percent=10, idempotency_key="form-9a1b")
    lookup = progress._existing_for_key
    calls = []

    def miss_first_lookup(*args, **kwargs):
        # The first lookup finds no row, as when another transaction stores
        # the same key between the lookup and the insert.
        calls.append(args)
        return None if len(calls) == 1 else lookup(*args, **kwargs)

    monkeypatch.setattr(progress, "_existing_for_key", miss_first_lookup)
    before = row_counts(session)

    again = submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                          reported_state="in_progress", progress_percent=10, idempotency_key="form-9a1b")

    assert len(calls) == 2
    assert again.id == first.id
    assert row_counts(session) == before
    assert task.events[-1].kind == "task.progress_submit"


# Optimistic locking ------------------------------------------------------------


def test_stale_version_names_last_change(session, calendar):
    task = make_task(session, calendar)
    update = submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                           reported_state="in_progress", progress_percent=10)
    version_read = task.version
    approve_update(session, update, at=vn(2026, 4, 1, 10), actor="bo.lanhdao")
    before = row_counts(session)

    with pytest.raises(StaleTaskError) as raised:
        update_task_fields(session, task, expected_version=version_read, actor="vptw.sua",
                           content="Nội dung mới")

    assert "changed by bo.lanhdao at 2026-04-01 10:00 +07:00" in raised.value.message
    assert "reload" in raised.value.message
    assert task.content == "Xây dựng kế hoạch triển khai"
    assert row_counts(session) == before


def test_current_version_applies_change(session, calendar):
    task = make_task(session, calendar)
    version = task.version

    update_task_fields(session, task, expected_version=version, actor="vptw.sua",
                       content="Xây dựng và ban hành kế hoạch")

    assert task.content == "Xây dựng và ban hành kế hoạch"
    assert task.version == version + 1
    assert "ban hanh" in task.search_text
    event = events_of(session, task)[-1]
    assert event.kind == "task.edit"
    assert event.actor == "vptw.sua"
    assert event.detail["fields"] == ["content"]


def test_unknown_field_rejected(session, calendar):
    task = make_task(session, calendar)
    before = row_counts(session)

    with pytest.raises(ValidationError) as raised:
        update_task_fields(session, task, expected_version=task.version, actor="vptw.sua",
                           reported_state="completed")

    assert raised.value.problems[0].path == "reported_state"
    assert row_counts(session) == before


def test_confidential_content_rejected(session, calendar):
    task = make_task(session, calendar, confidentiality="top_secret")
    before = row_counts(session)

    with pytest.raises(ValidationError) as raised:
        update_task_fields(session, task, expected_version=task.version, actor="vptw.sua",
                           content="Nội dung tối mật")

    assert raised.value.problems[0].path == "content"
    assert row_counts(session) == before


def test_concurrent_edit_raises_stale(fresh_database_url, calendar):
    from sqlalchemy.orm import sessionmaker

    from node.core.db import unit_of_work
    from node.local_tasks.reference import seed_reference_data

    engine = make_engine(fresh_database_url)
    try:
        migrate.upgrade(engine)
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        with unit_of_work(factory) as setup:
            seed_reference_data(setup)
            task_id = make_task(setup, calendar).id
        first, second = factory(), factory()
        first_task = first.get(Task, task_id)
        second_task = second.get(Task, task_id)
        update_task_fields(second, second_task, expected_version=1, actor="vptw.khac",
                           content="Nội dung do người khác sửa")
        second.commit()

        # The first session still holds version 1, so the check before the
        # write passes and the versioned UPDATE matches no row.
        with pytest.raises(StaleTaskError, match="changed by someone else meanwhile; reload"):
            update_task_fields(first, first_task, expected_version=1, actor="vptw.sua",
                               content="Nội dung mới")
        first.rollback()

        assert first.get(Task, task_id).content == "Nội dung do người khác sửa"
        first.close()
        second.close()
    finally:
        engine.dispose()


# Explanation requests ----------------------------------------------------------


def test_explanation_requested_and_answered(session, calendar):
    task = make_task(session, calendar)

    request = request_explanation(session, task, at=vn(2026, 7, 2, 9), actor="vptw.theodoi",
                                  reason="Chưa báo cáo kết quả")
    answer_explanation(session, request, at=vn(2026, 7, 3, 9), actor="bo.canbo",
                       text="Đang chờ ý kiến các bộ")

    assert request.status == "answered"
    assert request.answer == "Đang chờ ý kiến các bộ"
    assert request.answered_by == "bo.canbo"
    kinds = [event.kind for event in events_of(session, task)[-2:]]
    assert kinds == ["task.explanation_request", "task.explanation_answer"]


def test_explanation_needs_reason_and_text(session, calendar):
    task = make_task(session, calendar)
    before = row_counts(session)
    with pytest.raises(ValidationError) as raised:
        request_explanation(session, task, at=vn(2026, 7, 2, 9), actor="vptw.theodoi", reason="")
    assert raised.value.problems[0].path == "reason"
    assert row_counts(session) == before

    request = request_explanation(session, task, at=vn(2026, 7, 2, 9), actor="vptw.theodoi",
                                  reason="Chưa báo cáo")
    before = row_counts(session)
    with pytest.raises(ValidationError) as raised:
        answer_explanation(session, request, at=vn(2026, 7, 3, 9), actor="bo.canbo", text=" ")
    assert raised.value.problems[0].path == "text"
    assert row_counts(session) == before


def test_explanation_answered_twice_rejected(session, calendar):
    task = make_task(session, calendar)
    request = request_explanation(session, task, at=vn(2026, 7, 2, 9), actor="vptw.theodoi",
                                  reason="Chưa báo cáo")
    answer_explanation(session, request, at=vn(2026, 7, 3, 9), actor="bo.canbo", text="Lý do")
    before = row_counts(session)

    with pytest.raises(WorkflowStateError, match="already answered by bo.canbo"):
        answer_explanation(session, request, at=vn(2026, 7, 4, 9), actor="bo.canbo", text="Khác")

    assert row_counts(session) == before


def checkpoint_task(session, calendar) -> Task:
    # Issued Monday 02/03, due 30/04: 59 days, between one and three months, so
    # one checkpoint at half the period, 30 days in: Wednesday 01/04 at 17:00.
    task = make_task(session, calendar, issued_on=date(2026, 3, 2), deadline_on=date(2026, 4, 30))
    assert due_at(task, "checkpoint_half") == vn(2026, 4, 1, 17)
    return task


def requests_of(session, task: Task) -> list[ExplanationRequest]:
    return list(session.scalars(select(ExplanationRequest)
                                .where(ExplanationRequest.task_id == task.id)
                                .order_by(ExplanationRequest.id)))


def test_missed_checkpoint_opens_request_once(session, calendar):
    task = checkpoint_task(session, calendar)

    assert open_explanations_for_missed_checkpoints(session, at=vn(2026, 4, 1, 17)) == 0
    assert open_explanations_for_missed_checkpoints(session, at=vn(2026, 4, 2, 9)) == 1
    assert open_explanations_for_missed_checkpoints(session, at=vn(2026, 4, 3, 9)) == 0

    requests = requests_of(session, task)
    assert len(requests) == 1
    assert requests[0].deadline_kind == "checkpoint_half"
    assert requests[0].deadline_due_at == vn(2026, 4, 1, 17)
    assert requests[0].requested_by is None
    assert requests[0].status == "open"
    event = events_of(session, task)[-1]
    assert event.kind == "task.explanation_request"
    assert event.actor is None


def test_answered_request_not_reopened(session, calendar):
    task = checkpoint_task(session, calendar)
    open_explanations_for_missed_checkpoints(session, at=vn(2026, 4, 2, 9))
    answer_explanation(session, requests_of(session, task)[0], at=vn(2026, 4, 2, 10),
                       actor="bo.canbo", text="Chậm do chờ số liệu")

    assert open_explanations_for_missed_checkpoints(session, at=vn(2026, 4, 3, 9)) == 0
    assert len(requests_of(session, task)) == 1


def test_approved_update_prevents_request(session, calendar):
    task = checkpoint_task(session, calendar)
    update = submit_update(session, task, at=vn(2026, 3, 25, 9), actor="bo.canbo",
                           reported_state="in_progress", progress_percent=50)
    approve_update(session, update, at=vn(2026, 3, 25, 10), actor="bo.lanhdao")

    assert open_explanations_for_missed_checkpoints(session, at=vn(2026, 4, 2, 9)) == 0
    assert requests_of(session, task) == []


def test_unapproved_update_still_opens_request(session, calendar):
    task = checkpoint_task(session, calendar)
    submit_update(session, task, at=vn(2026, 3, 25, 9), actor="bo.canbo",
                  reported_state="in_progress", progress_percent=50)

    assert open_explanations_for_missed_checkpoints(session, at=vn(2026, 4, 2, 9)) == 1
    assert len(requests_of(session, task)) == 1


def test_missed_result_report_opens_request(session, calendar):
    task = checkpoint_task(session, calendar)
    # Three working days after 30/04: 01/05 is a holiday, so 04, 05 and 06/05.
    assert due_at(task, "result_report") == vn(2026, 5, 6, 17)
    update = submit_update(session, task, at=vn(2026, 3, 25, 9), actor="bo.canbo",
                           reported_state="in_progress", progress_percent=50)
    approve_update(session, update, at=vn(2026, 3, 25, 10), actor="bo.lanhdao")

    # The approved update of 25/03 covers the checkpoint but not the period after it.
    assert open_explanations_for_missed_checkpoints(session, at=vn(2026, 5, 7, 9)) == 1

    assert [request.deadline_kind for request in requests_of(session, task)] == ["result_report"]


def test_completed_task_needs_no_explanation(session, calendar):
    task = checkpoint_task(session, calendar)
    task.reported_state = "completed"
    task.completed_at = vn(2026, 3, 20, 9)
    session.flush()

    assert open_explanations_for_missed_checkpoints(session, at=vn(2026, 5, 7, 9)) == 0
    assert requests_of(session, task) == []


# Migration -------------------------------------------------------------------

WORKFLOW_TABLES = {"task_receipts", "task_objections", "task_progress_updates",
                   "task_explanation_requests"}


def test_migration_downgrades_and_upgrades(fresh_database_url):
    engine = make_engine(fresh_database_url)
    try:
        migrate.upgrade(engine)
        assert WORKFLOW_TABLES <= set(inspect(engine).get_table_names())

        migrate.downgrade(engine, "4e2b3c5d6e71")
        assert WORKFLOW_TABLES & set(inspect(engine).get_table_names()) == set()

        migrate.upgrade(engine)
        assert WORKFLOW_TABLES <= set(inspect(engine).get_table_names())
        assert migrate.model_differences(engine) == []
    finally:
        engine.dispose()



@pytest.mark.parametrize(("path", "label"), [
    ("reason", "reason"),
    ("comment", "comment"),
    ("text", "explanation text"),
    ("results", "results"),
    ("difficulties", "difficulties and obstacles"),
])
def test_missing_text_names_field_label(path, label):
    with pytest.raises(ValidationError) as raised:
        require_text("  ", path)

    assert raised.value.message == f"{label} is missing; write it and submit again"
    assert raised.value.problems[0].path == path


def test_return_event_keeps_comment(session, calendar):
    task = make_task(session, calendar)
    update = submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                           reported_state="in_progress", progress_percent=30,
                           results="Dự thảo đề án")

    return_update(session, update, at=vn(2026, 4, 1, 10), actor="bo.lanhdao",
                  comment="Bổ sung số liệu")

    submitted, returned = [event for event in task.events
                           if event.kind.startswith("task.progress_")]
    assert submitted.detail["results"] == "Dự thảo đề án"
    assert "milestone" not in submitted.detail
    assert returned.detail["comment"] == "Bổ sung số liệu"


def test_empty_update_rejected(session, calendar):
    task = make_task(session, calendar)
    before = row_counts(session)

    with pytest.raises(ValidationError) as raised:
        submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                      reported_state="in_progress")

    assert [problem.path for problem in raised.value.problems] == ["progress_percent"]
    assert row_counts(session) == before


def test_completion_needs_results(session, calendar):
    task = make_task(session, calendar)
    before = row_counts(session)

    with pytest.raises(ValidationError) as raised:
        submit_update(session, task, at=vn(2026, 4, 1, 9), actor="bo.canbo",
                      reported_state="completed", progress_percent=100)

    assert [problem.path for problem in raised.value.problems] == ["results"]
    assert row_counts(session) == before
