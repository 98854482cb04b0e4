"""Receipts, objections and statuses of tasks that the parent node assigned.

Sending (child side). `queue_for_events` runs before a commit (see
`node.federation.hooks`) with the workflow events of the transaction. For a
task that came in a directive (a `TaskLink` with direction "received"), a
confirmed receipt becomes a receipt_confirmation, a lodged objection an
objection, and an approved progress update (maker-checker, Điều 15.3) a
task_status. Submitted or returned updates never travel. Confidential and
top-secret tasks send no result summary, milestone, difficulties or next
steps, only the state, the progress percent and the instants.

Applying (parent side). The task is found by the reference this node gave it
in the directive and by the sender, so a child can only report on tasks
assigned to it. Receipts and objections go through the local workflow
services, so the parent records them as if its own officers had entered
them. A receipt is confirmed after the transfer is recorded at the
directive's instant, unless the parent had transferred the task by hand. An
objection gets its feedback deadline. An approved progress update was
already reviewed at the child, so it is stored approved, with its submitter
and approver as the child recorded them, in one row and one history event
(see `_apply_update`). A province that applies a step of its sub-unit on a
task that itself came from the centre forwards the step upwards in the same
transaction, through the same events.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from node.core.errors import DomainError
from node.core.settings import Settings
from node.dashboard import counters
from node.federation.content_models import TaskLink
from node.federation.envelope import format_timestamp, parse_timestamp
from node.federation.handlers import (
    CHILD,
    PREFETCHED_INFO_KEY,
    claim_write_lock,
    not_applicable,
    prefetched,
    register,
)
from node.federation.models import OutboxMessage, Peer
from node.local_tasks.calendar import load_calendar
from node.local_tasks.models import Task, TaskAgency, TaskEvent
from node.local_tasks.workflow import confirm_receipt, lodge_objection, transfer_task
from node.local_tasks.workflow.history import record_event
from node.local_tasks.workflow.lead_states import (
    is_superseded,
    lead_states,
    record_lead_report,
    set_reporting_leads_reader,
)
from node.local_tasks.workflow.progress import apply_to_task, record_reviewed_update
from node.local_tasks.workflow.models import LeadAgencyState, Objection, ProgressUpdate

logger = logging.getLogger(__name__)

PERSON_MAX_LENGTH = 200


def _person(name: str | None, fallback: str) -> str:
    return ((name or "").strip() or fallback)[:PERSON_MAX_LENGTH]


def _received_links(session: Session, task_ids: set[int]) -> dict[int, TaskLink]:
    if not task_ids:
        return {}
    links = session.scalars(select(TaskLink).where(TaskLink.task_id.in_(sorted(task_ids)),
                                                   TaskLink.direction == "received"))
    return {link.task_id: link for link in links}


# Building payloads at the child ------------------------------------------------


def receipt_payload(link: TaskLink, task: Task, event: TaskEvent, settings: Settings) -> dict:
    return {
        "document_reference": link.document_reference,
        "task_refs": [link.task_ref],
        "received_at": format_timestamp(task.received_at or event.at),
        "received_by": _person(event.actor, settings.node_id),
    }


def objection_payload(link: TaskLink, objection: Objection, settings: Settings) -> dict:
    return {
        "document_reference": link.document_reference,
        "task_ref": link.task_ref,
        "kind": objection.kind,
        "reason": objection.reason[:4000],
        "submitted_at": format_timestamp(objection.lodged_at),
        "submitted_by": _person(objection.lodged_by, settings.node_id),
    }


def status_update(link: TaskLink, task: Task, update: ProgressUpdate, settings: Settings,
                  event: TaskEvent | None = None) -> dict:
    """Return one entry of a task_status payload; text only for regular tasks.

    When `event` applied a child's update to the lead agencies' states, the
    entry carries the task's state derived from all of them. So a task led
    jointly by two sub-units is not reported upwards as completed while one
    of them has not finished.
    """
    regular = task.confidentiality == "regular"
    derived = event is not None and "task_state" in (event.detail or {})
    reported_state = task.reported_state if derived else update.reported_state
    progress_percent = task.progress_percent if derived else update.progress_percent
    completed_at = task.completed_at if derived else update.at
    entry = {
        "task_ref": link.task_ref,
        "reported_state": reported_state,
        "confidentiality": task.confidentiality,
        "reported_at": format_timestamp(update.at),
        "approved_at": format_timestamp(update.reviewed_at or update.at),
        "approved_by": _person(update.reviewed_by, settings.node_id),
        "reported_by": _person(update.submitted_by, settings.node_id),
    }
    if progress_percent is not None:
        entry["progress_percent"] = progress_percent
    if reported_state == "completed":
        entry["completed_at"] = format_timestamp(completed_at)
    if regular:
        results = update.results or (task.result_summary if derived else None)
        for field_name, value in (("result_summary", results),
                                  ("milestone", update.milestone),
                                  ("difficulties", update.difficulties),
                                  ("next_steps", update.next_steps)):
            if value:
                entry[field_name] = value
    return entry


def _object_id(event: TaskEvent) -> int | None:
    detail = event.detail or {}
    value = detail.get("object_id")
    return value if isinstance(value, int) else None


def queue_for_events(session: Session, settings: Settings, event_ids: set[int],
                     *, now: datetime | None = None) -> list[OutboxMessage]:
    """Queue the receipts, objections and approved statuses of tasks the parent assigned."""
    from node.federation.directives import queue_for_peer

    if not event_ids:
        return []
    events = list(session.scalars(select(TaskEvent).where(TaskEvent.id.in_(sorted(event_ids)))
                                  .order_by(TaskEvent.id)))
    links = _received_links(session, {event.task_id for event in events})
    if not links:
        return []
    peers = {peer.node_id: peer for peer in session.scalars(
        select(Peer).where(Peer.node_id.in_({link.peer_node_id for link in links.values()})))}
    messages: list[OutboxMessage] = []
    statuses: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        link = links.get(event.task_id)
        peer = peers.get(link.peer_node_id) if link else None
        if link is None or peer is None:
            continue
        task = session.get(Task, event.task_id)
        if event.kind == "task.receipt":
            messages.append(queue_for_peer(session, settings, peer, "receipt_confirmation",
                                          receipt_payload(link, task, event, settings), now=now))
        elif event.kind == "task.objection":
            objection = session.get(Objection, _object_id(event))
            if objection is not None:
                messages.append(queue_for_peer(session, settings, peer, "objection",
                                              objection_payload(link, objection, settings),
                                              now=now))
        elif event.kind == "task.progress_approve":
            update = session.get(ProgressUpdate, _object_id(event))
            if update is not None and update.status == "approved":
                statuses[peer.node_id].append(status_update(link, task, update, settings,
                                                             event))
    for node_id, updates in statuses.items():
        messages.append(queue_for_peer(session, settings, peers[node_id], "task_status",
                                      {"updates": updates}, now=now))
    for message in messages:
        logger.info("task step queued for the parent",
                    extra={"message_id": message.message_id, "type": message.message_type,
                           "peer": message.recipient_node_id})
    return messages


# Applying at the parent -------------------------------------------------------------


# Names of the rows that a batch reads ahead (see `handlers.prefetched`): the
# task and link of each (sender, task_ref), the lead agencies and the child
# nodes of each task id, and the org units under each child's org unit.
_ASSIGNED = "assigned_tasks"
_LEADS = "lead_agencies"
_SENT_TO = "sent_to"
_SUBTREES = "subtrees"
# Marks that the tasks were read again once the transaction could write.
_REFRESHED = "refreshed"
# The stored lead agency states of each task id, read with the tasks again.
_LEAD_STATES = "lead_states"
# The report keys (see `report_key`) of the batch that are stored already.
_STORED_KEYS = "stored_report_keys"
# References per IN list when a batch's tasks are read at once.
PREFETCH_CHUNK = 500


def prefetch_assigned_tasks(session: Session, envelopes: list[tuple[str, dict]]) -> None:
    """Read the links and tasks that a batch's task_status envelopes name, one query per sender.

    `assigned_task` then finds them without a query. The envelopes are not
    verified yet, so only well-formed references are read, and reading a
    task that a forged envelope names does no harm.
    """
    requested: dict[str, set[str]] = defaultdict(set)
    keys: set[str] = set()
    for sender, envelope in envelopes:
        payload = envelope.get("payload")
        updates = payload.get("updates") if isinstance(payload, dict) else None
        for entry in updates if isinstance(updates, list) else []:
            task_ref = entry.get("task_ref") if isinstance(entry, dict) else None
            if isinstance(sender, str) and isinstance(task_ref, str):
                requested[sender].add(task_ref)
                key = report_key(sender, entry)
                if key is not None:
                    keys.add(key)
    _read_stored_keys(session, keys)
    found = prefetched(session, _ASSIGNED)
    for sender, task_refs in requested.items():
        missing = sorted(task_ref for task_ref in task_refs if (sender, task_ref) not in found)
        for start in range(0, len(missing), PREFETCH_CHUNK):
            rows = session.execute(
                select(TaskLink, Task).join(Task, Task.id == TaskLink.task_id)
                .where(TaskLink.peer_node_id == sender, TaskLink.direction == "sent",
                       TaskLink.task_ref.in_(missing[start:start + PREFETCH_CHUNK])))
            for link, task in rows:
                found[(sender, link.task_ref)] = (task, link)
    task_ids = sorted({task.id for task, _ in found.values()})
    # The dashboard counters then read the members of all these tasks at once.
    counters.expect_level_moves(session, task_ids)
    leads: dict[int, set[int]] = prefetched(session, _LEADS)
    sent_to: dict[int, set[int]] = prefetched(session, _SENT_TO)
    for start in range(0, len(task_ids), PREFETCH_CHUNK):
        chunk = task_ids[start:start + PREFETCH_CHUNK]
        for task_id in chunk:
            leads.setdefault(task_id, set())
            sent_to.setdefault(task_id, set())
        for task_id, org_unit_id in session.execute(
                select(TaskAgency.task_id, TaskAgency.org_unit_id)
                .where(TaskAgency.task_id.in_(chunk), TaskAgency.role == "lead")):
            leads[task_id].add(org_unit_id)
        for task_id, node_id in session.execute(
                select(TaskLink.task_id, TaskLink.peer_node_id)
                .where(TaskLink.task_id.in_(chunk), TaskLink.direction == "sent")):
            sent_to[task_id].add(node_id)


def report_key(sender: str, entry: dict) -> str | None:
    """Return the idempotency key of one report of a child, or None for a malformed entry.

    The same report from the same child always gets the same key, so a
    report applied once returns its first row instead of a second one.
    """
    fields = [sender] + [entry.get(name) for name in ("task_ref", "reported_at", "approved_at")]
    if not all(isinstance(field, str) for field in fields):
        return None
    return "federation:" + hashlib.sha256("\n".join(fields).encode("utf-8")).hexdigest()


def _read_stored_keys(session: Session, keys: set[str]) -> None:
    """Note which of a batch's report keys are stored, so the others need no query each.

    A report stored by another request after this read still fails the
    unique key when it is inserted, and `record_reviewed_update` then
    returns the stored row.
    """
    stored: dict[str, bool] = prefetched(session, _STORED_KEYS)
    missing = sorted(key for key in keys if key not in stored)
    for start in range(0, len(missing), PREFETCH_CHUNK):
        chunk = missing[start:start + PREFETCH_CHUNK]
        found = set(session.scalars(select(ProgressUpdate.idempotency_key)
                                    .where(ProgressUpdate.idempotency_key.in_(chunk))))
        stored.update((key, key in found) for key in chunk)


@event.listens_for(Session, "after_soft_rollback")
def _forget_lead_states(session: Session, previous_transaction) -> None:  # noqa: ANN001
    # A rolled-back savepoint may have added lead agency states that are gone
    # now, and on PostgreSQL it released the row locks taken inside it, so the
    # tasks are read and locked again by the next report.
    cached = session.info.get(PREFETCHED_INFO_KEY)
    if cached is not None:
        cached.pop(_LEAD_STATES, None)
        cached.pop(_REFRESHED, None)


def _refresh_assigned_tasks(session: Session) -> None:
    """Read the batch's tasks again, and their lead agency states, once the transaction may write.

    The batch read them before its envelopes were verified, and another
    request may have changed them since. A task written from that stale copy
    would fail its version check and the whole request with it. On SQLite
    the caller already holds the database's write lock. On PostgreSQL the
    rows are locked in id order, so two batches that share tasks apply one
    after the other. The lead agency states are read here in one query for
    the whole batch, instead of one query per report.
    """
    assigned = prefetched(session, _ASSIGNED)
    if not assigned or prefetched(session, _REFRESHED):
        return
    task_ids = sorted({task.id for task, _ in assigned.values()})
    states: dict[int, dict[int, LeadAgencyState]] = prefetched(session, _LEAD_STATES)
    for start in range(0, len(task_ids), PREFETCH_CHUNK):
        chunk = task_ids[start:start + PREFETCH_CHUNK]
        session.scalars(select(Task).where(Task.id.in_(chunk))
                        .order_by(Task.id).with_for_update()
                        .execution_options(populate_existing=True)).all()
        for task_id in chunk:
            states.setdefault(task_id, {})
        for state in session.scalars(select(LeadAgencyState)
                                     .where(LeadAgencyState.task_id.in_(chunk))):
            states[state.task_id][state.org_unit_id] = state
    prefetched(session, _REFRESHED)["done"] = True


def assigned_task(session: Session, peer: Peer, task_ref: str) -> tuple[Task, TaskLink]:
    """Return the task that this node sent to `peer` as `task_ref`; raise not_applicable."""
    cached = prefetched(session, _ASSIGNED).get((peer.node_id, task_ref))
    if cached is not None:
        return cached
    link = session.scalar(select(TaskLink).where(
        TaskLink.peer_node_id == peer.node_id, TaskLink.direction == "sent",
        TaskLink.task_ref == task_ref))
    task = session.get(Task, link.task_id) if link is not None else None
    if link is None or task is None:
        raise not_applicable(f"task_ref {task_ref!r} names no task that this node assigned to "
                             f"{peer.node_id!r}; only tasks of its directives can be reported")
    return task, link


def _workflow_failure(step: str, task_ref: str, error: DomainError) -> Exception:
    return not_applicable(f"{step} of task_ref {task_ref!r} cannot be applied: {error.message}")


@register("receipt_confirmation", CHILD)
def apply_receipt(session: Session, settings: Settings, peer: Peer, envelope: dict) -> dict:
    """Record the child's receipt of each listed task through the workflow."""
    claim_write_lock(session, peer)
    payload = envelope["payload"]
    received_at = parse_timestamp(payload["received_at"])
    actor = _person(f"{payload['received_by']} ({peer.node_id})", peer.node_id)
    calendar = load_calendar(settings)
    outcomes = {"confirmed": 0, "unchanged": 0}
    for task_ref in payload["task_refs"]:
        task, link = assigned_task(session, peer, task_ref)
        if task.received_at is not None:
            outcomes["unchanged"] += 1
            continue
        try:
            if task.transferred_at is None:
                # The directive was the electronic transfer of the task.
                transfer_task(session, task, at=min(link.created_at, received_at),
                              actor=f"node {settings.node_id}", calendar=calendar)
            confirm_receipt(session, task, at=received_at, actor=actor, calendar=calendar)
        except DomainError as error:
            raise _workflow_failure("receipt", task_ref, error) from None
        outcomes["confirmed"] += 1
    return {"status": "applied", **outcomes}


@register("objection", CHILD)
def apply_objection(session: Session, settings: Settings, peer: Peer, envelope: dict) -> dict:
    """Lodge the child's objection on the task through the workflow."""
    claim_write_lock(session, peer)
    payload = envelope["payload"]
    task, _ = assigned_task(session, peer, payload["task_ref"])
    lodged_at = parse_timestamp(payload["submitted_at"])
    existing = session.scalar(select(Objection).where(Objection.task_id == task.id,
                                                      Objection.lodged_at == lodged_at))
    if existing is not None:
        return {"status": "unchanged", "objection_id": existing.id}
    try:
        objection = lodge_objection(
            session, task, at=lodged_at,
            actor=_person(f"{payload['submitted_by']} ({peer.node_id})", peer.node_id),
            reason=payload["reason"], kind=payload["kind"], calendar=load_calendar(settings))
    except DomainError as error:
        raise _workflow_failure("objection", payload["task_ref"], error) from None
    return {"status": "applied", "objection_id": objection.id}


SUPERSEDED_COMMENT = "superseded by a newer approved update from the child node"


@dataclass(frozen=True)
class _ReportingLeads:
    """Lead agencies of a task whose state this node keeps from child nodes' reports."""

    # Those in the org tree of the child that sent the report.
    own: set[int]
    # Those in the org tree of any child the task was sent to, `own` included.
    reporting: set[int]


def _subtree(session: Session, org_unit_code: str) -> set[int]:
    from node.federation.directives import subtree_unit_ids

    subtrees = prefetched(session, _SUBTREES)
    if org_unit_code not in subtrees:
        subtrees[org_unit_code] = subtree_unit_ids(session, org_unit_code)
    return subtrees[org_unit_code]


def task_reporting_lead_ids(session: Session, task: Task) -> set[int] | None:
    """Return the task's lead agencies under the child nodes it was sent to, or None if none.

    These are the lead agencies whose states `_apply_update` keeps, and
    the task's progress is their mean.
    """
    sent_to = sorted(session.scalars(select(TaskLink.peer_node_id).where(
        TaskLink.task_id == task.id, TaskLink.direction == "sent")))
    if not sent_to:
        return None
    leads = set(session.scalars(select(TaskAgency.org_unit_id).where(
        TaskAgency.task_id == task.id, TaskAgency.role == "lead")))
    return _leads_under_nodes(session, leads, sent_to)


def _leads_under_nodes(session: Session, leads: set[int], node_ids: list[str]) -> set[int]:
    """Return the ids of `leads` that lie in the org tree of one of the nodes `node_ids`."""
    found: set[int] = set()
    for org_unit_code in session.scalars(select(Peer.org_unit_code)
                                         .where(Peer.node_id.in_(node_ids))):
        found |= leads & _subtree(session, org_unit_code)
    return found


set_reporting_leads_reader(task_reporting_lead_ids)


def _reporting_leads(session: Session, task: Task, peer: Peer) -> _ReportingLeads:
    leads = prefetched(session, _LEADS).get(task.id)
    if leads is None:
        leads = set(session.scalars(select(TaskAgency.org_unit_id).where(
            TaskAgency.task_id == task.id, TaskAgency.role == "lead")))
    sent_to = prefetched(session, _SENT_TO).get(task.id)
    if sent_to is None:
        sent_to = set(session.scalars(select(TaskLink.peer_node_id).where(
            TaskLink.task_id == task.id, TaskLink.direction == "sent")))
    own = leads & _subtree(session, peer.org_unit_code)
    reporting = set(own)
    others = sorted(sent_to - {peer.node_id})
    if others and leads - reporting:
        reporting |= _leads_under_nodes(session, leads, others)
    return _ReportingLeads(own=own, reporting=reporting)


def _apply_update(session: Session, settings: Settings, peer: Peer, entry: dict) -> str:
    """Store one approved update of the child and apply it to the task; return the outcome.

    The child's maker and checker already approved the update, so it is
    stored approved in one row, with one history row (`task.progress_approve`,
    which a province forwards upwards) and no submission step. No audit entry
    is written: the exchange log keeps the child's signed envelope, which
    names the submitter, the approver and the content and can be verified
    offline (`theodoi federation export-log`). An audit entry here would
    only repeat it, and would make this node the author of an approval it
    did not decide, which `node.signatures` would then sign in its name.

    The update sets the state of the task's lead agencies that lie in the
    child's org tree, and the task's state is derived from every lead agency
    that reports through a child node (see `workflow.lead_states`).
    """
    task, _ = assigned_task(session, peer, entry["task_ref"])
    reported_at = parse_timestamp(entry["reported_at"])
    at = parse_timestamp(entry["completed_at"]) if "completed_at" in entry else reported_at
    # The child's maker and checker are recorded as they were there. A report
    # without `reported_by` names only its approver, who is then recorded as
    # the submitter and the child node as the approver, since one person
    # cannot both submit and approve an update.
    approver = _person(f"{entry['approved_by']} ({peer.node_id})", peer.node_id)
    if "reported_by" in entry:
        submitter = _person(f"{entry['reported_by']} ({peer.node_id})", peer.node_id)
    else:
        submitter, approver = approver, f"node {peer.node_id}"
    key = report_key(peer.node_id, entry)
    approved_at = max(parse_timestamp(entry["approved_at"]), at)

    leads = _reporting_leads(session, task, peer)
    states = {}
    if leads.reporting:
        states = prefetched(session, _LEAD_STATES).get(task.id)
        if states is None:
            states = lead_states(session, task.id)
    # Messages can arrive out of order after retries; an older report never
    # moves a lead agency, or the task, back.
    if leads.own:
        # NOTE: reports applied before lead agency states were kept left no
        # row, so a report older than one of those can still move its lead
        # agency back, once.
        superseded = is_superseded(states, leads.own, at)
    elif leads.reporting:
        # The child leads nothing here, so its report changes no state.
        superseded = False
    else:
        # No lead agency of the task reports through a child (the child only
        # coordinates it), so the report applies to the task as a whole.
        superseded = session.scalar(select(ProgressUpdate.id).where(
            ProgressUpdate.task_id == task.id, ProgressUpdate.status == "approved",
            ProgressUpdate.at > at).limit(1)) is not None
    node_actor = f"node {peer.node_id}"
    update, created = record_reviewed_update(
        session, task, at=at, submitted_by=submitter, reported_state=entry["reported_state"],
        progress_percent=entry.get("progress_percent"), milestone=entry.get("milestone"),
        results=entry.get("result_summary"), difficulties=entry.get("difficulties"),
        next_steps=entry.get("next_steps"), idempotency_key=key,
        key_is_new=prefetched(session, _STORED_KEYS).get(key) is False,
        status="returned" if superseded else "approved", reviewed_at=approved_at,
        reviewed_by=node_actor if superseded else approver,
        review_comment=SUPERSEDED_COMMENT if superseded else None)
    if not created:
        return "unchanged"
    if superseded:
        record_event(session, task, kind="task.progress_return", at=approved_at,
                     actor=node_actor, content="progress update returned for correction",
                     outcome="returned", object_type="task_progress_update",
                     object_id=update.id,
                     detail={"comment": SUPERSEDED_COMMENT}
                     if task.confidentiality == "regular" else None)
        return "superseded"
    detail = {"reported_state": update.reported_state, "source_node": peer.node_id}
    if leads.own:
        derived = record_lead_report(session, task, update, lead_ids=leads.own,
                                     reporting_lead_ids=leads.reporting,
                                     source_node_id=peer.node_id, states=states)
        # A province forwards the derived state, not this child's (see `status_update`).
        detail["task_state"] = derived.reported_state
    elif not leads.reporting:
        apply_to_task(task, update)
    record_event(session, task, kind="task.progress_approve", at=approved_at, actor=approver,
                 content="progress update approved and applied to the task",
                 outcome="approved", object_type="task_progress_update", object_id=update.id,
                 detail=detail)
    return "applied"


@register("task_status", CHILD, prefetch=prefetch_assigned_tasks)
def apply_task_status(session: Session, settings: Settings, peer: Peer, envelope: dict) -> dict:
    """Apply each approved progress update of the child to the task this node assigned."""
    claim_write_lock(session, peer)
    _refresh_assigned_tasks(session)
    outcomes = {"applied": 0, "unchanged": 0, "superseded": 0}
    for entry in envelope["payload"]["updates"]:
        try:
            outcomes[_apply_update(session, settings, peer, entry)] += 1
        except DomainError as error:
            raise _workflow_failure("status", entry["task_ref"], error) from None
    return {"status": "applied", **outcomes}
