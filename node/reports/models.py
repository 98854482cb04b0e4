"""Report snapshots: the content of a periodic or ad-hoc report, frozen once issued."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.attributes import get_history

from node.core.db import Base, UTCDateTime, utcnow
from node.local_tasks.models import OrgUnit

# Periods of Điều 15.1 (monthly, quarterly, half-yearly, yearly) and reports on request.
REPORT_KINDS = ("monthly", "quarterly", "half_yearly", "yearly", "ad_hoc")
# An agency's own report (Điều 15.1) or the central office's summary (Điều 14.2, 16.2).
REPORT_SCOPES = ("agency", "summary")
REPORT_STATUSES = ("draft", "issued")
# Columns that never change once a report is issued.
FROZEN_COLUMNS = ("content", "content_sha256", "kind", "scope", "org_unit_id", "period_start",
                  "period_end", "as_of", "number", "symbol", "issued_at", "version")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ReportSnapshot(Base):
    """One version of a report: its figures and texts as produced, frozen when issued."""

    __tablename__ = "report_snapshots"
    __table_args__ = (
        CheckConstraint(_in("kind", REPORT_KINDS), name="kind"),
        CheckConstraint(_in("scope", REPORT_SCOPES), name="scope"),
        CheckConstraint(_in("status", REPORT_STATUSES), name="status"),
        CheckConstraint("period_start <= period_end", name="period_order"),
        CheckConstraint("(status = 'issued') = (issued_at IS NOT NULL)",
                        name="issued_at_iff_issued"),
        UniqueConstraint("kind", "scope", "org_unit_id", "period_start", "period_end", "version"),
        UniqueConstraint("symbol"),
        Index("ix_report_snapshots_period", "period_end", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(20))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    # The instant the figures describe: the end of the period, or the production
    # instant for a period that had not ended yet.
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    title: Mapped[str] = mapped_column(String(500))
    content: Mapped[dict] = mapped_column(JSON)
    content_sha256: Mapped[str] = mapped_column(String(64))
    produced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    produced_by: Mapped[str | None] = mapped_column(String(200))
    # Sequence of issued reports in the calendar year, and the number and symbol "12-BC/VPTW".
    number: Mapped[int | None] = mapped_column(Integer)
    symbol: Mapped[str | None] = mapped_column(String(80))
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_by: Mapped[str | None] = mapped_column(String(200))
    # The issued version this one replaces, set when this one is issued.
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("report_snapshots.id"))

    org_unit: Mapped[OrgUnit] = relationship()


@event.listens_for(ReportSnapshot, "before_update")
def _refuse_changes_to_issued(_mapper, _connection, target: ReportSnapshot) -> None:  # noqa: ANN001
    """Reject a flush that changes an issued report, whose content and identity are a record."""
    status_history = get_history(target, "status")
    was_issued = "issued" in (status_history.deleted or ()) or (
        not status_history.has_changes() and target.status == "issued")
    if not was_issued:
        return
    changed = [name for name in FROZEN_COLUMNS if get_history(target, name).has_changes()]
    if changed or status_history.has_changes():
        raise ValueError(f"report {target.id} is issued; {', '.join(changed) or 'status'} "
                         "cannot change. Produce a new version instead")
