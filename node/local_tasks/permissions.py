"""Who may see and change which task: one policy for the API and the pages.

Roles come from `node.auth.models.ROLES`. A grant covers its org unit and the
unit's subtree.

* administrator, central_officer: see every task of the node and carry out
  the central office's steps (transfer, deciding objections, explanation
  requests, evaluation, group resolution, classification, editing).
* leader, inspector: read the tasks in their scope, never change them. An
  inspector may also record and close inspection findings.
* updater, approver, monitoring_officer: see the tasks where a unit in their
  scope is a lead, coordinating or monitoring agency. Steps of the lead
  agency need the role over a lead agency: updaters and approvers confirm
  receipt, lodge objections and answer explanation requests, updaters submit
  progress updates and approvers review them. A monitoring officer over a
  monitoring agency evaluates and requests explanations.

"In scope" means that a unit in the grant's subtree holds an agency role on
the task. A grant over the root unit covers every task, including tasks whose
agencies are still an unresolved group.

A task that the user may not see is reported as not found, with the same
message as a missing id, so that nothing leaks about other agencies' tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, has_app_context
from sqlalchemy import ColumnElement, exists, false, select, true
from sqlalchemy.orm import Session, aliased, object_session
from werkzeug.exceptions import Forbidden

from node.auth.models import RoleGrant, User
from node.auth.scope import subtree_ids
from node.core.errors import NotFoundError
from node.core.i18n import _
from node.local_tasks.errors import TaskNotFoundError
from node.local_tasks.models import Document, OrgUnit, Task, TaskAgency
from node.local_tasks.workflow.errors import task_reference

# Actions on a task.
READ = "read"
TRANSFER = "transfer"
CONFIRM_RECEIPT = "confirm_receipt"
LODGE_OBJECTION = "lodge_objection"
DECIDE_OBJECTION = "decide_objection"
SUBMIT_UPDATE = "submit_update"
REVIEW_UPDATE = "review_update"
REQUEST_EXPLANATION = "request_explanation"
ANSWER_EXPLANATION = "answer_explanation"
EVALUATE = "evaluate"
RECORD_FINDING = "record_finding"
RESOLVE_GROUPS = "resolve_groups"
CLASSIFY = "classify"
EDIT = "edit"

NODE_WIDE_ROLES = frozenset({"administrator", "central_officer"})
# Roles whose scope makes a task visible when a unit in it has any agency role on the task.
SCOPED_READ_ROLES = ("leader", "inspector", "updater", "approver", "monitoring_officer")

# Steps that the node-wide roles carry out on any task.
CENTRAL_ACTIONS = frozenset({TRANSFER, DECIDE_OBJECTION, REQUEST_EXPLANATION, EVALUATE,
                             RESOLVE_GROUPS, CLASSIFY, EDIT})
# Steps of the lead agency, and the roles over a lead agency that may carry them out.
LEAD_AGENCY_ACTIONS = {
    CONFIRM_RECEIPT: ("updater", "approver"),
    LODGE_OBJECTION: ("updater", "approver"),
    ANSWER_EXPLANATION: ("updater", "approver"),
    SUBMIT_UPDATE: ("updater",),
    REVIEW_UPDATE: ("approver",),
}
# Steps of the monitoring agency, for a monitoring officer over it (or over the root).
MONITORING_ACTIONS = frozenset({EVALUATE, REQUEST_EXPLANATION})

ACTIONS = frozenset({READ, RECORD_FINDING, *CENTRAL_ACTIONS, *LEAD_AGENCY_ACTIONS,
                     *MONITORING_ACTIONS})


@dataclass(frozen=True)
class Access:
    """A user's roles with the org unit ids each role covers."""

    user_id: int
    scopes: dict[str, frozenset[int]]
    root_id: int | None

    @property
    def node_wide(self) -> bool:
        return any(role in self.scopes for role in NODE_WIDE_ROLES)

    def covers_root(self, role: str) -> bool:
        return self.root_id is not None and self.root_id in self.scopes.get(role, ())

    def units(self, *roles: str) -> frozenset[int]:
        """Return the unit ids covered by any of `roles`."""
        return frozenset().union(*(self.scopes.get(role, frozenset()) for role in roles))


def access_of(session: Session, user: User) -> Access:
    """Return the roles and scopes of `user`, computed once per request.

    Inside a request the result is kept on `flask.g`, because each role's
    subtree is one recursive query.
    """
    cache = g.setdefault("theodoi_access", {}) if has_app_context() else {}
    access = cache.get(user.id)
    if access is None:
        granted: dict[str, set[int]] = {}
        for role, unit_id in session.execute(
                select(RoleGrant.role, RoleGrant.org_unit_id).where(RoleGrant.user_id == user.id)):
            granted.setdefault(role, set()).add(unit_id)
        scopes = {role: frozenset(subtree_ids(session, unit_ids))
                  for role, unit_ids in granted.items()}
        root_id = session.scalar(select(OrgUnit.id).where(OrgUnit.is_root.is_(True)))
        access = Access(user_id=user.id, scopes=scopes, root_id=root_id)
        cache[user.id] = access
    return access


def _session_of(user: User) -> Session:
    session = object_session(user)
    if session is None:
        raise ValueError("permissions need the user's session: the user is detached")
    return session


def _sees_everything(access: Access) -> bool:
    return access.node_wide or any(access.covers_root(role) for role in SCOPED_READ_ROLES)


def visible_task_filter(session: Session, user: User | None) -> ColumnElement[bool]:
    """Return an SQL condition on `Task` that keeps only the tasks `user` may see.

    Lists and counts add it to their WHERE clause, so they contain nothing
    else. An anonymous user sees nothing.
    """
    if user is None:
        return false()
    access = access_of(session, user)
    if _sees_everything(access):
        return true()
    units = access.units(*SCOPED_READ_ROLES)
    if not units:
        return false()
    # An alias, so that the condition still correlates to Task alone in
    # queries that already select from task_agencies (counts by agency).
    agency = aliased(TaskAgency)
    return exists().where(agency.task_id == Task.id, agency.org_unit_id.in_(units))


def _agency_ids(task: Task, *roles: str) -> set[int]:
    return {link.org_unit_id for link in task.agencies if not roles or link.role in roles}


def _visible(access: Access, task: Task) -> bool:
    if _sees_everything(access):
        return True
    return bool(_agency_ids(task) & access.units(*SCOPED_READ_ROLES))


def _allowed(access: Access, action: str, task: Task) -> bool:
    if action == READ:
        return True
    if access.node_wide and action in CENTRAL_ACTIONS:
        return True
    lead_roles = LEAD_AGENCY_ACTIONS.get(action)
    if lead_roles and _agency_ids(task, "lead") & access.units(*lead_roles):
        return True
    if action in MONITORING_ACTIONS and (
            access.covers_root("monitoring_officer")
            or _agency_ids(task, "monitoring") & access.units("monitoring_officer")):
        return True
    if action == RECORD_FINDING and "inspector" in access.scopes:
        return (access.covers_root("inspector")
                or bool(_agency_ids(task) & access.units("inspector")))
    return False


def can(user: User | None, action: str, task: Task) -> bool:
    """Return whether `user` may carry out `action` on `task`; every action needs visibility."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; known actions are {sorted(ACTIONS)}")
    if user is None:
        return False
    access = access_of(_session_of(user), user)
    return _visible(access, task) and _allowed(access, action, task)


def require(user: User | None, action: str, task: Task) -> None:
    """Raise unless `user` may carry out `action` on `task`.

    Raises TaskNotFoundError (404, worded as for a missing id) when the task
    is not visible to the user, and Forbidden (403) when it is visible but
    the action is not allowed.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; known actions are {sorted(ACTIONS)}")
    access = access_of(_session_of(user), user) if user is not None else None
    if access is None or not _visible(access, task):
        # The same text as service.get_task for an id that names no task.
        raise TaskNotFoundError(f"No task with id {task.id}")
    if not _allowed(access, action, task):
        raise Forbidden(description=_(
            "Your roles do not allow this step on task %(task)s. Ask an administrator "
            "for the role it needs over the task's agency.", task=task_reference(task)))


def visible_document_filter(session: Session, user: User | None) -> ColumnElement[bool]:
    """Return an SQL condition on `Document` that keeps the documents with a task `user` may see.

    The node-wide roles also see documents without tasks.
    """
    if user is not None and access_of(session, user).node_wide:
        return true()
    return exists().where(Task.document_id == Document.id,
                          visible_task_filter(session, user))


def get_visible_document(session: Session, user: User | None, document_id: int) -> Document:
    """Return the document `document_id` when `user` may see it.

    Raises NotFoundError worded as for a missing id otherwise.
    """
    document = session.scalar(select(Document).where(
        Document.id == document_id, visible_document_filter(session, user)))
    if document is None:
        raise NotFoundError(f"No document with id {document_id}")
    return document
