"""The figures of the live dashboard, from the counters or, for a scoped viewer, from the tasks."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, String, cast, exists, func, select
from sqlalchemy.orm import Session, selectinload

from node.dashboard import counters
from node.dashboard.models import DashboardCounter, DashboardDailySnapshot, DashboardMemberTotal
from node.local_tasks.completion import COMPLETED_LATE, COMPLETED_ON_TIME, LEVELS, OVERDUE_LEVELS
from node.local_tasks.models import ClassificationValue, Document, OrgUnit

# Months shown in the chart of completed tasks, and days in the overdue trend.
CHART_MONTHS = 12
TREND_DAYS = 90
# Rows of the tables by agency and by document: the agencies with the most tasks
# and the most recent documents.
TABLE_ROWS = 30

LevelCounts = dict[str, int]


def _empty() -> LevelCounts:
    return dict.fromkeys(LEVELS, 0)


@dataclass
class Row:
    """One member of a dimension (an agency, a document...) with its counts per level."""

    key: str
    label: str
    counts: LevelCounts
    item: object = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def on_time_rate(self) -> float | None:
        """Share of the tasks completed on time, None without tasks."""
        return self.counts[COMPLETED_ON_TIME] / self.total if self.total else None


@dataclass
class Figures:
    """Everything the dashboard page shows, as of `at`."""

    at: datetime
    levels: LevelCounts
    agencies: list[Row] = field(default_factory=list)
    agency_count: int = 0
    documents: list[Row] = field(default_factory=list)
    document_count: int = 0
    classifications: list[Row] = field(default_factory=list)
    confidentiality: list[Row] = field(default_factory=list)
    provinces: dict[int, Row] = field(default_factory=dict)
    completed_by_month: list[tuple[str, int, int]] = field(default_factory=list)
    overdue_by_day: list[tuple[str, int]] = field(default_factory=list)
    from_counters: bool = True

    @property
    def total(self) -> int:
        return sum(self.levels.values())

    @property
    def overdue(self) -> int:
        return sum(self.levels[level] for level in OVERDUE_LEVELS)


def counted_levels(session: Session, dimension: str, *, now: datetime, horizon: datetime,
                   unsettled: counters.UnsettledTasks | None = None,
                   members: list[str] | None = None) -> dict[str, LevelCounts]:
    """Return the counts per level of the members of `dimension` as of `now`, from the counters.

    `now` must not be before `horizon`. `unsettled` is the result of
    `counters.unsettled_tasks`, computed here when not given. `members`
    limits the result to those members; None means all.
    """
    if unsettled is None:
        unsettled = counters.unsettled_tasks(session, horizon=horizon, now=now)
    query = (select(DashboardCounter.member, DashboardCounter.level, DashboardCounter.task_count)
             .where(DashboardCounter.dimension == dimension))
    if members is not None:
        query = query.where(DashboardCounter.member.in_(members))
    result: dict[str, LevelCounts] = defaultdict(_empty)
    for member, level, count in session.execute(query):
        result[member][level] += count
    for task in unsettled.tasks:
        for member in unsettled.members(dimension, task):
            if members is None or member in members:
                result[member][task.counted_level] -= 1
                result[member][task.level] += 1
    return dict(result)


def largest_members(session: Session, dimension: str, *, limit: int) -> tuple[list[str], int]:
    """Return the `limit` members of `dimension` with the most tasks, and the number of members.

    Both come from the member totals, in one statement: the first entries of
    their index and the number of rows. Corrections at read time move tasks
    between levels only, so these totals are exact.
    """
    rows = session.execute(
        select(DashboardMemberTotal.member, _member_count(dimension))
        .where(DashboardMemberTotal.dimension == dimension)
        .order_by(DashboardMemberTotal.task_count.desc(), DashboardMemberTotal.member)
        .limit(limit)).all()
    return [member for member, _count in rows], rows[0][1] if rows else 0


def _member_count(dimension: str):  # noqa: ANN202
    """Build the number of members of `dimension` that have tasks, as a scalar subquery."""
    return (select(func.count()).select_from(DashboardMemberTotal)
            .where(DashboardMemberTotal.dimension == dimension).scalar_subquery())


def recent_documents(session: Session, *, limit: int) -> tuple[list[Document], int]:
    """Return the `limit` most recent documents that have tasks, and the number of such documents."""
    # The documents' index in this order and an EXISTS on the member totals'
    # primary key let the query walk the documents newest first and stop
    # after `limit`.
    has_tasks = exists().where(DashboardMemberTotal.dimension == "document",
                               DashboardMemberTotal.member == cast(Document.id, String))
    rows = session.execute(
        select(Document, _member_count("document")).where(has_tasks)
        .order_by(Document.issued_on.desc().nulls_last(), Document.id).limit(limit)).all()
    return [document for document, _count in rows], rows[0][1] if rows else 0


def exact_levels(session: Session, dimension: str, *, now: datetime, horizon: datetime,
                 condition: ColumnElement[bool]) -> dict[str, LevelCounts]:
    """Return the counts per level of `dimension` over the tasks matching `condition`, by scanning them."""
    result: dict[str, LevelCounts] = defaultdict(_empty)
    query = counters.dimension_query(session, dimension, horizon=horizon, condition=condition,
                                     at=now)
    for member, _counted_level, level, count in session.execute(query):
        result[member][level] += count
    return dict(result)


def level_totals(session: Session, *, now: datetime, horizon: datetime) -> LevelCounts:
    """Return the node's task counts per level as of `now`, from the counters."""
    return counted_levels(session, "all", now=now, horizon=horizon).get("", _empty())


def build_figures(session: Session, *, now: datetime,
                  visible: ColumnElement[bool] | None = None) -> Figures:
    """Compute the dashboard as of `now`.

    `visible` is None for a viewer who sees every task, and the counts come
    from the counters. Otherwise it is the viewer's visibility condition on
    Task, and the counts come from a scan of the visible tasks, because the
    counters count every task of the node.
    """
    state = counters.ensure_current(session, now=now)
    horizon = state["horizon_at"]
    if visible is None:
        unsettled = counters.unsettled_tasks(session, horizon=horizon, now=now)

        def levels_of(dimension: str) -> dict[str, LevelCounts]:
            return counted_levels(session, dimension, now=now, horizon=horizon,
                                  unsettled=unsettled)
    else:
        # NOTE: this path scans the visible tasks once per dimension; its time
        # for an agency with tens of thousands of tasks was not measured.
        def levels_of(dimension: str) -> dict[str, LevelCounts]:
            return exact_levels(session, dimension, now=now, horizon=horizon, condition=visible)

    figures = Figures(at=now, levels=levels_of("all").get("", _empty()),
                      from_counters=visible is None)
    if visible is None:
        _add_table_rows_from_counters(session, figures, now=now, horizon=horizon,
                                      unsettled=unsettled)
    else:
        agencies = levels_of("lead")
        figures.agency_count = len(agencies)
        largest = sorted(agencies, key=lambda key: (-sum(agencies[key].values()), int(key)))
        figures.agencies = _unit_rows(session, agencies, largest[:TABLE_ROWS])
        documents = levels_of("document")
        figures.document_count = len(documents)
        recent = session.scalars(
            select(Document).where(Document.id.in_([int(key) for key in documents]))
            .order_by(Document.issued_on.desc().nulls_last(), Document.id).limit(TABLE_ROWS))
        figures.documents = _document_rows(list(recent), documents)
    figures.classifications = _classification_rows(session, levels_of("classification"))
    figures.confidentiality = [Row(key=code, label=code, counts=counts)
                               for code, counts in sorted(levels_of("confidentiality").items())]
    figures.provinces = {int(key): Row(key=key, label="", counts=counts)
                         for key, counts in levels_of("province").items()}
    figures.completed_by_month = _completed_by_month(levels_of("completed_month"), now)
    figures.overdue_by_day = _overdue_by_day(session) if visible is None else []
    return figures


def _add_table_rows_from_counters(session: Session, figures: Figures, *, now: datetime,
                                  horizon: datetime,
                                  unsettled: counters.UnsettledTasks) -> None:
    """Fill the tables by agency and by document with their first rows only."""
    largest, figures.agency_count = largest_members(session, "lead", limit=TABLE_ROWS)
    agencies = counted_levels(session, "lead", now=now, horizon=horizon, unsettled=unsettled,
                              members=largest)
    figures.agencies = _unit_rows(session, agencies, largest)
    recent, figures.document_count = recent_documents(session, limit=TABLE_ROWS)
    documents = counted_levels(session, "document", now=now, horizon=horizon,
                               unsettled=unsettled, members=[str(doc.id) for doc in recent])
    figures.documents = _document_rows(recent, documents)


def _unit_rows(session: Session, levels: dict[str, LevelCounts], keys: list[str]) -> list[Row]:
    """Return the rows of the agencies `keys`, in that order."""
    if not keys:
        return []
    units = {unit.id: unit for unit in session.scalars(
        select(OrgUnit).where(OrgUnit.id.in_([int(key) for key in keys])))}
    return [Row(key=key, label=units[int(key)].name, counts=levels.get(key, _empty()),
                item=units[int(key)]) for key in keys]


def _document_rows(documents: list[Document], levels: dict[str, LevelCounts]) -> list[Row]:
    return [Row(key=str(doc.id), label=doc.reference, counts=levels.get(str(doc.id), _empty()),
                item=doc) for doc in documents]


def _classification_rows(session: Session, levels: dict[str, LevelCounts]) -> list[Row]:
    if not levels:
        return []
    values = session.scalars(
        select(ClassificationValue).where(ClassificationValue.id.in_([int(k) for k in levels]))
        .order_by(ClassificationValue.scheme_id, ClassificationValue.position)
        .options(selectinload(ClassificationValue.scheme)))
    return [Row(key=str(value.id), label=value.name_vi, counts=levels[str(value.id)], item=value)
            for value in values]


def _completed_by_month(levels: dict[str, LevelCounts], now: datetime) -> list[tuple[str, int, int]]:
    """Return (YYYY-MM, completed on time, completed late) for the last CHART_MONTHS months."""
    months = counters.previous_months(counters.local_day(now), CHART_MONTHS)
    return [(month, levels.get(month, _empty())[COMPLETED_ON_TIME],
             levels.get(month, _empty())[COMPLETED_LATE]) for month in months]


def _overdue_by_day(session: Session) -> list[tuple[str, int]]:
    """Return (YYYY-MM-DD, overdue tasks) of the daily snapshots of the last TREND_DAYS days."""
    snapshots = session.scalars(select(DashboardDailySnapshot)
                                .order_by(DashboardDailySnapshot.day_on.desc())
                                .limit(TREND_DAYS)).all()
    return [(snapshot.day_on.isoformat(),
             sum(int(snapshot.level_counts.get(level, 0)) for level in OVERDUE_LEVELS))
            for snapshot in reversed(snapshots)]
