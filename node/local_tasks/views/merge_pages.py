"""Pages that merge an agency created by an import into the agency it duplicates.

Three steps: choose the unit to keep (a search among the units), confirm
after seeing what would move, then merge. An imported unit that is an agency
of its own is kept instead, which clears its review mark. Only the roles of
`org_unit_merge.MERGE_ROLES` reach these pages.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from node.auth.scope import subtree_ids
from node.auth.web import current_user, role_required
from node.core.errors import DomainError, ValidationError
from node.core.i18n import _
from node.core.text import clean, fold
from node.core.web import db_session
from node.evaluation.views import period_kind_label
from node.local_tasks import org_unit_merge
from node.local_tasks.models import OrgUnit, OrgUnitAlias
from node.local_tasks.service import get_org_unit
from node.local_tasks.views import views

CANDIDATE_LIMIT = 20
# Words of the source's name that fill the search field at first, so that the
# other spellings of the same name appear without typing.
DEFAULT_QUERY_WORDS = 3


def _default_query(name: str) -> str:
    words = name.replace(",", " ").split()
    return " ".join(words[:DEFAULT_QUERY_WORDS])


def merge_candidates(session: Session, source: OrgUnit, typed: str) -> list[OrgUnit]:
    """Return up to CANDIDATE_LIMIT active units, outside the source's subtree, named like `typed`.

    A unit matches when its name or one of its aliases contains the typed
    text, accents and case ignored.
    """
    excluded = subtree_ids(session, [source.id])
    query = (select(OrgUnit).where(OrgUnit.status == "active", OrgUnit.id.not_in(excluded))
             .options(selectinload(OrgUnit.parent)).order_by(OrgUnit.sort_key)
             .limit(CANDIDATE_LIMIT))
    folded = fold(typed)
    if folded:
        pattern = "%" + folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        aliased_ids = select(OrgUnitAlias.org_unit_id).where(
            OrgUnitAlias.alias_folded.like(pattern, escape="\\"))
        query = query.where(or_(OrgUnit.name_folded.like(pattern, escape="\\"),
                                OrgUnit.id.in_(aliased_ids)))
    return list(session.scalars(query))


def _node_org_unit() -> str:
    return current_app.config["THEODOI_SETTINGS"].node_org_unit


def _choose_page(source: OrgUnit, typed: str, error: DomainError | None = None,
                 status: int = 200):  # noqa: ANN202
    candidates = merge_candidates(db_session(), source, typed)
    return render_template("agency_merge.html", source=source, typed=typed,
                           candidates=candidates, error=error), status


@views.get("/agencies/<int:unit_id>/merge")
@role_required(*org_unit_merge.MERGE_ROLES)
def agency_merge_form(unit_id: int):  # noqa: ANN201
    source = get_org_unit(db_session(), unit_id)
    typed = clean(request.args.get("q", _default_query(source.name)))
    if not source.needs_review:
        # Said at once, rather than after the officer has chosen the agency to keep.
        error = ValidationError(_("The units were not merged."),
                                problems=[org_unit_merge.not_for_review(source)])
        return _choose_page(source, typed, error, error.status)
    return _choose_page(source, typed)


@views.get("/agencies/<int:unit_id>/merge/confirm")
@role_required(*org_unit_merge.MERGE_ROLES)
def agency_merge_confirm(unit_id: int):  # noqa: ANN201
    session = db_session()
    source = get_org_unit(session, unit_id)
    target_id = request.args.get("target_id")
    try:
        plan = org_unit_merge.plan_merge(session, unit_id, target_id,
                                         node_org_unit=_node_org_unit())
    except DomainError as error:
        return _choose_page(source, clean(request.args.get("q", "")), error, error.status)
    return render_template("agency_merge_confirm.html", plan=plan)


@views.post("/agencies/<int:unit_id>/merge")
@role_required(*org_unit_merge.MERGE_ROLES)
def agency_merge(unit_id: int):  # noqa: ANN201
    session = db_session()
    source = get_org_unit(session, unit_id)
    source_name = source.name
    try:
        plan = org_unit_merge.merge_org_units(session, unit_id, request.form.get("target_id"),
                                              actor=current_user().username,
                                              node_org_unit=_node_org_unit())
    except DomainError as error:
        return _choose_page(source, "", error, error.status)
    flash(_("%(source)s was merged into %(target)s: %(count)s tasks moved, and the name "
            "%(source)s now finds %(target)s in later imports.",
            source=source_name, target=plan.target.name, count=plan.task_count), "success")
    if plan.evaluation_periods:
        flash(_("Evaluate these periods again so that the scores count the merged tasks: "
                "%(periods)s.", periods=", ".join(
                    f"{period_kind_label(kind)} {start.strftime('%d/%m/%Y')}"
                    for kind, start in plan.evaluation_periods)),
              "warning")
    return redirect(url_for("views.agency_list", needs_review=1))


@views.post("/agencies/<int:unit_id>/keep")
@role_required(*org_unit_merge.MERGE_ROLES)
def agency_keep(unit_id: int):  # noqa: ANN201
    try:
        unit = org_unit_merge.keep_as_own_unit(db_session(), unit_id,
                                               actor=current_user().username)
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("views.agency_list", needs_review=1))
    flash(_("%(name)s is kept as an agency of its own and no longer marked for review.",
            name=unit.name), "success")
    return redirect(url_for("views.agency_list", needs_review=1))
