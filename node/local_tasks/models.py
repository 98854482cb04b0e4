"""Models of one node's domain: org units, classifications, documents and tasks."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    case,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from node.core.db import Base, UTCDateTime, utcnow

# Confidentiality of the assigning document (Điều 4.1.e). Absolutely secret
# (tuyệt mật) is deliberately absent: such material never enters the system.
CONFIDENTIALITY_LEVELS = ("regular", "confidential", "top_secret")
ABSOLUTELY_SECRET = "absolutely_secret"

# Reported states an agency can give a task. The completion level is derived
# from these plus the deadline and the completion instant.
REPORTED_STATES = (
    "not_started",
    "in_progress",
    "completed",
    "ended_not_completed",
    "will_not_carry_out",
)

AGENCY_ROLES = ("lead", "coordinating", "monitoring")

DEADLINE_KINDS = (
    "transfer",
    "receipt",
    "objection",
    "feedback",
    "result_report",
    "checkpoint_half",
    "checkpoint_three_quarters",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class OrgUnit(Base):
    """An agency or party organisation; the units form one tree under a single root."""

    __tablename__ = "org_units"
    __table_args__ = (
        CheckConstraint("(parent_id IS NULL) = is_root", name="only_root_without_parent"),
        Index("ix_org_units_single_root", "is_root", unique=True,
              sqlite_where=text("is_root = 1"), postgresql_where=text("is_root")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str | None] = mapped_column(String(300))
    short_name: Mapped[str | None] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(60))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    is_root: Mapped[bool] = mapped_column(Boolean, default=False)
    gso_code: Mapped[str | None] = mapped_column(String(4), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    name_folded: Mapped[str] = mapped_column(String(300), index=True)
    sort_key: Mapped[str] = mapped_column(String(2000))
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[OrgUnit | None] = relationship(remote_side=[id])


class OrgUnitAlias(Base):
    """Another name under which documents name an org unit (abbreviation, former name)."""

    __tablename__ = "org_unit_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id", ondelete="CASCADE"), index=True)
    alias: Mapped[str] = mapped_column(String(300))
    alias_folded: Mapped[str] = mapped_column(String(300), unique=True)

    org_unit: Mapped[OrgUnit] = relationship()


class ClassificationScheme(Base):
    """A group of classifications of Điều 4 (time, scope, priority, other...)."""

    __tablename__ = "classification_schemes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    allows_many: Mapped[bool] = mapped_column(Boolean, default=False)
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)

    values: Mapped[list[ClassificationValue]] = relationship(
        back_populates="scheme", order_by="ClassificationValue.position"
    )


class ClassificationValue(Base):
    """One value of a classification scheme; administrators may add more."""

    __tablename__ = "classification_values"
    __table_args__ = (UniqueConstraint("scheme_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("classification_schemes.id"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    scheme: Mapped[ClassificationScheme] = relationship(back_populates="values")


class DocumentKind(Base):
    """A kind of assigning document (nghị quyết, chỉ thị, kết luận...)."""

    __tablename__ = "document_kinds"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_vi: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    # Abbreviations used in document symbols, e.g. "NQ" in 03/NQ-CP; space separated.
    symbol_prefixes: Mapped[str] = mapped_column(String(120), default="")


class Document(Base):
    """An assigning document with the fields of Điều 5.1 (reduced when confidential)."""

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint(_in("confidentiality", CONFIDENTIALITY_LEVELS), name="confidentiality"),
        CheckConstraint("confidentiality = 'regular' OR summary IS NULL",
                        name="no_summary_when_confidential"),
        CheckConstraint("task_count >= 0", name="task_count_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(120), unique=True)
    number: Mapped[str] = mapped_column(String(40))
    symbol: Mapped[str] = mapped_column(String(80))
    kind_id: Mapped[int | None] = mapped_column(ForeignKey("document_kinds.id"), index=True)
    summary: Mapped[str | None] = mapped_column(Text)
    issued_on: Mapped[date | None] = mapped_column(Date)
    signer: Mapped[str | None] = mapped_column(String(200))
    issuing_body: Mapped[str | None] = mapped_column(String(300))
    submitting_body: Mapped[str | None] = mapped_column(String(300))
    confidentiality: Mapped[str] = mapped_column(String(20), default="regular")
    task_count: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str | None] = mapped_column(Text)
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    kind: Mapped[DocumentKind | None] = relationship()
    tasks: Mapped[list[Task]] = relationship(back_populates="document", order_by="Task.position")

    __mapper_args__ = {"version_id_col": version}


# The task list's order, newest document first: lists walk this index and stop
# after a page instead of sorting every task. Migration 8c6f7091ab25 creates it
# as written here on PostgreSQL and as (issued_on DESC, id) on SQLite, whose
# CREATE INDEX rejects NULLS LAST and which sorts NULLs last in descending order
# anyway. Nothing calls create_all, which would send the PostgreSQL form.
Index("ix_documents_issued_on_id", Document.issued_on.desc().nulls_last(), Document.id)


class Task(Base):
    """A task assigned by a document; its completion level is derived, never stored."""

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(_in("reported_state", REPORTED_STATES), name="reported_state"),
        CheckConstraint(_in("confidentiality", CONFIDENTIALITY_LEVELS), name="confidentiality"),
        CheckConstraint(
            "confidentiality = 'regular' OR (content IS NULL AND product IS NULL "
            "AND result_summary IS NULL)",
            name="no_content_when_confidential",
        ),
        CheckConstraint("(reported_state = 'completed') = (completed_at IS NOT NULL)",
                        name="completed_at_iff_completed"),
        CheckConstraint("progress_percent IS NULL OR progress_percent BETWEEN 0 AND 100",
                        name="progress_percent_range"),
        Index("ix_tasks_level_inputs", "reported_state", "deadline_at", "completed_at"),
        # Level inputs by id: a list filtered by agency and level reads the
        # level of each of the agency's tasks from this index, not the row.
        Index("ix_tasks_id_level_inputs", "id", "reported_state", "deadline_at", "completed_at"),
        Index("ix_tasks_document_id_position", "document_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    task_no: Mapped[str | None] = mapped_column(String(40))
    section: Mapped[str | None] = mapped_column(Text)
    content: Mapped[str | None] = mapped_column(Text)
    product: Mapped[str | None] = mapped_column(Text)
    confidentiality: Mapped[str] = mapped_column(String(20), default="regular")
    # The deadline as the document wrote it, kept verbatim, and what it means.
    deadline_text: Mapped[str | None] = mapped_column(String(300))
    deadline_on: Mapped[date | None] = mapped_column(Date)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    deadline_precision: Mapped[str] = mapped_column(String(20), default="none")
    reported_state: Mapped[str] = mapped_column(String(30), default="not_started", index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    progress_percent: Mapped[int | None] = mapped_column(Integer)
    result_summary: Mapped[str | None] = mapped_column(Text)
    transferred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extra: Mapped[dict | None] = mapped_column(JSON)
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    document: Mapped[Document] = relationship(back_populates="tasks")
    # Positions count within each role, so the role comes first: lead, coordinating, monitoring.
    agencies: Mapped[list[TaskAgency]] = relationship(
        back_populates="task", cascade="all, delete-orphan",
        order_by=lambda: (case({"lead": 0, "coordinating": 1}, value=TaskAgency.role, else_=2),
                          TaskAgency.position, TaskAgency.id),
    )
    group_assignments: Mapped[list[GroupAssignment]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="GroupAssignment.id"
    )
    deadlines: Mapped[list[TaskDeadline]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="TaskDeadline.due_at"
    )
    classifications: Mapped[list[ClassificationValue]] = relationship(
        secondary="task_classifications"
    )
    events: Mapped[list[TaskEvent]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="TaskEvent.id"
    )

    __mapper_args__ = {"version_id_col": version}


class TaskAgency(Base):
    """An org unit's role on a task: lead (several for joint leads), coordinating, monitoring."""

    __tablename__ = "task_agencies"
    __table_args__ = (
        UniqueConstraint("task_id", "org_unit_id", "role"),
        CheckConstraint(_in("role", AGENCY_ROLES), name="role"),
        Index("ix_task_agencies_org_unit_id_role", "org_unit_id", "role", "task_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    role: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer, default=0)

    task: Mapped[Task] = relationship(back_populates="agencies")
    org_unit: Mapped[OrgUnit] = relationship()


class GroupAssignment(Base):
    """A cell naming a class of agencies ("Các bộ, ngành, địa phương"), kept verbatim
    until an officer resolves it into the agencies it means."""

    __tablename__ = "group_assignments"
    __table_args__ = (CheckConstraint(_in("role", AGENCY_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(String(500))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    task: Mapped[Task] = relationship(back_populates="group_assignments")


class TaskClassification(Base):
    """Association of a task with one classification value."""

    __tablename__ = "task_classifications"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    value_id: Mapped[int] = mapped_column(
        ForeignKey("classification_values.id"), primary_key=True, index=True
    )


class TaskDeadline(Base):
    """A service-level deadline of a task (Điều 6), computed from the working calendar."""

    __tablename__ = "task_deadlines"
    __table_args__ = (
        UniqueConstraint("task_id", "kind"),
        CheckConstraint(_in("kind", DEADLINE_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    # None while the working calendar lacks the year the deadline falls in;
    # `pending_reason` then names the year, and a recompute fills it in later.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    basis_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pending_reason: Mapped[str | None] = mapped_column(String(300))
    calendar_fingerprint: Mapped[str] = mapped_column(String(64))

    task: Mapped[Task] = relationship(back_populates="deadlines")


class TaskEvent(Base):
    """One step of a task's history; rows are appended, never changed."""

    __tablename__ = "task_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict | None] = mapped_column(JSON)

    task: Mapped[Task] = relationship(back_populates="events")


class CalendarState(Base):
    """The fingerprint of the working calendar the stored deadlines were computed with."""

    __tablename__ = "calendar_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
