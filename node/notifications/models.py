"""Models of warnings, the notifications that carry them to people, and webhooks."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
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
from node.local_tasks.models import OrgUnit, Task

# What a warning is about. Task warnings: the deadline is near, today or
# past; a service-level deadline of Điều 6 passed (transfer, receipt,
# feedback on an objection); a progress checkpoint or result report was
# missed. Report warnings: an agency's periodic report (Điều 15.1) or the
# office's summary (Điều 16.2) is due soon or today, or the agency's report
# is past its due day and not issued.
TASK_WARNING_KINDS = (
    "due_soon",
    "due_today",
    "overdue",
    "transfer_missed",
    "receipt_missed",
    "feedback_missed",
    "checkpoint_missed",
)
REPORT_WARNING_KINDS = (
    "report_due_soon",
    "report_due_today",
    "report_overdue",
    "summary_due_soon",
    "summary_due_today",
)
WARNING_KINDS = TASK_WARNING_KINDS + REPORT_WARNING_KINDS

# Who a warning reaches: the lead agency's people; the lead agency's people,
# the monitoring agency's people and the office (escalation); the office only;
# the people of the warning's own org unit.
AUDIENCES = ("agency", "escalated", "office", "org_unit")

EMAIL_STATUSES = ("pending", "sent", "failed", "skipped")
EMAIL_MODES = ("each", "digest", "none")
DELIVERY_STATUSES = ("pending", "delivered", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class DeadlineWarning(Base):
    """One warning about one task or report on one day; never two of a kind that day."""

    __tablename__ = "warnings"
    __table_args__ = (
        CheckConstraint(_in("kind", WARNING_KINDS), name="kind"),
        CheckConstraint(_in("audience", AUDIENCES), name="audience"),
        CheckConstraint("(task_id IS NULL) = (report_period IS NOT NULL)", name="task_or_report"),
        # One warning per task, kind and day, however many workers run the job.
        Index("ix_warnings_task_kind_day", "task_id", "kind", "warned_on", unique=True,
              sqlite_where=text("task_id IS NOT NULL"),
              postgresql_where=text("task_id IS NOT NULL")),
        # One warning per org unit, report, kind and day.
        Index("ix_warnings_report_kind_day", "org_unit_id", "report_period", "kind", "warned_on",
              unique=True, sqlite_where=text("task_id IS NULL"),
              postgresql_where=text("task_id IS NULL")),
        Index("ix_warnings_warned_on", "warned_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    # The local (Vietnam) day the warning is for.
    warned_on: Mapped[date] = mapped_column(Date)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    # "2026-03", "2026-Q1", "2026-H1" or "2026" for report warnings.
    report_period: Mapped[str | None] = mapped_column(String(20))
    # The deadline the warning is about.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # For due-soon warnings: how many working days remain.
    working_days_left: Mapped[int | None] = mapped_column(Integer)
    audience: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    task: Mapped[Task | None] = relationship()
    org_unit: Mapped[OrgUnit | None] = relationship()


class Notification(Base):
    """A warning addressed to one person, read or unread, with its e-mail state."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "warning_id"),
        CheckConstraint(_in("email_status", EMAIL_STATUSES), name="email_status"),
        Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
        Index("ix_notifications_email_status", "email_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    warning_id: Mapped[int] = mapped_column(ForeignKey("warnings.id", ondelete="CASCADE"),
                                            index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    email_status: Mapped[str] = mapped_column(String(20), default="pending")
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    warning: Mapped[DeadlineWarning] = relationship()


class NotificationPreference(Base):
    """A person's choice of warning e-mails: each one, a daily digest, or none."""

    __tablename__ = "notification_preferences"
    __table_args__ = (CheckConstraint(_in("email_mode", EMAIL_MODES), name="email_mode"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    email_mode: Mapped[str] = mapped_column(String(10), default="each")


class Webhook(Base):
    """An address that receives every warning as a signed JSON POST."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    # The HMAC-SHA256 key; shown once to the administrator who creates the webhook.
    secret: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200))


class WebhookDelivery(Base):
    """One warning to send to one webhook, retried with backoff until it is delivered."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "warning_id"),
        CheckConstraint(_in("status", DELIVERY_STATUSES), name="status"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    warning_id: Mapped[int] = mapped_column(ForeignKey("warnings.id", ondelete="CASCADE"),
                                            index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    webhook: Mapped[Webhook] = relationship()
    warning: Mapped[DeadlineWarning] = relationship()
