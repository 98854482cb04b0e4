"""Endpoints of assessment: evaluations, inspection findings, classification, group
resolution and the transfer of a whole document.

They read bodies, check permissions and If-Match like the workflow endpoints
(see workflow_routes), and take each step at the server's clock.
"""

from __future__ import annotations

from sqlalchemy import select
from werkzeug.exceptions import Forbidden

from node.auth.web import current_user, login_required
from node.core.errors import NotFoundError
from node.core.i18n import _
from node.core.web import db_session
from node.local_tasks import permissions, service
from node.local_tasks.api import api, serialize
from node.local_tasks.api.workflow_routes import (
    BodyReader,
    Field,
    actor_name,
    begin_step,
    now,
    respond,
    task_state,
    working_calendar,
)
from node.local_tasks.assessment import (
    classify_task,
    close_finding,
    evaluate_task,
    record_finding,
    resolve_group_assignment,
    transfer_document,
)
from node.local_tasks.assessment.models import InspectionFinding, TaskEvaluation
from node.local_tasks.models import ClassificationValue, GroupAssignment, OrgUnit


def evaluation_json(evaluation: TaskEvaluation) -> dict:
    return {"id": evaluation.id, "task_id": evaluation.task_id,
            "evaluated_at": serialize.instant(evaluation.evaluated_at),
            "evaluated_by": evaluation.evaluated_by, "rating": evaluation.rating,
            "comment": evaluation.comment}


def finding_json(finding: InspectionFinding) -> dict:
    return {
        "id": finding.id, "task_id": finding.task_id, "org_unit_id": finding.org_unit_id,
        "recorded_at": serialize.instant(finding.recorded_at),
        "recorded_by": finding.recorded_by, "kind": finding.kind, "finding": finding.finding,
        "recommendation": finding.recommendation, "status": finding.status,
        "closed_at": serialize.instant(finding.closed_at), "closed_by": finding.closed_by,
        "closing_note": finding.closing_note,
    }


def _rows_by_id(reader: BodyReader, name: str, model: type) -> list:
    """Return the rows whose ids the list field `name` gives, recording a problem per unknown id."""
    ids = reader.get(name) or []
    rows = {row.id: row for row in db_session().scalars(select(model).where(model.id.in_(ids)))}
    for value in ids:
        if value not in rows:
            reader.problems.add(name, _("No record has id %(id)s.", id=value), value)
    return [rows[value] for value in ids if value in rows]


# Evaluations and findings ----------------------------------------------------------


@api.post("/tasks/<int:task_id>/evaluations")
@login_required
def evaluations_create(task_id: int):  # noqa: ANN201
    task = service.get_task(db_session(), task_id)
    reader = BodyReader((Field("rating", str, required=True), Field("comment", str)))
    begin_step(reader, task, permissions.EVALUATE)
    evaluation = evaluate_task(db_session(), task, at=now(), actor=actor_name(),
                               rating=reader.get("rating"), comment=reader.get("comment"))
    return respond({"evaluation": evaluation_json(evaluation), "task": task_state(task)}, 201)


@api.post("/tasks/<int:task_id>/findings")
@login_required
def findings_create(task_id: int):  # noqa: ANN201
    task = service.get_task(db_session(), task_id)
    reader = BodyReader((Field("kind", str, required=True), Field("finding", str),
                         Field("recommendation", str)))
    begin_step(reader, task, permissions.RECORD_FINDING)
    finding = record_finding(db_session(), at=now(), actor=actor_name(), kind=reader.get("kind"),
                             finding=reader.get("finding"),
                             recommendation=reader.get("recommendation"), task=task)
    return respond({"finding": finding_json(finding), "task": task_state(task)}, 201)


@api.post("/findings/<int:finding_id>/close")
@login_required
def finding_close(finding_id: int):  # noqa: ANN201
    """Close a finding about a task.

    NOTE: findings about an org unit alone have no endpoint yet, so they get 404 here.
    """
    finding = db_session().get(InspectionFinding, finding_id)
    if finding is None or finding.task is None \
            or not permissions.can(current_user(), permissions.READ, finding.task):
        raise NotFoundError(_("No finding with id %(id)s.", id=finding_id))
    reader = BodyReader((Field("note", str),))
    begin_step(reader, finding.task, permissions.RECORD_FINDING)
    close_finding(db_session(), finding, at=now(), actor=actor_name(), note=reader.get("note"))
    return respond({"finding": finding_json(finding), "task": task_state(finding.task)})


# Assignment ------------------------------------------------------------------------


@api.post("/tasks/<int:task_id>/classifications")
@login_required
def classifications_set(task_id: int):  # noqa: ANN201
    task = service.get_task(db_session(), task_id)
    reader = BodyReader((Field("value_ids", list, required=True, item=int),))
    values = _rows_by_id(reader, "value_ids", ClassificationValue)
    begin_step(reader, task, permissions.CLASSIFY)
    classify_task(db_session(), task, actor=actor_name(), values=values)
    return respond({"task": task_state(task),
                     "classifications": [{"id": value.id, "scheme": value.scheme.code,
                                          "code": value.code} for value in task.classifications]})


@api.post("/group-assignments/<int:group_id>/resolution")
@login_required
def group_resolution(group_id: int):  # noqa: ANN201
    group = db_session().get(GroupAssignment, group_id)
    if group is None or not permissions.can(current_user(), permissions.READ, group.task):
        raise NotFoundError(_("No group assignment with id %(id)s.", id=group_id))
    reader = BodyReader((Field("org_unit_ids", list, required=True, item=int),))
    units = _rows_by_id(reader, "org_unit_ids", OrgUnit)
    begin_step(reader, group.task, permissions.RESOLVE_GROUPS)
    links = resolve_group_assignment(db_session(), group, actor=actor_name(), org_units=units)
    return respond({"task": task_state(group.task),
                     "added": [serialize.org_unit_ref(link.org_unit) for link in links]})


@api.post("/documents/<int:document_id>/transfer")
@login_required
def document_transfer(document_id: int):  # noqa: ANN201
    """Transfer every ready task of a document; only the node-wide roles transfer."""
    session = db_session()
    user = current_user()
    document = permissions.get_visible_document(session, user, document_id)
    if not permissions.access_of(session, user).node_wide:
        raise Forbidden(description=_(
            "Only the central office transfers tasks. Ask an administrator for the "
            "central_officer role."))
    BodyReader(()).finish()
    transferred = transfer_document(session, document, at=now(), actor=actor_name(),
                                    calendar=working_calendar())
    return respond({"document_id": document.id,
                     "transferred": [task_state(task) for task in transferred]})
