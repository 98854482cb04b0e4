"""Endpoints of the task workflow: transfer, receipt, objections, progress updates, explanations.

Every step happens at the server's clock (`now`), so a client cannot
backdate it. A step on a task may carry `If-Match: <task version>`. When the
task has changed since, the step is rejected with 409 and nothing is written.
JSON bodies are read strictly: unknown fields, missing fields and wrong types
are reported together in one problem+json response.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Response, current_app, jsonify, request, url_for
from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, aliased, selectinload
from werkzeug.exceptions import UnsupportedMediaType

from node.auth.models import User
from node.auth.web import current_user, login_required
from node.core.errors import NotFoundError, ProblemCollector
from node.core.i18n import _, _l
from node.core.web import db_session
from node.local_tasks import permissions, service
from node.local_tasks.api import api, serialize
from node.local_tasks.api.params import PAGING_PARAMS, QueryReader
from node.local_tasks.completion import completion_level_expr
from node.local_tasks.models import DEADLINE_KINDS, OrgUnit, Task, TaskAgency
from node.local_tasks.workflow import (
    StaleTaskError,
    answer_explanation,
    approve_update,
    confirm_receipt,
    decide_objection,
    lodge_objection,
    request_explanation,
    return_update,
    submit_update,
    transfer_task,
)
from node.local_tasks.workflow.errors import format_instant, task_reference
from node.local_tasks.workflow.history import last_event
from node.local_tasks.workflow.models import (
    OBJECTION_STATUSES,
    ExplanationRequest,
    Objection,
    ProgressUpdate,
    Receipt,
)

CLOCK_CONFIG_KEY = "THEODOI_CLOCK"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def now() -> datetime:
    """Return the current instant, from `app.config["THEODOI_CLOCK"]` when a test set one."""
    clock: Callable[[], datetime] | None = current_app.config.get(CLOCK_CONFIG_KEY)
    if clock is None:
        return datetime.now(UTC)
    instant = clock()
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise RuntimeError(f"{CLOCK_CONFIG_KEY} returned {instant!r}, which has no time zone")
    return instant


# Reading the request -----------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A field of a JSON body: its name, Python type and whether it must be present.

    A `list` field names the type of its items in `item`.
    """

    name: str
    kind: type
    required: bool = False
    item: type | None = None


_TYPE_NAMES = {str: "string", int: "integer", bool: "boolean", list: "list"}


def _matches(value: object, kind: type, item: type | None = None) -> bool:
    # bool is a subclass of int, but true is no integer here.
    if kind is int and isinstance(value, bool):
        return False
    if kind is list:
        return isinstance(value, list) and all(_matches(element, item) for element in value)
    return isinstance(value, kind)


class BodyReader:
    """Reads a JSON object body against a list of fields, collecting every problem."""

    def __init__(self, fields: tuple[Field, ...]) -> None:
        self.problems = ProblemCollector()
        self.values: dict[str, object] = {}
        body = self._parse_body()
        if body is None:
            body = {}
        if not isinstance(body, dict):
            self.problems.add("", _("The request body must be a JSON object."),
                              type(body).__name__)
            return
        known = {field.name for field in fields}
        for name in body:
            if name not in known:
                self.problems.add(name, _("Unknown field. Known fields are: %(fields)s.",
                                          fields=", ".join(sorted(known)) or "-"), body[name])
        for field in fields:
            value = body.get(field.name)
            if value is None:
                if field.required:
                    self.problems.add(field.name, _("This field is missing."))
                continue
            if not _matches(value, field.kind, field.item):
                expected = _TYPE_NAMES[field.kind]
                if field.item is not None:
                    expected = f"{expected} of {_TYPE_NAMES[field.item]}"
                self.problems.add(field.name, _("Invalid value: expected a %(type)s.",
                                                type=expected), value)
                continue
            self.values[field.name] = value

    @staticmethod
    def _parse_body() -> object:
        """Return the parsed body, None when the request has no body."""
        if not request.get_data(cache=True):
            return None
        if not request.is_json:
            raise UnsupportedMediaType(_("Send the body as JSON with Content-Type: "
                                         "application/json."))
        return request.get_json()

    def get(self, name: str) -> object:
        return self.values.get(name)

    def finish(self) -> None:
        """Raise ValidationError listing every problem found so far, if any."""
        self.problems.raise_if_any(_("The request is invalid; correct every listed field."))


def _expected_version(reader: BodyReader) -> int | None:
    """Return the task version of the If-Match header, recording a problem when it is invalid."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    text = header.strip().removeprefix("W/").strip('"')
    if text.isdigit():
        return int(text)
    reader.problems.add("If-Match", _("Invalid task version; send the version number of "
                                      "the task you read, e.g. If-Match: 3."), header)
    return None


def _check_version(session: Session, task: Task, expected: int | None) -> None:
    """Raise StaleTaskError (409) when the task is no longer at version `expected`."""
    if expected is None or task.version == expected:
        return
    event = last_event(session, task)
    raise StaleTaskError(_(
        "Task %(task)s was changed by %(actor)s at %(time)s (version %(version)s, you sent "
        "version %(expected)s); reload it and try again.",
        task=task_reference(task), actor=event.actor if event and event.actor else "the node",
        time=format_instant(event.at if event else task.updated_at),
        version=task.version, expected=expected))


def begin_step(reader: BodyReader, task: Task, action: str) -> None:
    """Check the permission, then the body and the If-Match header, all before any write."""
    permissions.require(current_user(), action, task)
    expected = _expected_version(reader)
    reader.finish()
    _check_version(db_session(), task, expected)


_NOT_FOUND_MESSAGES = {
    Objection: _l("No objection with id %(id)s."),
    ProgressUpdate: _l("No progress update with id %(id)s."),
    ExplanationRequest: _l("No explanation request with id %(id)s."),
}


def _load_record(model: type, record_id: int):  # noqa: ANN202
    """Return the workflow record `record_id` whose task the user may see, else raise 404.

    A record of a hidden task gets the same message as a missing id.
    """
    record = db_session().get(model, record_id)
    if record is None or not permissions.can(current_user(), permissions.READ, record.task):
        raise NotFoundError(str(_NOT_FOUND_MESSAGES[model]) % {"id": record_id})
    return record


def actor_name() -> str:
    user: User = current_user()
    return user.username


def working_calendar():  # noqa: ANN202
    return current_app.extensions["theodoi_calendar"]


# JSON forms --------------------------------------------------------------------


def task_state(task: Task) -> dict:
    """Build the workflow state of a task: version, transfer, receipt and service deadlines."""
    return {
        "id": task.id,
        "version": task.version,
        "reported_state": task.reported_state,
        "progress_percent": task.progress_percent,
        "completed_at": serialize.instant(task.completed_at),
        "transferred_at": serialize.instant(task.transferred_at),
        "received_at": serialize.instant(task.received_at),
        "service_deadlines": [
            {"kind": row.kind, "due_at": serialize.instant(row.due_at),
             "pending_reason": row.pending_reason}
            for row in sorted(task.deadlines, key=lambda row: DEADLINE_KINDS.index(row.kind))
        ],
    }


def receipt_json(receipt: Receipt) -> dict:
    return {"id": receipt.id, "task_id": receipt.task_id,
            "transferred_at": serialize.instant(receipt.transferred_at),
            "received_at": serialize.instant(receipt.received_at),
            "received_by": receipt.received_by, "due_at": serialize.instant(receipt.due_at),
            "is_late": receipt.is_late}


def objection_json(objection: Objection) -> dict:
    return {
        "id": objection.id, "task_id": objection.task_id, "kind": objection.kind,
        "reason": objection.reason, "lodged_at": serialize.instant(objection.lodged_at),
        "lodged_by": objection.lodged_by,
        "feedback_due_at": serialize.instant(objection.feedback_due_at),
        "status": objection.status, "decided_at": serialize.instant(objection.decided_at),
        "decided_by": objection.decided_by, "decision_reason": objection.decision_reason,
        "decided_late": objection.decided_late,
        "reassigned_to": (serialize.org_unit_ref(objection.reassigned_to)
                          if objection.reassigned_to else None),
    }


def update_json(update: ProgressUpdate) -> dict:
    return {
        "id": update.id, "task_id": update.task_id, "at": serialize.instant(update.at),
        "submitted_by": update.submitted_by, "reported_state": update.reported_state,
        "progress_percent": update.progress_percent, "milestone": update.milestone,
        "results": update.results, "difficulties": update.difficulties,
        "next_steps": update.next_steps, "idempotency_key": update.idempotency_key,
        "status": update.status, "reviewed_at": serialize.instant(update.reviewed_at),
        "reviewed_by": update.reviewed_by, "review_comment": update.review_comment,
    }


def explanation_json(explanation: ExplanationRequest) -> dict:
    return {
        "id": explanation.id, "task_id": explanation.task_id,
        "deadline_kind": explanation.deadline_kind,
        "deadline_due_at": serialize.instant(explanation.deadline_due_at),
        "reason": explanation.reason, "requested_at": serialize.instant(explanation.requested_at),
        "requested_by": explanation.requested_by, "status": explanation.status,
        "answer": explanation.answer, "answered_at": serialize.instant(explanation.answered_at),
        "answered_by": explanation.answered_by,
    }


def respond(body: dict, status: int = 200, location: str | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    if location is not None:
        response.headers["Location"] = location
    return response


# Transfer, receipt and objections -------------------------------------------------


@api.post("/tasks/<int:task_id>/transfer")
@login_required
def transfer(task_id: int):  # noqa: ANN201
    task = service.get_task(db_session(), task_id)
    begin_step(BodyReader(()), task, permissions.TRANSFER)
    transfer_task(db_session(), task, at=now(), actor=actor_name(), calendar=working_calendar())
    return respond({"task": task_state(task)})


@api.post("/tasks/<int:task_id>/receipt")
@login_required
def receipt(task_id: int):  # noqa: ANN201
    task = service.get_task(db_session(), task_id)
    begin_step(BodyReader(()), task, permissions.CONFIRM_RECEIPT)
    row = confirm_receipt(db_session(), task, at=now(), actor=actor_name(),
                          calendar=working_calendar())
    return respond({"receipt": receipt_json(row), "task": task_state(task)}, 201)


@api.post("/tasks/<int:task_id>/objections")
@login_required
def objections_create(task_id: int):  # noqa: ANN201
    task = service.get_task(db_session(), task_id)
    reader = BodyReader((Field("kind", str, required=True), Field("reason", str, required=True)))
    begin_step(reader, task, permissions.LODGE_OBJECTION)
    objection = lodge_objection(db_session(), task, at=now(), actor=actor_name(),
                                reason=reader.get("reason"), kind=reader.get("kind"),
                                calendar=working_calendar())
    return respond({"objection": objection_json(objection), "task": task_state(task)}, 201)


@api.post("/objections/<int:objection_id>/decision")
@login_required
def objection_decision(objection_id: int):  # noqa: ANN201
    session = db_session()
    objection = _load_record(Objection, objection_id)
    reader = BodyReader((Field("accept", bool, required=True), Field("reason", str),
                         Field("reassign_to", int)))
    reassign_to = None
    if reader.get("reassign_to") is not None:
        reassign_to = session.get(OrgUnit, reader.get("reassign_to"))
        if reassign_to is None:
            reader.problems.add("reassign_to", _("No org unit has this id."),
                                reader.get("reassign_to"))
    begin_step(reader, objection.task, permissions.DECIDE_OBJECTION)
    decide_objection(session, objection, at=now(), actor=actor_name(), accept=reader.get("accept"),
                     reason=reader.get("reason"), reassign_to=reassign_to)
    return respond({"objection": objection_json(objection), "task": task_state(objection.task)})


@api.get("/objections")
@login_required
def objections_list():  # noqa: ANN201
    session = db_session()
    reader = QueryReader(request.args, ("status", *PAGING_PARAMS))
    status = reader.single("status")
    if status is not None and status not in OBJECTION_STATUSES:
        reader.problems.add("status", _("Unknown status; use one of: %(statuses)s.",
                                        statuses=", ".join(OBJECTION_STATUSES)), status)
    page, page_size = reader.paging(current_app.config["THEODOI_SETTINGS"].page_size)
    reader.finish()
    condition = and_(Task.id == Objection.task_id,
                     permissions.visible_task_filter(session, current_user()))
    if status is not None:
        condition = and_(condition, Objection.status == status)
    query = select(Objection).join(Task, Task.id == Objection.task_id).where(condition)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Objection.lodged_at, Objection.id)
                           .offset((page - 1) * page_size).limit(page_size)).all()
    return respond(_page([objection_json(row) for row in rows], total, page, page_size))


def _page(items: list, total: int, page: int, page_size: int) -> dict:
    return {"items": items, "total": total, "page": page, "page_size": page_size,
            "pages": max(1, -(-total // page_size))}


# Progress updates ----------------------------------------------------------------


UPDATE_FIELDS = (Field("reported_state", str, required=True), Field("progress_percent", int),
                 Field("milestone", str), Field("results", str), Field("difficulties", str),
                 Field("next_steps", str))


@api.post("/tasks/<int:task_id>/updates")
@login_required
def updates_create(task_id: int):  # noqa: ANN201
    session = db_session()
    task = service.get_task(session, task_id)
    reader = BodyReader(UPDATE_FIELDS)
    key = request.headers.get(IDEMPOTENCY_HEADER)
    previous = None
    if key is not None and key.strip():
        previous = session.scalar(select(ProgressUpdate).where(
            ProgressUpdate.idempotency_key == key.strip(), ProgressUpdate.task_id == task.id))
    if previous is None:
        begin_step(reader, task, permissions.SUBMIT_UPDATE)
        at = now()
    else:
        # A retry of a stored submission returns it even when the task changed
        # since. It keeps the first instant, so only its content is compared.
        permissions.require(current_user(), permissions.SUBMIT_UPDATE, task)
        reader.finish()
        at = previous.at
    update = submit_update(session, task, at=at, actor=actor_name(), idempotency_key=key,
                           **{field.name: reader.get(field.name) for field in UPDATE_FIELDS})
    return respond({"update": update_json(update), "task": task_state(task)}, 201,
                    location=url_for("api.task_timeline", task_id=task.id))


@api.post("/updates/<int:update_id>/approve")
@login_required
def update_approve(update_id: int):  # noqa: ANN201
    update = _load_record(ProgressUpdate, update_id)
    begin_step(BodyReader(()), update.task, permissions.REVIEW_UPDATE)
    approve_update(db_session(), update, at=now(), actor=actor_name())
    return respond({"update": update_json(update), "task": task_state(update.task)})


@api.post("/updates/<int:update_id>/return")
@login_required
def update_return(update_id: int):  # noqa: ANN201
    update = _load_record(ProgressUpdate, update_id)
    reader = BodyReader((Field("comment", str, required=True),))
    begin_step(reader, update.task, permissions.REVIEW_UPDATE)
    return_update(db_session(), update, at=now(), actor=actor_name(), comment=reader.get("comment"))
    return respond({"update": update_json(update), "task": task_state(update.task)})


@api.get("/approvals")
@login_required
def approvals():  # noqa: ANN201
    """List submitted updates of tasks the user approves, without the user's own submissions."""
    session = db_session()
    reader = QueryReader(request.args, PAGING_PARAMS)
    page, page_size = reader.paging(current_app.config["THEODOI_SETTINGS"].page_size)
    reader.finish()
    user = current_user()
    units = permissions.access_of(session, user).units("approver")
    query = (select(ProgressUpdate).join(Task, Task.id == ProgressUpdate.task_id)
             .where(ProgressUpdate.status == "submitted",
                    ProgressUpdate.submitted_by.is_distinct_from(user.username),
                    _led_by(units)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(ProgressUpdate.at, ProgressUpdate.id)
                           .offset((page - 1) * page_size).limit(page_size)).all()
    return respond(_page([update_json(row) for row in rows], total, page, page_size))


def _led_by(units: frozenset[int]):  # noqa: ANN202
    """Return an SQL condition: a unit of `units` is a lead agency of the task."""
    agency = aliased(TaskAgency)
    return exists().where(agency.task_id == Task.id, agency.role == "lead",
                          agency.org_unit_id.in_(units))


# Explanations --------------------------------------------------------------------


@api.post("/tasks/<int:task_id>/explanations")
@login_required
def explanations_create(task_id: int):  # noqa: ANN201
    task = service.get_task(db_session(), task_id)
    reader = BodyReader((Field("reason", str, required=True),))
    begin_step(reader, task, permissions.REQUEST_EXPLANATION)
    explanation = request_explanation(db_session(), task, at=now(), actor=actor_name(),
                                      reason=reader.get("reason"))
    return respond({"explanation": explanation_json(explanation), "task": task_state(task)},
                    201)


@api.post("/explanations/<int:explanation_id>/answer")
@login_required
def explanation_answer(explanation_id: int):  # noqa: ANN201
    explanation = _load_record(ExplanationRequest, explanation_id)
    reader = BodyReader((Field("text", str, required=True),))
    begin_step(reader, explanation.task, permissions.ANSWER_EXPLANATION)
    answer_explanation(db_session(), explanation, at=now(), actor=actor_name(),
                       text=reader.get("text"))
    return respond({"explanation": explanation_json(explanation),
                     "task": task_state(explanation.task)})


# Reading ---------------------------------------------------------------------------


@api.get("/tasks/<int:task_id>/timeline")
@login_required
def task_timeline(task_id: int):  # noqa: ANN201
    """Return a task's events in order, with its receipts, objections, updates and explanations."""
    session = db_session()
    QueryReader(request.args, ()).finish()
    task = service.get_task(session, task_id)
    permissions.require(current_user(), permissions.READ, task)

    def rows(model: type, order) -> list:  # noqa: ANN001
        return list(session.scalars(select(model).where(model.task_id == task.id)
                                    .order_by(order, model.id)))

    return respond({
        "task": task_state(task),
        "events": [{"id": event.id, "kind": event.kind, "at": serialize.instant(event.at),
                    "actor": event.actor, "detail": event.detail} for event in task.events],
        "receipts": [receipt_json(row) for row in rows(Receipt, Receipt.received_at)],
        "objections": [objection_json(row) for row in rows(Objection, Objection.lodged_at)],
        "updates": [update_json(row) for row in rows(ProgressUpdate, ProgressUpdate.at)],
        "explanations": [explanation_json(row) for row in
                         rows(ExplanationRequest, ExplanationRequest.requested_at)],
    })


@api.get("/inbox")
@login_required
def inbox():  # noqa: ANN201
    """List the transferred tasks whose receipt the user's agencies have still to confirm."""
    session = db_session()
    reader = QueryReader(request.args, PAGING_PARAMS)
    page, page_size = reader.paging(current_app.config["THEODOI_SETTINGS"].page_size)
    reader.finish()
    units = permissions.access_of(session, current_user()).units(
        *permissions.LEAD_AGENCY_ACTIONS[permissions.CONFIRM_RECEIPT])
    at = now()
    level = completion_level_expr(at).label("level")
    query = select(Task, level).where(Task.transferred_at.is_not(None),
                                      Task.received_at.is_(None), _led_by(units))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(Task.transferred_at, Task.id).offset((page - 1) * page_size)
        .limit(page_size)
        .options(selectinload(Task.agencies).selectinload(TaskAgency.org_unit),
                 selectinload(Task.group_assignments), selectinload(Task.document),
                 selectinload(Task.deadlines))
    ).all()
    items = []
    for task, task_level in rows:
        item = serialize.task_summary(task, task_level)
        item["workflow"] = task_state(task)
        items.append(item)
    body = _page(items, total, page, page_size)
    body["at"] = serialize.instant(at)
    return respond(body)

