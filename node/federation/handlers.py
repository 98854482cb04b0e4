"""Handlers that apply verified messages, one per message type.

A handler runs inside the transaction that stores the message in the inbox,
so a message is applied exactly once or not at all. Its return value is the
result that the sender gets, again, for every repeat of the same message.
A handler that cannot apply a message raises `not_applicable`, and then
nothing of it is stored except the quarantine row.

The handlers live beside the content they apply: directives in
`node.federation.directives`, receipts, objections and statuses in
`node.federation.statuses`, decisions on objections in
`node.federation.objection_decisions`, aggregate reports in `node.federation.aggregates`
and rankings in `node.federation.rankings_exchange`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from node.core.settings import Settings
from node.federation.envelope import EnvelopeRejected
from node.federation.models import Peer

PARENT = "parent"
CHILD = "child"

ApplyFunction = Callable[[Session, Settings, Peer, dict], dict]
# Reads, in a few queries, the rows that the handler will need for a batch of
# envelopes, given as (claimed sender, envelope) pairs that are not verified
# yet. It must only read, and must ignore what it cannot use.
PrefetchFunction = Callable[[Session, list[tuple[str, dict]]], None]
# Session.info key of the rows that prefetch functions keep for one receiving
# transaction; `service.Receiver.finish` drops it.
PREFETCHED_INFO_KEY = "theodoi_federation_prefetched"


@dataclass(frozen=True)
class Handler:
    """How to apply one message type, and which linked node may send it."""

    message_type: str
    accepted_from: str
    apply: ApplyFunction
    prefetch: PrefetchFunction | None = None


HANDLERS: dict[str, Handler] = {}


def register(message_type: str, accepted_from: str, *,
             prefetch: PrefetchFunction | None = None
             ) -> Callable[[ApplyFunction], ApplyFunction]:
    """Register the decorated function as the handler of `message_type`."""

    def decorate(function: ApplyFunction) -> ApplyFunction:
        HANDLERS[message_type] = Handler(message_type, accepted_from, function, prefetch)
        return function

    return decorate


def prefetched(session: Session, name: str) -> dict:
    """Return the dict that prefetch functions fill under `name` for this transaction."""
    return session.info.setdefault(PREFETCHED_INFO_KEY, {}).setdefault(name, {})


# Session.info key of the outermost transaction that holds SQLite's write lock.
_WRITE_LOCK_INFO_KEY = "theodoi_federation_write_lock"


def claim_write_lock(session: Session, peer: Peer) -> None:
    """Write to the sender's row first, so the handler holds the write lock before it reads.

    SQLite begins the receiving transaction deferred. A transaction that
    reads and then writes fails at once with "database is locked" when
    another connection (such as the outbox sender's lease) committed in
    between, whereas a first write waits for the busy timeout. PostgreSQL
    locks rows, not the database, so nothing is written there.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    # SQLite keeps the lock until the outermost transaction ends, also when a
    # savepoint rolls back, so the envelopes of a batch claim it only once.
    transaction = session.get_transaction()
    if transaction is not None and session.info.get(_WRITE_LOCK_INFO_KEY) is transaction:
        return
    session.execute(update(Peer).where(Peer.id == peer.id)
                    .values(last_contact_at=Peer.last_contact_at)
                    .execution_options(synchronize_session=False))
    session.info[_WRITE_LOCK_INFO_KEY] = transaction


def not_applicable(message: str) -> EnvelopeRejected:
    """Build the rejection of a signed, valid message whose content cannot be applied."""
    return EnvelopeRejected("not_applicable", message, authenticated=True)


def _register_all() -> None:
    # The content modules register their handlers when imported; they import
    # this module, so they are imported here, after its names exist.
    import node.federation.aggregates
    import node.federation.directives
    import node.federation.objection_decisions
    import node.federation.rankings_exchange
    import node.federation.statuses  # noqa: F401


_register_all()
