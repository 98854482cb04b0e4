"""The org-unit merge's check of links to other nodes.

The local task domain never imports the federation package, so this check
lives beside both and registers itself with `node.local_tasks.org_unit_merge`
when imported; `node.models_registry.import_all_models` imports it. A peer
or a valid enrolment token names its org unit by code, and a merge deletes
the source unit with its code, so either one rejects the merge.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.core.db import utcnow
from node.core.i18n import _
from node.federation.models import Enrolment, Peer
from node.local_tasks.models import OrgUnit
from node.local_tasks.org_unit_merge import list_names, register_reference_check


def federation_links(session: Session, source: OrgUnit) -> list[str]:
    """Return a message for the peers and for the valid enrolment tokens of `source`'s code."""
    messages = []
    code = source.code.upper()
    peers = list(session.scalars(select(Peer.node_id).where(
        func.upper(Peer.org_unit_code) == code).order_by(Peer.node_id)))
    if peers:
        messages.append(_("Linked nodes represent %(source)s (%(names)s); its code %(code)s "
                          "must stay.", source=source.name, names=list_names(peers),
                          code=source.code))
    # A used token belongs to a peer, which is checked above. An expired one cannot be used.
    enrolments = session.scalar(select(func.count()).select_from(Enrolment).where(
        func.upper(Enrolment.org_unit_code) == code, Enrolment.used_at.is_(None),
        Enrolment.expires_at > utcnow())) or 0
    if enrolments:
        messages.append(_("An enrolment token for %(source)s (code %(code)s) is still valid; a "
                          "node may join with it, so the code must stay.",
                          source=source.name, code=source.code))
    return messages


register_reference_check(federation_links)
