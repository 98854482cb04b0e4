"""Completion levels of Điều 4.1.đ, in SQL for lists and counts and in Python for one task.

A task is in exactly one level as of an instant `at`:

- completed (reported state `completed`, completion instant not after `at`):
  on time when completed no later than the deadline or when it has none,
  late otherwise;
- ended without completion (`ended_not_completed`): implemented but not
  completed, which is overdue by definition;
- `will_not_carry_out`: not started and overdue;
- in progress, or completed after `at` (so still in progress as of `at`):
  overdue once `at` is past the deadline;
- not started: overdue once `at` is past the deadline.

A task without a deadline is never overdue. The deadline is an instant: a
deadline given as a date is stored as the end of that day in Vietnam, so a
completion at 23:59 that day is on time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, literal, or_

from node.local_tasks.models import Task

COMPLETED_ON_TIME = "completed_on_time"
COMPLETED_LATE = "completed_late"
IN_PROGRESS_ON_TIME = "in_progress_on_time"
IN_PROGRESS_OVERDUE = "in_progress_overdue"
IMPLEMENTED_NOT_COMPLETED = "implemented_not_completed"
NOT_STARTED_ON_TIME = "not_started_on_time"
NOT_STARTED_OVERDUE = "not_started_overdue"

LEVELS = (
    COMPLETED_ON_TIME,
    COMPLETED_LATE,
    IN_PROGRESS_ON_TIME,
    IN_PROGRESS_OVERDUE,
    IMPLEMENTED_NOT_COMPLETED,
    NOT_STARTED_ON_TIME,
    NOT_STARTED_OVERDUE,
)

OVERDUE_LEVELS = (IN_PROGRESS_OVERDUE, IMPLEMENTED_NOT_COMPLETED, NOT_STARTED_OVERDUE)


def completion_level(
    *,
    reported_state: str,
    deadline_at: datetime | None,
    completed_at: datetime | None,
    at: datetime,
) -> str:
    """Return the completion level of one task as of `at`."""
    overdue = deadline_at is not None and at > deadline_at
    if reported_state == "completed" and completed_at is not None and completed_at <= at:
        if deadline_at is None or completed_at <= deadline_at:
            return COMPLETED_ON_TIME
        return COMPLETED_LATE
    if reported_state == "ended_not_completed":
        return IMPLEMENTED_NOT_COMPLETED
    if reported_state == "will_not_carry_out":
        return NOT_STARTED_OVERDUE
    if reported_state in ("in_progress", "completed"):
        return IN_PROGRESS_OVERDUE if overdue else IN_PROGRESS_ON_TIME
    return NOT_STARTED_OVERDUE if overdue else NOT_STARTED_ON_TIME


def level_of(task: Task, at: datetime) -> str:
    """Return the completion level of `task` as of `at`."""
    return completion_level(
        reported_state=task.reported_state,
        deadline_at=task.deadline_at,
        completed_at=task.completed_at,
        at=at,
    )


def completion_level_expr(at: datetime) -> ColumnElement[str]:
    """Build the SQL expression of the completion level as of `at`.

    It mirrors `completion_level` branch for branch; a test checks that both
    agree on every combination of inputs on SQLite and PostgreSQL.
    """
    at_value = literal(at, type_=Task.__table__.c.deadline_at.type)
    overdue = and_(Task.deadline_at.is_not(None), Task.deadline_at < at_value)
    completed_by_at = and_(
        Task.reported_state == "completed",
        Task.completed_at.is_not(None),
        Task.completed_at <= at_value,
    )
    completed_on_time = or_(Task.deadline_at.is_(None), Task.completed_at <= Task.deadline_at)
    return case(
        (and_(completed_by_at, completed_on_time), COMPLETED_ON_TIME),
        (completed_by_at, COMPLETED_LATE),
        (Task.reported_state == "ended_not_completed", IMPLEMENTED_NOT_COMPLETED),
        (Task.reported_state == "will_not_carry_out", NOT_STARTED_OVERDUE),
        (and_(Task.reported_state.in_(("in_progress", "completed")), overdue), IN_PROGRESS_OVERDUE),
        (Task.reported_state.in_(("in_progress", "completed")), IN_PROGRESS_ON_TIME),
        (overdue, NOT_STARTED_OVERDUE),
        else_=NOT_STARTED_ON_TIME,
    )
