"""Adding org units by hand, for the units below a province that the seed data lacks.

The seed data stops at the provinces, so the org unit of a sub-unit node
(a ward or commune party committee, a provincial party body) is added at the
sub-unit node and at its province with `theodoi org-unit add`. Directives and
enrolment match units by code, so the code must be the same on both nodes.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.core.errors import ProblemCollector
from node.core.i18n import _
from node.core.text import clean
from node.local_tasks.models import OrgUnit
from node.local_tasks.service import create_org_unit, find_org_unit

# The org_unit_code format of the exchange schemas (schemas/exchange/v1/common.json).
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
CODE_MAX_LENGTH = 40
NAME_MAX_LENGTH = 300
# Kinds of the units below a province; the kinds of the seed units are allowed too.
SUB_UNIT_KINDS = ("commune_party_committee", "party_body", "party_committee")
DEFAULT_KIND = "commune_party_committee"
MANUAL_SOURCE = "added with theodoi org-unit add"


def allowed_kinds(session: Session) -> list[str]:
    """Return the sub-unit kinds and every kind already stored, sorted."""
    stored = session.scalars(select(OrgUnit.kind).distinct())
    return sorted(set(SUB_UNIT_KINDS) | set(stored))


def _find_by_code(session: Session, code: str) -> OrgUnit | None:
    return session.scalar(select(OrgUnit).where(func.upper(OrgUnit.code) == code.upper()))


def _check_code(session: Session, code: str, problems: ProblemCollector) -> None:
    if not code:
        problems.add("code", _("The code is missing; give a code such as TU01-P00004."), code)
    elif len(code) > CODE_MAX_LENGTH or not CODE_PATTERN.match(code):
        problems.add("code", _(
            "The code %(code)s is invalid; use at most %(max)s letters, digits, dots, hyphens "
            "or underscores, starting with a letter or digit.", code=code,
            max=CODE_MAX_LENGTH), code)
    else:
        existing = _find_by_code(session, code)
        if existing is not None:
            problems.add("code", _(
                "The code %(code)s is already used by %(name)s; choose another code, or use "
                "the existing unit.", code=code, name=existing.name), code)


def _check_name(session: Session, name: str, problems: ProblemCollector) -> None:
    if not name:
        problems.add("name", _("The name is missing; give the full name of the unit."), name)
    elif len(name) > NAME_MAX_LENGTH:
        problems.add("name", _(
            "The name has %(length)s characters; shorten it to at most %(max)s.",
            length=len(name), max=NAME_MAX_LENGTH), name)
    else:
        # Agencies in imported documents are matched by name or alias, so a
        # second unit with the same name would make that match ambiguous.
        existing = find_org_unit(session, name)
        if existing is not None:
            problems.add("name", _(
                "The name %(name)s is already used by unit %(code)s; give a name that tells "
                "the two units apart.", name=name, code=existing.code), name)


def add_org_unit(session: Session, *, code: str, name: str, parent_code: str,
                 kind: str = DEFAULT_KIND, actor: str | None = None) -> OrgUnit:
    """Create the org unit `code` under the unit `parent_code` after checking every field.

    Raises ValidationError listing every invalid field before anything is written.
    """
    code, name, parent_code, kind = (clean(code), clean(name), clean(parent_code), clean(kind))
    problems = ProblemCollector()
    _check_code(session, code, problems)
    _check_name(session, name, problems)
    parent = _find_by_code(session, parent_code) if parent_code else None
    if parent is None:
        problems.add("parent", _(
            "No org unit has the code %(code)s; give the code of an existing unit (see "
            "theodoi org-unit list).", code=parent_code), parent_code)
    kinds = allowed_kinds(session)
    if kind not in kinds:
        problems.add("kind", _("The kind %(kind)s is unknown; use one of: %(kinds)s.",
                               kind=kind, kinds=", ".join(kinds)), kind)
    problems.raise_if_any(_("The org unit was not added."))
    return create_org_unit(session, code=code, name=name, kind=kind, parent=parent,
                           source=MANUAL_SOURCE, actor=actor)


def list_org_units(session: Session, parent_code: str | None = None) -> list[OrgUnit]:
    """Return every org unit, or the units directly under `parent_code`, by code."""
    query = select(OrgUnit).order_by(OrgUnit.code)
    if parent_code is not None:
        parent = _find_by_code(session, clean(parent_code))
        if parent is None:
            problems = ProblemCollector()
            problems.add("parent", _(
                "No org unit has the code %(code)s; give the code of an existing unit (see "
                "theodoi org-unit list).", code=parent_code), parent_code)
            problems.raise_if_any(_("The org units could not be listed."))
        query = query.where(OrgUnit.parent_id == parent.id)
    return list(session.scalars(query))
