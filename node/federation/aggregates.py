"""Aggregate reports: task counts by completion level, lead agency and period, sent upwards.

What a report counts. A node reports the tasks that originate at its level
or below. These are every task stored at the node except those it received
from its parent in a directive, plus the aggregates that its own child nodes
reported for the same period. The parent already stores the tasks it sent
down, and learns their progress from task statuses. A sub-unit's tasks that came down from the
province are counted at the province, and a province's tasks that came
down from the centre are counted at the centre, so each task is counted
exactly once along the chain, at the node where it was assigned.

Rows are per lead agency (org unit code): a task with joint lead agencies
counts once for each of them, and a task without a known lead agency counts
for the reporting node's own org unit.

Periods (Điều 15.1, 17): month, quarter, half-year and year, each named by
its first day. The population of a period is the tasks assigned by its end
(the document's issue date, or the task's creation instant when the document
has none), and each task's completion level (node.local_tasks.completion) is
taken at the end of the period in Vietnam, or now when the period has not
ended yet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from node.core.db import utcnow
from node.core.errors import ValidationError
from node.core.settings import Settings
from node.core.timezone import VN_TZ
from node.federation.content_models import PERIOD_KINDS, TaskLink
from node.federation.content_models import AggregateRow as AggregateRowModel
from node.federation.envelope import format_timestamp, parse_timestamp
from node.federation.handlers import CHILD, claim_write_lock, not_applicable, register
from node.federation.models import OutboxMessage, Peer
from node.local_tasks.completion import LEVELS, completion_level_expr
from node.local_tasks.models import Document, OrgUnit, Task, TaskAgency

logger = logging.getLogger(__name__)

PERIOD_MONTHS = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}


@dataclass(frozen=True)
class AggregateRow:
    """Task counts of one org unit by completion level, as of an instant."""

    org_unit_code: str
    org_unit_name: str | None
    counts: dict[str, int]
    total: int
    as_of: datetime


def period_end(period_kind: str, period_start: date) -> date:
    """Return the last day of the period; raise ValidationError for a misaligned start."""
    months = PERIOD_MONTHS.get(period_kind)
    if months is None:
        raise ValidationError(f"period kind {period_kind!r} is invalid; use one of "
                              f"{', '.join(PERIOD_KINDS)}")
    if period_start.day != 1 or (period_start.month - 1) % months != 0:
        raise ValidationError(f"{period_start.isoformat()} does not start a {period_kind}; "
                              "give the first day of the period (e.g. 2026-07-01 for the third "
                              "quarter)")
    month_index = period_start.month - 1 + months
    next_start = date(period_start.year + month_index // 12, month_index % 12 + 1, 1)
    return next_start - timedelta(days=1)


def _empty_counts() -> dict[str, int]:
    return dict.fromkeys(LEVELS, 0)


def local_counts(session: Session, settings: Settings, period_kind: str, period_start: date,
                 *, now: datetime | None = None) -> dict[str, tuple[str | None, dict[str, int]]]:
    """Count this node's own tasks of the period by lead agency code and completion level."""
    end = period_end(period_kind, period_start)
    now = now or utcnow()
    at = min(datetime.combine(end + timedelta(days=1), time(0), tzinfo=VN_TZ)
             - timedelta(microseconds=1), now)
    level = completion_level_expr(at).label("level")
    received = exists().where(TaskLink.task_id == Task.id, TaskLink.direction == "received")
    assigned_by_end = or_(and_(Document.issued_on.is_not(None), Document.issued_on <= end),
                          and_(Document.issued_on.is_(None), Task.created_at <= at))
    population = (select(Task.id, level).join(Document, Document.id == Task.document_id)
                  .where(~received, assigned_by_end).subquery())

    result: dict[str, tuple[str | None, dict[str, int]]] = {}
    by_lead = session.execute(
        select(OrgUnit.code, OrgUnit.name, population.c.level, func.count())
        .select_from(population)
        .join(TaskAgency, and_(TaskAgency.task_id == population.c.id, TaskAgency.role == "lead"))
        .join(OrgUnit, OrgUnit.id == TaskAgency.org_unit_id)
        .group_by(OrgUnit.code, OrgUnit.name, population.c.level))
    for code, name, level_name, count in by_lead:
        result.setdefault(code, (name, _empty_counts()))[1][level_name] += count

    has_lead = exists().where(TaskAgency.task_id == population.c.id, TaskAgency.role == "lead")
    without_lead = session.execute(select(population.c.level, func.count())
                                   .where(~has_lead).group_by(population.c.level))
    for level_name, count in without_lead:
        own_name = session.scalar(select(OrgUnit.name).where(
            OrgUnit.code == settings.node_org_unit))
        own_counts = result.setdefault(settings.node_org_unit, (own_name, _empty_counts()))[1]
        own_counts[level_name] += count
    return result


def _stored_rows(session: Session, period_kind: str, period_start: date,
                 sender_ids: set[str] | None = None) -> list[AggregateRowModel]:
    query = select(AggregateRowModel).where(AggregateRowModel.period_kind == period_kind,
                                            AggregateRowModel.period_start == period_start)
    if sender_ids is not None:
        query = query.where(AggregateRowModel.sender_node_id.in_(sorted(sender_ids)))
    return list(session.scalars(query.order_by(AggregateRowModel.org_unit_code)))


def _merge(rows: list[AggregateRow]) -> list[AggregateRow]:
    merged: dict[str, dict] = {}
    for row in rows:
        entry = merged.setdefault(row.org_unit_code, {"name": row.org_unit_name,
                                                      "counts": _empty_counts(),
                                                      "as_of": row.as_of})
        entry["name"] = entry["name"] or row.org_unit_name
        entry["as_of"] = min(entry["as_of"], row.as_of)
        for level_name in LEVELS:
            entry["counts"][level_name] += row.counts.get(level_name, 0)
    return [AggregateRow(code, entry["name"], entry["counts"], sum(entry["counts"].values()),
                         entry["as_of"])
            for code, entry in sorted(merged.items())]


def _as_row(model: AggregateRowModel) -> AggregateRow:
    return AggregateRow(model.org_unit_code, model.org_unit_name,
                        {level_name: int(model.counts.get(level_name, 0)) for level_name in LEVELS},
                        model.total, model.as_of)


def received_aggregates(session: Session, period_kind: str,
                        period_start: date) -> list[AggregateRow]:
    """Return the aggregates that child nodes reported for the period, one row per org unit.

    Rows of the same org unit from several children are added up; `as_of`
    is then the oldest of their instants.
    """
    period_end(period_kind, period_start)
    return _merge([_as_row(model) for model in _stored_rows(session, period_kind, period_start)])


def node_aggregates(session: Session, settings: Settings, period_kind: str, period_start: date,
                    *, now: datetime | None = None) -> list[AggregateRow]:
    """Return this node's own counts rolled up with its children's reports for the period."""
    now = now or utcnow()
    own = [AggregateRow(code, name, counts, sum(counts.values()), now)
           for code, (name, counts) in local_counts(session, settings, period_kind, period_start,
                                                    now=now).items()]
    children = {peer.node_id for peer in session.scalars(
        select(Peer).where(Peer.level > settings.node_level))}
    received = [_as_row(model)
                for model in _stored_rows(session, period_kind, period_start, children)]
    return _merge(own + received)


def child_unit_aggregates(session: Session, period_kind: str, period_start: date,
                          *, now: datetime | None = None) -> list[AggregateRow]:
    """Return, for each child node's org unit, this node's tasks led by it plus the child's reports.

    A child's aggregate report leaves out the tasks it received from this
    node, so those are counted here, from this node's own task states.
    """
    from node.federation.hooks import session_settings

    settings = session_settings(session)
    received = [_as_row(model) for model in _stored_rows(session, period_kind, period_start)]
    child_units = set(session.scalars(select(Peer.org_unit_code).where(
        Peer.level > settings.node_level))) | {row.org_unit_code for row in received}
    now = now or utcnow()
    own = [AggregateRow(code, name, counts, sum(counts.values()), now)
           for code, (name, counts) in local_counts(session, settings, period_kind, period_start,
                                                    now=now).items()
           if code in child_units]
    return _merge(own + received)


def aggregate_payload(settings: Settings, period_kind: str, period_start: date,
                      rows: list[AggregateRow], now: datetime) -> dict:
    return {
        "org_unit_code": settings.node_org_unit,
        "period": {"kind": period_kind, "start": period_start.isoformat(),
                   "end": period_end(period_kind, period_start).isoformat()},
        "as_of": format_timestamp(now),
        "rows": [{"org_unit_code": row.org_unit_code,
                  **({"org_unit_name": row.org_unit_name[:300]} if row.org_unit_name else {}),
                  "counts": row.counts, "total": row.total} for row in rows],
    }


def queue_aggregate_report(session: Session, settings: Settings, period_kind: str,
                           period_start: date, *, now: datetime | None = None) -> OutboxMessage:
    """Queue this node's aggregate report of the period for its parent node."""
    from node.federation.directives import parent_peer, queue_for_peer

    now = now or utcnow()
    parent = parent_peer(session, settings)
    if parent is None:
        raise ValidationError("this node has no parent node to report to; join one with "
                              "`theodoi federation join`")
    rows = node_aggregates(session, settings, period_kind, period_start, now=now)
    message = queue_for_peer(session, settings, parent, "aggregate_report",
                            aggregate_payload(settings, period_kind, period_start, rows, now),
                            now=now)
    logger.info("aggregate report queued",
                extra={"peer": parent.node_id, "message_id": message.message_id,
                       "period_kind": period_kind, "period_start": period_start.isoformat(),
                       "rows": len(rows)})
    return message


@register("aggregate_report", CHILD)
def apply_aggregate_report(session: Session, settings: Settings, peer: Peer,
                           envelope: dict) -> dict:
    """Store a child's aggregate report, replacing its older report of the same period."""
    claim_write_lock(session, peer)
    payload = envelope["payload"]
    kind = payload["period"]["kind"]
    start = date.fromisoformat(payload["period"]["start"])
    try:
        end = period_end(kind, start)
    except ValidationError as error:
        raise not_applicable(f"aggregate report period: {error.message}") from None
    if payload["period"]["end"] != end.isoformat():
        raise not_applicable(f"aggregate report period ends on {payload['period']['end']}, but "
                             f"the {kind} that starts on {start.isoformat()} ends on "
                             f"{end.isoformat()}")
    as_of = parse_timestamp(payload["as_of"])
    codes = [row["org_unit_code"] for row in payload["rows"]]
    if len(set(codes)) != len(codes):
        raise not_applicable("aggregate report lists an org unit code twice; send one row "
                             "per org unit")
    for row in payload["rows"]:
        if sum(row["counts"].values()) != row["total"]:
            raise not_applicable(f"aggregate report row {row['org_unit_code']}: total "
                                 f"{row['total']} is not the sum of its counts")
    stored = _stored_rows(session, kind, start, {peer.node_id})
    if stored and max(model.as_of for model in stored) > as_of:
        return {"status": "stale", "rows": 0}
    session.execute(delete(AggregateRowModel).where(
        AggregateRowModel.sender_node_id == peer.node_id, AggregateRowModel.period_kind == kind,
        AggregateRowModel.period_start == start))
    for row in payload["rows"]:
        session.add(AggregateRowModel(
            sender_node_id=peer.node_id, period_kind=kind, period_start=start, period_end=end,
            org_unit_code=row["org_unit_code"], org_unit_name=row.get("org_unit_name"),
            counts=row["counts"], total=row["total"], as_of=as_of,
            message_id=envelope["message_id"]))
    session.flush()
    logger.info("aggregate report stored",
                extra={"peer": peer.node_id, "message_id": envelope["message_id"],
                       "period_kind": kind, "period_start": start.isoformat(),
                       "rows": len(payload["rows"])})
    return {"status": "applied", "rows": len(payload["rows"])}


def period_bounds_text(period_kind: str, period_start: date) -> str:
    """Return the period as "start to end", for command output."""
    return f"{period_start.isoformat()} to {period_end(period_kind, period_start).isoformat()}"

