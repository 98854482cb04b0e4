"""Directives: a document and the tasks that a parent node assigns to a child's org units.

Sending (parent side). A child node serves one org unit (the code it enrolled
with) and everything below it in the parent's org-unit tree. A task goes to
the child when one of its lead or coordinating agencies is in that subtree.
`queue_for_documents` builds, for every child, the directive of each
changed document and queues it only when its content differs from what was
last sent (`SentDirective.payload_sha256`), so re-saving a document, or a
status coming back from the child, sends nothing. A task that no longer
belongs to the child (reassigned after an objection) is listed in
`withdrawn_task_refs`. The first directive that carries a task is its
electronic transfer (Điều 6.1); the time is kept in the task's `TaskLink`.

Confidentiality (Điều 5.2-5.3). A confidential or top-secret document
travels with its number, symbol, issue date, signer, agencies, the number of
tasks and the deadlines, never with a summary, task content, section text,
product or results. Absolutely secret material never exists in a node, and
the schema has no value for it.

Applying (child side). `apply_directive` creates the document and tasks, or
updates them, keyed by the parent's task reference, so applying the same
directive again changes nothing. Agencies are matched by org unit code. A
code unknown at the child is kept as a group assignment text ("name (code)"),
and a task left without a known lead agency gets the child's own org unit
as lead, so its receipt and progress can still be reported. The tasks keep
the parent's transfer instant, and their service-level deadlines are computed
with the child's working calendar. A province applying a directive is itself
a parent: the tasks it creates go through `queue_for_documents` again and
reach its own sub-unit nodes in the same transaction.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.audit import service as audit_log
from node.core.db import utcnow
from node.core.settings import Settings
from node.federation.canonical import canonicalize
from node.federation.content_models import SentDirective, TaskLink
from node.federation.envelope import format_timestamp, parse_timestamp
from node.federation.handlers import PARENT, claim_write_lock, not_applicable, register
from node.federation.models import OutboxMessage, Peer
from node.local_tasks import deadlines_service
from node.local_tasks.calendar import load_calendar
from node.local_tasks.models import (
    ClassificationScheme,
    ClassificationValue,
    Document,
    DocumentKind,
    GroupAssignment,
    OrgUnit,
    Task,
    TaskAgency,
    TaskEvent,
)
from node.local_tasks.workflow.history import refresh_search_text

logger = logging.getLogger(__name__)

ASSIGNED_ROLES = ("lead", "coordinating")
# SQL IN lists are sent in chunks of this size (SQLite allows 32766 parameters).
CHUNK_SIZE = 500


def _chunks(values: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), CHUNK_SIZE):
        yield ordered[start:start + CHUNK_SIZE]


def _timestamp(value: datetime | None) -> str | None:
    return format_timestamp(value) if value is not None else None


def _without_none(mapping: dict) -> dict:
    return {key: value for key, value in mapping.items() if value is not None}


def child_peers(session: Session, settings: Settings) -> list[Peer]:
    """Return the child nodes of this node, suspended ones included.

    Messages for a suspended child are queued like the others. The child
    pulls them, and the pull is rejected until the link is resumed, so they
    wait in the outbox instead of being lost.
    """
    return list(session.scalars(
        select(Peer).where(Peer.level > settings.node_level).order_by(Peer.node_id)))


def parent_peer(session: Session, settings: Settings) -> Peer | None:
    """Return this node's parent, active or suspended, or None when it has none."""
    return session.scalar(select(Peer).where(Peer.level < settings.node_level))


def subtree_unit_ids(session: Session, org_unit_code: str) -> set[int]:
    """Return the ids of the org unit with `org_unit_code` and of every unit below it."""
    from node.auth.scope import subtree_ids

    root_id = session.scalar(select(OrgUnit.id).where(OrgUnit.code == org_unit_code))
    return subtree_ids(session, [root_id]) if root_id is not None else set()


def queue_for_peer(session: Session, settings: Settings, peer: Peer, message_type: str,
                   payload: dict, *, now: datetime | None = None) -> OutboxMessage:
    """Queue a message for `peer` while holding a lock on the peer's row.

    The outbox numbers messages per recipient with the next free sequence.
    Two transactions that queued for the same peer at once would take the
    same number, and the later commit would fail, so on PostgreSQL they wait
    for each other here. SQLite serialises writing transactions anyway.

    NOTE: a province that receives from one peer and queues for another
    locks two peer rows, in the order the messages came, so two such
    transactions can deadlock on PostgreSQL. The database then aborts one,
    and its sender retries the message.
    """
    from node.federation.client import queue_message

    session.execute(select(Peer.id).where(Peer.id == peer.id).with_for_update())
    return queue_message(session, settings, peer, message_type, payload, now=now)


def task_ref_of(settings: Settings, task: Task) -> str:
    """Return the reference under which this node sends `task` to its children."""
    return f"{settings.node_id}/{task.id}"


# Building the payload ----------------------------------------------------------


def _document_part(document: Document) -> dict:
    regular = document.confidentiality == "regular"
    return _without_none({
        "reference": document.reference,
        "number": document.number,
        "symbol": document.symbol,
        "kind_code": document.kind.code if document.kind else None,
        "summary": document.summary if regular else None,
        "issued_on": document.issued_on.isoformat() if document.issued_on else None,
        "signer": document.signer,
        "issuing_body": document.issuing_body,
        "submitting_body": document.submitting_body,
        "confidentiality": document.confidentiality,
        "task_count": max(document.task_count, len(document.tasks)),
    })


def _task_part(task: Task, task_ref: str, transferred_at: datetime) -> dict:
    regular = task.confidentiality == "regular" and task.document.confidentiality == "regular"
    classifications = sorted(f"{value.scheme.code}:{value.code}" for value in task.classifications)
    return _without_none({
        "task_ref": task_ref,
        "position": task.position,
        "task_no": task.task_no,
        "section": task.section if regular else None,
        "content": task.content if regular else None,
        "product": task.product if regular else None,
        "confidentiality": task.document.confidentiality if not regular else "regular",
        "deadline_text": task.deadline_text,
        "deadline_on": task.deadline_on.isoformat() if task.deadline_on else None,
        "deadline_at": _timestamp(task.deadline_at),
        "deadline_precision": task.deadline_precision if task.deadline_at else None,
        "transferred_at": _timestamp(task.transferred_at or transferred_at),
        "agencies": [{"org_unit_code": link.org_unit.code, "role": link.role,
                      "org_unit_name": link.org_unit.name[:300]}
                     for link in task.agencies],
        "classifications": classifications or None,
    })


def _content_hash(payload: dict) -> str:
    unstamped = {key: value for key, value in payload.items() if key != "transferred_at"}
    return hashlib.sha256(canonicalize(unstamped)).hexdigest()


def _tasks_for(document: Document, unit_ids: set[int]) -> list[Task]:
    return [task for task in document.tasks
            if any(link.role in ASSIGNED_ROLES and link.org_unit_id in unit_ids
                   for link in task.agencies)]


def _sent_link(session: Session, settings: Settings, peer: Peer, task: Task,
               now: datetime) -> TaskLink:
    link = session.scalar(select(TaskLink).where(
        TaskLink.task_id == task.id, TaskLink.peer_node_id == peer.node_id,
        TaskLink.direction == "sent"))
    if link is None:
        link = TaskLink(task_id=task.id, peer_node_id=peer.node_id, direction="sent",
                        task_ref=task_ref_of(settings, task),
                        document_reference=task.document.reference, created_at=now)
        session.add(link)
    return link


def build_directive(session: Session, settings: Settings, peer: Peer, document: Document,
                    unit_ids: set[int], *, now: datetime) -> tuple[dict, list[TaskLink]] | None:
    """Return the directive of `document` for `peer` and its task links, or None if empty.

    The links of tasks sent for the first time are added to the session.
    """
    state = session.scalar(select(SentDirective).where(
        SentDirective.document_id == document.id, SentDirective.peer_node_id == peer.node_id))
    tasks = _tasks_for(document, unit_ids)
    links = [_sent_link(session, settings, peer, task, now) for task in tasks]
    current_refs = [link.task_ref for link in links]
    withdrawn = sorted(set(state.task_refs if state else []) - set(current_refs))
    if not tasks and not withdrawn:
        return None
    payload = {
        "document": _document_part(document),
        "tasks": [_task_part(task, link.task_ref, link.created_at or now)
                  for task, link in zip(tasks, links, strict=True)],
        "transferred_at": format_timestamp(now),
    }
    if withdrawn:
        payload["withdrawn_task_refs"] = withdrawn
    return payload, links


def sync_document(session: Session, settings: Settings, peer: Peer, document: Document,
                  unit_ids: set[int], *, now: datetime | None = None) -> OutboxMessage | None:
    """Queue the directive of `document` for `peer` unless the child already has this content."""
    now = now or utcnow()
    built = build_directive(session, settings, peer, document, unit_ids, now=now)
    if built is None:
        return None
    payload, links = built
    digest = _content_hash(payload)
    state = session.scalar(select(SentDirective).where(
        SentDirective.document_id == document.id, SentDirective.peer_node_id == peer.node_id))
    if state is not None and state.payload_sha256 == digest:
        return None
    message = queue_for_peer(session, settings, peer, "directive", payload, now=now)
    refs = [link.task_ref for link in links]
    if state is None:
        session.add(SentDirective(document_id=document.id, peer_node_id=peer.node_id,
                                  payload_sha256=digest, task_refs=refs, transferred_at=now,
                                  last_message_id=message.message_id, updated_at=now))
    else:
        state.payload_sha256 = digest
        state.task_refs = refs
        state.last_message_id = message.message_id
        state.updated_at = now
    session.flush()
    logger.info("directive queued",
                extra={"peer": peer.node_id, "document_id": document.id,
                       "message_id": message.message_id, "task_count": len(refs),
                       "withdrawn": len(payload.get("withdrawn_task_refs", []))})
    return message


def _candidate_documents(session: Session, peer: Peer, document_ids: set[int],
                         unit_ids: set[int]) -> list[int]:
    """Return the ids among `document_ids` with tasks for `peer`, or sent to it before."""
    found: set[int] = set()
    for chunk in _chunks(document_ids):
        found.update(session.scalars(
            select(Task.document_id).join(TaskAgency, TaskAgency.task_id == Task.id)
            .where(Task.document_id.in_(chunk), TaskAgency.role.in_(ASSIGNED_ROLES),
                   TaskAgency.org_unit_id.in_(unit_ids)).distinct()))
        found.update(session.scalars(
            select(SentDirective.document_id).where(SentDirective.document_id.in_(chunk),
                                                    SentDirective.peer_node_id == peer.node_id)))
    return sorted(found)


def queue_for_documents(session: Session, settings: Settings, document_ids: set[int],
                        *, now: datetime | None = None) -> list[OutboxMessage]:
    """Queue a directive for each child whose org units the changed documents name."""
    if not document_ids:
        return []
    messages: list[OutboxMessage] = []
    for peer in child_peers(session, settings):
        unit_ids = subtree_unit_ids(session, peer.org_unit_code)
        if not unit_ids:
            logger.warning("child org unit unknown; no directive queued",
                           extra={"peer": peer.node_id, "org_unit": peer.org_unit_code})
            continue
        for document_id in _candidate_documents(session, peer, document_ids, unit_ids):
            document = session.get(Document, document_id)
            if document is None:
                continue
            message = sync_document(session, settings, peer, document, unit_ids, now=now)
            if message is not None:
                messages.append(message)
    return messages


# Applying at the child ------------------------------------------------------------


def _assign(target: object, name: str, value: object) -> bool:
    """Set `target.name` to `value` only if it differs, so unchanged rows stay clean."""
    if getattr(target, name) == value:
        return False
    setattr(target, name, value)
    return True


def _parse_instant(text: str | None) -> datetime | None:
    return parse_timestamp(text) if text is not None else None


def _parse_date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _directive_source(peer: Peer) -> str:
    return f"directive from node {peer.node_id}"


def _apply_document(session: Session, peer: Peer, part: dict, task_total: int) -> Document:
    document = session.scalar(select(Document).where(Document.reference == part["reference"]))
    if document is not None and document.source != _directive_source(peer):
        # A document of the same reference that this node entered itself keeps
        # its own fields; the parent's tasks are added to it.
        return document
    kind = None
    if part.get("kind_code"):
        kind = session.scalar(select(DocumentKind).where(DocumentKind.code == part["kind_code"]))
    if document is None:
        document = Document(reference=part["reference"], source=_directive_source(peer))
        session.add(document)
    regular = part["confidentiality"] == "regular"
    values = {
        "number": part["number"], "symbol": part["symbol"], "kind": kind,
        "summary": part.get("summary") if regular else None,
        "issued_on": _parse_date(part.get("issued_on")), "signer": part.get("signer"),
        "issuing_body": part.get("issuing_body"),
        "submitting_body": part.get("submitting_body"),
        "confidentiality": part["confidentiality"],
        "task_count": part.get("task_count", task_total),
    }
    for name, value in values.items():
        _assign(document, name, value)
    return document


def _classification_values(session: Session, codes: list[str]) -> list[ClassificationValue]:
    values = []
    for code in codes:
        scheme_code, _, value_code = code.partition(":")
        value = session.scalar(
            select(ClassificationValue).join(ClassificationScheme)
            .where(ClassificationScheme.code == scheme_code,
                   ClassificationValue.code == value_code))
        if value is not None:
            values.append(value)
    return values


def _resolve_agencies(
    session: Session, settings: Settings, agencies: list[dict],
) -> tuple[list[tuple[OrgUnit, str]], list[tuple[str, str]]]:
    """Return the (unit, role) pairs known here, and (role, text) of the unknown ones."""
    known: list[tuple[OrgUnit, str]] = []
    unknown: list[tuple[str, str]] = []
    for agency in agencies:
        unit = session.scalar(select(OrgUnit).where(OrgUnit.code == agency["org_unit_code"]))
        if unit is None:
            name = agency.get("org_unit_name") or agency["org_unit_code"]
            unknown.append((agency["role"], f"{name} ({agency['org_unit_code']})"[:500]))
        elif (unit, agency["role"]) not in known:
            known.append((unit, agency["role"]))
    if not any(role == "lead" for _, role in known):
        own = session.scalar(select(OrgUnit).where(OrgUnit.code == settings.node_org_unit))
        if own is not None:
            known.insert(0, (own, "lead"))
    return known, unknown


def _apply_agencies(task: Task, known: list[tuple[OrgUnit, str]],
                    unknown: list[tuple[str, str]]) -> bool:
    target = {(unit.id, role) for unit, role in known}
    changed = False
    for link in list(task.agencies):
        if (link.org_unit_id, link.role) not in target:
            task.agencies.remove(link)
            changed = True
    present = {(link.org_unit_id, link.role) for link in task.agencies}
    for position, (unit, role) in enumerate(known):
        if (unit.id, role) not in present:
            task.agencies.append(TaskAgency(org_unit=unit, role=role, position=position))
            changed = True
    groups = {(group.role, group.text) for group in task.group_assignments}
    if groups != set(unknown):
        task.group_assignments.clear()
        for role, text in unknown:
            task.group_assignments.append(GroupAssignment(role=role, text=text))
        changed = True
    return changed


def _task_values(part: dict, document: Document) -> dict:
    regular = part["confidentiality"] == "regular"
    deadline_at = _parse_instant(part.get("deadline_at"))
    return {
        "position": part["position"],
        "task_no": part.get("task_no"),
        "section": part.get("section") if regular else None,
        "content": part.get("content") if regular else None,
        "product": part.get("product") if regular else None,
        "confidentiality": part["confidentiality"],
        "deadline_text": part.get("deadline_text"),
        "deadline_on": _parse_date(part.get("deadline_on")),
        "deadline_at": deadline_at,
        "deadline_precision": part.get("deadline_precision", "day") if deadline_at else "none",
    }


def _apply_task(session: Session, settings: Settings, peer: Peer, document: Document,
                part: dict, transferred_at: datetime, calendar) -> str:  # noqa: ANN001
    """Create or update the local task of one directive task; return what happened."""
    link = session.scalar(select(TaskLink).where(
        TaskLink.peer_node_id == peer.node_id, TaskLink.direction == "received",
        TaskLink.task_ref == part["task_ref"]))
    values = _task_values(part, document)
    known, unknown = _resolve_agencies(session, settings, part["agencies"])
    classifications = _classification_values(session, part.get("classifications", []))
    task_transferred_at = _parse_instant(part.get("transferred_at")) or transferred_at
    if link is None:
        task = Task(document=document, transferred_at=task_transferred_at,
                    reported_state="not_started", **values)
        task.classifications = classifications
        session.add(task)
        _apply_agencies(task, known, unknown)
        task.events.append(TaskEvent(kind="created", actor=f"node {peer.node_id}",
                                     detail={"origin": "directive", "task_ref": part["task_ref"]}))
        session.flush()
        refresh_search_text(task)
        deadlines_service.compute_for_task(session, task, calendar)
        session.add(TaskLink(task_id=task.id, peer_node_id=peer.node_id, direction="received",
                             task_ref=part["task_ref"], document_reference=document.reference))
        return "created"

    task = session.get(Task, link.task_id)
    changed = [name for name, value in values.items() if _assign(task, name, value)]
    if set(task.classifications) != set(classifications):
        task.classifications = classifications
        changed.append("classifications")
    if _apply_agencies(task, known, unknown):
        changed.append("agencies")
    if not changed:
        return "unchanged"
    refresh_search_text(task)
    if {"deadline_at", "deadline_on"} & set(changed):
        deadlines_service.compute_for_task(session, task, calendar)
    task.events.append(TaskEvent(kind="task.directive_update", actor=f"node {peer.node_id}",
                                 detail={"task_ref": part["task_ref"], "fields": sorted(changed)}))
    return "updated"


def _withdraw(session: Session, peer: Peer, task_refs: list[str]) -> int:
    withdrawn = 0
    for task_ref in task_refs:
        link = session.scalar(select(TaskLink).where(
            TaskLink.peer_node_id == peer.node_id, TaskLink.direction == "received",
            TaskLink.task_ref == task_ref))
        if link is None:
            continue
        task = session.get(Task, link.task_id)
        session.delete(link)
        if task is not None:
            # NOTE: the task is deleted with its history at this node; the
            # parent keeps the task and its own history.
            session.delete(task)
        withdrawn += 1
    return withdrawn


@register("directive", PARENT)
def apply_directive(session: Session, settings: Settings, peer: Peer, envelope: dict) -> dict:
    """Create or update the document and tasks of a directive from the parent node."""
    claim_write_lock(session, peer)
    payload = envelope["payload"]
    transferred_at = _parse_instant(payload["transferred_at"])
    part = payload["document"]
    if not payload["tasks"] and not payload.get("withdrawn_task_refs"):
        raise not_applicable("the directive lists neither tasks nor withdrawn_task_refs; a "
                             "directive carries at least one of them")
    if part["confidentiality"] != "regular" and any(
            "content" in task or "product" in task for task in payload["tasks"]):
        raise not_applicable("a confidential or top-secret directive carries task content")
    document = _apply_document(session, peer, part, len(payload["tasks"]))
    session.flush()
    calendar = load_calendar(settings)
    outcomes = {"created": 0, "updated": 0, "unchanged": 0}
    for task_part in payload["tasks"]:
        outcomes[_apply_task(session, settings, peer, document, task_part, transferred_at,
                             calendar)] += 1
    withdrawn = _withdraw(session, peer, payload.get("withdrawn_task_refs", []))
    session.flush()
    if outcomes["created"] or outcomes["updated"] or withdrawn:
        audit_log.record(session, actor=f"node {peer.node_id}", action="federation.directive",
                         object_type="document", object_id=document.id,
                         after={"message_id": envelope["message_id"], **outcomes,
                                "withdrawn": withdrawn})
    # LogRecord has a `created` attribute, so the counts get a prefix.
    logger.info("directive applied",
                extra={"peer": peer.node_id, "message_id": envelope["message_id"],
                       "document_id": document.id, "withdrawn": withdrawn,
                       **{f"tasks_{name}": count for name, count in outcomes.items()}})
    return {"status": "applied", "document_reference": document.reference, **outcomes,
            "withdrawn": withdrawn}
