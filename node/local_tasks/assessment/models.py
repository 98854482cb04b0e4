"""Records of assessment: task evaluations, inspection findings and update attachments.

Evaluations are the monitoring agency's rating of a task (Điều 5.1.i). A new
evaluation supersedes the previous one, and neither is overwritten. Findings
are what an inspection commission recorded about a task or an org unit
(Điều 11). Attachments are the files of a progress update (Điều 15), stored
once per content under the instance folder.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from node.core.db import Base, UTCDateTime, utcnow
from node.local_tasks.models import OrgUnit, Task
from node.local_tasks.workflow.models import ProgressUpdate

# Ratings in order from best to worst: hoàn thành xuất sắc, hoàn thành,
# hoàn thành chưa đầy đủ, không hoàn thành.
EVALUATION_RATINGS = ("excellent", "completed", "not_fully_completed", "not_completed")
FINDING_KINDS = ("delay_sign", "data_error", "process_violation", "other")
FINDING_STATUSES = ("open", "closed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class TaskEvaluation(Base):
    """A monitoring agency's rating of a task. The one row without a successor is current."""

    __tablename__ = "task_evaluations"
    __table_args__ = (
        CheckConstraint(_in("rating", EVALUATION_RATINGS), name="rating"),
        # Each evaluation is superseded at most once, so the history is one chain.
        UniqueConstraint("superseded_by_id"),
        Index("ix_task_evaluations_task_id_evaluated_at", "task_id", "evaluated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    evaluated_by: Mapped[str] = mapped_column(String(200))
    rating: Mapped[str] = mapped_column(String(30))
    # Always None for confidential and top-secret tasks.
    comment: Mapped[str | None] = mapped_column(Text)
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("task_evaluations.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    task: Mapped[Task] = relationship()
    superseded_by: Mapped[TaskEvaluation | None] = relationship(remote_side=[id])


class InspectionFinding(Base):
    """A finding and recommendation of an inspection commission about a task or an org unit."""

    __tablename__ = "inspection_findings"
    __table_args__ = (
        CheckConstraint("task_id IS NOT NULL OR org_unit_id IS NOT NULL",
                        name="task_or_org_unit"),
        CheckConstraint(_in("kind", FINDING_KINDS), name="kind"),
        CheckConstraint(_in("status", FINDING_STATUSES), name="status"),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)",
                        name="closed_at_iff_closed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    # The texts are None for findings on confidential and top-secret tasks.
    finding: Mapped[str | None] = mapped_column(Text)
    recommendation: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(200))
    closing_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    task: Mapped[Task | None] = relationship()
    org_unit: Mapped[OrgUnit | None] = relationship()


class Attachment(Base):
    """A file attached to a progress update, stored under the instance folder by its SHA-256."""

    __tablename__ = "attachments"
    __table_args__ = (
        UniqueConstraint("progress_update_id", "sha256"),
        CheckConstraint("size_bytes > 0", name="size_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    progress_update_id: Mapped[int] = mapped_column(
        ForeignKey("task_progress_updates.id", ondelete="CASCADE"), index=True)
    # The uploaded name in NFC, without any folder part.
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(120))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    # Relative to the instance folder, with / separators: attachments/ab/ab12...
    stored_path: Mapped[str] = mapped_column(String(300))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    uploaded_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    progress_update: Mapped[ProgressUpdate] = relationship()
