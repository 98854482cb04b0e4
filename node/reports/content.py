"""The figures of a report as of an instant, gathered into the JSON stored in its snapshot.

Counts come from the SQL completion level (`completion_level_expr`), so a
report over a million tasks is a handful of grouped queries. Lists of tasks
are capped at MAX_LISTED rows, and the snapshot records how many more there were.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session, selectinload

from node.auth.scope import subtree_ids
from node.core.timezone import VN_TZ
from node.local_tasks import queries
from node.local_tasks.completion import (
    COMPLETED_LATE,
    COMPLETED_ON_TIME,
    LEVELS,
    OVERDUE_LEVELS,
    completion_level_expr,
)
from node.local_tasks.models import Document, OrgUnit, Task, TaskAgency
from node.reports import texts
from node.reports.periods import Period

CONTENT_FORMAT = 1
MAX_LISTED = 500


def scope_condition(session: Session, scope: str, org_unit: OrgUnit) -> ColumnElement[bool]:
    """Return the SQL condition on Task of a report: all tasks, or those led within a subtree."""
    if scope == "summary":
        return true()
    units = subtree_ids(session, [org_unit.id])
    return Task.id.in_(select(TaskAgency.task_id).where(TaskAgency.role == "lead",
                                                        TaskAgency.org_unit_id.in_(units)))


def _local_date(value: datetime | None) -> str | None:
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y") if value else None


def _deadline_text(task: Task) -> str | None:
    if task.deadline_at is None:
        return None
    if task.deadline_precision == "instant":
        return task.deadline_at.astimezone(VN_TZ).strftime("%H:%M %d/%m/%Y")
    return _local_date(task.deadline_at)


def _task_row(task: Task, level: str) -> dict:
    leads = [link.org_unit.name for link in task.agencies if link.role == "lead"]
    leads += [group.text for group in task.group_assignments if group.role == "lead"]
    return {
        "task_id": task.id,
        "document": task.document.reference,
        "task_no": task.task_no,
        "content": task.content if task.confidentiality == "regular" else None,
        "confidential": task.confidentiality != "regular",
        "leads": leads,
        "deadline": _deadline_text(task),
        "completed_on": _local_date(task.completed_at),
        "level": level,
    }


def _listed(session: Session, condition: ColumnElement[bool], level: ColumnElement[str],
            order: tuple) -> dict:
    total = session.scalar(select(func.count(Task.id)).where(condition)) or 0
    rows = session.execute(
        select(Task, level).where(condition).order_by(*order).limit(MAX_LISTED)
        .options(selectinload(Task.agencies).selectinload(TaskAgency.org_unit),
                 selectinload(Task.group_assignments), selectinload(Task.document))
    ).all()
    return {"rows": [_task_row(task, name) for task, name in rows],
            "more": max(0, total - len(rows))}


def _by_document(session: Session, condition: ColumnElement[bool],
                 level: ColumnElement[str]) -> list[dict]:
    per_document: dict[int, dict[str, int]] = {}
    for document_id, name, count in session.execute(
            select(Task.document_id, level, func.count()).where(condition)
            .group_by(Task.document_id, level)):
        per_document.setdefault(document_id, dict.fromkeys(LEVELS, 0))[name] = count
    if not per_document:
        return []
    documents = session.scalars(select(Document).where(Document.id.in_(per_document))
                                .order_by(Document.issued_on.nulls_last(), Document.id))
    return [{"reference": doc.reference, "issued_on": doc.issued_on.isoformat()
             if doc.issued_on else None, "confidentiality": doc.confidentiality,
             "counts": per_document[doc.id], "total": sum(per_document[doc.id].values())}
            for doc in documents]


def _by_agency(session: Session, scope: str, org_unit: OrgUnit,
               condition: ColumnElement[bool], at: datetime) -> list[dict]:
    rows = queries.count_by_agency(session, at=at, role="lead",
                                   filters=queries.TaskFilter(condition=condition))
    if scope == "agency":
        units = subtree_ids(session, [org_unit.id])
        rows = [row for row in rows if row["org_unit"].id in units]
    return [{"code": row["org_unit"].code, "name": row["org_unit"].name,
             "counts": row["counts"], "total": row["total"]} for row in rows]


def totals_of(counts: dict[str, int]) -> dict:
    """Return the headline figures of a count by level."""
    return {"counts": counts, "total": sum(counts.values()),
            "completed": counts[COMPLETED_ON_TIME] + counts[COMPLETED_LATE],
            "completed_on_time": counts[COMPLETED_ON_TIME],
            "overdue": sum(counts[name] for name in OVERDUE_LEVELS)}


def period_start_instant(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=VN_TZ)


def build_content(session: Session, *, scope: str, org_unit: OrgUnit, issuer: OrgUnit,
                  period: Period, as_of: datetime, locale: str, place: str,
                  recipients: list[str] | None = None) -> dict:
    """Gather the figures and texts of one report, as the JSON stored in its snapshot."""
    _ = texts.translator(locale)
    condition = scope_condition(session, scope, org_unit)
    level = completion_level_expr(as_of)
    counts = queries.count_by_level(session, queries.TaskFilter(condition=condition), at=as_of)
    overdue = _listed(session, condition & level.in_(OVERDUE_LEVELS), level,
                      (Task.deadline_at, Task.id))
    completed = _listed(
        session, condition & level.in_((COMPLETED_ON_TIME, COMPLETED_LATE))
        & (Task.completed_at >= period_start_instant(period.start)),
        level, (Task.completed_at, Task.id))
    period_text = texts.period_phrase(_, period.kind, period.start, period.end)
    labels = texts.document_labels(_)
    if scope == "summary":
        title = labels["summary_title"] % {"period": period_text}
    else:
        title = labels["agency_title"] % {"name": org_unit.name, "period": period_text}
    return {
        "format": CONTENT_FORMAT,
        "locale": locale,
        "scope": scope,
        "kind": period.kind,
        "title": title,
        "issuer": {"code": issuer.code, "name": issuer.name},
        "org_unit": {"code": org_unit.code, "name": org_unit.name},
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat(),
                   "text": period_text},
        "as_of": as_of.astimezone(VN_TZ).isoformat(),
        "place": place,
        "totals": totals_of(counts),
        "by_agency": _by_agency(session, scope, org_unit, condition, as_of),
        "by_document": _by_document(session, condition, level),
        "overdue_tasks": overdue,
        "completed_tasks": completed,
        "recipients": recipients or texts.default_recipients(_, scope),
        "labels": labels,
        "level_labels": texts.level_labels(_),
        "kind_label": texts.kind_labels(_)[period.kind],
    }
