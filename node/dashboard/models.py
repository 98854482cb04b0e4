"""Tables of the live dashboard: counters kept up to date as tasks change, and daily snapshots."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from node.core.db import Base, UTCDateTime
from node.federation.content_models import AggregateRow
from node.local_tasks.models import Task

# Finds the tasks whose completion instant is after the instant the dashboard
# shows; the counters count them as completed, so the read path corrects them.
Index("ix_tasks_completed_at", Task.completed_at)

# The map's read of each provincial node's newest aggregate report
# (node.dashboard.provincial): the last entry of the sender in this index.
Index("ix_federation_aggregate_rows_sender_end", AggregateRow.sender_node_id,
      AggregateRow.period_end, AggregateRow.as_of)


class DashboardState(Base):
    """The single row that every task-changing transaction updates.

    `change_count` grows with each flush that changes a task's counted facts,
    so a server-sent-event stream in any worker sees a change by reading one
    row. `horizon_at` is the instant that splits open tasks' deadlines into
    past and future in `dashboard_counters`.
    """

    __tablename__ = "dashboard_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    change_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # False until the counters have been built from a full recount.
    is_built: Mapped[bool] = mapped_column(Boolean, default=False)
    horizon_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rebuilt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DashboardCounter(Base):
    """The number of tasks with one combination of counted facts in one dashboard dimension.

    `dimension` is all, document, lead (lead agency), province, classification,
    confidentiality or completed_month; `member` is the id or code within it.
    `level` is the counted level, which node.dashboard.counters explains.
    """

    __tablename__ = "dashboard_counters"

    dimension: Mapped[str] = mapped_column(String(20), primary_key=True)
    member: Mapped[str] = mapped_column(String(40), primary_key=True)
    level: Mapped[str] = mapped_column(String(30), primary_key=True)
    task_count: Mapped[int] = mapped_column(Integer, default=0)


class DashboardMemberTotal(Base):
    """The number of tasks of one member of a dashboard dimension, over every level.

    It equals the sum of the member's `dashboard_counters` rows and is kept up
    to date with them. The members with the most tasks are then the first
    entries of an index, and the number of members is the number of rows,
    because rows whose count reaches zero are deleted.
    """

    __tablename__ = "dashboard_member_totals"

    dimension: Mapped[str] = mapped_column(String(20), primary_key=True)
    member: Mapped[str] = mapped_column(String(40), primary_key=True)
    task_count: Mapped[int] = mapped_column(Integer, default=0)


# The dashboard's "members with the most tasks" read: the first entries of a
# dimension, ties in member order, without sorting its other rows.
Index("ix_dashboard_member_totals_largest", DashboardMemberTotal.dimension,
      DashboardMemberTotal.task_count.desc(), DashboardMemberTotal.member)


class DashboardDailySnapshot(Base):
    """The node's task counts per completion level, taken once a day for the trend charts."""

    __tablename__ = "dashboard_daily_snapshots"

    day_on: Mapped[date] = mapped_column(Date, primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    level_counts: Mapped[dict] = mapped_column(JSON)
