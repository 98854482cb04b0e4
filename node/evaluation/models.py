"""Evaluation scores per agency and period (Điều 17.1) and published rankings (Điều 17.2)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from node.core.db import Base, UTCDateTime, utcnow
from node.local_tasks.models import OrgUnit

# Evaluation periods of Điều 17.1.b; rankings are quarterly and yearly (Điều 17.2.c).
PERIOD_KINDS = ("quarter", "half_year", "year")
RANKING_PERIOD_KINDS = ("quarter", "year")
# Ratings of Điều 17.1.c, best first.
RATINGS = ("excellent", "completed", "not_fully_completed", "not_completed")
# A local ranking of this node's agencies, or the national one built from the children's aggregates.
RANKING_SCOPES = ("local", "national")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class EvaluationScore(Base):
    """One agency's score and rating for one period, with the inputs it was computed from."""

    __tablename__ = "evaluation_scores"
    __table_args__ = (
        CheckConstraint(_in("period_kind", PERIOD_KINDS), name="period_kind"),
        CheckConstraint("rating IS NULL OR " + _in("rating", RATINGS), name="rating"),
        CheckConstraint("(score IS NULL) = (rating IS NULL)", name="score_iff_rating"),
        UniqueConstraint("org_unit_id", "period_kind", "period_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    period_kind: Mapped[str] = mapped_column(String(20))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    indicator_set: Mapped[str] = mapped_column(String(60))
    indicator_set_version: Mapped[int] = mapped_column(Integer)
    # 0-100, None when no indicator applied (nothing was due in the period).
    score: Mapped[float | None] = mapped_column(Float)
    rating: Mapped[str | None] = mapped_column(String(30))
    # Counts and each indicator's value, weight and formula, as shown on the page.
    inputs: Mapped[dict] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org_unit: Mapped[OrgUnit] = relationship()


class EvaluationExplanation(Base):
    """The explanation request opened for two low ratings in a row (Điều 17.3.b), at most one."""

    __tablename__ = "evaluation_explanations"
    __table_args__ = (UniqueConstraint("org_unit_id", "period_kind", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    period_kind: Mapped[str] = mapped_column(String(20))
    # The second of the two periods.
    period_start: Mapped[date] = mapped_column(Date)
    explanation_request_id: Mapped[int] = mapped_column(
        ForeignKey("task_explanation_requests.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org_unit: Mapped[OrgUnit] = relationship()


class Ranking(Base):
    """A ranking of agencies for one quarter or year, as computed and published."""

    __tablename__ = "rankings"
    __table_args__ = (
        CheckConstraint(_in("period_kind", RANKING_PERIOD_KINDS), name="period_kind"),
        CheckConstraint(_in("scope", RANKING_SCOPES), name="scope"),
        UniqueConstraint("scope", "period_kind", "period_start", "version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(20))
    period_kind: Mapped[str] = mapped_column(String(20))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    indicator_set: Mapped[str] = mapped_column(String(60))
    indicator_set_version: Mapped[int] = mapped_column(Integer)
    # [{rank, org_unit_code, org_unit_name, score, rating, ...}], best first.
    entries: Mapped[list] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[str | None] = mapped_column(String(200))
