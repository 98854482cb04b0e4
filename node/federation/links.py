"""Administration of links: suspend, resume, rotate the node key, retry failed messages.

Also the overview that the command line and the administration page show:
for each linked node its last contact, backlog, failed messages, the
sequences sent and expected, and the gaps in what it sent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from node.core.db import utcnow
from node.core.errors import ConflictError, NotFoundError, ValidationError
from node.core.settings import Settings
from node.federation.client import queue_message
from node.federation.envelope import format_timestamp
from node.federation.identity import (
    NEXT_PRIVATE_KEY_FILE,
    encode_public_key,
    fingerprint,
    load_private_key,
    next_private_key_path,
    previous_private_key_path,
    private_key_path,
    read_key_file,
    sign_document,
    sync_directory,
    write_key_file,
)
from node.federation.key_rotation import MESSAGE_TYPE as KEY_ROTATION, proof_document
from node.federation.models import InboxMessage, OutboxMessage, Peer, QuarantinedMessage
from node.federation.service import relation_of

logger = logging.getLogger(__name__)

MAX_REASON_CHARS = 500


def find_peer(session: Session, node_id: str) -> Peer:
    peer = session.scalar(select(Peer).where(Peer.node_id == node_id))
    if peer is None:
        known = ", ".join(session.scalars(select(Peer.node_id).order_by(Peer.node_id))) or "none"
        raise NotFoundError(f"node {node_id!r} is not linked to this node; linked nodes: {known}")
    return peer


def suspend(session: Session, node_id: str, *, now: datetime | None = None) -> Peer:
    """Suspend a link: its messages are rejected and quarantined, nothing is sent to it."""
    peer = find_peer(session, node_id)
    if peer.status == "suspended":
        raise ConflictError(f"the link with {node_id!r} is already suspended")
    peer.status = "suspended"
    peer.status_changed_at = now or utcnow()
    session.flush()
    logger.warning("federation link suspended", extra={"peer": node_id})
    return peer


def resume(session: Session, node_id: str, *, now: datetime | None = None) -> Peer:
    """Resume a suspended link; its queued messages are sent again from where they stopped."""
    peer = find_peer(session, node_id)
    if peer.status == "active":
        raise ConflictError(f"the link with {node_id!r} is active, not suspended")
    peer.status = "active"
    peer.status_changed_at = now or utcnow()
    session.info["federation_outbox_changed"] = True
    session.flush()
    logger.info("federation link resumed", extra={"peer": node_id})
    return peer


def retry_failed(session: Session, *, message_id: str | None = None,
                 node_id: str | None = None, now: datetime | None = None) -> int:
    """Put failed messages back in the queue (one by id, or all of a peer, or all); return count."""
    now = now or utcnow()
    query = select(OutboxMessage).where(OutboxMessage.failed_at.is_not(None))
    if message_id is not None:
        query = query.where(OutboxMessage.message_id == message_id)
    if node_id is not None:
        find_peer(session, node_id)
        query = query.where(OutboxMessage.recipient_node_id == node_id)
    messages = session.scalars(query).all()
    if message_id is not None and not messages:
        exists = session.scalar(select(OutboxMessage.id)
                                .where(OutboxMessage.message_id == message_id))
        if exists is None:
            raise NotFoundError(f"message {message_id!r} is not in the outbox")
        raise ConflictError(f"message {message_id!r} has not failed, so there is nothing to "
                            "retry")
    for message in messages:
        message.failed_at = None
        message.next_attempt_at = now
        logger.info("federation message queued again by hand",
                    extra={"message_id": message.message_id,
                           "peer": message.recipient_node_id, "attempts": message.attempts})
    if messages:
        session.info["federation_outbox_changed"] = True
    session.flush()
    return len(messages)


# Key rotation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    public_key: str
    previous_key_valid_until: datetime
    announced_to: list[str]


def rotate_key(session: Session, settings: Settings, *,
               now: datetime | None = None) -> Rotation:
    """Queue the announcement of a new key pair to every linked node and stage its key file.

    The new private key is written to NEXT_PRIVATE_KEY_FILE before the caller
    commits. After the commit the caller calls `install_new_key`, and
    `recover_key_rotation` finishes or undoes a rotation interrupted between
    the two. Until a peer has the announcement, messages to it are signed
    with the former key, which every peer accepts until the grace period
    ends, so messages queued before the rotation are still delivered.
    """
    now = now or utcnow()
    # A rotation committed before a crash must become the node key first,
    # or the former key file below would be overwritten with the wrong key.
    recover_key_rotation(session, settings)
    peers = session.scalars(select(Peer).order_by(Peer.node_id)).all()
    pending = [peer.node_id for peer in peers if peer.key_rotation_sequence is not None]
    if pending:
        raise ConflictError(
            "the previous key rotation has not reached "
            f"{', '.join(pending)} yet; wait until `theodoi federation links` shows no "
            "rotation in progress, or resume the suspended links")
    current = load_private_key(settings)
    new_key = Ed25519PrivateKey.generate()
    new_public = encode_public_key(new_key.public_key())
    valid_until = now + timedelta(hours=settings.federation_key_grace_hours)
    # The former key signs the announcement and everything queued before it
    # was announced, so it is kept beside the current one.
    write_key_file(previous_private_key_path(settings), current)
    proof = sign_document(proof_document(settings.node_id, new_public), new_key,
                          field="proof")["proof"]
    payload = {"public_key": new_public, "proof": proof, "rotated_at": format_timestamp(now),
               "previous_key_valid_until": format_timestamp(valid_until)}
    for peer in peers:
        # Set before queueing, so the announcement is signed with the former key.
        peer.key_rotation_sequence = 0
        message = queue_message(session, settings, peer, KEY_ROTATION, payload, now=now)
        peer.key_rotation_sequence = message.sequence
    session.flush()
    write_key_file(next_private_key_path(settings), new_key)
    logger.warning("federation key rotation queued",
                   extra={"fingerprint": fingerprint(new_public),
                          "peers": [peer.node_id for peer in peers],
                          "previous_key_valid_until": format_timestamp(valid_until)})
    return Rotation(new_public, valid_until, [peer.node_id for peer in peers])


def install_new_key(settings: Settings) -> bool:
    """Make the staged key the node key, after the rotation was committed.

    Returns False when no key is staged, as when recovery installed it.
    """
    staged = next_private_key_path(settings)
    if not staged.exists():
        return False
    staged.replace(private_key_path(settings))
    sync_directory(settings.instance_path)
    return True


def _announced_public_key(session: Session) -> str | None:
    """Return the public key of the latest committed key_rotation message, if any."""
    body = session.scalar(select(OutboxMessage.body)
                          .where(OutboxMessage.message_type == KEY_ROTATION)
                          .order_by(OutboxMessage.id.desc()).limit(1))
    if body is None:
        return None
    return json.loads(body)["payload"]["public_key"]


def recover_key_rotation(session: Session, settings: Settings) -> str | None:
    """Finish or undo a key rotation interrupted between its commit and `install_new_key`.

    A staged key whose announcement is in the outbox was committed, so it
    becomes the node key. Any other staged key belongs to a rotation that was
    rolled back and is removed. Returns "installed", "discarded" or None
    when nothing was staged.
    """
    for leftover in settings.instance_path.glob("federation_ed25519_key*.pem.tmp"):
        # A write interrupted before its rename, so the target file is intact.
        leftover.unlink()
    staged = next_private_key_path(settings)
    if not staged.exists():
        return None
    # A rotation in progress writes every peer row before it stages its key
    # file, so this write waits until that rotation is committed or rolled back.
    session.execute(update(Peer).values(status=Peer.status)
                    .execution_options(synchronize_session=False))
    if not staged.exists():
        return None
    staged_public = encode_public_key(read_key_file(staged, NEXT_PRIVATE_KEY_FILE).public_key())
    if _announced_public_key(session) == staged_public:
        install_new_key(settings)
        outcome = "installed"
    else:
        staged.unlink()
        sync_directory(settings.instance_path)
        outcome = "discarded"
    logger.warning("interrupted federation key rotation recovered",
                   extra={"outcome": outcome, "fingerprint": fingerprint(staged_public)})
    return outcome


# The overview ------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkOverview:
    peer: Peer
    relation: str
    backlog: int
    failed: int
    last_queued_sequence: int
    last_delivered_sequence: int
    received: int
    gaps: list[tuple[int, int]]
    next_attempt_at: datetime | None

    @property
    def missing(self) -> int:
        return sum(last - first + 1 for first, last in self.gaps)


def sequence_gaps(session: Session, node_id: str) -> list[tuple[int, int]]:
    """Return the ranges of sequences missing from what `node_id` sent to this node.

    A gap is a range below the highest received sequence that never arrived:
    a message still being retried, or one this node rejected.
    """
    previous = func.lag(InboxMessage.sequence).over(order_by=InboxMessage.sequence)
    rows = select(InboxMessage.sequence.label("sequence"), previous.label("previous")).where(
        InboxMessage.sender_node_id == node_id).subquery()
    gaps = []
    first = session.execute(select(func.min(InboxMessage.sequence))
                            .where(InboxMessage.sender_node_id == node_id)).scalar()
    if first is not None and first > 1:
        gaps.append((1, first - 1))
    for sequence, before in session.execute(
            select(rows.c.sequence, rows.c.previous)
            .where(rows.c.sequence - rows.c.previous > 1).order_by(rows.c.sequence)):
        gaps.append((before + 1, sequence - 1))
    return gaps


def _pairs(result) -> dict:  # noqa: ANN001
    return {key: value for key, value in result.all()}


def link_overview(session: Session, settings: Settings) -> list[LinkOverview]:
    peers = session.scalars(select(Peer).order_by(Peer.level, Peer.node_id)).all()
    pending = OutboxMessage.sent_at.is_(None) & OutboxMessage.failed_at.is_(None)
    backlog = _pairs(session.execute(select(OutboxMessage.recipient_node_id, func.count())
                                   .where(pending).group_by(OutboxMessage.recipient_node_id)))
    failed = _pairs(session.execute(select(OutboxMessage.recipient_node_id, func.count())
                                  .where(OutboxMessage.failed_at.is_not(None))
                                  .group_by(OutboxMessage.recipient_node_id)))
    queued = _pairs(session.execute(select(OutboxMessage.recipient_node_id,
                                         func.max(OutboxMessage.sequence))
                                  .group_by(OutboxMessage.recipient_node_id)))
    delivered = _pairs(session.execute(select(OutboxMessage.recipient_node_id,
                                            func.max(OutboxMessage.sequence))
                                     .where(OutboxMessage.sent_at.is_not(None))
                                     .group_by(OutboxMessage.recipient_node_id)))
    received = _pairs(session.execute(select(InboxMessage.sender_node_id, func.count())
                                    .group_by(InboxMessage.sender_node_id)))
    next_attempt = _pairs(session.execute(select(OutboxMessage.recipient_node_id,
                                               func.min(OutboxMessage.next_attempt_at))
                                        .where(pending)
                                        .group_by(OutboxMessage.recipient_node_id)))
    return [LinkOverview(peer=peer, relation=relation_of(peer, settings),
                         backlog=backlog.get(peer.node_id, 0), failed=failed.get(peer.node_id, 0),
                         last_queued_sequence=queued.get(peer.node_id) or 0,
                         last_delivered_sequence=delivered.get(peer.node_id) or 0,
                         received=received.get(peer.node_id, 0),
                         gaps=sequence_gaps(session, peer.node_id),
                         next_attempt_at=next_attempt.get(peer.node_id))
            for peer in peers]


def failed_messages(session: Session, limit: int = 200) -> list[OutboxMessage]:
    return session.scalars(select(OutboxMessage).where(OutboxMessage.failed_at.is_not(None))
                           .order_by(OutboxMessage.failed_at.desc()).limit(limit)).all()


def quarantined_messages(session: Session, *, limit: int = 200,
                         reason: str | None = None) -> list[QuarantinedMessage]:
    query = select(QuarantinedMessage).order_by(QuarantinedMessage.received_at.desc(),
                                                QuarantinedMessage.id.desc())
    if reason:
        query = query.where(QuarantinedMessage.reason == reason)
    return session.scalars(query.limit(limit)).all()


def check_reason(reason: str | None) -> None:
    from node.federation.envelope import REASON_STATUS

    if reason is not None and reason not in REASON_STATUS:
        raise ValidationError(f"reason {reason!r} is unknown; use one of "
                              f"{', '.join(sorted(REASON_STATUS))}")
