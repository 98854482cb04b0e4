"""Tables of the message contents: task links, sent directives, aggregates and rankings."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from node.core.db import Base, UTCDateTime, utcnow

# "sent": this node assigned the task to the peer (a child) in a directive.
# "received": the task came from the peer (the parent) in a directive.
LINK_DIRECTIONS = ("sent", "received")
PERIOD_KINDS = ("month", "quarter", "half_year", "year")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class TaskLink(Base):
    """A local task tied to its copy at a linked node by the assigning node's task reference."""

    __tablename__ = "federation_task_links"
    __table_args__ = (
        CheckConstraint(_in("direction", LINK_DIRECTIONS), name="direction"),
        UniqueConstraint("peer_node_id", "direction", "task_ref"),
        UniqueConstraint("task_id", "peer_node_id", "direction"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    peer_node_id: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(10))
    # Made by the assigning node ("<node id>/<task id>"), so it is unique there.
    task_ref: Mapped[str] = mapped_column(String(160))
    document_reference: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SentDirective(Base):
    """The last directive sent to a child for one document: its hash, task references and time.

    A new directive is queued only when the content hash changes.
    """

    __tablename__ = "federation_sent_directives"
    __table_args__ = (UniqueConstraint("document_id", "peer_node_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    peer_node_id: Mapped[str] = mapped_column(String(64))
    # SHA-256 of the canonical JSON of the document and tasks last sent.
    payload_sha256: Mapped[str] = mapped_column(String(64))
    task_refs: Mapped[list] = mapped_column(JSON)
    # The first directive is the electronic transfer of the tasks (Điều 6.1).
    transferred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_message_id: Mapped[str] = mapped_column(String(36))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AggregateRow(Base):
    """One org unit's task counts by completion level, as a child node reported them."""

    __tablename__ = "federation_aggregate_rows"
    __table_args__ = (
        CheckConstraint(_in("period_kind", PERIOD_KINDS), name="period_kind"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        UniqueConstraint("sender_node_id", "period_kind", "period_start", "org_unit_code",
                         name="uq_federation_aggregate_rows_sender_period_unit"),
        Index("ix_federation_aggregate_rows_period", "period_kind", "period_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_node_id: Mapped[str] = mapped_column(String(64))
    period_kind: Mapped[str] = mapped_column(String(20))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    org_unit_code: Mapped[str] = mapped_column(String(40))
    org_unit_name: Mapped[str | None] = mapped_column(String(300))
    counts: Mapped[dict] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    message_id: Mapped[str] = mapped_column(String(36))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReceivedRanking(Base):
    """A ranking of org units that the parent node published for one period."""

    __tablename__ = "federation_received_rankings"
    __table_args__ = (
        CheckConstraint(_in("period_kind", (*PERIOD_KINDS, "custom")), name="period_kind"),
        Index("ix_federation_received_rankings_period", "period_kind", "period_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_node_id: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    period_kind: Mapped[str] = mapped_column(String(20))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    method: Mapped[str] = mapped_column(Text)
    entries: Mapped[list] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
