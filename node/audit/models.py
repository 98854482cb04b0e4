"""The audit log table: one row per write, each row chained to the one before."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from node.core.db import Base, UTCDateTime

SHA256_HEX_LENGTH = 64


class AuditEntry(Base):
    """One write to the node: who made it, when, to what, and the values before and after.

    `entry_hash` is the SHA-256 of the entry's other fields except the
    surrogate `id`, and `prev_hash` is the `entry_hash` of the entry with the
    previous sequence number, so changing, removing or inserting a row breaks
    the chain (see `node.audit.service.verify`).
    """

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Position in the chain: 1 for the first entry, then without gaps.
    sequence: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The user who made the write, or NULL when the node itself made it (seeding, jobs).
    actor: Mapped[str | None] = mapped_column(String(200))
    # What was done, as "<object type>.<verb>", e.g. "document.create".
    action: Mapped[str] = mapped_column(String(80))
    object_type: Mapped[str] = mapped_column(String(60))
    object_id: Mapped[str] = mapped_column(String(100))
    before: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    after: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    request_id: Mapped[str | None] = mapped_column(String(100))
    prev_hash: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH))
    entry_hash: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH))
