"""Read-side queries: task lists with filters, and counts by completion level and agency.

The completion level is computed in SQL (see `completion_level_expr`), so a
filter or a count over a million tasks is one query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime
from math import ceil

from sqlalchemy import ColumnElement, Row, Select, any_, case, exists, func, select
from sqlalchemy.orm import Session, contains_eager, joinedload, selectinload

from node.core.text import fold, sort_key
from node.local_tasks import text_search
from node.local_tasks.completion import LEVELS, completion_level_expr
from node.local_tasks.models import (
    ClassificationValue,
    Document,
    OrgUnit,
    Task,
    TaskAgency,
    TaskClassification,
)
from node.local_tasks.service import end_of_day

MAX_PAGE_SIZE = 500


@dataclass
class TaskFilter:
    """Filters of the task list; every field is optional and they combine with AND."""

    levels: list[str] = field(default_factory=list)
    agency_id: int | None = None
    # None matches any role; otherwise lead, coordinating or monitoring.
    agency_role: str | None = None
    document_id: int | None = None
    classification_ids: list[int] = field(default_factory=list)
    deadline_from: date | None = None
    deadline_to: date | None = None
    has_deadline: bool | None = None
    text: str | None = None
    confidentiality: str | None = None
    # An extra SQL condition on Task, such as `permissions.visible_task_filter`.
    condition: ColumnElement[bool] | None = None


# Task lists count matching tasks up to this number and show "more than 1,000"
# above it. An exact total of a broad text search reads every task (240 to
# 370 ms at a million tasks, docs/benchmarks.md), but a capped count stops early.
TOTAL_LIMIT = 1000


@dataclass
class Page:
    """One page of a list, with what a pager needs.

    When `total_exact` is false, more than `total` items match: `total` is a
    lower bound, `pages` counts the pages up to it, and a next page exists.
    """

    items: list
    total: int
    page: int
    page_size: int
    total_exact: bool = True

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.page_size))


def _agency_condition(filters: TaskFilter, agency_lookup: str) -> ColumnElement[bool]:
    """Build the agency filter on Task in the form `agency_lookup` names.

    An IN subquery by default, not a correlated EXISTS: SQLite runs EXISTS
    once per task row (441 ms against 31 ms at a million tasks,
    docs/benchmarks.md). "exists" suits a page that walks the list order and
    stops after a few rows. "array" makes PostgreSQL look the agency's tasks
    up by primary key: with IN it scans all tasks.
    """
    conditions = [TaskAgency.org_unit_id == filters.agency_id]
    if filters.agency_role:
        conditions.append(TaskAgency.role == filters.agency_role)
    agency_tasks = select(TaskAgency.task_id).where(*conditions)
    if agency_lookup == "exists":
        return exists().where(TaskAgency.task_id == Task.id, *conditions)
    if agency_lookup == "array":
        return Task.id == any_(func.array(agency_tasks.scalar_subquery()))
    return Task.id.in_(agency_tasks)


def _apply_filters(query: Select, filters: TaskFilter, level, *,  # noqa: ANN001
                   text_index: str = "none", dialect: str = "",
                   agency_lookup: str = "in", levels_first: bool = False) -> Select:
    """Add the conditions of `filters` to `query`.

    A text filter reads its candidates from the index `text_index` of
    `dialect`, a value of `text_search.choose_index`; the matches are the
    same for every index. With
    `levels_first`, a filter by agency and level finds the agency's tasks at
    those levels in a subquery of its own, which reads the level inputs from
    `ix_tasks_id_level_inputs`, so the other filters read the rows of those
    tasks only (3,986 of the 23,744 tasks of the busiest agency at a million
    tasks are overdue).
    """
    if filters.condition is not None:
        query = query.where(filters.condition)
    if levels_first and filters.levels and filters.agency_id is not None:
        # No correlation: the subquery selects from its own `tasks`.
        # NOTE: SQLite picks the index only when it has statistics of it
        # (ANALYZE); without them it reads the table rows by id.
        agency_levels = (select(Task.id)
                         .where(_agency_condition(filters, agency_lookup),
                                level.in_(filters.levels))
                         .correlate(None))
        query = query.where(Task.id.in_(agency_levels))
    else:
        if filters.levels:
            query = query.where(level.in_(filters.levels))
        if filters.agency_id is not None:
            query = query.where(_agency_condition(filters, agency_lookup))
    if filters.document_id is not None:
        query = query.where(Task.document_id == filters.document_id)
    for value_id in filters.classification_ids:
        query = query.where(exists().where(
            TaskClassification.task_id == Task.id, TaskClassification.value_id == value_id))
    if filters.deadline_from is not None:
        query = query.where(Task.deadline_on >= filters.deadline_from)
    if filters.deadline_to is not None:
        query = query.where(Task.deadline_on <= filters.deadline_to)
    if filters.has_deadline is not None:
        query = query.where(
            Task.deadline_at.is_not(None) if filters.has_deadline else Task.deadline_at.is_(None))
    if filters.confidentiality:
        query = query.where(Task.confidentiality == filters.confidentiality)
    phrase = text_search.phrase_of(filters.text)
    if phrase:
        # Vietnamese words are single syllables ("chuyển đổi số"), so matching
        # each one alone finds far too much: the folded phrase is matched whole.
        query = text_search.text_condition(query, phrase, text_index, dialect)
    return query


def _walk_is_shorter(session: Session, filters: TaskFilter, rows: int) -> bool:
    """Tell whether SQLite finds the first `rows` tasks of an agency faster in list order.

    SQLite runs the agency filter from the agency's task list, so the page
    reads and sorts all of the agency's tasks (243 ms for 23,744 under load).
    Walking the list order with an EXISTS probe per task took 1 ms for that
    agency, but reads every task for an agency named on few tasks. The walk
    is expected to probe `rows` times (tasks / agency's tasks) tasks: it wins
    when that is fewer than the agency's tasks.

    NOTE: the estimate assumes the agency's tasks are spread evenly over the
    list order, and that the other filters keep most of them.
    """
    if filters.agency_id is None:
        return False
    conditions = [TaskAgency.org_unit_id == filters.agency_id]
    if filters.agency_role:
        conditions.append(TaskAgency.role == filters.agency_role)
    agency_tasks = session.scalar(select(func.count()).select_from(TaskAgency)
                                  .where(*conditions)) or 0
    # The highest id serves as the number of tasks, because it costs one index probe.
    last_id = session.scalar(select(func.max(Task.id))) or 0
    return agency_tasks > 0 and rows * last_id < agency_tasks * agency_tasks


def _page_order(session: Session, rows: list[Row]) -> list[int]:
    """Sort the ids of `rows` (id, document_id, position) in the order of the task list.

    The order is that of `_LIST_ORDER`: newest document first, documents
    without an issue date last, then document id and position.
    """
    document_ids = {row.document_id for row in rows}
    issued = dict(session.execute(
        select(Document.id, Document.issued_on).where(Document.id.in_(document_ids))).all())

    def key(row: Row) -> tuple:
        issued_on = issued.get(row.document_id)
        return (issued_on is None, -issued_on.toordinal() if issued_on else 0,
                row.document_id, row.position, row.id)

    return [row.id for row in sorted(rows, key=key)]


_LIST_ORDER = (Document.issued_on.desc().nulls_last(), Document.id, Task.position)


def list_tasks(session: Session, filters: TaskFilter, *, at: datetime, page: int = 1,
               page_size: int = 50, total_limit: int | None = TOTAL_LIMIT) -> Page:
    """Return one page of tasks matching `filters`, each paired with its level as of `at`.

    The total is exact up to `total_limit` matching tasks, or up to the end of
    the requested page when that is further. Past it the count stops, and the
    page's `total_exact` is false. `total_limit=None` always counts exactly.
    """
    page = max(1, page)
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    offset = (page - 1) * page_size
    level = completion_level_expr(at).label("level")
    dialect = session.get_bind().dialect.name
    # Finding the matches reads a text index: a rare phrase then costs a few
    # index reads instead of the search text of every task. An agency or a
    # document bounds the candidates already (at most about 24,000 tasks),
    # whereas a common phrase could make the index return hundreds of thousands.
    bounded = filters.agency_id is not None or filters.document_id is not None
    phrase = text_search.phrase_of(filters.text)
    text_index = "none" if bounded or not phrase else text_search.choose_index(session, phrase)
    options = (contains_eager(Task.document),
               # Each statement is a round trip, which costs most on a busy
               # server: the document comes with the page, the org units with
               # the agencies.
               selectinload(Task.agencies).joinedload(TaskAgency.org_unit),
               selectinload(Task.group_assignments))
    if total_limit is None:
        matching = _apply_filters(select(Task.id), filters, level.element, text_index=text_index,
                                  dialect=dialect)
        total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
        if offset >= total:
            return Page(items=[], total=total, page=page, page_size=page_size)
        page_filter = _apply_filters(select(Task, level), filters, level.element)
        return _sorted_page(session, page_filter, offset, page_size, options, total, page)

    # The matching tasks, in no order, one past the limit: the database stops
    # at the first ones it finds. Within the limit they are all the matches:
    # they are sorted here and the page's rows are read by id, so the filters
    # run once.
    limit = max(total_limit, page * page_size)
    matching = _apply_filters(select(Task.id, Task.document_id, Task.position), filters,
                              level.element, text_index=text_index, dialect=dialect,
                              agency_lookup="array" if dialect == "postgresql" else "in",
                              levels_first=True)
    rows = session.execute(matching.limit(limit + 1)).all()
    if len(rows) > limit:
        probe = dialect == "sqlite" and _walk_is_shorter(session, filters, offset + page_size)
        page_filter = _apply_filters(select(Task, level), filters, level.element,
                                     agency_lookup="exists" if probe else "in")
        result = _sorted_page(session, page_filter, offset, page_size, options, limit, page)
        result.total_exact = False
        return result
    page_ids = _page_order(session, rows)[offset:offset + page_size] if rows else []
    if not page_ids:
        return Page(items=[], total=len(rows), page=page, page_size=page_size)
    found = session.execute(
        select(Task, level).join(Document, Document.id == Task.document_id)
        .where(Task.id.in_(page_ids)).options(*options)).all()
    by_id = {task.id: (task, task_level) for task, task_level in found}
    return Page(items=[by_id[task_id] for task_id in page_ids], total=len(rows), page=page,
                page_size=page_size)


def _sorted_page(session: Session, page_filter: Select, offset: int, page_size: int,
                 options: tuple, total: int, page: int) -> Page:
    """Read one page of `page_filter` in the order of the task list."""
    query = (page_filter.join(Document, Document.id == Task.document_id)
             .order_by(*_LIST_ORDER).offset(offset).limit(page_size).options(*options))
    rows = session.execute(query).all()
    return Page(items=[(task, task_level) for task, task_level in rows], total=total,
                page=page, page_size=page_size)


def count_by_level(session: Session, filters: TaskFilter | None = None, *,
                   at: datetime) -> dict[str, int]:
    """Count tasks per completion level as of `at`; every level is present, zero included."""
    level = completion_level_expr(at)
    query = _apply_filters(select(level, func.count()), filters or TaskFilter(), level)
    counts = dict.fromkeys(LEVELS, 0)
    for name, count in session.execute(query.group_by(level)):
        counts[name] = count
    return counts


def count_by_agency(session: Session, *, at: datetime, role: str = "lead",
                    filters: TaskFilter | None = None) -> list[dict]:
    """Count tasks per agency (in the given role) and completion level, agencies in Vietnamese order."""
    level = completion_level_expr(at)
    query = (
        select(TaskAgency.org_unit_id, level, func.count())
        .join(Task, Task.id == TaskAgency.task_id)
        .where(TaskAgency.role == role)
    )
    query = _apply_filters(query, filters or TaskFilter(), level)
    rows = session.execute(query.group_by(TaskAgency.org_unit_id, level)).all()
    per_unit: dict[int, dict[str, int]] = {}
    for unit_id, name, count in rows:
        per_unit.setdefault(unit_id, dict.fromkeys(LEVELS, 0))[name] = count
    if not per_unit:
        return []
    units = session.scalars(
        select(OrgUnit).where(OrgUnit.id.in_(per_unit)).order_by(OrgUnit.sort_key)
    ).all()
    return [
        {"org_unit": unit, "counts": per_unit[unit.id], "total": sum(per_unit[unit.id].values())}
        for unit in units
    ]


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def suggest_agencies(session: Session, typed: str, limit: int) -> list[OrgUnit]:
    """Return up to `limit` org units with tasks whose name contains `typed`, accents ignored.

    Names that start with the typed text come first, each group in Vietnamese
    alphabetical order.
    """
    folded = fold(typed)
    query = select(OrgUnit).where(exists().where(TaskAgency.org_unit_id == OrgUnit.id))
    if folded:
        escaped = _escape_like(folded)
        query = query.where(OrgUnit.name_folded.like(f"%{escaped}%", escape="\\"))
        starts = case((OrgUnit.name_folded.like(f"{escaped}%", escape="\\"), 0), else_=1)
        query = query.order_by(starts)
    query = query.order_by(OrgUnit.sort_key).limit(limit).options(joinedload(OrgUnit.parent))
    return list(session.scalars(query))


def suggest_documents(session: Session, typed: str, limit: int,
                      visible: ColumnElement[bool]) -> list[Row]:
    """Return the id, reference and summary of up to `limit` documents matching `typed`.

    A document matches when its reference or summary contains the typed text,
    accents ignored. References come in Vietnamese alphabetical order.
    """
    folded = fold(typed)
    rows = session.execute(
        select(Document.id, Document.reference, Document.summary).where(visible)).all()
    # NOTE: the match runs in Python over every visible document, because
    # documents store no folded reference: about 3,000 rows at a million tasks.
    # The folded texts are cached, so a request folds only new or changed ones.
    found = [row for row in rows
             if folded in _folded(row.reference) or folded in _folded(row.summary)]
    found.sort(key=lambda row: _sort_key(row.reference))
    return found[:limit]


# Folded document references and summaries, and collation keys of the
# references. The caches are bounded, so they stay small even where
# documents change often.
_folded = lru_cache(maxsize=65536)(fold)
_sort_key = lru_cache(maxsize=32768)(sort_key)


def classification_values(session: Session) -> list[ClassificationValue]:
    return list(session.scalars(
        select(ClassificationValue).where(ClassificationValue.is_active.is_(True))
        .order_by(ClassificationValue.scheme_id, ClassificationValue.position)
        .options(selectinload(ClassificationValue.scheme))))


__all__ = ["TaskFilter", "Page", "TOTAL_LIMIT", "list_tasks", "count_by_level", "count_by_agency",
           "suggest_agencies", "suggest_documents",
           "classification_values", "end_of_day"]
