"""Records of the task workflow: receipts, objections, progress updates, explanations.

Each row is one step of Điều 6 (transfer, receipt, objection) or Điều 15
(progress reports and explanation requests). Rows are added, and only their
decision or review columns are filled in later, so the history of a task is
never overwritten.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from node.core.db import Base, UTCDateTime, utcnow
from node.local_tasks.models import REPORTED_STATES, OrgUnit, Task

OBJECTION_KINDS = ("wrong_task", "outside_competence", "other")
OBJECTION_STATUSES = ("open", "accepted", "rejected")
UPDATE_STATUSES = ("submitted", "approved", "returned")
EXPLANATION_STATUSES = ("open", "answered")
# Deadlines whose miss opens an explanation request automatically.
EXPLANATION_DEADLINE_KINDS = ("checkpoint_half", "checkpoint_three_quarters", "result_report")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Receipt(Base):
    """An agency's confirmation that it received a transferred task (Điều 6.1)."""

    __tablename__ = "task_receipts"
    __table_args__ = (UniqueConstraint("task_id", "transferred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    # The transfer this receipt confirms; a task reassigned after an objection is transferred again.
    transferred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_by: Mapped[str | None] = mapped_column(String(200))
    # The receipt deadline; None (and is_late None) while the calendar lacks its year.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_late: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    task: Mapped[Task] = relationship()


class Objection(Base):
    """An agency's objection to a task it received, and the central office's decision."""

    __tablename__ = "task_objections"
    __table_args__ = (
        CheckConstraint(_in("kind", OBJECTION_KINDS), name="kind"),
        CheckConstraint(_in("status", OBJECTION_STATUSES), name="status"),
        CheckConstraint("(status = 'open') = (decided_at IS NULL)", name="decided_at_iff_decided"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    receipt_id: Mapped[int | None] = mapped_column(
        ForeignKey("task_receipts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text)
    lodged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lodged_by: Mapped[str | None] = mapped_column(String(200))
    # The feedback deadline; None (and decided_late None) while the calendar lacks its year.
    feedback_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="open")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_late: Mapped[bool | None] = mapped_column(Boolean)
    reassigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    task: Mapped[Task] = relationship()
    receipt: Mapped[Receipt | None] = relationship()
    reassigned_to: Mapped[OrgUnit | None] = relationship()


class ProgressUpdate(Base):
    """A progress report on a task (Điều 15), applied to the task only once approved."""

    __tablename__ = "task_progress_updates"
    __table_args__ = (
        CheckConstraint(_in("reported_state", REPORTED_STATES), name="reported_state"),
        CheckConstraint(_in("status", UPDATE_STATUSES), name="status"),
        CheckConstraint("progress_percent IS NULL OR progress_percent BETWEEN 0 AND 100",
                        name="progress_percent_range"),
        CheckConstraint("(status = 'submitted') = (reviewed_at IS NULL)",
                        name="reviewed_at_iff_reviewed"),
        Index("ix_task_progress_updates_task_id_status_at", "task_id", "status", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    # The instant the report describes; an approved completion becomes the task's completed_at.
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_by: Mapped[str | None] = mapped_column(String(200))
    reported_state: Mapped[str] = mapped_column(String(30))
    progress_percent: Mapped[int | None] = mapped_column(Integer)
    milestone: Mapped[str | None] = mapped_column(String(300))
    results: Mapped[str | None] = mapped_column(Text)
    difficulties: Mapped[str | None] = mapped_column(Text)
    next_steps: Mapped[str | None] = mapped_column(Text)
    # Chosen by the client so that a retried submission returns the first row.
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="submitted")
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    review_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    task: Mapped[Task] = relationship()


class LeadAgencyState(Base):
    """The state that one lead agency of a task last reported through a child node.

    A task led jointly by agencies that report through different child nodes
    has one row per agency, and its own state is derived from them (see
    `node.local_tasks.workflow.lead_states`).
    """

    __tablename__ = "task_lead_states"
    __table_args__ = (
        UniqueConstraint("task_id", "org_unit_id"),
        CheckConstraint(_in("reported_state", REPORTED_STATES), name="reported_state"),
        CheckConstraint("(reported_state = 'completed') = (completed_at IS NOT NULL)",
                        name="completed_at_iff_completed"),
        CheckConstraint("progress_percent IS NULL OR progress_percent BETWEEN 0 AND 100",
                        name="progress_percent_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    reported_state: Mapped[str] = mapped_column(String(30))
    progress_percent: Mapped[int | None] = mapped_column(Integer)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The instant of the report applied last; an older report leaves the row unchanged.
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    progress_update_id: Mapped[int | None] = mapped_column(
        ForeignKey("task_progress_updates.id", ondelete="SET NULL"))
    # The child node through which the report came.
    source_node_id: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org_unit: Mapped[OrgUnit] = relationship()


class ExplanationRequest(Base):
    """A request that an agency explain a missed report or deadline (Điều 15.4)."""

    __tablename__ = "task_explanation_requests"
    __table_args__ = (
        CheckConstraint(_in("status", EXPLANATION_STATUSES), name="status"),
        CheckConstraint("(status = 'answered') = (answered_at IS NOT NULL)",
                        name="answered_at_iff_answered"),
        # One request per missed deadline. Requests opened by hand have no
        # deadline kind, and NULLs never collide in a unique constraint.
        UniqueConstraint("task_id", "deadline_kind", "deadline_due_at"),
        Index("ix_task_explanation_requests_one_open", "task_id", "deadline_kind", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    # Set when the request was opened for a missed deadline of this kind and due instant.
    deadline_kind: Mapped[str | None] = mapped_column(String(40))
    deadline_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # None when the node opened the request itself.
    requested_by: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="open")
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    task: Mapped[Task] = relationship()
