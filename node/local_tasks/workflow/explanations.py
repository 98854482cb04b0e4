"""Explanation requests (Điều 15.4): by hand, and for missed reporting deadlines.

The functions flush but never commit. `open_explanations_for_missed_checkpoints`
is meant for a periodic job and may run any number of times.
"""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from node.local_tasks.deadlines_service import VN_TZ, task_start_on
from node.local_tasks.models import Task, TaskDeadline
from node.local_tasks.workflow.errors import WorkflowStateError, message
from node.local_tasks.workflow.history import record_step, require_instant, require_text
from node.local_tasks.workflow.models import (
    EXPLANATION_DEADLINE_KINDS,
    ExplanationRequest,
    ProgressUpdate,
)

_REQUEST_AUDIT_FIELDS = ("task_id", "deadline_kind", "deadline_due_at", "reason", "requested_at",
                         "requested_by", "status")


def _add_request(session: Session, task: Task, *, at: datetime, actor: str | None, reason: str,
                 deadline: TaskDeadline | None = None) -> ExplanationRequest:
    request = ExplanationRequest(
        task=task, reason=reason, requested_at=at, requested_by=actor, status="open",
        deadline_kind=deadline.kind if deadline else None,
        deadline_due_at=deadline.due_at if deadline else None,
    )
    session.add(request)
    session.flush()
    record_step(
        session, task, kind="task.explanation_request", at=at, actor=actor,
        content=("explanation requested for the missed " + deadline.kind + " deadline"
                 if deadline else "explanation requested"),
        outcome="open", object_type="task_explanation_request", object_id=request.id,
        after={name: getattr(request, name) for name in _REQUEST_AUDIT_FIELDS},
        detail={"deadline_kind": request.deadline_kind,
                "deadline_due_at": request.deadline_due_at},
    )
    return request


def request_explanation(session: Session, task: Task, *, at: datetime, actor: str | None,
                        reason: str) -> ExplanationRequest:
    """Ask the agencies of `task` to explain, giving `reason`."""
    require_instant(at)
    reason_text = require_text(reason, "reason")
    return _add_request(session, task, at=at, actor=actor, reason=reason_text)


def answer_explanation(session: Session, request: ExplanationRequest, *, at: datetime,
                       actor: str | None, text: str) -> ExplanationRequest:
    """Store the agency's answer `text` to an open explanation request."""
    require_instant(at)
    if request.status != "open":
        raise WorkflowStateError(message(
            "Explanation request %(request_id)s was already answered by %(actor)s at %(at)s; "
            "nothing was changed", request_id=request.id,
            actor=request.answered_by or "the node", at=request.answered_at))
    answer = require_text(text, "text")
    request.status = "answered"
    request.answer = answer
    request.answered_at = at
    request.answered_by = actor
    session.flush()
    record_step(
        session, request.task, kind="task.explanation_answer", at=at, actor=actor,
        content="explanation given", outcome="answered",
        object_type="task_explanation_request", object_id=request.id,
        before={"status": "open"}, after={"status": "answered", "answer": answer},
    )
    return request


def _period_start(task: Task, deadline: TaskDeadline) -> datetime | None:
    """Return when the reporting period that ends at `deadline` began.

    That is the previous reporting deadline of the task, else the start of
    the task (its transfer, else the start of its document's issue day),
    else None when neither is known.
    """
    earlier = [row.due_at for row in task.deadlines
               if row.kind in EXPLANATION_DEADLINE_KINDS and row.due_at is not None
               and row.due_at < deadline.due_at]
    if earlier:
        return max(earlier)
    if task.transferred_at is not None:
        return task.transferred_at
    start_on = task_start_on(task)
    return datetime.combine(start_on, time(0), tzinfo=VN_TZ) if start_on else None


def _has_approved_update_since(session: Session, task: Task, start: datetime | None) -> bool:
    query = select(ProgressUpdate.id).where(ProgressUpdate.task_id == task.id,
                                            ProgressUpdate.status == "approved")
    if start is not None:
        query = query.where(ProgressUpdate.at >= start)
    return session.scalar(query.limit(1)) is not None


def open_explanations_for_missed_checkpoints(session: Session, *, at: datetime) -> int:
    """Open one explanation request per missed checkpoint or result-report deadline.

    A deadline is missed when it passed before `at` and no progress update
    of the task was approved since its reporting period began. Tasks
    completed by the deadline are skipped. A deadline that already has a
    request, or whose task already has an open request for that deadline
    kind, gets no new one, so repeated runs open nothing twice. Returns the
    number of requests opened.
    """
    require_instant(at)
    passed = session.execute(
        select(TaskDeadline, Task)
        .join(Task, TaskDeadline.task_id == Task.id)
        .where(TaskDeadline.kind.in_(EXPLANATION_DEADLINE_KINDS),
               TaskDeadline.due_at.is_not(None), TaskDeadline.due_at < at)
        .order_by(TaskDeadline.due_at, TaskDeadline.id)
        .options(selectinload(Task.deadlines))
    ).all()
    task_ids = {task.id for _, task in passed}
    existing = session.execute(
        select(ExplanationRequest.task_id, ExplanationRequest.deadline_kind,
               ExplanationRequest.deadline_due_at, ExplanationRequest.status)
        .where(ExplanationRequest.task_id.in_(task_ids),
               ExplanationRequest.deadline_kind.is_not(None))
    ).all() if task_ids else []
    requested = {(row.task_id, row.deadline_kind, row.deadline_due_at) for row in existing}
    open_kinds = {(row.task_id, row.deadline_kind) for row in existing if row.status == "open"}

    opened = 0
    for deadline, task in passed:
        if (task.id, deadline.kind) in open_kinds \
                or (task.id, deadline.kind, deadline.due_at) in requested:
            continue
        if task.reported_state == "completed" and task.completed_at is not None \
                and task.completed_at <= deadline.due_at:
            continue
        if _has_approved_update_since(session, task, _period_start(task, deadline)):
            continue
        reason = message("No approved progress update for the %(kind)s deadline of "
                         "%(due_at)s; explain the delay", kind=deadline.kind.replace("_", " "),
                         due_at=deadline.due_at)
        _add_request(session, task, at=at, actor=None, reason=reason, deadline=deadline)
        open_kinds.add((task.id, deadline.kind))
        opened += 1
    return opened
