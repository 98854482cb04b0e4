"""Merging an org unit created by an import into the unit it duplicates.

An import creates a unit, flagged `needs_review`, for each agency spelling
that matches no unit, so one ministry written two ways becomes two units.
`merge_org_units` moves everything of the duplicate (the source) to the
right unit (the target), keeps the source's names as aliases of the target
so later imports of those spellings find the target, and deletes the source.

What refers to the source, and what the merge does with it:

* task agency roles (`task_agencies`): moved to the target. A role that the
  target already holds on the task is dropped instead of duplicated, and so
  is a coordinating role of a task that the target leads after the merge.
* aliases: moved to the target, and the source's name becomes one.
* lead agency states, objections reassigned to the source, inspection
  findings on the source: moved to the target.
* evaluation scores of the source: deleted, because they were computed from
  only part of the agency's tasks. The merge returns their periods, which an
  officer evaluates again to score the target on all its tasks.
* draft reports of the source: deleted, because the reports job produces
  them again for the target. Warnings sent to the source: moved to the
  target.
* child units, role grants, issued reports, report warnings that the target
  also got on the same day, evaluation
  explanation requests, this node's own unit, and what the registered
  reference checks find (linked nodes and enrolment tokens, see
  `node.federation_merge_check`): each rejects the merge and is named in
  the error. Moving them would change who may see what, break a link or
  rewrite issued records.
* lead agency states of both units on one task, and a name of the source
  that is already the alias of a third unit: rejected as well.

Nothing is written when the merge is rejected, and the writes run in a
savepoint, so an error partway leaves the caller's transaction as it was.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from node.audit import service as audit_log
from node.auth.models import RoleGrant, User
from node.auth.scope import subtree_ids
from node.core.errors import ConflictError, FieldProblem, ValidationError
from node.core.i18n import _
from node.core.text import fold
from node.evaluation.models import EvaluationExplanation, EvaluationScore
from node.local_tasks.assessment.models import InspectionFinding
from node.local_tasks.errors import OrgUnitNotFoundError
from node.local_tasks.models import AGENCY_ROLES, OrgUnit, OrgUnitAlias, Task, TaskAgency
from node.local_tasks.workflow.models import LeadAgencyState, Objection
from node.notifications.models import DeadlineWarning
from node.reports.models import ReportSnapshot

logger = logging.getLogger(__name__)

# The roles that may merge org units: the node-wide roles, which import
# documents (and so create the units to review) and resolve agency groups.
MERGE_ROLES = ("administrator", "central_officer")

# At most this many names are listed in one message about what blocks a merge.
LISTED_NAMES = 5

# A check that returns one message for each thing that refers to the source
# unit and blocks the merge, or no message.
ReferenceCheck = Callable[[Session, OrgUnit], list[str]]
# Checks of packages that this one must not import, such as the links to
# other nodes. `node.models_registry.import_all_models` registers them.
_reference_checks: list[ReferenceCheck] = []


def register_reference_check(check: ReferenceCheck) -> None:
    """Add `check` to the checks that every merge runs before writing; adding it twice is harmless."""
    if check not in _reference_checks:
        _reference_checks.append(check)


@dataclass
class MergePlan:
    """The changes of merging `source` into `target`, counted before anything is written."""

    source: OrgUnit
    target: OrgUnit
    # Tasks on which the source has a role.
    task_ids: list[int]
    # Source roles that become the target's, and roles (of either unit) dropped as duplicates.
    moved_roles: int
    dropped_roles: int
    # Names that become aliases of the target: the source's name and aliases.
    new_aliases: list[str]
    lead_states: int
    objections: int
    findings: int
    # (period kind, period start) of the source's evaluation scores, which are deleted.
    evaluation_periods: list[tuple[str, date]] = field(default_factory=list)
    # Draft reports of the source, which are deleted, and warnings sent to it, which move.
    draft_reports: int = 0
    warnings: int = 0

    @property
    def task_count(self) -> int:
        return len(self.task_ids)


def list_names(names: list[str]) -> str:
    """Join the first LISTED_NAMES names with commas, with an ellipsis when more remain."""
    listed = ", ".join(names[:LISTED_NAMES])
    return listed + (" …" if len(names) > LISTED_NAMES else "")


def _load_units(session: Session, source_id: object, target_id: object) -> tuple[OrgUnit, OrgUnit]:
    """Load both units, or raise naming each id that is invalid or unknown.

    An unknown source raises OrgUnitNotFoundError, because the source is the
    unit that the page or endpoint addresses. Other problems raise
    ValidationError, all at once.
    """
    problems: list[FieldProblem] = []
    units: dict[str, OrgUnit] = {}
    for path, value in (("source_id", source_id), ("target_id", target_id)):
        if value is None or value == "":
            problems.append(FieldProblem(path, _(
                "The unit is missing; choose a unit from the list of agencies."), value))
            continue
        if isinstance(value, bool) or not isinstance(value, int | str) \
                or not str(value).strip().isdigit():
            problems.append(FieldProblem(path, _(
                "The unit id %(value)s is not a whole number; give the id of a unit from the "
                "list of agencies.", value=value), value))
            continue
        unit = session.get(OrgUnit, int(value))
        if unit is None:
            problem = FieldProblem(path, _(
                "No unit has the id %(value)s; choose a unit from the list of agencies.",
                value=value), value)
            if path == "source_id":
                raise OrgUnitNotFoundError(problem.message, problems=[problem])
            problems.append(problem)
            continue
        units[path] = unit
    if problems:
        raise ValidationError(_("The units were not merged."), problems=problems)
    return units["source_id"], units["target_id"]


def not_for_review(source: OrgUnit) -> FieldProblem:
    """Return the problem of merging a unit that is not marked for review."""
    return FieldProblem("source_id", _(
        "%(source)s was not created by an import, so it cannot be merged; only units "
        "marked for review can be merged into another.", source=source.name), source.id)


def _check_pair(session: Session, source: OrgUnit, target: OrgUnit) -> None:
    """Reject a source that is not for review, and a target that cannot take its place."""
    problems: list[FieldProblem] = []
    if source.id == target.id:
        problems.append(FieldProblem("target_id", _(
            "A unit cannot be merged into itself; choose the unit that it duplicates."),
            target.id))
    elif target.id in subtree_ids(session, [source.id]):
        problems.append(FieldProblem("target_id", _(
            "%(target)s is below %(source)s in the tree; choose a unit outside it.",
            target=target.name, source=source.name), target.id))
    if not source.needs_review:
        problems.append(not_for_review(source))
    if target.status != "active":
        problems.append(FieldProblem("target_id", _(
            "%(target)s is not active; choose an active unit.", target=target.name), target.id))
    if problems:
        raise ValidationError(_("The units were not merged."), problems=problems)


def _blockers(session: Session, source: OrgUnit, target: OrgUnit,
              node_org_unit: str | None) -> list[FieldProblem]:
    """List what refers to the source and must not be moved, one problem each."""
    problems: list[FieldProblem] = []

    def add(message: str) -> None:
        problems.append(FieldProblem("source_id", message, source.id))

    children = list(session.scalars(select(OrgUnit.name).where(OrgUnit.parent_id == source.id)
                                    .order_by(OrgUnit.sort_key)))
    if children:
        add(_("%(source)s has units below it (%(names)s); move them to another unit first.",
              source=source.name, names=list_names(children)))
    usernames = list(session.scalars(
        select(User.username).join(RoleGrant, RoleGrant.user_id == User.id)
        .where(RoleGrant.org_unit_id == source.id).distinct().order_by(User.username)))
    if usernames:
        add(_("Accounts hold roles over %(source)s (%(names)s); revoke those roles or grant "
              "them over the other unit first.", source=source.name, names=list_names(usernames)))
    if node_org_unit is not None and node_org_unit.upper() == source.code.upper():
        add(_("%(source)s is this node's own unit (node.org_unit in the settings); it cannot be "
              "merged.", source=source.name))
    for check in _reference_checks:
        for message in check(session, source):
            add(message)
    # Drafts are working copies that the reports job produces again for the
    # target, so only issued reports block the merge.
    reports = session.scalar(select(func.count()).select_from(ReportSnapshot).where(
        ReportSnapshot.org_unit_id == source.id, ReportSnapshot.status == "issued")) or 0
    if reports:
        add(_("%(source)s has issued reports (%(count)s); issued reports are kept as "
              "issued, so the unit stays.", count=reports, source=source.name))
    # Warnings move to the target, unless the target got the same warning that day.
    target_warnings = aliased(DeadlineWarning)
    clashing = session.scalar(select(func.count()).select_from(DeadlineWarning).where(
        DeadlineWarning.org_unit_id == source.id, DeadlineWarning.task_id.is_(None),
        select(target_warnings.id).where(
            target_warnings.org_unit_id == target.id, target_warnings.task_id.is_(None),
            target_warnings.report_period == DeadlineWarning.report_period,
            target_warnings.kind == DeadlineWarning.kind,
            target_warnings.warned_on == DeadlineWarning.warned_on).exists())) or 0
    if clashing:
        add(_("Report warnings were sent to both %(source)s and %(target)s on the same days "
              "(%(count)s); warnings are kept as sent, so the unit stays.", count=clashing,
              source=source.name, target=target.name))
    explanations = session.scalar(select(func.count()).select_from(EvaluationExplanation).where(
        EvaluationExplanation.org_unit_id == source.id)) or 0
    if explanations:
        add(_("%(source)s was asked to explain two low ratings in a row; that request stays "
              "with the unit.", source=source.name))
    shared_states = list(session.scalars(
        select(LeadAgencyState.task_id).where(LeadAgencyState.org_unit_id == source.id)
        .where(LeadAgencyState.task_id.in_(select(LeadAgencyState.task_id).where(
            LeadAgencyState.org_unit_id == target.id))).order_by(LeadAgencyState.task_id)))
    if shared_states:
        add(_("Both units reported their own state on tasks %(ids)s; the two reports cannot be "
              "combined into one.", ids=list_names([str(task_id) for task_id in shared_states])))
    return problems


def _role_changes(session: Session, source: OrgUnit,
                  target: OrgUnit) -> tuple[dict[int, list[TaskAgency]], list[TaskAgency],
                                            list[TaskAgency]]:
    """Decide, task by task, which agency rows move to the target and which are dropped.

    Returns the agency rows of each affected task, the source rows to move,
    and the rows to delete (source rows, and target coordinating rows of a
    task that the target leads after the merge).
    """
    task_ids = list(session.scalars(select(TaskAgency.task_id).where(
        TaskAgency.org_unit_id == source.id).distinct().order_by(TaskAgency.task_id)))
    rows_by_task: dict[int, list[TaskAgency]] = defaultdict(list)
    for row in session.scalars(select(TaskAgency).where(TaskAgency.task_id.in_(task_ids))
                               .order_by(TaskAgency.task_id, TaskAgency.id)):
        rows_by_task[row.task_id].append(row)

    moves: list[TaskAgency] = []
    drops: list[TaskAgency] = []
    for rows in rows_by_task.values():
        source_rows = {row.role: row for row in rows if row.org_unit_id == source.id}
        target_rows = {row.role: row for row in rows if row.org_unit_id == target.id}
        target_leads = "lead" in source_rows or "lead" in target_rows
        for role, row in source_rows.items():
            if role in target_rows or (role == "coordinating" and target_leads):
                drops.append(row)
            else:
                moves.append(row)
        # A unit that leads a task gains nothing from also coordinating it.
        if "lead" in source_rows and "coordinating" in target_rows:
            drops.append(target_rows["coordinating"])
    return rows_by_task, moves, drops


def plan_merge(session: Session, source_id: object, target_id: object, *,
               node_org_unit: str | None = None) -> MergePlan:
    """Check that `source_id` may be merged into `target_id` and count what would change.

    Raises OrgUnitNotFoundError or ValidationError for unknown or unsuitable
    ids, and ConflictError listing everything that refers to the source and
    blocks the merge. Writes nothing.
    """
    source, target = _load_units(session, source_id, target_id)
    _check_pair(session, source, target)
    blockers = _blockers(session, source, target, node_org_unit)
    if blockers:
        raise ConflictError(_("%(source)s cannot be merged into %(target)s.",
                              source=source.name, target=target.name), problems=blockers)

    rows_by_task, moves, drops = _role_changes(session, source, target)
    target_names = {target.name_folded, *session.scalars(
        select(OrgUnitAlias.alias_folded).where(OrgUnitAlias.org_unit_id == target.id))}
    new_aliases: list[str] = []
    for name in [source.name, *session.scalars(
            select(OrgUnitAlias.alias).where(OrgUnitAlias.org_unit_id == source.id)
            .order_by(OrgUnitAlias.id))]:
        if fold(name) not in target_names:
            target_names.add(fold(name))
            new_aliases.append(name)
    # An alias names one unit only, so a name that is already another unit's
    # alias cannot become the target's.
    elsewhere = session.execute(
        select(OrgUnitAlias.alias, OrgUnit.name).join(OrgUnit)
        .where(OrgUnitAlias.alias_folded.in_([fold(name) for name in new_aliases]),
               OrgUnitAlias.org_unit_id.not_in([source.id, target.id]))).all()
    if elsewhere:
        raise ConflictError(_("%(source)s cannot be merged into %(target)s.",
                              source=source.name, target=target.name), problems=[
            FieldProblem("source_id", _(
                "The name %(alias)s is already another name of %(other)s; remove it there "
                "first.", alias=row.alias, other=row.name), source.id) for row in elsewhere])

    def count(model: type, column) -> int:  # noqa: ANN001
        return session.scalar(select(func.count()).select_from(model).where(
            column == source.id)) or 0

    periods = [(row.period_kind, row.period_start) for row in session.execute(
        select(EvaluationScore.period_kind, EvaluationScore.period_start)
        .where(EvaluationScore.org_unit_id == source.id)
        .order_by(EvaluationScore.period_start, EvaluationScore.period_kind))]
    return MergePlan(
        source=source, target=target, task_ids=sorted(rows_by_task),
        moved_roles=len(moves),
        dropped_roles=len(drops),
        new_aliases=new_aliases,
        lead_states=count(LeadAgencyState, LeadAgencyState.org_unit_id),
        objections=count(Objection, Objection.reassigned_to_id),
        findings=count(InspectionFinding, InspectionFinding.org_unit_id),
        evaluation_periods=periods,
        draft_reports=count(ReportSnapshot, ReportSnapshot.org_unit_id),
        warnings=count(DeadlineWarning, DeadlineWarning.org_unit_id),
    )


def _renumber(rows: list[TaskAgency]) -> None:
    """Number the rows of each role 0, 1, 2… in their present order, closing gaps."""
    for role in AGENCY_ROLES:
        in_role = sorted((row for row in rows if row.role == role),
                         key=lambda row: (row.position, row.id))
        for position, row in enumerate(in_role):
            if row.position != position:
                row.position = position


def _move_roles(session: Session, source: OrgUnit, target: OrgUnit) -> None:
    rows_by_task, moves, drops = _role_changes(session, source, target)
    dropped = set(map(id, drops))
    for row in drops:
        session.delete(row)
    for row in moves:
        row.org_unit_id = target.id
    for task_id, rows in rows_by_task.items():
        _renumber([row for row in rows if id(row) not in dropped])
        task = session.get(Task, task_id)
        # The search text keeps the source's spelling and gains the target's name.
        if target.name_folded not in task.search_text:
            task.search_text = f"{task.search_text} {target.name_folded}".strip()


def _move_aliases(session: Session, plan: MergePlan) -> None:
    source, target = plan.source, plan.target
    kept = {fold(name) for name in plan.new_aliases}
    for alias in session.scalars(select(OrgUnitAlias).where(OrgUnitAlias.org_unit_id == source.id)):
        if alias.alias_folded in kept:
            alias.org_unit_id = target.id
            kept.discard(alias.alias_folded)
        else:
            session.delete(alias)
    # The name of the source itself, which no alias row contains yet.
    for name in plan.new_aliases:
        if fold(name) in kept:
            session.add(OrgUnitAlias(org_unit_id=target.id, alias=name, alias_folded=fold(name)))


def merge_org_units(session: Session, source_id: object, target_id: object, *,
                    actor: str | None, node_org_unit: str | None = None) -> MergePlan:
    """Merge the org unit `source_id` into `target_id`, then delete the source.

    Checks everything first (see `plan_merge`) and writes nothing when the
    merge is rejected. The writes, the deletion and one audit entry run in a
    savepoint of the caller's transaction, and the caller commits.
    """
    plan = plan_merge(session, source_id, target_id, node_org_unit=node_org_unit)
    source, target = plan.source, plan.target
    before = {**audit_log.snapshot(source, ("code", "name", "kind", "parent_id", "status",
                                            "needs_review", "source")),
              "aliases": list(session.scalars(select(OrgUnitAlias.alias).where(
                  OrgUnitAlias.org_unit_id == source.id).order_by(OrgUnitAlias.id)))}
    with session.begin_nested():
        _move_roles(session, source, target)
        _move_aliases(session, plan)
        for state in session.scalars(select(LeadAgencyState).where(
                LeadAgencyState.org_unit_id == source.id)):
            state.org_unit_id = target.id
        for objection in session.scalars(select(Objection).where(
                Objection.reassigned_to_id == source.id)):
            objection.reassigned_to_id = target.id
        for finding in session.scalars(select(InspectionFinding).where(
                InspectionFinding.org_unit_id == source.id)):
            finding.org_unit_id = target.id
        for score in session.scalars(select(EvaluationScore).where(
                EvaluationScore.org_unit_id == source.id)):
            session.delete(score)
        for warning in session.scalars(select(DeadlineWarning).where(
                DeadlineWarning.org_unit_id == source.id)):
            warning.org_unit_id = target.id
        for draft in session.scalars(select(ReportSnapshot).where(
                ReportSnapshot.org_unit_id == source.id, ReportSnapshot.status == "draft")):
            session.delete(draft)
        session.flush()
        session.delete(source)
        session.flush()
        audit_log.record(
            session, actor=actor, action="org_unit.merge", object_type="org_unit",
            object_id=source.id, before=before,
            after={"merged_into_id": target.id, "merged_into_code": target.code,
                   "merged_into_name": target.name, "task_ids": plan.task_ids,
                   "moved_roles": plan.moved_roles, "dropped_roles": plan.dropped_roles,
                   "new_aliases": plan.new_aliases,
                   "deleted_draft_reports": plan.draft_reports,
                   "moved_warnings": plan.warnings,
                   "deleted_evaluation_periods": [f"{kind} {start.isoformat()}"
                                                  for kind, start in plan.evaluation_periods]})
    logger.info("org unit merged", extra={"source_id": source.id, "source_code": source.code,
                                          "target_id": target.id, "tasks": plan.task_count,
                                          "actor": actor})
    return plan


def keep_as_own_unit(session: Session, unit_id: object, *, actor: str | None) -> OrgUnit:
    """Clear the review mark of an imported unit that is an agency of its own, not a duplicate.

    Raises OrgUnitNotFoundError for an unknown id and ValidationError for a
    unit that is not marked for review. Records one audit entry; the caller
    commits.
    """
    unit = session.get(OrgUnit, unit_id) if isinstance(unit_id, int) else None
    if unit is None:
        raise OrgUnitNotFoundError(_("Agency %(id)s was not found; open it from the agencies "
                                     "page.", id=unit_id))
    if not unit.needs_review:
        raise ValidationError(_("%(name)s is not marked for review.", name=unit.name),
                              problems=[FieldProblem("unit_id", _(
                                  "%(name)s is not marked for review; nothing to confirm.",
                                  name=unit.name), unit.id)])
    unit.needs_review = False
    session.flush()
    audit_log.record(session, actor=actor, action="org_unit.review", object_type="org_unit",
                     object_id=unit.id, before={"needs_review": True},
                     after={"needs_review": False, "name": unit.name, "code": unit.code})
    logger.info("org unit kept after review", extra={"org_unit_id": unit.id,
                                                     "code": unit.code, "actor": actor})
    return unit
