"""Queue exchange messages in the same transaction as the local change that causes them.

`local_tasks` never imports `federation`, so this module learns about local
changes through SQLAlchemy session events, registered process-wide on the
`Session` class when `node.federation` is imported:

- after every flush, the ids of documents whose fields, tasks or task
  agencies changed, and of the workflow events just added (receipt
  confirmed, objection lodged, progress update approved), are collected in
  `Session.info`;
- before the outermost transaction of the session commits, they become
  outbox messages: directives for the child nodes whose org units the tasks
  name (`directives.queue_for_documents`), and receipts, objections and
  statuses for the parent that assigned the tasks
  (`statuses.queue_for_events`), and decisions on the objections of child
  nodes (`objection_decisions.queue_for_events`), queued before the
  directives so that a child applies a decision before the directive that
  may withdraw the task.

The outbox rows are written in the database transaction of the change, so
neither is ever committed without the other (a transactional outbox). The
workflow events are the domain-event table that `local_tasks` already writes
(`task_events`), so no extra intent table is needed. Signing needs the node's
settings: they are read from `Session.info` (see `node.core.db.make_session_factory`)
and otherwise loaded from the configuration, as the CLI does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import chain

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from node.core.db import SETTINGS_INFO_KEY
from node.core.settings import Settings, load_settings
from node.local_tasks.models import Document, Task, TaskAgency, TaskEvent

logger = logging.getLogger(__name__)

PENDING_INFO_KEY = "theodoi_federation_pending"
# Task events whose step the parent of a task must learn about, and the
# decisions on objections that a child must learn about.
FORWARDED_EVENT_KINDS = ("task.receipt", "task.objection", "task.progress_approve",
                         "task.objection_decision")
# The task attributes that a directive carries (see `directives._task_part`).
# A flush that changes none of them, such as an approved progress report,
# cannot change a directive, so its document is not compared again.
DIRECTIVE_TASK_ATTRIBUTES = (
    "document_id", "position", "task_no", "section", "content", "product", "confidentiality",
    "deadline_text", "deadline_on", "deadline_at", "deadline_precision", "transferred_at",
    "classifications",
)
# Queueing may change tasks again, as when a province passes a directive on.
# The loop stops after this many rounds; a chain of three levels needs two.
MAX_ROUNDS = 5


@dataclass
class Pending:
    """Ids of the rows changed in the current transaction that may need a message."""

    document_ids: set[int] = field(default_factory=set)
    task_ids: set[int] = field(default_factory=set)
    event_ids: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.document_ids or self.task_ids or self.event_ids)


def _pending(session: Session) -> Pending:
    return session.info.setdefault(PENDING_INFO_KEY, Pending())


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _flush_context: object) -> None:
    pending = None
    for instance in chain(session.new, session.dirty, session.deleted):
        if isinstance(instance, Task | TaskAgency | Document) or (
                isinstance(instance, TaskEvent) and instance.kind in FORWARDED_EVENT_KINDS):
            pending = pending or _pending(session)
        if isinstance(instance, Task):
            if instance.document_id is not None and _may_change_directive(session, instance):
                pending.document_ids.add(instance.document_id)
        elif isinstance(instance, TaskAgency):
            if instance.task_id is not None:
                pending.task_ids.add(instance.task_id)
        elif isinstance(instance, Document):
            if instance.id is not None:
                pending.document_ids.add(instance.id)
        elif isinstance(instance, TaskEvent) and instance.kind in FORWARDED_EVENT_KINDS \
                and instance in session.new:
            pending.event_ids.add(instance.id)


def _may_change_directive(session: Session, task: Task) -> bool:
    """Return whether the flush of `task` may change the content of a directive about it."""
    if task in session.new or task in session.deleted:
        return True
    attributes = inspect(task).attrs
    return any(attributes[name].history.has_changes() for name in DIRECTIVE_TASK_ATTRIBUTES)


def session_settings(session: Session) -> Settings:
    """Return the settings of the node whose database `session` uses."""
    settings = session.info.get(SETTINGS_INFO_KEY)
    return settings if isinstance(settings, Settings) else load_settings()


def queue_pending(session: Session, settings: Settings | None = None) -> int:
    """Turn the changes collected so far into outbox messages; return how many were queued."""
    from node.federation import objection_decisions
    from node.federation.directives import queue_for_documents
    from node.federation.statuses import queue_for_events

    queued = 0
    for _round in range(MAX_ROUNDS):
        session.flush()
        pending = session.info.pop(PENDING_INFO_KEY, None)
        if not pending:
            return queued
        settings = settings or session_settings(session)
        document_ids = set(pending.document_ids)
        if pending.task_ids:
            document_ids.update(session.scalars(
                select(Task.document_id).where(Task.id.in_(sorted(pending.task_ids)))))
        queued += len(objection_decisions.queue_for_events(session, settings,
                                                           pending.event_ids))
        queued += len(queue_for_documents(session, settings, document_ids))
        queued += len(queue_for_events(session, settings, pending.event_ids))
    session.flush()
    session.info.pop(PENDING_INFO_KEY, None)
    logger.warning("federation messages still pending after %s rounds", MAX_ROUNDS)
    return queued


@event.listens_for(Session, "before_commit")
def _queue_before_commit(session: Session) -> None:
    # Savepoints (begin_nested) commit through this event too; the messages
    # are queued once, when the outermost transaction commits.
    if session.in_nested_transaction():
        return
    # The commit flushes only after this event, so changes not flushed yet
    # are flushed here to be collected.
    session.flush()
    if session.info.get(PENDING_INFO_KEY):
        queue_pending(session)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(PENDING_INFO_KEY, None)
