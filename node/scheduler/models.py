"""Models of the scheduler: the runner lease, one row per job run, the last run per job."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from node.core.db import Base, UTCDateTime, utcnow

RUN_STATUSES = ("running", "succeeded", "failed")
# Why a run started: its scheduled time came, a missed time was caught up
# after a restart, or a person ran it from the command line.
RUN_REASONS = ("schedule", "catch_up", "manual")


class SchedulerLease(Base):
    """The lease of the one runner that may run scheduled jobs on this database."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SchedulerJobRun(Base):
    """One run of a job for one scheduled instant; the unique key stops a second run."""

    __tablename__ = "scheduler_job_runs"
    __table_args__ = (
        UniqueConstraint("job_id", "scheduled_for"),
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in RUN_STATUSES)})",
                        name="status"),
        CheckConstraint(f"reason IN ({', '.join(repr(r) for r in RUN_REASONS)})",
                        name="reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(100))
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(20))
    runner: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class SchedulerJobState(Base):
    """The last scheduled instant a job ran for, so a restart can catch up a missed run."""

    __tablename__ = "scheduler_job_states"

    job_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    last_status: Mapped[str] = mapped_column(String(20))
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
