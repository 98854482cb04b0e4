"""The parent's side of a pull: a child fetches the messages queued for it and acknowledges them.

A child opens every connection to its parent, so the parent never calls a
child. It queues parent-to-child messages (directives, ranking publications)
in its outbox like any other, and the child requests them with a pull request
signed by its key. The request acknowledges the messages of the previous
response; the parent marks them delivered (or failed, when the child rejected
them) and returns the next undelivered ones in sequence order. A message that
was sent but not acknowledged (a lost response, a child that crashed) is sent
again, and the child's inbox answers the repeat with the original result.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.core.db import utcnow
from node.core.settings import Settings
from node.federation import schemas
from node.federation.client import fresh_body
from node.federation.envelope import (
    PROTOCOL_VERSIONS,
    EnvelopeRejected,
    error_count,
    format_timestamp,
    parse_envelope,
    parse_timestamp,
)
from node.federation.envelope import MAX_CLOCK_AHEAD, MAX_CLOCK_BEHIND
from node.federation.handlers import CHILD
from node.federation.identity import verify_document
from node.federation.models import ExchangeLogEntry, OutboxMessage, Peer, QuarantinedMessage
from node.federation.service import accepts_previous_key, relation_of

logger = logging.getLogger(__name__)


def serve_pull(session: Session, settings: Settings, raw: bytes, *,
               now: datetime | None = None, remote_address: str | None = None) -> dict:
    """Return the response to one pull request; raise EnvelopeRejected after quarantining it."""
    now = now or utcnow()
    try:
        peer, request = _verify_request(session, settings, raw, now)
    except EnvelopeRejected as rejection:
        _quarantine(session, raw, rejection, now, remote_address)
        raise
    _acknowledge(session, peer, request["acknowledged"], now)
    pending = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.recipient_node_id == peer.node_id,
               OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None))
        .order_by(OutboxMessage.sequence).limit(request["limit"] + 1)).all()
    more = len(pending) > request["limit"]
    envelopes = []
    for message in pending[:request["limit"]]:
        body = fresh_body(settings, peer, message, now)
        message.body = body
        message.attempts += 1
        message.last_error = None
        session.add(ExchangeLogEntry(direction="outbound", message_id=message.message_id,
                                     peer_node_id=peer.node_id, raw=body, at=now))
        envelopes.append(json.loads(body.decode("utf-8")))
    peer.last_contact_at = now
    session.flush()
    if envelopes or request["acknowledged"]:
        logger.info("federation pull request served",
                    extra={"peer": peer.node_id, "sent": len(envelopes),
                           "acknowledged": len(request["acknowledged"]),
                           "first_sequence": envelopes[0]["sequence"] if envelopes else None})
    return {"messages": envelopes, "more": more, "responded_at": format_timestamp(now)}


def _verify_request(session: Session, settings: Settings, raw: bytes,
                    now: datetime) -> tuple[Peer, dict]:
    request = parse_envelope(raw)
    version = request.get("protocol_version")
    if version is not None and version not in PROTOCOL_VERSIONS:
        raise EnvelopeRejected(
            "unsupported_version", f"protocol version {version!r} is not supported; this node "
            f"supports {', '.join(PROTOCOL_VERSIONS)}")
    if not request.get("signature"):
        raise EnvelopeRejected("unsigned", "pull request has no signature; sign it with the "
                               "child node's key")
    problems = schemas.validation_problems("pull_request", request)
    if problems:
        listed = "; ".join(f"{problem.path}: {problem.message}" for problem in problems)
        raise EnvelopeRejected("schema_invalid", f"invalid against schema pull_request "
                               f"({error_count(problems)}): {listed}", problems)
    if request["recipient"] != settings.node_id:
        raise EnvelopeRejected("wrong_recipient", f"pull request is addressed to "
                               f"{request['recipient']!r}, but this node is {settings.node_id!r}")
    peer = session.scalar(select(Peer).where(Peer.node_id == request["node_id"]))
    if peer is None:
        raise EnvelopeRejected("unknown_sender", f"node {request['node_id']!r} is not a linked "
                               "node; enrol it first")
    if not verify_document(request, peer.public_key) and not (
            accepts_previous_key(peer, now)
            and verify_document(request, peer.previous_public_key or "")):
        raise EnvelopeRejected("bad_signature", "signature does not match the key pinned for "
                               f"node {peer.node_id!r}")
    if peer.status != "active":
        raise EnvelopeRejected("suspended_sender", f"node {peer.node_id!r} is suspended on this "
                               "node; ask its administrator to reactivate the link",
                               authenticated=True)
    if relation_of(peer, settings) != CHILD:
        raise EnvelopeRejected("not_allowed_from_peer", f"only a child node pulls messages, and "
                               f"{peer.node_id!r} is the parent of this node", authenticated=True)
    requested_at = parse_timestamp(request["requested_at"])
    if requested_at < now - MAX_CLOCK_BEHIND or requested_at > now + MAX_CLOCK_AHEAD:
        raise EnvelopeRejected(
            "clock_skew", f"clock skew: node {peer.node_id!r} stamped the pull request "
            f"{format_timestamp(requested_at)}, and this node's clock reads "
            f"{format_timestamp(now)}; synchronise both clocks (NTP)", authenticated=True)
    return peer, request


def _acknowledge(session: Session, peer: Peer, acknowledged: list[dict], now: datetime) -> None:
    ids = [item["message_id"] for item in acknowledged]
    rows = {row.message_id: row for row in session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient_node_id == peer.node_id,
                                    OutboxMessage.message_id.in_(ids)))} if ids else {}
    for item in acknowledged:
        message = rows.get(item["message_id"])
        if message is None or message.sent_at is not None:
            continue
        if item["outcome"] == "rejected":
            message.failed_at = now
            message.last_error = (f"rejected by {peer.node_id}: {item.get('reason', '?')}: "
                                  f"{item.get('detail', '')}")
            peer.last_error = message.last_error
            peer.last_error_at = now
            logger.error("federation message rejected by the child; retry it by hand after "
                         "fixing the cause",
                         extra={"message_id": message.message_id, "peer": peer.node_id,
                                "error": message.last_error})
            continue
        message.sent_at = now
        message.failed_at = None
        message.next_attempt_at = None
        if (peer.key_rotation_sequence is not None
                and message.sequence >= peer.key_rotation_sequence):
            peer.key_rotation_sequence = None


def _quarantine(session: Session, raw: bytes, rejection: EnvelopeRejected, now: datetime,
                remote_address: str | None) -> None:
    try:
        request = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        request = None
    node_id = request.get("node_id") if isinstance(request, dict) else None
    node_id = node_id[:64] if isinstance(node_id, str) else None
    session.add(QuarantinedMessage(raw=raw, reason=rejection.reason,
                                   detail=f"pull request: {rejection.message}",
                                   sender_node_id=node_id, message_id=None,
                                   remote_address=remote_address, received_at=now))
    if rejection.authenticated and node_id is not None:
        peer = session.scalar(select(Peer).where(Peer.node_id == node_id))
        if peer is not None:
            peer.last_error = f"{rejection.reason}: {rejection.message}"
            peer.last_error_at = now
    session.flush()
    logger.warning("federation pull request rejected",
                   extra={"reason": rejection.reason, "peer": node_id,
                          "remote_address": remote_address})
