"""Delivery of queued messages: push to the parent, pull from it, and the background sender.

Order and exactly-once delivery
-------------------------------
Each node numbers the messages it queues for one peer 1, 2, 3... (the
sequence). The sender sends them in that order and never sends message n+1
while message n waits for a retry after a network error or a 5xx response,
so a peer normally receives a link's messages in order. A message that the
receiver rejects (a 4xx response) is marked failed and skipped: the next ones
go on, and the receiver records the hole in the sequence as a gap until an
administrator retries the failed message. Receivers therefore apply messages
as they arrive and do not hold back later ones. Handlers must not depend on
the order of messages of different tasks. A task status carries its own
`reported_at`, so a handler can keep an older report from replacing a newer
one (docs/federation_delivery.md lists the rule of each message type).

The receiver deduplicates on the message id and content, so a message sent
twice (a lost response, a sender killed after sending and before recording
it) is applied once and the repeat gets the original result.

When the peer accepts batches, the messages go in batch requests
(`node.federation.batch_delivery`) with the same order and retry rules.

One sender per node
-------------------
Every process of the node (each gunicorn worker, `theodoi federation run`,
`theodoi federation sync`) may try to send, but only the holder of the
`federation_sender` lease row does, so two processes never send the same
message at the same time. A lease whose holder process is gone, or whose
time ran out, is taken over.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from node.core.db import utcnow
from node.core.settings import Settings
from node.federation.batch_delivery import (
    batch_limits,
    deliver_batch,
    fit_batch,
    refresh_batch_limits,
)
from node.federation.client import (
    API_PREFIX,
    Connection,
    FederationCallError,
    deliver,
    problem_text,
    signing_key_for,
)
from node.federation.envelope import (
    CURRENT_PROTOCOL_VERSION,
    EnvelopeRejected,
    encode_envelope,
    format_timestamp,
)
from node.federation.identity import sign_document
from node.federation.models import Lease, OutboxMessage, Peer

logger = logging.getLogger(__name__)

LEASE_NAME = "federation_sender"
# A holder renews the lease after every message or batch. A holder that stops
# renewing for this long is presumed dead, even if its process cannot be checked.
LEASE_SECONDS = 60
BATCH_SIZE = 100
# Messages a parent returns for one pull request; the child sends another until none are left.
PULL_BATCH_SIZE = 100
MAX_PULL_REQUESTS = 1000
# When another process holds the lease, a woken sender tries again after this many seconds.
BUSY_RETRY_SECONDS = 0.5


@dataclass
class DeliveryStats:
    """Counts of one push run."""

    attempted: int = 0
    delivered: int = 0
    # Network errors and 5xx responses: the message waits for its next attempt.
    retry_later: int = 0
    # 4xx responses: the message is marked failed until retried by hand.
    rejected: int = 0
    # Messages not yet due (a retry delay runs) or queued behind one.
    waiting: int = 0
    # True when another process held the lease, so this run sent nothing.
    busy: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass
class PullStats:
    """Counts of one pull run."""

    requests: int = 0
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    busy: bool = False
    # Why the run stopped early: no parent, suspended link, network error...
    error: str | None = None


@dataclass
class SyncStats:
    push: DeliveryStats
    pull: PullStats


# The lease ----------------------------------------------------------------------


def _holder_name() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"


def _holder_gone(holder: str | None) -> bool:
    """Return whether `holder` names a process of this host that no longer runs."""
    if not holder:
        return True
    parts = holder.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname()[:60]:
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


def acquire_lease(session_factory: sessionmaker[Session], holder: str) -> bool:
    """Take the sender lease for `holder`; return False when another live process holds it."""
    now = utcnow()
    expires = now + timedelta(seconds=LEASE_SECONDS)
    with session_factory() as session:
        lease = session.get(Lease, LEASE_NAME)
        if lease is None:
            session.add(Lease(name=LEASE_NAME, holder=holder, expires_at=expires))
            try:
                session.commit()
                return True
            except IntegrityError:
                session.rollback()
                lease = session.get(Lease, LEASE_NAME)
                if lease is None:
                    return False
        current = lease.holder
        condition = or_(Lease.expires_at < now, Lease.holder.is_(None))
        if current is not None and lease.expires_at >= now and _holder_gone(current):
            logger.warning("federation sender lease taken over from a process that is gone",
                           extra={"previous_holder": current})
            condition = or_(condition, Lease.holder == current)
        result = session.execute(update(Lease).where(Lease.name == LEASE_NAME, condition)
                                 .values(holder=holder, expires_at=expires))
        session.commit()
        return result.rowcount == 1


def renew_lease(session: Session, holder: str) -> None:
    session.execute(update(Lease).where(Lease.name == LEASE_NAME, Lease.holder == holder)
                    .values(expires_at=utcnow() + timedelta(seconds=LEASE_SECONDS)))


def release_lease(session_factory: sessionmaker[Session], holder: str) -> None:
    with session_factory() as session:
        session.execute(update(Lease).where(Lease.name == LEASE_NAME, Lease.holder == holder)
                        .values(holder=None, expires_at=utcnow()))
        session.commit()


# Push ----------------------------------------------------------------------------


def send_pending(session_factory: sessionmaker[Session], settings: Settings, *,
                 limit: int | None = None) -> DeliveryStats:
    """Push the due outbox messages to every peer this node calls, in sequence order."""
    holder = _holder_name()
    if not acquire_lease(session_factory, holder):
        logger.info("federation push skipped: another process is sending")
        return DeliveryStats(busy=True)
    try:
        return _push(session_factory, settings, holder, limit)
    finally:
        release_lease(session_factory, holder)


def _push(session_factory: sessionmaker[Session], settings: Settings, holder: str,
          limit: int | None) -> DeliveryStats:
    stats = DeliveryStats()
    with session_factory() as session:
        peers = [(peer.node_id, peer.base_url) for peer in session.scalars(
            select(Peer).where(Peer.base_url.is_not(None), Peer.status == "active")
            .order_by(Peer.node_id))]
    for node_id, base_url in peers:
        connection = Connection(base_url)
        try:
            _push_to_peer(session_factory, settings, holder, node_id, connection, stats, limit)
        finally:
            connection.close()
    if stats.attempted:
        logger.info("federation push finished",
                    extra={"attempted": stats.attempted, "delivered": stats.delivered,
                           "retry_later": stats.retry_later, "rejected": stats.rejected,
                           "waiting": stats.waiting})
    return stats


def _push_to_peer(session_factory: sessionmaker[Session], settings: Settings, holder: str,
                  node_id: str, connection: Connection, stats: DeliveryStats,
                  limit: int | None) -> None:
    if batch_limits(connection.base_url) is not None and _push_batches(
            session_factory, settings, holder, node_id, connection, stats, limit):
        return
    while limit is None or stats.attempted < limit:
        with session_factory() as session:
            now = utcnow()
            batch = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.recipient_node_id == node_id,
                       OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None))
                .order_by(OutboxMessage.sequence).limit(BATCH_SIZE)).all()
            if not batch:
                return
            for message in batch:
                if limit is not None and stats.attempted >= limit:
                    return
                if message.next_attempt_at is not None and message.next_attempt_at > now:
                    # Later messages wait behind this one, so the peer gets them in order.
                    stats.waiting += _pending_from(session, node_id, message.sequence)
                    return
                outcome = deliver(session, settings, message, connection=connection)
                renew_lease(session, holder)
                session.commit()
                stats.attempted += 1
                if outcome.delivered:
                    stats.delivered += 1
                elif outcome.retryable:
                    stats.retry_later += 1
                    stats.waiting += _pending_from(session, node_id, message.sequence + 1)
                    stats.errors.append(outcome.error or "")
                    return
                else:
                    stats.rejected += 1
                    stats.errors.append(outcome.error or "")
            if len(batch) < BATCH_SIZE:
                return


def _push_batches(session_factory: sessionmaker[Session], settings: Settings, holder: str,
                  node_id: str, connection: Connection, stats: DeliveryStats,
                  limit: int | None) -> bool:
    """Push in batch requests; return False when the peer stopped taking them.

    The caller then sends what is left one by one.
    """
    while limit is None or stats.attempted < limit:
        limits = batch_limits(connection.base_url)
        if limits is None:
            return False
        room = settings.federation_push_batch_size
        if limit is not None:
            room = min(room, limit - stats.attempted)
        with session_factory() as session:
            now = utcnow()
            pending = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.recipient_node_id == node_id,
                       OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None))
                .order_by(OutboxMessage.sequence).limit(room)).all()
            if not pending:
                return True
            due = []
            for message in pending:
                if message.next_attempt_at is not None and message.next_attempt_at > now:
                    break
                due.append(message)
            if not due:
                # Later messages wait behind the head, so the peer gets them in order.
                stats.waiting += _pending_from(session, node_id, pending[0].sequence)
                return True
            batch = fit_batch(due, limits)
            peer = session.scalar(select(Peer).where(Peer.node_id == node_id))
            outcome = deliver_batch(session, settings, peer, batch, connection, limits)
            if outcome.fallback:
                session.rollback()
                return False
            renew_lease(session, holder)
            session.commit()
            stats.attempted += len(batch)
            stats.delivered += outcome.delivered
            stats.rejected += outcome.rejected
            stats.retry_later += outcome.retry_later
            stats.errors.extend(outcome.errors)
            if outcome.retry_later:
                stats.waiting += _pending_from(session, node_id, batch[-1].sequence + 1)
                return True
            if len(batch) < len(due):
                continue
            if len(due) < len(pending):
                stats.waiting += _pending_from(session, node_id, pending[len(due)].sequence)
                return True
            if len(pending) < room:
                return True
    return True


def _pending_from(session: Session, node_id: str, sequence: int) -> int:
    """Count the undelivered messages to `node_id` from `sequence` on."""
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.recipient_node_id == node_id, OutboxMessage.sequence >= sequence,
        OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None)))


# Pull ----------------------------------------------------------------------------


def _parent(session: Session, settings: Settings) -> Peer | None:
    return session.scalar(select(Peer).where(Peer.level < settings.node_level,
                                             Peer.base_url.is_not(None)))


def pull_from_parent(session_factory: sessionmaker[Session],
                     settings: Settings) -> PullStats:
    """Fetch and apply the messages the parent queued for this node, then acknowledge them."""
    holder = _holder_name()
    if not acquire_lease(session_factory, holder):
        return PullStats(busy=True)
    try:
        return _pull(session_factory, settings, holder)
    finally:
        release_lease(session_factory, holder)


def _pull_request(settings: Settings, parent: Peer, acknowledged: list[dict]) -> bytes:
    document = {
        "protocol_version": CURRENT_PROTOCOL_VERSION,
        "node_id": settings.node_id,
        "recipient": parent.node_id,
        "requested_at": format_timestamp(utcnow()),
        "last_applied_sequence": max(parent.next_expected_sequence - 1, 0),
        "acknowledged": acknowledged,
        "limit": PULL_BATCH_SIZE,
    }
    return encode_envelope(sign_document(document, signing_key_for(settings, parent)))


def _pull(session_factory: sessionmaker[Session], settings: Settings, holder: str) -> PullStats:
    stats = PullStats()
    with session_factory() as session:
        parent = _parent(session, settings)
        if parent is None:
            stats.error = "this node has no parent to pull from"
            return stats
        if parent.status != "active":
            stats.error = f"the link with parent {parent.node_id!r} is suspended on this node"
            return stats
        parent_id, base_url = parent.node_id, parent.base_url
    connection = Connection(base_url)
    acknowledged: list[dict] = []
    try:
        for _ in range(MAX_PULL_REQUESTS):
            with session_factory() as session:
                parent = session.scalar(select(Peer).where(Peer.node_id == parent_id))
                body = _pull_request(settings, parent, acknowledged)
            try:
                status, data = connection.post("/pull", body)
                if status >= 400:
                    text, _reason = problem_text(status, data)
                    raise FederationCallError(f"POST {base_url}{API_PREFIX}/pull failed: {text}")
                response = json.loads(data.decode("utf-8"))
                messages = response["messages"]
                if not isinstance(messages, list):
                    raise ValueError("messages is not a list")
            except (FederationCallError, UnicodeDecodeError, ValueError, KeyError,
                    TypeError) as exc:
                stats.error = str(exc)
                _record_pull_error(session_factory, parent_id, stats.error)
                logger.warning("federation pull failed",
                               extra={"peer": parent_id, "error": stats.error,
                                      "unacknowledged": len(acknowledged)})
                break
            stats.requests += 1
            acknowledged = []
            try:
                for envelope in messages:
                    acknowledged.append(_apply_pulled(session_factory, settings, envelope,
                                                      base_url, stats))
                    renew_lease_in(session_factory, holder)
            except Exception as exc:  # noqa: BLE001 - a handler failed; retry on the next run
                stats.error = (f"applying a message from {parent_id!r} failed: "
                               f"{exc.__class__.__name__}: {exc}")
                _record_pull_error(session_factory, parent_id, stats.error)
                logger.exception("federation pulled message could not be applied",
                                 extra={"peer": parent_id})
                break
            if not messages:
                break
    finally:
        connection.close()
    if stats.requests:
        _record_pull_contact(session_factory, parent_id)
    if stats.received or stats.error:
        logger.info("federation pull finished",
                    extra={"peer": parent_id, "requests": stats.requests,
                           "received": stats.received, "applied": stats.applied,
                           "duplicates": stats.duplicates, "rejected": stats.rejected})
    return stats


def renew_lease_in(session_factory: sessionmaker[Session], holder: str) -> None:
    with session_factory() as session:
        renew_lease(session, holder)
        session.commit()


def _apply_pulled(session_factory: sessionmaker[Session], settings: Settings, envelope: object,
                  base_url: str, stats: PullStats) -> dict:
    """Apply one pulled envelope through the same path as a pushed one; return its ack."""
    from node.federation.service import receive_message

    stats.received += 1
    try:
        raw = encode_envelope(envelope)
    except (ValueError, TypeError):
        raw = json.dumps(envelope).encode("utf-8")
    message_id = envelope.get("message_id") if isinstance(envelope, dict) else None
    sequence = envelope.get("sequence") if isinstance(envelope, dict) else None
    ack: dict = {"message_id": message_id if isinstance(message_id, str) else "",
                 "sequence": sequence if isinstance(sequence, int) else 0}
    with session_factory() as session:
        try:
            receipt = receive_message(session, settings, raw, remote_address=base_url[:64])
        except EnvelopeRejected as rejection:
            session.commit()
            stats.rejected += 1
            ack.update(outcome="rejected", reason=rejection.reason,
                       detail=rejection.message[:2000])
            return ack
        session.commit()
    if receipt.duplicate:
        stats.duplicates += 1
        ack["outcome"] = "duplicate"
    else:
        stats.applied += 1
        ack["outcome"] = "applied"
    return ack


def _record_pull_contact(session_factory: sessionmaker[Session], parent_id: str) -> None:
    """Set the parent's last contact to now, after it returned a response to a pull request."""
    with session_factory() as session:
        session.execute(update(Peer).where(Peer.node_id == parent_id)
                        .values(last_contact_at=utcnow()))
        session.commit()


def _record_pull_error(session_factory: sessionmaker[Session], parent_id: str,
                       error: str) -> None:
    with session_factory() as session:
        parent = session.scalar(select(Peer).where(Peer.node_id == parent_id))
        if parent is not None:
            parent.last_error = error
            parent.last_error_at = utcnow()
            session.commit()


# Both directions -------------------------------------------------------------------


def catch_up(session_factory: sessionmaker[Session], settings: Settings) -> SyncStats:
    """Push every due message, then pull from the parent: one run for the scheduler."""
    holder = _holder_name()
    if not acquire_lease(session_factory, holder):
        return SyncStats(DeliveryStats(busy=True), PullStats(busy=True))
    try:
        _refresh_peer_info(session_factory)
        push = _push(session_factory, settings, holder, None)
        with session_factory() as session:
            has_parent = _parent(session, settings) is not None
        pull = _pull(session_factory, settings, holder) if has_parent else PullStats()
        return SyncStats(push, pull)
    finally:
        release_lease(session_factory, holder)


def _refresh_peer_info(session_factory: sessionmaker[Session]) -> None:
    """Read GET /info of every peer this node calls, to learn whether it takes batches."""
    with session_factory() as session:
        urls = list(session.scalars(select(Peer.base_url).where(Peer.base_url.is_not(None),
                                                                Peer.status == "active")))
    for base_url in urls:
        refresh_batch_limits(base_url)


# The background sender ----------------------------------------------------------------

_wake = threading.Event()
_sender_lock = threading.Lock()
_sender: BackgroundSender | None = None


def notify_committed() -> None:
    """Wake this process's background sender: an outbox change has just been committed."""
    _wake.set()


class BackgroundSender(threading.Thread):
    """Pushes as soon as it is woken, and pushes and pulls every sync interval."""

    def __init__(self, session_factory: sessionmaker[Session], settings: Settings) -> None:
        super().__init__(name="federation-sender", daemon=True)
        self._session_factory = session_factory
        self._settings = settings
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        _wake.set()

    def run(self) -> None:
        interval = self._settings.federation_sync_interval_seconds
        logger.info("federation background sender started",
                    extra={"interval_seconds": interval, "pid": os.getpid()})
        next_full_run = 0.0
        while not self._stopping.is_set():
            timeout = max(next_full_run - time.monotonic(), 0)
            woken = _wake.wait(timeout=timeout)
            _wake.clear()
            if self._stopping.is_set():
                break
            try:
                if time.monotonic() >= next_full_run:
                    stats = catch_up(self._session_factory, self._settings)
                    busy = stats.push.busy
                    next_full_run = time.monotonic() + interval
                elif woken:
                    busy = send_pending(self._session_factory, self._settings).busy
                else:
                    continue
            except Exception:  # noqa: BLE001 - the thread must survive any failure
                logger.exception("federation background sender run failed")
                busy = False
                self._stopping.wait(BUSY_RETRY_SECONDS)
            if busy:
                # Another process is sending; it may have missed what was just
                # committed, so look again shortly.
                threading.Timer(BUSY_RETRY_SECONDS, _wake.set).start()
        logger.info("federation background sender stopped", extra={"pid": os.getpid()})


def start_background_sender(settings: Settings,
                            session_factory: sessionmaker[Session] | None = None
                            ) -> BackgroundSender | None:
    """Start this process's sender thread once; None when the interval setting is 0."""
    global _sender
    if settings.federation_sync_interval_seconds <= 0:
        return None
    with _sender_lock:
        if _sender is not None and _sender.is_alive():
            return _sender
        if session_factory is None:
            from node.core.db import make_engine, make_session_factory

            session_factory = make_session_factory(make_engine(settings.effective_database_url))
        _sender = BackgroundSender(session_factory, settings)
        _sender.start()
        return _sender


def stop_background_sender() -> None:
    global _sender
    with _sender_lock:
        if _sender is not None:
            _sender.stop()
            _sender.join(timeout=30)
            _sender = None
