"""Service-level deadlines of Điều 6, computed from the working calendar and stored.

- transfer: the central office transfers a document's tasks within 3 working
  days of its issue;
- receipt: the agency confirms receipt within 4 working hours of the transfer;
- objection: an objection is possible within 8 working hours of receipt;
- feedback: the central office processes an objection within 1 working day
  (computed when an objection is lodged);
- result report: the result is reported at most 3 working days after the
  deadline, 5 for tasks lasting 3 to 6 months;
- checkpoints: tasks of 1 to 3 months report once at half their period,
  tasks of 3 to 6 months at half and at three quarters. Longer tasks and
  tasks without a deadline report monthly, quarterly or yearly as required,
  which the periodic reports cover.

A deadline that falls in a year the calendar has no data for is stored as
pending with the reason, never guessed; it is filled in once the year's
calendar file exists and the deadlines are recomputed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from node.core.timezone import VN_TZ
from node.local_tasks.calendar import CalendarError, WorkingCalendar, load_calendar
from node.local_tasks.models import CalendarState, Document, Task, TaskDeadline

logger = logging.getLogger(__name__)


TRANSFER_WORKING_DAYS = 3
RECEIPT_WORKING_HOURS = 4
OBJECTION_WORKING_HOURS = 8
FEEDBACK_WORKING_DAYS = 1
RESULT_REPORT_WORKING_DAYS = 3
RESULT_REPORT_WORKING_DAYS_LONG = 5


def _current_calendar(calendar: WorkingCalendar | None) -> WorkingCalendar:
    if calendar is not None:
        return calendar
    from node.core.settings import load_settings

    return load_calendar(load_settings())


def _start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=VN_TZ)


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def task_start_on(task: Task) -> date | None:
    """Return the day the task's period starts: its transfer, else the document's issue."""
    if task.transferred_at is not None:
        return task.transferred_at.astimezone(VN_TZ).date()
    return task.document.issued_on


def checkpoint_fractions(start_on: date, deadline_on: date) -> tuple[float, ...]:
    """Return the fractions of the period at which progress must be reported (Điều 6.2.b)."""
    if deadline_on < _add_months(start_on, 1):
        return ()
    if deadline_on <= _add_months(start_on, 3):
        return (0.5,)
    if deadline_on <= _add_months(start_on, 6):
        return (0.5, 0.75)
    return ()


def _first_working_day_from(calendar: WorkingCalendar, day: date) -> date:
    return day if calendar.is_working_day(day) else calendar.add_working_days(day, 1)


def _planned_deadlines(task: Task, calendar: WorkingCalendar) -> dict[str, tuple[Callable, datetime | None]]:
    """Map each deadline kind that applies to `task` to a function computing it."""
    planned: dict[str, tuple[Callable, datetime | None]] = {}
    issued_on = task.document.issued_on
    if issued_on is not None:
        planned["transfer"] = (
            lambda: calendar.end_of_working_day(
                calendar.add_working_days(issued_on, TRANSFER_WORKING_DAYS)),
            _start_of_day(issued_on),
        )
    if task.transferred_at is not None:
        transferred_at = task.transferred_at
        planned["receipt"] = (
            lambda: calendar.add_working_hours(transferred_at, RECEIPT_WORKING_HOURS),
            transferred_at,
        )
    if task.received_at is not None:
        received_at = task.received_at
        planned["objection"] = (
            lambda: calendar.add_working_hours(received_at, OBJECTION_WORKING_HOURS),
            received_at,
        )
    start_on = task_start_on(task)
    if task.deadline_on is not None:
        deadline_on = task.deadline_on
        fractions = checkpoint_fractions(start_on, deadline_on) if start_on else ()
        report_days = (RESULT_REPORT_WORKING_DAYS_LONG if len(fractions) == 2
                       else RESULT_REPORT_WORKING_DAYS)
        planned["result_report"] = (
            lambda: calendar.end_of_working_day(calendar.add_working_days(deadline_on, report_days)),
            _start_of_day(deadline_on),
        )
        for fraction, kind in zip(fractions, ("checkpoint_half", "checkpoint_three_quarters"),
                                  strict=False):
            span = (deadline_on - start_on).days
            point = start_on + timedelta(days=round(span * fraction))
            planned[kind] = (
                lambda point=point: calendar.end_of_working_day(
                    _first_working_day_from(calendar, point)),
                _start_of_day(start_on),
            )
    return planned


def compute_for_task(session: Session, task: Task, calendar: WorkingCalendar) -> None:
    """Compute and store every service-level deadline of `task` that its facts allow."""
    existing = {deadline.kind: deadline for deadline in task.deadlines}
    for kind, (compute, basis_at) in _planned_deadlines(task, calendar).items():
        row = existing.pop(kind, None)
        if row is None:
            row = TaskDeadline(kind=kind)
            task.deadlines.append(row)
        row.basis_at = basis_at
        row.calendar_fingerprint = calendar.fingerprint
        try:
            row.due_at = compute()
            row.pending_reason = None
        except CalendarError as exc:
            row.due_at = None
            row.pending_reason = str(exc)[:300]
    for kind, row in existing.items():
        if kind != "feedback":
            task.deadlines.remove(row)


def compute_for_document(session: Session, document: Document,
                         calendar: WorkingCalendar | None = None) -> None:
    """Compute the deadlines of every task of `document`."""
    calendar = _current_calendar(calendar)
    for task in document.tasks:
        compute_for_task(session, task, calendar)
    session.flush()


def recompute_all(session: Session, calendar: WorkingCalendar, *, batch_size: int = 1000) -> int:
    """Recompute every task's deadlines with `calendar` and record its fingerprint."""
    count = 0
    last_id = 0
    while True:
        tasks = session.scalars(
            select(Task).where(Task.id > last_id).order_by(Task.id).limit(batch_size)
            .options(selectinload(Task.deadlines), selectinload(Task.document))
        ).all()
        if not tasks:
            break
        for task in tasks:
            compute_for_task(session, task, calendar)
        session.flush()
        count += len(tasks)
        last_id = tasks[-1].id
    state = session.get(CalendarState, 1) or CalendarState(id=1)
    state.fingerprint = calendar.fingerprint
    session.add(state)
    session.flush()
    logger.info("deadlines recomputed", extra={"task_count": count,
                                               "calendar_fingerprint": calendar.fingerprint})
    return count


def ensure_calendar_current(session: Session, calendar: WorkingCalendar) -> int:
    """Recompute stored deadlines if the calendar changed since they were computed.

    Returns the number of tasks recomputed (0 when the calendar is unchanged).
    """
    state = session.get(CalendarState, 1)
    if state is not None and state.fingerprint == calendar.fingerprint:
        return 0
    return recompute_all(session, calendar)
