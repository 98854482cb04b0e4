"""Signed files of documents, their signatures, task fingerprints and approval signatures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from node.core.db import Base, UTCDateTime, utcnow

SHA256_HEX_LENGTH = 64


class DocumentFile(Base):
    """The signed PDF of a document as uploaded, and the outcome of verifying it.

    `status` is "pending" while the signatures are being checked, then one
    of the statuses of `node.signatures.verify` ("valid", "untrusted",
    "modified", "invalid", "unsigned"), or "failed" when the check stopped
    on an unexpected error. Only "valid" makes `is_authenticated` true.
    The newest file of a document is the one shown.
    """

    __tablename__ = "document_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"),
                                             index=True)
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH), index=True)
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    status: Mapped[str] = mapped_column(String(20))
    is_authenticated: Mapped[bool] = mapped_column(Boolean, default=False)
    # Signatures checked so far and in total, for the progress shown while pending.
    checked_signatures: Mapped[int] = mapped_column(Integer, default=0)
    total_signatures: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uploaded_by: Mapped[str | None] = mapped_column(String(200))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    signatures: Mapped[list[FileSignature]] = relationship(
        back_populates="file", order_by="FileSignature.position", cascade="all, delete-orphan")


class FileSignature(Base):
    """One signature found in a document file, with its signer and verification outcome."""

    __tablename__ = "document_file_signatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("document_files.id", ondelete="CASCADE"),
                                         index=True)
    # Order of the signature in the file, from 0 for the first one applied.
    position: Mapped[int] = mapped_column(Integer)
    field_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    # Problem codes of `node.signatures.verify`, e.g. ["chain_untrusted"].
    problems: Mapped[list] = mapped_column(JSON)
    signer_name: Mapped[str | None] = mapped_column(String(300))
    signer_organisation: Mapped[str | None] = mapped_column(String(300))
    signing_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    certificate_sha256: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH))
    certificate_subject: Mapped[str] = mapped_column(Text)
    certificate_issuer: Mapped[str] = mapped_column(Text)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    covers_whole_file: Mapped[bool] = mapped_column(Boolean)
    modification_level: Mapped[str | None] = mapped_column(String(30))

    file: Mapped[DocumentFile] = relationship(back_populates="signatures")


class TaskSourceFingerprint(Base):
    """The verified document file that a task was made from, by its SHA-256."""

    __tablename__ = "task_source_fingerprints"
    __table_args__ = (UniqueConstraint("task_id", "file_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("document_files.id", ondelete="CASCADE"),
                                         index=True)
    sha256: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    file: Mapped[DocumentFile] = relationship()


class ApprovalSignature(Base):
    """The node's signature over the canonical record of one approval decision.

    `record` is the canonical record as signed: what was decided, by whom
    and when. The audit entry of the decision is `audit_entry_id`.
    """

    __tablename__ = "approval_signatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    audit_entry_id: Mapped[int] = mapped_column(ForeignKey("audit_entries.id"), unique=True)
    action: Mapped[str] = mapped_column(String(80))
    object_type: Mapped[str] = mapped_column(String(60))
    object_id: Mapped[str] = mapped_column(String(100))
    record: Mapped[dict] = mapped_column(JSON)
    # Base64 of the signature over the RFC 8785 canonical JSON of `record`.
    signature: Mapped[str] = mapped_column(Text)
    algorithm: Mapped[str] = mapped_column(String(40))
    certificate_sha256: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH))
    certificate_pem: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
