"""Progress updates with maker-checker review (Điều 15), and optimistic locking of tasks.

An agency officer submits an update; another person approves or returns it.
Only an approved update changes the task, and every submission is a new row,
so the history of reports is kept. The functions flush but never commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.exc import StaleDataError

from node.audit import service as audit_log
from node.core.db import utcnow
from node.core.errors import ProblemCollector
from node.core.text import nfc
from node.local_tasks.completion import (
    IMPLEMENTED_NOT_COMPLETED,
    IN_PROGRESS_OVERDUE,
    NOT_STARTED_OVERDUE,
    completion_level,
)
from node.local_tasks.models import REPORTED_STATES, Task
from node.local_tasks.workflow.errors import (
    IdempotencyKeyReusedError,
    SelfApprovalError,
    StaleTaskError,
    WorkflowStateError,
    invalid,
    message,
    task_reference,
)
from node.local_tasks.workflow.history import (
    last_event,
    record_step,
    refresh_search_text,
    require_instant,
    require_text,
)
from node.local_tasks.workflow.models import ProgressUpdate

# Levels at which an update must state the difficulties met (Điều 15.2).
LEVELS_NEEDING_DIFFICULTIES = (IN_PROGRESS_OVERDUE, NOT_STARTED_OVERDUE, IMPLEMENTED_NOT_COMPLETED)
UPDATE_TEXT_FIELDS = ("milestone", "results", "difficulties", "next_steps")
MILESTONE_MAX_LENGTH = 300
IDEMPOTENCY_KEY_MAX_LENGTH = 100
# Task fields that `update_task_fields` may change. Confidential and
# top-secret tasks store no section, content or product (Điều 5).
EDITABLE_TASK_FIELDS = ("task_no", "section", "content", "product")
CONFIDENTIAL_TASK_FIELDS = ("section", "content", "product")

_UPDATE_AUDIT_FIELDS = ("task_id", "at", "submitted_by", "reported_state", "progress_percent",
                        "milestone", "results", "difficulties", "next_steps", "status")
_TASK_STATE_FIELDS = ("reported_state", "completed_at", "progress_percent", "result_summary")


def _clean_text(value: str | None) -> str | None:
    return nfc(value).strip() or None if value is not None else None


def _flush_task(session: Session, task: Task) -> None:
    """Flush, turning a concurrent change of `task` into StaleTaskError.

    The session must then be rolled back before it is used again.
    """
    # Read before the flush: after a failed flush, reading an attribute raises.
    task_id = task.id
    try:
        session.flush()
    except StaleDataError:
        raise StaleTaskError(message(
            "Task %(task_id)s was changed by someone else meanwhile; reload it and try again",
            task_id=task_id)) from None


# Submitting ------------------------------------------------------------------


def _same_submission(update: ProgressUpdate, task: Task, values: dict) -> bool:
    return update.task_id == task.id and all(getattr(update, name) == value
                                             for name, value in values.items())


def _existing_for_key(session: Session, task: Task, key: str, values: dict) -> ProgressUpdate | None:
    existing = session.scalars(
        select(ProgressUpdate).where(ProgressUpdate.idempotency_key == key)
    ).first()
    if existing is not None and not _same_submission(existing, task, values):
        raise IdempotencyKeyReusedError(message(
            "Idempotency key %(key)r was already used for update %(update_id)s with other "
            "content; send a new key for a new update", key=key, update_id=existing.id))
    return existing


def _check_update_content(problems: ProblemCollector, task: Task, state: str, values: dict) -> None:
    """Reject an update that reports nothing, and a regular completion without results.

    Điều 15 asks each report for the progress made, and a completion report
    for the results and products of the task. Confidential and top-secret
    tasks store no text, so their updates need only the progress percent.
    """
    regular = task.confidentiality == "regular"
    if values["progress_percent"] is None and values["milestone"] is None \
            and values["results"] is None:
        if regular:
            problems.add("progress_percent", message(
                "The update reports no progress; fill in the progress percent, the milestone "
                "or the results"), None)
        else:
            problems.add("progress_percent", message(
                "The update reports no progress; fill in the progress percent"), None)
    if regular and state == "completed" and values["results"] is None:
        problems.add("results", message(
            "A completed task must report its results and products; fill in the results"), None)


def _validate_submission(task: Task, at: datetime, values: dict, key: str | None) -> None:
    problems = ProblemCollector()
    state = values["reported_state"]
    if state not in REPORTED_STATES:
        problems.add("reported_state", message("Unknown state %(state)r; use one of %(states)s",
                                               state=state, states=", ".join(REPORTED_STATES)),
                     state)
    percent = values["progress_percent"]
    if percent is not None and (isinstance(percent, bool) or not isinstance(percent, int)
                                or not 0 <= percent <= 100):
        problems.add("progress_percent",
                     message("Progress must be a whole number from 0 to 100"), percent)
    milestone = values["milestone"]
    if milestone is not None and len(milestone) > MILESTONE_MAX_LENGTH:
        problems.add("milestone", message("The milestone is longer than %(max)s characters; "
                                          "shorten it", max=MILESTONE_MAX_LENGTH), None)
    if key is not None and not 0 < len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH:
        problems.add("idempotency_key", message("The idempotency key must have 1 to %(max)s "
                                                "characters", max=IDEMPOTENCY_KEY_MAX_LENGTH), key)

    _check_update_content(problems, task, state, values)
    if task.confidentiality != "regular":
        for name in UPDATE_TEXT_FIELDS:
            if values[name] is not None:
                # The value is left out of the problem: it may be confidential.
                problems.add(name, message(
                    "Updates of confidential and top-secret tasks carry only the state and "
                    "progress; leave %(field)s empty", field=name), None)
    elif state in REPORTED_STATES and values["difficulties"] is None:
        completed_at = at if state == "completed" else None
        level = completion_level(reported_state=state, deadline_at=task.deadline_at,
                                 completed_at=completed_at, at=at)
        if level in LEVELS_NEEDING_DIFFICULTIES:
            problems.add("difficulties", message(
                "The task is %(level)s, so the update must state the difficulties and "
                "obstacles; fill in difficulties", level=level.replace("_", " ")), None)
    problems.raise_if_any(message("Progress update of task %(task)s is invalid",
                                  task=task_reference(task)))


def _update_summary(task: Task, values: dict) -> dict:
    """Return the milestone and results of an update for its task event, if the task is regular."""
    if task.confidentiality != "regular":
        return {}
    return {name: values[name] for name in ("milestone", "results") if values[name] is not None}


def _update_values(reported_state: str, progress_percent: int | None, milestone: str | None,
                   results: str | None, difficulties: str | None,
                   next_steps: str | None) -> dict:
    """Return the content columns of a progress update, with blank texts as None."""
    return {
        "reported_state": reported_state,
        "progress_percent": progress_percent,
        "milestone": _clean_text(milestone),
        "results": _clean_text(results),
        "difficulties": _clean_text(difficulties),
        "next_steps": _clean_text(next_steps),
    }


def _insert_once(session: Session, task: Task, update: ProgressUpdate, key: str | None,
                 content: dict) -> ProgressUpdate:
    """Insert `update`, or return the row stored first under the same idempotency key.

    A concurrent insert with the same key makes this insert fail. The
    savepoint keeps the caller's transaction usable, so the row stored first
    can be returned, as a retry would return it.
    """
    try:
        with session.begin_nested():
            session.add(update)
            session.flush()
    except IntegrityError:
        if key is None:
            raise
        existing = _existing_for_key(session, task, key, content)
        if existing is None:
            raise
        return existing
    return update


def submit_update(
    session: Session,
    task: Task,
    *,
    at: datetime,
    actor: str | None,
    reported_state: str,
    progress_percent: int | None = None,
    milestone: str | None = None,
    results: str | None = None,
    difficulties: str | None = None,
    next_steps: str | None = None,
    idempotency_key: str | None = None,
) -> ProgressUpdate:
    """Store a submitted progress update of `task`; the task itself is unchanged until approval.

    A call with an `idempotency_key` already stored returns that update
    without writing, provided the task and content are the same. Otherwise
    it raises IdempotencyKeyReusedError.

    NOTE: confidential and top-secret tasks store no text, so their updates
    cannot state difficulties. Điều 15.2 reports on those go outside the system.
    """
    require_instant(at)
    values = _update_values(reported_state, progress_percent, milestone, results, difficulties,
                            next_steps)
    key = idempotency_key.strip() if idempotency_key is not None else None
    if key:
        existing = _existing_for_key(session, task, key, {**values, "at": at})
        if existing is not None:
            return existing
    _validate_submission(task, at, values, key)

    update = ProgressUpdate(task=task, at=at, submitted_by=actor, idempotency_key=key,
                            status="submitted", **values)
    stored = _insert_once(session, task, update, key, {**values, "at": at})
    if stored is not update:
        return stored
    record_step(
        session, task, kind="task.progress_submit", at=at, actor=actor,
        content="progress update submitted", outcome="submitted",
        object_type="task_progress_update", object_id=update.id,
        after=audit_log.snapshot(update, _UPDATE_AUDIT_FIELDS),
        detail={"reported_state": reported_state, "progress_percent": progress_percent,
                **_update_summary(task, values)},
    )
    return update


# Reviewing -------------------------------------------------------------------


def _require_submitted(update: ProgressUpdate) -> None:
    if update.status != "submitted":
        raise WorkflowStateError(message(
            "Update %(update_id)s was already %(status)s by %(reviewer)s at %(reviewed_at)s; "
            "submit a new update to report again", update_id=update.id, status=update.status,
            reviewer=update.reviewed_by or "the node", reviewed_at=update.reviewed_at))


def _require_review_instant(update: ProgressUpdate, at: datetime) -> None:
    require_instant(at)
    if at < update.at:
        raise invalid("at", at.isoformat(),
                      "Review at %(at)s is before the update's instant %(update_at)s; "
                      "give the instant of the review", at=at, update_at=update.at)


def approve_update(session: Session, update: ProgressUpdate, *, at: datetime,
                   actor: str) -> ProgressUpdate:
    """Approve `update` and apply its state to the task, whose version increases.

    The approver must not be the submitter (maker-checker, Điều 15.3). An
    approved completion sets the task's completed_at to the update's `at`.
    An update older than one already approved cannot be approved, because
    applying it would move the task back in time.
    """
    _require_submitted(update)
    _require_review_instant(update, at)
    if not (actor or "").strip():
        raise invalid("actor", actor, "The approver is missing; sign in and approve again")
    if actor == update.submitted_by:
        raise SelfApprovalError(message(
            "%(actor)s submitted update %(update_id)s and cannot also approve it; another "
            "person must approve it", actor=actor, update_id=update.id))
    task = update.task
    newer = session.scalars(
        select(ProgressUpdate).where(ProgressUpdate.task_id == task.id,
                                     ProgressUpdate.status == "approved",
                                     ProgressUpdate.at > update.at)
        .order_by(ProgressUpdate.at.desc()).limit(1)
    ).first()
    if newer is not None:
        raise WorkflowStateError(message(
            "Update %(newer_id)s of %(newer_at)s is already approved and newer than update "
            "%(update_id)s of %(update_at)s; return this update or submit a new one",
            newer_id=newer.id, newer_at=newer.at, update_id=update.id, update_at=update.at))

    before = {"status": update.status, "task_version": task.version,
              **audit_log.snapshot(task, _TASK_STATE_FIELDS)}
    apply_to_task(task, update)
    update.status = "approved"
    update.reviewed_at = at
    update.reviewed_by = actor
    _flush_task(session, task)
    record_step(
        session, task, kind="task.progress_approve", at=at, actor=actor,
        content="progress update approved and applied to the task", outcome="approved",
        object_type="task_progress_update", object_id=update.id, before=before,
        after={"status": update.status, "task_version": task.version,
               **audit_log.snapshot(task, _TASK_STATE_FIELDS)},
        detail={"reported_state": update.reported_state, "task_version": task.version},
    )
    return update


def apply_to_task(task: Task, update: ProgressUpdate) -> None:
    """Set the state, completion instant, progress and results of `task` from an approved update."""
    task.reported_state = update.reported_state
    task.completed_at = update.at if update.reported_state == "completed" else None
    if update.progress_percent is not None:
        task.progress_percent = update.progress_percent
    if update.results is not None and task.confidentiality == "regular":
        task.result_summary = update.results
    # Setting updated_at makes the flush update the row even when the state is
    # unchanged, so the version increases with every approval.
    task.updated_at = utcnow()


def record_reviewed_update(
    session: Session,
    task: Task,
    *,
    at: datetime,
    submitted_by: str,
    reported_state: str,
    progress_percent: int | None = None,
    milestone: str | None = None,
    results: str | None = None,
    difficulties: str | None = None,
    next_steps: str | None = None,
    idempotency_key: str,
    status: str,
    reviewed_at: datetime,
    reviewed_by: str,
    review_comment: str | None = None,
    key_is_new: bool = False,
) -> tuple[ProgressUpdate, bool]:
    """Store an update that was submitted and reviewed elsewhere; return it and whether it is new.

    Used for a report that a child node's maker and checker approved. The row
    is stored already reviewed (`status` "approved" or "returned"), and its
    content is checked as `submit_update` checks it. The caller applies an
    approved update to the task (`apply_to_task`) and records its history
    (`history.record_event`). A key already stored returns that row unless
    its content differs, which raises IdempotencyKeyReusedError.

    `key_is_new` skips the query for the key, for a caller that read the
    keys of many updates at once. An update stored under the key since then
    is skipped by the insert, and the stored row is returned.
    """
    require_instant(at)
    require_instant(reviewed_at)
    if status not in ("approved", "returned"):
        raise ValueError(f"status {status!r} is not a review outcome; use approved or returned")
    if reviewed_at < at:
        raise invalid("at", reviewed_at.isoformat(),
                      "Review at %(at)s is before the update's instant %(update_at)s; "
                      "give the instant of the review", at=reviewed_at, update_at=at)
    if status == "approved" and reviewed_by == submitted_by:
        raise SelfApprovalError(message(
            "%(actor)s submitted the update and cannot also approve it; another person must "
            "approve it", actor=reviewed_by))
    values = _update_values(reported_state, progress_percent, milestone, results, difficulties,
                            next_steps)
    key = idempotency_key.strip()
    existing = None if key_is_new else _existing_for_key(session, task, key,
                                                          {**values, "at": at})
    if existing is not None:
        return existing, False
    _validate_submission(task, at, values, key)
    columns = dict(task_id=task.id, at=at, submitted_by=submitted_by, idempotency_key=key,
                   status=status, reviewed_at=reviewed_at, reviewed_by=reviewed_by,
                   review_comment=review_comment, created_at=utcnow(), **values)
    # A Core insert that skips a stored key needs no savepoint and no flush of
    # its own, which a child node's batch of reports would pay once per report.
    table = ProgressUpdate.__table__
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    update_id = session.execute(
        dialect.insert(table).values(**columns)
        .on_conflict_do_nothing(index_elements=[table.c.idempotency_key])
        .returning(table.c.id)).scalar()
    if update_id is None:
        # Stored after the key was looked up, by another transaction or by an
        # earlier report of the same batch.
        existing = _existing_for_key(session, task, key, {**values, "at": at})
        assert existing is not None
        return existing, False
    update = ProgressUpdate(id=update_id, **columns)
    make_transient_to_detached(update)
    session.add(update)
    return update, True


def return_update(session: Session, update: ProgressUpdate, *, at: datetime, actor: str | None,
                  comment: str) -> ProgressUpdate:
    """Return `update` to its submitter with `comment`; the task is unchanged."""
    _require_submitted(update)
    _require_review_instant(update, at)
    comment_text = require_text(comment, "comment")
    update.status = "returned"
    update.reviewed_at = at
    update.reviewed_by = actor
    update.review_comment = comment_text
    session.flush()
    record_step(
        session, update.task, kind="task.progress_return", at=at, actor=actor,
        content="progress update returned for correction", outcome="returned",
        object_type="task_progress_update", object_id=update.id,
        before={"status": "submitted"},
        after={"status": update.status, "review_comment": comment_text},
        detail={"comment": comment_text} if update.task.confidentiality == "regular" else None,
    )
    return update


# Optimistic locking ----------------------------------------------------------


def update_task_fields(session: Session, task: Task, *, expected_version: int,
                       actor: str | None, **changes: str | None) -> Task:
    """Change descriptive fields of `task` if it is still at `expected_version`.

    Raises StaleTaskError naming who changed the task last and when, taken
    from its newest event, when the version differs. Only
    EDITABLE_TASK_FIELDS may change; a call that changes nothing writes nothing.
    """
    if task.version != expected_version:
        event = last_event(session, task)
        raise StaleTaskError(message(
            "Task %(task)s was changed by %(actor)s at %(time)s (version %(version)s, "
            "you edited version %(expected)s); reload it and apply your change again",
            task=task_reference(task), actor=(event.actor if event and event.actor else "the node"),
            time=event.at if event else task.updated_at, version=task.version,
            expected=expected_version))
    problems = ProblemCollector()
    for name in changes:
        if name not in EDITABLE_TASK_FIELDS:
            problems.add(name, message("%(field)s cannot be changed here; editable fields are "
                                       "%(fields)s", field=name,
                                       fields=", ".join(EDITABLE_TASK_FIELDS)), None)
        elif task.confidentiality != "regular" and name in CONFIDENTIAL_TASK_FIELDS \
                and _clean_text(changes[name]) is not None:
            problems.add(name, message("Confidential and top-secret tasks store no %(field)s; "
                                       "leave it empty", field=name), None)
    if task.confidentiality == "regular" and "content" in changes \
            and _clean_text(changes["content"]) is None:
        problems.add("content", message("Task content is missing; describe the task"), None)
    problems.raise_if_any(message("Changes to task %(task)s are invalid", task=task_reference(task)))

    new_values = {name: _clean_text(value) for name, value in changes.items()}
    changed = {name: value for name, value in new_values.items() if getattr(task, name) != value}
    if not changed:
        return task
    before = {name: getattr(task, name) for name in changed}
    for name, value in changed.items():
        setattr(task, name, value)
    refresh_search_text(task)
    _flush_task(session, task)
    record_step(
        session, task, kind="task.edit", at=utcnow(), actor=actor,
        content="task fields changed: " + ", ".join(sorted(changed)), outcome="changed",
        object_type="task", object_id=task.id,
        before={**before, "version": expected_version}, after={**changed, "version": task.version},
        detail={"fields": sorted(changed), "version": task.version},
    )
    return task
