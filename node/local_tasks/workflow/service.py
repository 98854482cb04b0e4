"""Transfer, receipt and objections of a task (Điều 6).

The central office transfers a task to its lead agency, which confirms receipt
within RECEIPT_WORKING_HOURS working hours and may object within
OBJECTION_WORKING_HOURS working hours of receipt. The central office decides
an objection within FEEDBACK_WORKING_DAYS working day. Accepting an objection
with a new lead agency restarts the flow: the task needs a new transfer.

The functions take the session first and keyword-only arguments, flush but
never commit, and check no permissions: the views decide who may call them.
Each write records a task event, an audit entry and a log line (see
`history.record_step`). A rejected call raises before writing anything.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.audit import service as audit_log
from node.local_tasks import deadlines_service
from node.local_tasks.calendar import CalendarError, WorkingCalendar
from node.local_tasks.deadlines_service import FEEDBACK_WORKING_DAYS
from node.local_tasks.models import OrgUnit, Task, TaskAgency, TaskDeadline
from node.local_tasks.workflow.errors import (
    WorkflowStateError,
    invalid,
    message,
    task_reference,
)
from node.local_tasks.workflow.history import (
    record_step,
    refresh_search_text,
    require_instant,
    require_text,
)
from node.local_tasks.workflow.models import OBJECTION_KINDS, Objection, Receipt

# Deadlines that belong to one transfer and are dropped when the flow restarts.
_TRANSFER_DEADLINE_KINDS = ("receipt", "objection")


def _deadline(task: Task, kind: str) -> TaskDeadline | None:
    return next((row for row in task.deadlines if row.kind == kind), None)


def _is_late(at: datetime, due_at: datetime | None) -> bool | None:
    return None if due_at is None else at > due_at


def _outcome(is_late: bool | None) -> str:
    return {None: "deadline_unknown", False: "on_time", True: "late"}[is_late]


# Transfer and receipt --------------------------------------------------------


def transfer_task(session: Session, task: Task, *, at: datetime, actor: str | None,
                  calendar: WorkingCalendar) -> Task:
    """Record that the central office transferred `task` to its lead agency at `at`.

    Recomputes the task's deadlines, so the receipt deadline becomes `at`
    plus RECEIPT_WORKING_HOURS working hours.
    """
    require_instant(at)
    if task.transferred_at is not None:
        raise WorkflowStateError(message(
            "Task %(task)s was already transferred at %(transferred_at)s; a new transfer "
            "is possible only after an accepted objection reassigns it",
            task=task_reference(task), transferred_at=task.transferred_at))
    if not any(link.role == "lead" for link in task.agencies):
        raise invalid("lead_agencies", None,
                      "Task %(task)s has no lead agency to transfer it to; add one first",
                      task=task_reference(task))

    task.transferred_at = at
    deadlines_service.compute_for_task(session, task, calendar)
    receipt_deadline = _deadline(task, "receipt")
    record_step(
        session, task, kind="task.transfer", at=at, actor=actor,
        content="task transferred to its lead agency", outcome="transferred",
        object_type="task", object_id=task.id,
        before={"transferred_at": None}, after={"transferred_at": at},
        detail={"receipt_due_at": receipt_deadline.due_at if receipt_deadline else None},
    )
    return task


def confirm_receipt(session: Session, task: Task, *, at: datetime, actor: str | None,
                    calendar: WorkingCalendar) -> Receipt:
    """Record that the lead agency received `task` at `at`, on time or late.

    The receipt is late when `at` is after the receipt deadline. Recomputing
    the deadlines then sets the objection deadline to `at` plus
    OBJECTION_WORKING_HOURS working hours.
    """
    require_instant(at)
    if task.transferred_at is None:
        raise WorkflowStateError(message(
            "Task %(task)s has not been transferred; receipt can be confirmed only "
            "after the central office transfers it", task=task_reference(task)))
    if task.received_at is not None:
        raise WorkflowStateError(message(
            "Task %(task)s was already confirmed at %(received_at)s; nothing was changed",
            task=task_reference(task), received_at=task.received_at))
    if at < task.transferred_at:
        raise invalid("at", at.isoformat(),
                      "Receipt at %(at)s is before the transfer at %(transferred_at)s; "
                      "give the instant the task was received", at=at,
                      transferred_at=task.transferred_at)

    receipt_deadline = _deadline(task, "receipt")
    due_at = receipt_deadline.due_at if receipt_deadline else None
    is_late = _is_late(at, due_at)
    task.received_at = at
    deadlines_service.compute_for_task(session, task, calendar)
    receipt = Receipt(task=task, transferred_at=task.transferred_at, received_at=at,
                      received_by=actor, due_at=due_at, is_late=is_late)
    session.add(receipt)
    session.flush()
    objection_deadline = _deadline(task, "objection")
    record_step(
        session, task, kind="task.receipt", at=at, actor=actor,
        content="receipt confirmed", outcome=_outcome(is_late),
        object_type="task_receipt", object_id=receipt.id,
        after={"task_id": task.id, "received_at": at, "due_at": due_at, "is_late": is_late},
        detail={"receipt_due_at": due_at,
                "objection_due_at": objection_deadline.due_at if objection_deadline else None},
    )
    return receipt


# Objections ------------------------------------------------------------------


def _feedback_due_at(calendar: WorkingCalendar, lodged_at: datetime) -> datetime:
    """Return the end of the FEEDBACK_WORKING_DAYS-th working day after the day of `lodged_at`.

    Days are counted as for the transfer deadline: the day of lodging does
    not count, and the deadline is the end of the last working period.
    """
    lodged_on = lodged_at.astimezone(calendar.timezone).date()
    return calendar.end_of_working_day(calendar.add_working_days(lodged_on, FEEDBACK_WORKING_DAYS))


def _set_feedback_deadline(task: Task, calendar: WorkingCalendar, lodged_at: datetime) -> None:
    row = _deadline(task, "feedback")
    if row is None:
        row = TaskDeadline(kind="feedback")
        task.deadlines.append(row)
    row.basis_at = lodged_at
    row.calendar_fingerprint = calendar.fingerprint
    try:
        row.due_at = _feedback_due_at(calendar, lodged_at)
        row.pending_reason = None
    except CalendarError as exc:
        row.due_at = None
        row.pending_reason = str(exc)[:300]


def _open_objection(session: Session, task: Task) -> Objection | None:
    return session.scalars(
        select(Objection).where(Objection.task_id == task.id, Objection.status == "open")
    ).first()


def lodge_objection(session: Session, task: Task, *, at: datetime, actor: str | None,
                    reason: str, kind: str, calendar: WorkingCalendar) -> Objection:
    """Record the lead agency's objection to `task` and set the feedback deadline.

    Allowed from receipt until the objection deadline (receipt plus
    OBJECTION_WORKING_HOURS working hours), one open objection at a time.
    """
    require_instant(at)
    if kind not in OBJECTION_KINDS:
        raise invalid("kind", kind, "Unknown objection kind %(kind)r; use one of %(kinds)s",
                      kind=kind, kinds=", ".join(OBJECTION_KINDS))
    reason_text = require_text(reason, "reason")
    if task.received_at is None:
        raise WorkflowStateError(message(
            "Task %(task)s has no confirmed receipt; an objection can be lodged only "
            "after receipt", task=task_reference(task)))
    if at < task.received_at:
        raise invalid("at", at.isoformat(),
                      "Objection at %(at)s is before the receipt at %(received_at)s; "
                      "give the instant it was lodged", at=at, received_at=task.received_at)
    objection_deadline = _deadline(task, "objection")
    due_at = objection_deadline.due_at if objection_deadline else None
    if due_at is None:
        raise WorkflowStateError(message(
            "The objection deadline of task %(task)s is unknown (%(why)s); add the working "
            "calendar of that year and recompute the deadlines", task=task_reference(task),
            why=objection_deadline.pending_reason if objection_deadline else "not computed"))
    if at > due_at:
        raise WorkflowStateError(message(
            "The objection period of task %(task)s ended at %(due_at)s; objections are "
            "possible within %(hours)s working hours of receipt", task=task_reference(task), due_at=due_at,
            hours=deadlines_service.OBJECTION_WORKING_HOURS))
    existing = _open_objection(session, task)
    if existing is not None:
        raise WorkflowStateError(message(
            "Task %(task)s already has open objection %(objection_id)s; wait for its decision",
            task=task_reference(task), objection_id=existing.id))

    receipt = session.scalars(
        select(Receipt).where(Receipt.task_id == task.id,
                              Receipt.transferred_at == task.transferred_at)
    ).first()
    _set_feedback_deadline(task, calendar, at)
    feedback = _deadline(task, "feedback")
    objection = Objection(task=task, receipt=receipt, kind=kind, reason=reason_text, lodged_at=at,
                          lodged_by=actor, feedback_due_at=feedback.due_at, status="open")
    session.add(objection)
    session.flush()
    record_step(
        session, task, kind="task.objection", at=at, actor=actor,
        content=f"objection lodged ({kind})", outcome="open",
        object_type="task_objection", object_id=objection.id,
        after={"task_id": task.id, "kind": kind, "reason": reason_text, "lodged_at": at,
               "feedback_due_at": feedback.due_at},
        detail={"objection_kind": kind, "feedback_due_at": feedback.due_at,
                # The reason is text, which confidential and top-secret tasks never store.
                **({"reason": reason_text} if task.confidentiality == "regular" else {})},
    )
    return objection


def _replace_lead(task: Task, unit: OrgUnit) -> list[int]:
    """Make `unit` the only lead agency of `task`; return the previous leads' ids."""
    previous = [link for link in task.agencies if link.role == "lead"]
    staying_link = None
    for link in previous:
        # Removing and re-adding the same (task, unit, role) row in one flush
        # would break the unique constraint, so a unit that stays lead keeps its row.
        if link.org_unit_id == unit.id:
            staying_link = link
            link.position = 0
        else:
            task.agencies.remove(link)
    if staying_link is None:
        task.agencies.append(TaskAgency(org_unit=unit, role="lead", position=0))
    return [link.org_unit_id for link in previous]


def _restart_flow(task: Task) -> None:
    task.transferred_at = None
    task.received_at = None
    for row in [row for row in task.deadlines if row.kind in _TRANSFER_DEADLINE_KINDS]:
        task.deadlines.remove(row)


def decide_objection(session: Session, objection: Objection, *, at: datetime, actor: str | None,
                     accept: bool, reason: str | None = None,
                     reassign_to: OrgUnit | None = None) -> Objection:
    """Accept or reject `objection`; an acceptance with `reassign_to` restarts the flow.

    A rejection needs a reason. Reassigning replaces the task's lead agencies
    with `reassign_to` and clears its transfer and receipt, so the task must
    be transferred again. Its checkpoint deadlines are recomputed at that
    transfer. The decision is late when `at` is after the feedback deadline.
    """
    require_instant(at)
    task = objection.task
    if objection.status != "open":
        raise WorkflowStateError(message(
            "Objection %(objection_id)s was already %(status)s at %(decided_at)s; "
            "nothing was changed", objection_id=objection.id, status=objection.status,
            decided_at=objection.decided_at))
    reason_text = (reason or "").strip() or None
    if not accept and reason_text is None:
        require_text(reason, "reason")
    if not accept and reassign_to is not None:
        raise invalid("reassign_to", reassign_to.id,
                      "A rejected objection keeps the lead agency; leave reassign_to empty "
                      "or accept the objection")
    if at < objection.lodged_at:
        raise invalid("at", at.isoformat(),
                      "Decision at %(at)s is before the objection was lodged at %(lodged_at)s; "
                      "give the instant of the decision", at=at, lodged_at=objection.lodged_at)
    if reassign_to is not None:
        leads = [link.org_unit_id for link in task.agencies if link.role == "lead"]
        if leads == [reassign_to.id]:
            raise invalid("reassign_to", reassign_to.id,
                          "%(unit)s is already the only lead agency of task %(task)s; choose "
                          "another agency or accept without reassigning",
                          unit=reassign_to.name, task=task_reference(task))

    before = audit_log.snapshot(objection, ("status", "decided_at", "decision_reason"))
    objection.status = "accepted" if accept else "rejected"
    objection.decided_at = at
    objection.decided_by = actor
    objection.decision_reason = reason_text
    objection.decided_late = _is_late(at, objection.feedback_due_at)
    detail: dict = {"feedback_due_at": objection.feedback_due_at,
                    "decided_late": objection.decided_late}
    if reason_text and task.confidentiality == "regular":
        detail["decision_reason"] = reason_text
    if reassign_to is not None:
        objection.reassigned_to = reassign_to
        detail["previous_lead_ids"] = _replace_lead(task, reassign_to)
        detail["new_lead_id"] = reassign_to.id
        _restart_flow(task)
        refresh_search_text(task)
    session.flush()
    record_step(
        session, task, kind="task.objection_decision", at=at, actor=actor,
        content=f"objection {objection.status}" + (" and task reassigned" if reassign_to else ""),
        outcome=objection.status, object_type="task_objection", object_id=objection.id,
        before=before,
        after={**audit_log.snapshot(objection, ("status", "decided_at", "decision_reason",
                                                 "decided_late", "reassigned_to_id"))},
        detail=detail,
    )
    return objection
