"""Tables of the exchange protocol: linked nodes, enrolments, outbox, inbox and logs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from node.core.db import Base, UTCDateTime, utcnow

PEER_STATUSES = ("active", "suspended")
DIRECTIONS = ("inbound", "outbound")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Peer(Base):
    """A linked node (the parent or a child) and the public key pinned for it."""

    __tablename__ = "federation_peers"
    __table_args__ = (
        CheckConstraint(_in("status", PEER_STATUSES), name="status"),
        CheckConstraint("level BETWEEN 0 AND 2", name="level_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[str] = mapped_column(String(64), unique=True)
    level: Mapped[int] = mapped_column(Integer)
    org_unit_code: Mapped[str] = mapped_column(String(40))
    public_key: Mapped[str] = mapped_column(String(64))
    # Where this node reaches the peer; only the parent has one, since children
    # contact their parent and are never called back.
    base_url: Mapped[str | None] = mapped_column(String(500))
    protocol_version: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The sequence number this node expects next from the peer.
    next_expected_sequence: Mapped[int] = mapped_column(Integer, default=1)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # After the peer rotated its key: its former key, accepted until the instant below.
    previous_public_key: Mapped[str | None] = mapped_column(String(64))
    previous_key_valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # After this node rotated its own key: the sequence of the message that
    # announces the new key to the peer. Until the peer has it, messages to the
    # peer are still signed with the former key.
    key_rotation_sequence: Mapped[int | None] = mapped_column(Integer)


class Enrolment(Base):
    """A one-time token that lets a child node of one org unit join this node."""

    __tablename__ = "federation_enrolments"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the token; the token itself is printed once and never stored.
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    org_unit_code: Mapped[str] = mapped_column(String(40), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by_node_id: Mapped[str | None] = mapped_column(String(64))


class OutboxMessage(Base):
    """A signed message waiting for delivery to a peer, or already delivered."""

    __tablename__ = "federation_outbox"
    __table_args__ = (
        UniqueConstraint("recipient_node_id", "sequence"),
        Index("ix_federation_outbox_pending", "sent_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    message_type: Mapped[str] = mapped_column(String(40))
    recipient_node_id: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set when the receiver rejected the message (a 4xx response): it is not
    # retried until an administrator retries it by hand.
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InboxMessage(Base):
    """A verified message received once, with the result that repeats of it get."""

    __tablename__ = "federation_inbox"
    __table_args__ = (UniqueConstraint("sender_node_id", "sequence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    message_type: Mapped[str] = mapped_column(String(40))
    sender_node_id: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(Integer)
    # See node.federation.envelope.content_hash: signature and timestamp excluded.
    body_sha256: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class QuarantinedMessage(Base):
    """A rejected message, kept as received for inspection."""

    __tablename__ = "federation_quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(String(40), index=True)
    detail: Mapped[str] = mapped_column(Text)
    sender_node_id: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(36))
    remote_address: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ExchangeLogEntry(Base):
    """A message exactly as it travelled, in either direction; rows are only appended."""

    __tablename__ = "federation_exchange_log"
    __table_args__ = (CheckConstraint(_in("direction", DIRECTIONS), name="direction"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(10))
    message_id: Mapped[str] = mapped_column(String(36), index=True)
    peer_node_id: Mapped[str] = mapped_column(String(64))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Lease(Base):
    """A named lock with an expiry, shared by every process of the node.

    The sender holds the "federation_sender" lease while it pushes or pulls,
    so two workers never send the same message at the same time.
    """

    __tablename__ = "federation_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(120))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
