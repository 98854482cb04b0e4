"""The pages: dashboard, task list and task, documents, agencies, group assignments to resolve."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, render_template, request
from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, selectinload

from node.auth.service import roles_of
from node.auth.web import current_user, login_required
from node.core.text import clean, fold
from node.core.web import db_session
from node.local_tasks import org_unit_merge, permissions, queries, service
from node.local_tasks.api.params import QueryReader
from node.local_tasks.completion import LEVELS, completion_level_expr, level_of
from node.local_tasks.models import (
    AGENCY_ROLES,
    DEADLINE_KINDS,
    Document,
    GroupAssignment,
    OrgUnit,
    Task,
    TaskAgency,
)
from node.local_tasks.views import views
from node.local_tasks.workflow.lead_states import reporting_lead_ids
from node.local_tasks.workflow.models import LeadAgencyState


def _page_size() -> int:
    return current_app.config["THEODOI_SETTINGS"].page_size


def unresolved_lead_group_counts(session: Session, at: datetime) -> dict[str, int]:
    """Count, per level, the visible tasks whose lead is a group of agencies not yet resolved."""
    level = completion_level_expr(at)
    has_group = exists().where(and_(GroupAssignment.task_id == Task.id,
                                    GroupAssignment.role == "lead",
                                    GroupAssignment.resolved_at.is_(None)))
    visible = permissions.visible_task_filter(session, current_user())
    counts = dict.fromkeys(LEVELS, 0)
    for name, count in session.execute(
            select(level, func.count()).where(has_group, visible).group_by(level)):
        counts[name] = count
    return counts


def _visible_tasks(session: Session) -> queries.TaskFilter:
    return queries.TaskFilter(condition=permissions.visible_task_filter(session, current_user()))


@views.get("/")
@login_required
def dashboard():  # noqa: ANN201
    session = db_session()
    reader = QueryReader(request.args)
    at, at_given = reader.at()
    reader.finish()
    visible = _visible_tasks(session)
    counts = queries.count_by_level(session, visible, at=at)
    agencies = queries.count_by_agency(session, at=at, role="lead", filters=visible)
    groups = unresolved_lead_group_counts(session, at)
    return render_template(
        "dashboard.html", at=at, at_given=at_given, counts=counts,
        total=sum(counts.values()), agencies=agencies, groups=groups,
        groups_total=sum(groups.values()),
    )


def _filter_choices(session: Session) -> dict:
    # The agencies and documents are search fields with suggestions
    # (/api/v1/suggestions/...): the full lists had about 3,000 options each
    # at a million tasks and took longer to load and render than the tasks.
    return {
        "classification_choices": queries.classification_values(session),
        "roles": AGENCY_ROLES,
    }


def _agency_named(session: Session, reader: QueryReader, typed: str) -> int | None:
    """Return the id of the agency called `typed` (or an alias of it), ignoring case and accents."""
    folded = fold(typed)
    ids = session.scalars(select(OrgUnit.id).where(OrgUnit.name_folded == folded).limit(2)).all()
    if len(ids) > 1:
        reader.problems.add("agency", "several agencies have this name; type more of it and "
                            "choose one of the suggestions", typed)
        return None
    if ids:
        return ids[0]
    unit = service.find_org_unit(session, typed)
    if unit is None:
        reader.problems.add("agency", "no agency has this name; type part of the name and "
                            "choose one of the suggestions, or clear the field", typed)
        return None
    return unit.id


def _document_numbered(session: Session, reader: QueryReader, typed: str) -> int | None:
    """Return the id of the visible document whose reference is `typed`, ignoring case and accents."""
    visible = permissions.visible_document_filter(session, current_user())
    exact = session.scalar(select(Document.id).where(visible, Document.reference == clean(typed)))
    if exact is not None:
        return exact
    folded = fold(typed)
    ids = [row.id for row in session.execute(select(Document.id, Document.reference)
                                             .where(visible))
           if fold(row.reference) == folded]
    if len(ids) != 1:
        reader.problems.add("document", "no document has this number; type part of it and "
                            "choose one of the suggestions, or clear the field", typed)
        return None
    return ids[0]


def _labels_of(unit: OrgUnit) -> set[str]:
    """Return the folded texts that name `unit` in the agency field, with its parent's name or without."""
    labels = {fold(unit.name)}
    if unit.parent is not None:
        labels.add(fold(f"{unit.name} ({unit.parent.name})"))
    return labels


def _typed_filters(session: Session, reader: QueryReader,
                   filters: queries.TaskFilter) -> dict[str, str]:
    """Apply the agency and document names typed in the search fields; return the fields' text.

    A field's script sends the chosen suggestion's id beside the name. A
    browser without JavaScript sends the typed name alone, or with the id of
    the filter that the page showed before: a name that differs from that
    id's record then replaces it.
    """
    typed_agency = reader.single("agency")
    agency = session.get(OrgUnit, filters.agency_id) if filters.agency_id else None
    if typed_agency and (agency is None or fold(typed_agency) not in _labels_of(agency)):
        filters.agency_id = _agency_named(session, reader, typed_agency)
        agency = session.get(OrgUnit, filters.agency_id) if filters.agency_id else None

    typed_document = reader.single("document")
    reference = _visible_reference(session, filters.document_id)
    if typed_document and (reference is None or fold(reference) != fold(typed_document)):
        filters.document_id = _document_numbered(session, reader, typed_document)
        reference = _visible_reference(session, filters.document_id)
    return {"agency_text": agency.name if agency else (typed_agency or ""),
            "document_text": reference or typed_document or ""}


def _visible_reference(session: Session, document_id: int | None) -> str | None:
    if document_id is None:
        return None
    return session.scalar(select(Document.reference).where(
        Document.id == document_id, permissions.visible_document_filter(session, current_user())))


@views.get("/tasks")
@login_required
def task_list():  # noqa: ANN201
    session = db_session()
    reader = QueryReader(request.args)
    # A role with a typed agency name is complete: the name gives the agency id.
    filters = reader.task_filter(session, role_needs_agency=not reader.values("agency"))
    typed = _typed_filters(session, reader, filters)
    filters.condition = permissions.visible_task_filter(session, current_user())
    at, at_given = reader.at()
    page_number, page_size = reader.paging(_page_size())
    reader.finish()
    page = queries.list_tasks(session, filters, at=at, page=page_number, page_size=page_size)
    return render_template(
        "tasks.html", page=page, filters=filters, at=at, at_given=at_given, **typed,
        **_filter_choices(session),
    )


@views.get("/tasks/<int:task_id>")
@login_required
def task_detail(task_id: int):  # noqa: ANN201
    session = db_session()
    reader = QueryReader(request.args)
    at, at_given = reader.at()
    reader.finish()
    task = service.get_task(session, task_id)
    permissions.require(current_user(), permissions.READ, task)
    by_role = {role: [link.org_unit for link in task.agencies if link.role == role]
               for role in AGENCY_ROLES}
    deadlines = sorted(task.deadlines, key=lambda row: DEADLINE_KINDS.index(row.kind))
    lead_states = session.scalars(
        select(LeadAgencyState).where(LeadAgencyState.task_id == task.id)
        .options(selectinload(LeadAgencyState.org_unit))).all()
    lead_states = sorted(lead_states, key=lambda state: state.org_unit.name)
    reported = {state.org_unit_id for state in lead_states}
    reporting = reporting_lead_ids(session, task) if lead_states else None
    unreported = sorted((unit for unit in by_role["lead"] if unit.id not in reported),
                        key=lambda unit: unit.name)
    # Lead agencies outside the org trees of the child nodes have no state here.
    leads_without_report = [unit for unit in unreported
                            if reporting is None or unit.id in reporting]
    leads_without_node = [unit for unit in unreported
                          if reporting is not None and unit.id not in reporting]
    return render_template(
        "task.html", task=task, level=level_of(task, at), at=at, at_given=at_given,
        by_role=by_role, deadlines=deadlines, lead_states=lead_states,
        leads_without_report=leads_without_report if lead_states else [],
        leads_without_node=leads_without_node,
    )


@views.get("/documents")
@login_required
def document_list():  # noqa: ANN201
    session = db_session()
    reader = QueryReader(request.args)
    page_number, page_size = reader.paging(_page_size())
    reader.finish()
    visible = permissions.visible_document_filter(session, current_user())
    total = session.scalar(select(func.count()).select_from(Document).where(visible)) or 0
    documents = session.scalars(
        select(Document).where(visible).options(selectinload(Document.kind))
        .order_by(Document.issued_on.desc().nulls_last(), Document.id)
        .offset((page_number - 1) * page_size).limit(page_size)
    ).all()
    page = queries.Page(items=list(documents), total=total, page=page_number, page_size=page_size)
    return render_template("documents.html", page=page)


@views.get("/documents/<int:document_id>")
@login_required
def document_detail(document_id: int):  # noqa: ANN201
    session = db_session()
    document = permissions.get_visible_document(session, current_user(), document_id)
    reader = QueryReader(request.args)
    at, at_given = reader.at()
    page_number, page_size = reader.paging(_page_size())
    reader.finish()
    filters = _visible_tasks(session)
    filters.document_id = document.id
    # An exact total: a document contains at most 10,000 tasks, and the level
    # counts beside the list show the same total.
    page = queries.list_tasks(session, filters, at=at, page=page_number, page_size=page_size,
                              total_limit=None)
    counts = queries.count_by_level(session, filters, at=at)
    return render_template(
        "document.html", document=document, page=page, counts=counts,
        total=sum(counts.values()), at=at, at_given=at_given,
    )


@views.get("/agencies")
@login_required
def agency_list():  # noqa: ANN201
    session = db_session()
    only_review = request.args.get("needs_review") in ("1", "true")
    query = select(OrgUnit).options(selectinload(OrgUnit.parent)).order_by(OrgUnit.sort_key)
    if only_review:
        query = query.where(OrgUnit.needs_review.is_(True))
    units = session.scalars(query).all()
    lead_counts = dict(session.execute(
        select(TaskAgency.org_unit_id, func.count()).join(Task, Task.id == TaskAgency.task_id)
        .where(TaskAgency.role == "lead",
               permissions.visible_task_filter(session, current_user()))
        .group_by(TaskAgency.org_unit_id)).all())
    review_count = session.scalar(
        select(func.count()).select_from(OrgUnit).where(OrgUnit.needs_review.is_(True))) or 0
    can_merge = bool(roles_of(current_user()) & set(org_unit_merge.MERGE_ROLES))
    return render_template("agencies.html", units=units, lead_counts=lead_counts,
                           only_review=only_review, review_count=review_count,
                           can_merge=can_merge)


@views.get("/group-assignments")
@login_required
def group_assignment_list():  # noqa: ANN201
    session = db_session()
    reader = QueryReader(request.args)
    page_number, page_size = reader.paging(_page_size())
    reader.finish()
    unresolved = GroupAssignment.resolved_at.is_(None)
    visible = permissions.visible_task_filter(session, current_user())
    total = session.scalar(
        select(func.count()).select_from(GroupAssignment)
        .join(Task, Task.id == GroupAssignment.task_id).where(unresolved, visible)) or 0
    rows = session.scalars(
        select(GroupAssignment).where(unresolved, visible)
        .join(Task, Task.id == GroupAssignment.task_id)
        .order_by(Task.document_id, Task.position, GroupAssignment.id)
        .options(selectinload(GroupAssignment.task).selectinload(Task.document))
        .offset((page_number - 1) * page_size).limit(page_size)
    ).all()
    page = queries.Page(items=list(rows), total=total, page=page_number, page_size=page_size)
    return render_template("group_assignments.html", page=page)
