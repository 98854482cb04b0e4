"""Recording of one workflow step: the task event, the audit entry and the log line.

Điều 6.1.b requires the time, author, content and outcome of each step to be
recorded automatically, so every write of the workflow goes through `record_step`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from node.audit import service as audit_log
from node.local_tasks.models import Task, TaskEvent
from node.local_tasks.workflow.errors import invalid

logger = logging.getLogger("node.local_tasks.workflow")


def require_instant(at: object, path: str = "at") -> datetime:
    """Return `at` when it is a timezone-aware datetime, else raise ValidationError."""
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise invalid(path, repr(at), "%(field)s needs a date and time with a time zone, "
                      "e.g. 2026-03-09T11:30+07:00", field=path)
    return at


# Names of the text fields shown in messages, so that a message names the
# field as the form labels it and not by its internal name.
TEXT_FIELD_LABELS = {
    "reason": _l("reason"),
    "comment": _l("comment"),
    "text": _l("explanation text"),
    "results": _l("results"),
    "difficulties": _l("difficulties and obstacles"),
}


def require_text(value: str | None, path: str) -> str:
    """Return `value` stripped, or raise ValidationError naming the field of `path` when empty."""
    text = (value or "").strip()
    if not text:
        raise invalid(path, value, "%(field)s is missing; write it and submit again",
                      field=str(TEXT_FIELD_LABELS.get(path, path)))
    return text


def _event_detail(content: str, outcome: str, object_type: str, object_id: int,
                  detail: Mapping[str, Any] | None) -> dict:
    """Return the detail of a task event: what was done, its outcome, its object and `detail`."""
    event_detail = {"content": content, "outcome": outcome,
                    "object_type": object_type, "object_id": object_id}
    event_detail.update(audit_log.json_safe(dict(detail or {}), "detail"))
    return event_detail


def record_step(
    session: Session,
    task: Task,
    *,
    kind: str,
    at: datetime,
    actor: str | None,
    content: str,
    outcome: str,
    object_type: str,
    object_id: int,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None,
) -> TaskEvent:
    """Append the task event and the audit entry of one step, flush, and log it.

    `content` describes what was done and `outcome` how it ended (on_time, late,
    accepted...). `detail` adds ids and instants to the event. It may carry
    the text of the step (reason, comment, results) only for regular tasks,
    because confidential and top-secret tasks store no content.
    """
    event_detail = _event_detail(content, outcome, object_type, object_id, detail)
    event = TaskEvent(kind=kind, at=at, actor=actor, detail=event_detail)
    task.events.append(event)
    session.flush()
    audit_log.record(session, actor=actor, action=kind, object_type=object_type,
                     object_id=object_id, before=before, after=after)
    logger.info("task workflow step recorded",
                extra={"task_id": task.id, "event_kind": kind, "object_type": object_type,
                       "object_id": object_id, "outcome": outcome, "actor": actor})
    return event


def record_event(
    session: Session,
    task: Task,
    *,
    kind: str,
    at: datetime,
    actor: str | None,
    content: str,
    outcome: str,
    object_type: str,
    object_id: int,
    detail: Mapping[str, Any] | None = None,
) -> TaskEvent:
    """Add the task event of one step without an audit entry, and without a flush.

    For steps decided and recorded elsewhere, such as an update that a child
    node approved and sent signed. The event is added by `task_id`, so the
    task's `events` collection is not loaded. When that collection is
    already loaded in this session it does not show the event until the
    task is refreshed.
    """
    event_detail = _event_detail(content, outcome, object_type, object_id, detail)
    event = TaskEvent(task_id=task.id, kind=kind, at=at, actor=actor, detail=event_detail)
    session.add(event)
    logger.debug("task workflow step recorded",
                 extra={"task_id": task.id, "event_kind": kind, "object_type": object_type,
                        "object_id": object_id, "outcome": outcome, "actor": actor})
    return event


def last_event(session: Session, task: Task) -> TaskEvent | None:
    """Return the newest event of `task`, or None when it has none."""
    return session.scalars(
        select(TaskEvent).where(TaskEvent.task_id == task.id).order_by(TaskEvent.id.desc()).limit(1)
    ).first()


def refresh_search_text(task: Task) -> None:
    """Rebuild the folded search text of `task` after its content or agencies changed."""
    from node.local_tasks.service import _search_text

    # Loading the agencies must not flush the pending change on its own,
    # because each flush of the task increases its version.
    with object_session(task).no_autoflush:
        names = [link.org_unit.name for link in task.agencies]
        groups = [group.text for group in task.group_assignments]
        task.search_text = _search_text(task.document, task, names, groups)
