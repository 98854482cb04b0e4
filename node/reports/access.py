"""Access rules for reading, producing and issuing reports.

* administrator, central_officer, and any role granted over the root unit:
  every report; the first two may produce and issue any report.
* other roles: the agency reports of the units in their scope. An approver
  (the agency's checker, Điều 15.3) may produce and issue the reports of
  the units in their scope.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from node.auth.models import User
from node.local_tasks import permissions
from node.local_tasks.models import OrgUnit
from node.reports.models import ReportSnapshot

ISSUING_ROLES = ("approver",)


def visible_unit_ids(session: Session, user: User | None) -> set[int] | None:
    """Return the org units whose agency reports `user` may read; None means every report."""
    if user is None:
        return set()
    access = permissions.access_of(session, user)
    if access.node_wide or any(access.covers_root(role) for role in access.scopes):
        return None
    return set(access.units(*access.scopes))


def may_read(session: Session, user: User | None, snapshot: ReportSnapshot) -> bool:
    units = visible_unit_ids(session, user)
    if units is None:
        return True
    return snapshot.scope == "agency" and snapshot.org_unit_id in units


def may_manage(session: Session, user: User | None, scope: str, org_unit: OrgUnit) -> bool:
    """Return whether `user` may produce and issue a report of `scope` on `org_unit`."""
    if user is None:
        return False
    access = permissions.access_of(session, user)
    if access.node_wide:
        return True
    return scope == "agency" and org_unit.id in access.units(*ISSUING_ROLES)


def may_produce_any(session: Session, user: User | None) -> bool:
    if user is None:
        return False
    access = permissions.access_of(session, user)
    return access.node_wide or bool(access.units(*ISSUING_ROLES))


def manageable_units(session: Session, user: User | None) -> set[int] | None:
    """Return the org units `user` may produce agency reports on; None means any."""
    if user is None:
        return set()
    access = permissions.access_of(session, user)
    if access.node_wide:
        return None
    return set(access.units(*ISSUING_ROLES))
