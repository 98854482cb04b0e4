"""Endpoints of the JSON API: documents, tasks, counts and reference data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flask import Response, current_app, jsonify, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.exceptions import UnsupportedMediaType

from node.auth.web import current_user, login_required, role_required
from node.core.errors import ConflictError, FieldProblem, ValidationError
from node.core.web import db_session
from node.local_tasks import org_unit_merge, permissions, queries, service
from node.local_tasks.api import api, serialize
from node.local_tasks.api.document_input import read_document, redact
from node.local_tasks.api.params import (
    MAX_TEXT_LENGTH,
    PAGING_PARAMS,
    TASK_FILTER_PARAMS,
    QueryReader,
)
from node.local_tasks.models import ClassificationScheme, Document, DocumentKind, OrgUnit
from node.local_tasks.queries import MAX_PAGE_SIZE

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "web" / "static" / "openapi.json"


def _page_size_default() -> int:
    return current_app.config["THEODOI_SETTINGS"].page_size


def _page_body(items: list, total: int, page: int, page_size: int) -> dict:
    pages = max(1, -(-total // page_size))
    return {"items": items, "total": total, "page": page, "page_size": page_size, "pages": pages}


def _task_page_body(tasks: queries.Page) -> dict:
    """Build a page of task summaries; `total_exact` is false when more than `total` match."""
    body = _page_body([serialize.task_summary(task, level) for task, level in tasks.items],
                      tasks.total, tasks.page, tasks.page_size)
    body["total_exact"] = tasks.total_exact
    return body


# Documents -------------------------------------------------------------------


def _visible_tasks(session: Session) -> queries.TaskFilter:
    return queries.TaskFilter(condition=permissions.visible_task_filter(session, current_user()))


@api.get("/documents")
@login_required
def list_documents():  # noqa: ANN201
    reader = QueryReader(request.args, PAGING_PARAMS)
    page, page_size = reader.paging(_page_size_default())
    reader.finish()
    session = db_session()
    visible = permissions.visible_document_filter(session, current_user())
    total = session.scalar(select(func.count()).select_from(Document).where(visible)) or 0
    documents = session.scalars(
        select(Document).where(visible).options(selectinload(Document.kind))
        .order_by(Document.issued_on.desc().nulls_last(), Document.id)
        .offset((page - 1) * page_size).limit(page_size)
    ).all()
    return jsonify(_page_body([serialize.document(doc) for doc in documents], total, page,
                              page_size))


def _document_with_tasks(document: Document, at: datetime, page: int, page_size: int) -> dict:
    """Return a document's JSON with one page of its tasks and its counts by level as of `at`."""
    session = db_session()
    filters = _visible_tasks(session)
    filters.document_id = document.id
    # A document contains at most 10,000 tasks, found through its index, so the
    # total stays exact and agrees with the level counts beside it.
    tasks = queries.list_tasks(session, filters, at=at, page=page, page_size=page_size,
                               total_limit=None)
    body = serialize.document(document)
    body["at"] = serialize.instant(at)
    body["level_counts"] = serialize.level_counts(queries.count_by_level(session, filters, at=at))
    body["tasks"] = _task_page_body(tasks)
    return body


@api.get("/documents/<int:document_id>")
@login_required
def get_document(document_id: int):  # noqa: ANN201
    reader = QueryReader(request.args, ("at", *PAGING_PARAMS))
    page, page_size = reader.paging(_page_size_default())
    at, _ = reader.at()
    reader.finish()
    document = permissions.get_visible_document(db_session(), current_user(), document_id)
    return jsonify(_document_with_tasks(document, at, page, page_size))


def _without_reported(problems: list[FieldProblem],
                      reported: list[FieldProblem]) -> list[FieldProblem]:
    """Drop service problems on fields that the body reader already reported."""
    paths = {problem.path for problem in reported}

    def covered(path: str) -> bool:
        return any(path == p or path.startswith((p + ".", p + "[")) for p in paths if p)

    return [problem for problem in problems if not covered(problem.path)]


@api.post("/documents")
@role_required("administrator", "central_officer")
def create_document():  # noqa: ANN201
    """Create a document with its tasks; central-office officers and administrators only."""
    reader = QueryReader(request.args, ("create_agencies",))
    create_agencies = reader.boolean("create_agencies") or False
    reader.finish()
    if not request.is_json:
        raise UnsupportedMediaType("Send the document as JSON with Content-Type: application/json")
    body = request.get_json()
    document_input, problems = read_document(body)
    if not isinstance(body, dict):
        problems.raise_if_any("The request body must be a JSON object")
    session = db_session()
    try:
        document = service.create_document(
            session, document_input, create_agencies=create_agencies, actor=current_user().username,
            calendar=current_app.extensions["theodoi_calendar"])
    except ValidationError as exc:
        if type(exc) is not ValidationError:
            raise
        # Problems found by the reader and by the service are reported together;
        # the failed request is rolled back, so nothing is stored.
        merged = problems.problems + _without_reported(exc.problems, problems.problems)
        raise ValidationError(exc.message, problems=[redact(problem) for problem in merged]) \
            from None
    except ConflictError as exc:
        if not problems.problems:
            raise
        problems.add("reference", exc.message, document_input.reference)
        problems.raise_if_any("The document is invalid")
    # The service found nothing wrong with the fields it was given, but the
    # reader left out invalid ones: the request fails and is rolled back.
    problems.raise_if_any(f"Document {document.reference} is invalid")

    body = _document_with_tasks(document, datetime.now(UTC), 1, MAX_PAGE_SIZE)
    location = url_for("api.get_document", document_id=document.id)
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = location
    return response


# Tasks -------------------------------------------------------------------------


@api.get("/tasks")
@login_required
def list_tasks():  # noqa: ANN201
    session = db_session()
    reader = QueryReader(request.args, (*TASK_FILTER_PARAMS, "at", *PAGING_PARAMS))
    filters = reader.task_filter(session)
    filters.condition = permissions.visible_task_filter(session, current_user())
    at, _ = reader.at()
    page_number, page_size = reader.paging(_page_size_default())
    reader.finish()
    page = queries.list_tasks(session, filters, at=at, page=page_number, page_size=page_size)
    body = _task_page_body(page)
    body["at"] = serialize.instant(at)
    return jsonify(body)


@api.get("/tasks/<int:task_id>")
@login_required
def get_task(task_id: int):  # noqa: ANN201
    reader = QueryReader(request.args, ("at",))
    at, _ = reader.at()
    reader.finish()
    task = service.get_task(db_session(), task_id)
    permissions.require(current_user(), permissions.READ, task)
    body = serialize.task_detail(task, at)
    # Workflow steps accept this version in If-Match.
    body["version"] = task.version
    response = jsonify(body)
    response.headers["ETag"] = f'"{task.version}"'
    return response


# Counts ------------------------------------------------------------------------


@api.get("/counts/levels")
@login_required
def count_levels():  # noqa: ANN201
    session = db_session()
    reader = QueryReader(request.args, (*TASK_FILTER_PARAMS, "at"))
    filters = reader.task_filter(session)
    filters.condition = permissions.visible_task_filter(session, current_user())
    at, _ = reader.at()
    reader.finish()
    body = serialize.level_counts(queries.count_by_level(session, filters, at=at))
    body["at"] = serialize.instant(at)
    return jsonify(body)


@api.get("/counts/agencies")
@login_required
def count_agencies():  # noqa: ANN201
    session = db_session()
    reader = QueryReader(request.args, (*TASK_FILTER_PARAMS, "at"))
    # Here `role` is the role in which agencies are counted, so it needs no agency_id.
    filters = reader.task_filter(session, role_needs_agency=False)
    filters.condition = permissions.visible_task_filter(session, current_user())
    at, _ = reader.at()
    reader.finish()
    role = filters.agency_role or "lead"
    rows = queries.count_by_agency(session, at=at, role=role, filters=filters)
    items = [{"org_unit": serialize.org_unit_ref(row["org_unit"]), "total": row["total"],
              "counts": row["counts"]} for row in rows]
    return jsonify({"at": serialize.instant(at), "role": role, "items": items})


# Reference data ----------------------------------------------------------------


@api.get("/org-units")
@login_required
def list_org_units():  # noqa: ANN201
    reader = QueryReader(request.args, ("needs_review",))
    needs_review = reader.boolean("needs_review")
    reader.finish()
    query = select(OrgUnit).order_by(OrgUnit.sort_key)
    if needs_review is not None:
        query = query.where(OrgUnit.needs_review.is_(needs_review))
    units = db_session().scalars(query).all()
    return jsonify({"items": [serialize.org_unit(unit) for unit in units]})


def merge_result(plan: org_unit_merge.MergePlan, *, merged: bool) -> dict:
    """Build the JSON of a merge: what moved (or would move, when `merged` is false)."""
    return {
        "merged": merged,
        "source": serialize.org_unit_ref(plan.source),
        "target": serialize.org_unit(plan.target),
        "task_ids": plan.task_ids,
        "moved_roles": plan.moved_roles,
        "dropped_roles": plan.dropped_roles,
        "new_aliases": plan.new_aliases,
        "lead_states": plan.lead_states,
        "objections": plan.objections,
        "findings": plan.findings,
        "evaluation_periods_to_evaluate_again": [
            {"period_kind": kind, "period_start": start.isoformat()}
            for kind, start in plan.evaluation_periods],
    }


@api.post("/org-units/<int:org_unit_id>/merge")
@role_required(*org_unit_merge.MERGE_ROLES)
def merge_org_unit(org_unit_id: int):  # noqa: ANN201
    """Merge an imported org unit into another unit; `dry_run=true` only reports the changes."""
    reader = QueryReader(request.args, ("dry_run",))
    dry_run = reader.boolean("dry_run") or False
    reader.finish()
    if not request.is_json:
        raise UnsupportedMediaType(
            'Send {"target_id": <id of the unit to keep>} as JSON with Content-Type: '
            "application/json")
    body = request.get_json()
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object", problems=[FieldProblem(
            "", 'send an object such as {"target_id": 12}', type(body).__name__)])
    unknown = sorted(set(body) - {"target_id"})
    if unknown:
        raise ValidationError("The request body has unknown fields", problems=[
            FieldProblem(name, "unknown field; send only target_id", body[name])
            for name in unknown])
    session = db_session()
    settings = current_app.config["THEODOI_SETTINGS"]
    if dry_run:
        plan = org_unit_merge.plan_merge(session, org_unit_id, body.get("target_id"),
                                         node_org_unit=settings.node_org_unit)
    else:
        plan = org_unit_merge.merge_org_units(session, org_unit_id, body.get("target_id"),
                                              actor=current_user().username,
                                              node_org_unit=settings.node_org_unit)
    return jsonify(merge_result(plan, merged=not dry_run))


@api.get("/classifications")
@login_required
def list_classifications():  # noqa: ANN201
    QueryReader(request.args, ()).finish()
    schemes = db_session().scalars(
        select(ClassificationScheme).order_by(ClassificationScheme.id)
        .options(selectinload(ClassificationScheme.values))
    ).all()
    return jsonify({"items": [serialize.classification_scheme(scheme) for scheme in schemes]})


@api.get("/document-kinds")
@login_required
def list_document_kinds():  # noqa: ANN201
    QueryReader(request.args, ()).finish()
    kinds = db_session().scalars(select(DocumentKind).order_by(DocumentKind.id)).all()
    return jsonify({"items": [serialize.document_kind(kind) for kind in kinds]})


# Suggestions for the filter form -------------------------------------------------

SUGGESTION_LIMIT = 10
MAX_SUGGESTION_LIMIT = 50


def _suggestion_request() -> tuple[str, int]:
    """Read `q` (the typed text, may be empty) and `limit` of a suggestion request."""
    reader = QueryReader(request.args, ("q", "limit"))
    typed = reader.single("q") or ""
    if len(typed) > MAX_TEXT_LENGTH:
        reader.problems.add("q", f"too long; type at most {MAX_TEXT_LENGTH} characters",
                            typed[:MAX_TEXT_LENGTH] + "…")
    limit = reader.integer("limit", maximum=MAX_SUGGESTION_LIMIT)
    reader.finish()
    return typed, limit or SUGGESTION_LIMIT


@api.get("/suggestions/agencies")
@login_required
def suggest_agencies():  # noqa: ANN201
    typed, limit = _suggestion_request()
    units = queries.suggest_agencies(db_session(), typed, limit)
    return jsonify({"items": [
        {**serialize.org_unit_ref(unit), "parent": unit.parent.name if unit.parent else None}
        for unit in units]})


@api.get("/suggestions/documents")
@login_required
def suggest_documents():  # noqa: ANN201
    typed, limit = _suggestion_request()
    session = db_session()
    visible = permissions.visible_document_filter(session, current_user())
    rows = queries.suggest_documents(session, typed, limit, visible)
    return jsonify({"items": [
        {"id": row.id, "reference": row.reference, "summary": row.summary} for row in rows]})


@api.get("/openapi.json")
def openapi():  # noqa: ANN201
    return Response(OPENAPI_PATH.read_bytes(), mimetype="application/json")



# The workflow and assessment endpoints register on the same blueprint.
from node.local_tasks.api import assessment_routes, workflow_routes  # noqa: E402,F401
