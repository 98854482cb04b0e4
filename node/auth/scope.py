"""Org-unit subtrees, the scope over which a role grant applies."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.local_tasks.models import OrgUnit


def subtree_ids(session: Session, org_unit_ids: Iterable[int]) -> set[int]:
    """Return the ids of the given org units and of every unit below them.

    One recursive query walks the tree; ids that name no unit are dropped.
    """
    roots = set(org_unit_ids)
    if not roots:
        return set()
    subtree = select(OrgUnit.id).where(OrgUnit.id.in_(roots)).cte("subtree", recursive=True)
    # UNION rather than UNION ALL, so overlapping subtrees are walked once.
    subtree = subtree.union(select(OrgUnit.id).join(subtree, OrgUnit.parent_id == subtree.c.id))
    return set(session.scalars(select(subtree.c.id)))
