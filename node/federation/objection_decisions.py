"""Objection decisions: the parent's decision on an objection travels down to the child.

Sending (parent side). A child's objection is lodged at the parent by
`statuses.apply_objection`, and the inbox row of that message stores the new
objection's id in its result, from which the parent finds the child that lodged it.
When the parent decides the objection (`workflow.decide_objection`), the
decision event becomes an objection_decision message to that child, in the
same transaction (see `node.federation.hooks`). It is queued before the
directive that the same decision may cause (a reassigned task is changed or
withdrawn at the child), so the child applies the decision while it still
has the task. A province that applies a decision of the centre on an
objection of its sub-unit decides its own copy of the objection, and that
decision travels on to the sub-unit.

Applying (child side). The objection is found by the task the parent
assigned and by its lodging instant, and decided through the workflow in
the parent's name, so the task's history shows it like a local decision. A
reassignment is not repeated at the child: the directive that follows
carries the new agencies, or withdraws the task when the new lead agency is
outside the child's org units. The history entry names the new lead agency.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.core.errors import DomainError
from node.core.settings import Settings
from node.federation.content_models import TaskLink
from node.federation.envelope import format_timestamp, parse_timestamp
from node.federation.handlers import PARENT, claim_write_lock, not_applicable, register
from node.federation.models import InboxMessage, OutboxMessage, Peer
from node.local_tasks.models import Task, TaskEvent
from node.local_tasks.workflow import decide_objection
from node.local_tasks.workflow.models import Objection

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "objection_decision"
DECISION_EVENT = "task.objection_decision"
PERSON_MAX_LENGTH = 200
REASON_MAX_LENGTH = 4000


def _person(name: str | None, fallback: str) -> str:
    return ((name or "").strip() or fallback)[:PERSON_MAX_LENGTH]


def lodging_peer(session: Session, objection: Objection) -> Peer | None:
    """Return the child node whose objection message created `objection`, if any."""
    senders = session.scalars(select(TaskLink.peer_node_id).where(
        TaskLink.task_id == objection.task_id, TaskLink.direction == "sent")).all()
    if not senders:
        return None
    rows = session.scalars(select(InboxMessage).where(
        InboxMessage.message_type == "objection",
        InboxMessage.sender_node_id.in_(sorted(set(senders))))).all()
    for row in rows:
        if (row.result or {}).get("objection_id") == objection.id:
            return session.scalar(select(Peer).where(Peer.node_id == row.sender_node_id))
    return None


def decision_payload(link: TaskLink, objection: Objection, settings: Settings) -> dict:
    """Return the objection_decision payload of a decided `objection` for the child of `link`."""
    payload = {
        "document_reference": link.document_reference,
        "task_ref": link.task_ref,
        "objection_submitted_at": format_timestamp(objection.lodged_at),
        "decision": objection.status,
        "decided_at": format_timestamp(objection.decided_at),
        "decided_by": _person(objection.decided_by, settings.node_id),
    }
    if objection.decision_reason:
        payload["reason"] = objection.decision_reason[:REASON_MAX_LENGTH]
    if objection.reassigned_to is not None:
        payload["reassigned_to"] = {"org_unit_code": objection.reassigned_to.code,
                                    "org_unit_name": objection.reassigned_to.name[:300]}
    return payload


def queue_for_events(session: Session, settings: Settings, event_ids: set[int],
                     *, now: datetime | None = None) -> list[OutboxMessage]:
    """Queue the decisions among `event_ids` on objections that a child node lodged."""
    from node.federation.directives import queue_for_peer

    if not event_ids:
        return []
    events = session.scalars(select(TaskEvent).where(
        TaskEvent.id.in_(sorted(event_ids)), TaskEvent.kind == DECISION_EVENT)
        .order_by(TaskEvent.id)).all()
    messages: list[OutboxMessage] = []
    for event in events:
        object_id = (event.detail or {}).get("object_id")
        objection = session.get(Objection, object_id) if isinstance(object_id, int) else None
        if objection is None or objection.status == "open":
            continue
        peer = lodging_peer(session, objection)
        if peer is None:
            continue
        if peer.status != "active":
            # The child pulls the decision once the link is resumed.
            logger.info("objection decision held for a suspended child link",
                        extra={"peer": peer.node_id, "objection_id": objection.id})
        link = session.scalar(select(TaskLink).where(
            TaskLink.task_id == objection.task_id, TaskLink.peer_node_id == peer.node_id,
            TaskLink.direction == "sent"))
        message = queue_for_peer(session, settings, peer, MESSAGE_TYPE,
                                 decision_payload(link, objection, settings), now=now)
        messages.append(message)
        logger.info("objection decision queued for the child",
                    extra={"message_id": message.message_id, "peer": peer.node_id,
                           "objection_id": objection.id, "decision": objection.status})
    return messages


# Applying at the child ------------------------------------------------------------


def _received_task(session: Session, peer: Peer, task_ref: str) -> Task:
    link = session.scalar(select(TaskLink).where(
        TaskLink.peer_node_id == peer.node_id, TaskLink.direction == "received",
        TaskLink.task_ref == task_ref))
    task = session.get(Task, link.task_id) if link is not None else None
    if task is None:
        raise not_applicable(f"task_ref {task_ref!r} names no task that {peer.node_id!r} "
                             "assigned to this node; a decision can only concern a task of "
                             "its directives")
    return task


def _note_reassignment(session: Session, objection: Objection, reassigned_to: dict) -> None:
    """Add the new lead agency to the history entry of the decision on `objection`."""
    event = session.scalar(select(TaskEvent).where(
        TaskEvent.task_id == objection.task_id, TaskEvent.kind == DECISION_EVENT)
        .order_by(TaskEvent.id.desc()).limit(1))
    if event is not None:
        text = f"{reassigned_to['org_unit_name']} ({reassigned_to['org_unit_code']})"
        # A new dict, so the JSON column is marked changed.
        event.detail = {**(event.detail or {}), "reassigned_to": text}


@register(MESSAGE_TYPE, PARENT)
def apply_objection_decision(session: Session, settings: Settings, peer: Peer,
                             envelope: dict) -> dict:
    """Decide this node's objection as the parent did, through the workflow."""
    claim_write_lock(session, peer)
    payload = envelope["payload"]
    task = _received_task(session, peer, payload["task_ref"])
    lodged_at = parse_timestamp(payload["objection_submitted_at"])
    objection = session.scalar(select(Objection).where(Objection.task_id == task.id,
                                                       Objection.lodged_at == lodged_at))
    if objection is None:
        raise not_applicable(
            f"task_ref {payload['task_ref']!r} has no objection lodged at "
            f"{payload['objection_submitted_at']}; the decision must name the instant of an "
            "objection this node sent")
    if objection.status != "open":
        # A province may have decided its sub-unit's objection before the centre did.
        logger.info("objection decision ignored: the objection was already decided",
                    extra={"peer": peer.node_id, "message_id": envelope["message_id"],
                           "objection_id": objection.id, "status": objection.status})
        return {"status": "unchanged", "objection_id": objection.id,
                "objection_status": objection.status}
    actor = _person(f"{payload['decided_by']} ({peer.node_id})", peer.node_id)
    decided_at = max(parse_timestamp(payload["decided_at"]), objection.lodged_at)
    try:
        decide_objection(session, objection, at=decided_at, actor=actor,
                         accept=payload["decision"] == "accepted", reason=payload.get("reason"))
    except DomainError as error:
        raise not_applicable(f"the decision on the objection to task_ref "
                             f"{payload['task_ref']!r} cannot be applied: {error.message}") from None
    if "reassigned_to" in payload:
        _note_reassignment(session, objection, payload["reassigned_to"])
    session.flush()
    logger.info("objection decision applied",
                extra={"peer": peer.node_id, "message_id": envelope["message_id"],
                       "objection_id": objection.id, "decision": payload["decision"]})
    return {"status": "applied", "objection_id": objection.id,
            "decision": payload["decision"]}
