"""Ranking publication: the parent publishes a ranking of org units, each child stores it.

The ranking itself is computed elsewhere (evaluation of Điều 17); this module
only carries it. `publish_ranking` queues it to every child node in the
caller's transaction, and a child keeps every publication it receives. A
province that stores a ranking from the centre passes the same payload on to
its own children in the transaction that stores it, as it does with
directives, so every level of the tree receives the national ranking.
A suspended child's copy waits in the outbox until its link is resumed.
"""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.core.errors import ValidationError
from node.core.settings import Settings
from node.federation import schemas
from node.federation.content_models import ReceivedRanking
from node.federation.envelope import parse_timestamp
from node.federation.handlers import PARENT, claim_write_lock, register
from node.federation.models import OutboxMessage, Peer

logger = logging.getLogger(__name__)


def publish_ranking(session: Session, settings: Settings, payload: dict) -> list[OutboxMessage]:
    """Queue the ranking publication `payload` to every child; return the messages.

    The payload is checked against the ranking_publication schema first, so
    an invalid ranking queues nothing.
    """
    problems = schemas.validation_problems("ranking_publication", payload, prefix="payload")
    if problems:
        raise ValidationError("ranking publication is invalid", problems=problems)
    messages = _queue_for_children(session, settings, payload)
    logger.info("ranking publication queued",
                extra={"period_kind": payload["period"]["kind"],
                       "period_start": payload["period"]["start"], "children": len(messages)})
    return messages


def _queue_for_children(session: Session, settings: Settings,
                        payload: dict) -> list[OutboxMessage]:
    from node.federation.directives import child_peers, queue_for_peer

    return [queue_for_peer(session, settings, peer, "ranking_publication", payload)
            for peer in child_peers(session, settings)]


@register("ranking_publication", PARENT)
def apply_ranking(session: Session, settings: Settings, peer: Peer, envelope: dict) -> dict:
    """Store a ranking that the parent node published and pass it on to this node's children."""
    claim_write_lock(session, peer)
    payload = envelope["payload"]
    ranking = ReceivedRanking(
        sender_node_id=peer.node_id, message_id=envelope["message_id"],
        period_kind=payload["period"]["kind"],
        period_start=date.fromisoformat(payload["period"]["start"]),
        period_end=date.fromisoformat(payload["period"]["end"]),
        published_at=parse_timestamp(payload["published_at"]), method=payload["method"],
        entries=payload["entries"])
    session.add(ranking)
    session.flush()
    logger.info("ranking publication stored",
                extra={"peer": peer.node_id, "message_id": envelope["message_id"],
                       "entries": len(payload["entries"])})
    passed_on = _queue_for_children(session, settings, payload)
    if passed_on:
        logger.info("ranking publication passed on",
                    extra={"peer": peer.node_id, "message_id": envelope["message_id"],
                           "children": len(passed_on)})
    return {"status": "applied", "entries": len(payload["entries"]),
            "passed_on": len(passed_on)}


def received_rankings(session: Session) -> list[ReceivedRanking]:
    """Return the rankings received from the parent node, newest publication first."""
    return list(session.scalars(select(ReceivedRanking).order_by(
        ReceivedRanking.published_at.desc(), ReceivedRanking.id.desc())))
