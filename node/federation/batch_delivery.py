"""Pushing several outbox messages to a peer in one request, when the peer accepts batches.

A node that accepts batches publishes the path and limits of its batch
endpoint under `batch` in GET /federation/v1/info. The sender reads them
when it joins a parent and at the start of every full exchange run
(`delivery.catch_up`), and keeps them in memory per peer URL. Without them,
as with a parent of an older version, messages are sent one by one.

Each envelope of a batch is the same signed message that would be sent alone,
and the receiver checks and applies each on its own, so the order,
exactly-once and retry rules of `node.federation.delivery` hold per message:

- the whole request failed (network error, timeout, 5xx, 408, 425, 429):
  every message of the batch waits for a retry, and the head holds back the rest;
- the peer rejected the request as a whole with another 4xx (it no longer
  has the endpoint, or its limits changed): the limits are forgotten and the
  messages go one by one, each getting its own verdict;
- the request succeeded: each result is applied in order. Applied and
  duplicate messages are delivered, a rejected message is marked failed, and
  a message rejected for a reason of the link (`suspended_sender`) waits for
  a retry together with the messages after it. Those are sent again later,
  and the peer returns a duplicate result for each one it had applied.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from node.core.db import utcnow
from node.core.settings import Settings
from node.federation.client import (
    API_PREFIX,
    RETRYABLE_REASONS,
    RETRYABLE_STATUSES,
    Connection,
    FederationCallError,
    fetch_info,
    fresh_body,
    problem_summary,
    problem_text,
    record_delivery,
    record_failure,
    retry_delay,
)
from node.federation.envelope import CURRENT_PROTOCOL_VERSION
from node.federation.models import ExchangeLogEntry, OutboxMessage, Peer

logger = logging.getLogger(__name__)

# Bytes around the envelopes in a batch request, and between two of them.
_REQUEST_OVERHEAD = 64
_PER_MESSAGE_OVERHEAD = 1


@dataclass(frozen=True)
class BatchLimits:
    """The batch endpoint of a peer, as its GET /info publishes it."""

    path: str
    max_messages: int
    max_bytes: int


_limits: dict[str, BatchLimits] = {}
_limits_lock = threading.Lock()


def parse_batch_limits(info: dict) -> BatchLimits | None:
    """Return the batch limits that `info` publishes, or None when it publishes none."""
    batch = info.get("batch")
    if not isinstance(batch, dict):
        return None
    path, max_messages, max_bytes = (batch.get("path"), batch.get("max_messages"),
                                     batch.get("max_bytes"))
    if (not isinstance(path, str) or not path.startswith("/")
            or not isinstance(max_messages, int) or max_messages < 1
            or not isinstance(max_bytes, int) or max_bytes < 1):
        logger.warning("federation peer publishes invalid batch limits; sending one by one",
                       extra={"peer": info.get("node_id"), "batch": repr(batch)[:200]})
        return None
    return BatchLimits(path, max_messages, max_bytes)


def remember_batch_limits(base_url: str, info: dict) -> BatchLimits | None:
    """Store the batch limits that `info` of the peer at `base_url` publishes; return them."""
    limits = parse_batch_limits(info)
    with _limits_lock:
        if limits is None:
            _limits.pop(base_url.rstrip("/"), None)
        else:
            _limits[base_url.rstrip("/")] = limits
    return limits


def forget_batch_limits(base_url: str) -> None:
    with _limits_lock:
        _limits.pop(base_url.rstrip("/"), None)


def batch_limits(base_url: str) -> BatchLimits | None:
    """Return the known batch limits of the peer at `base_url`; None means one by one."""
    with _limits_lock:
        return _limits.get(base_url.rstrip("/"))


def refresh_batch_limits(base_url: str) -> BatchLimits | None:
    """Read the peer's GET /info again; keep the known limits when the peer cannot be reached."""
    try:
        info = fetch_info(base_url)
    except FederationCallError as exc:
        logger.info("federation peer info not refreshed", extra={"url": base_url,
                                                                  "error": str(exc)})
        return batch_limits(base_url)
    return remember_batch_limits(base_url, info)


@dataclass
class BatchOutcome:
    """The outcome of one batch request for its messages."""

    delivered: int = 0
    rejected: int = 0
    # Messages of the batch that wait for a retry: the one that failed and those after it.
    retry_later: int = 0
    errors: list[str] = field(default_factory=list)
    # The peer rejected the request as a whole; nothing was recorded, because
    # the caller rolls back and sends the messages one by one.
    fallback: bool = False


def fit_batch(messages: list[OutboxMessage], limits: BatchLimits) -> list[OutboxMessage]:
    """Return the leading messages that fit into one request under `limits` (at least one)."""
    chosen: list[OutboxMessage] = []
    size = _REQUEST_OVERHEAD
    for message in messages[:limits.max_messages]:
        size += len(message.body) + _PER_MESSAGE_OVERHEAD
        if chosen and size > limits.max_bytes:
            break
        chosen.append(message)
    return chosen


def deliver_batch(session: Session, settings: Settings, peer: Peer,
                  messages: list[OutboxMessage], connection: Connection, limits: BatchLimits,
                  *, now: datetime | None = None) -> BatchOutcome:
    """Send `messages` (consecutive, in sequence order) in one request and record the outcome.

    When the outcome is `fallback`, the caller must roll the session back:
    the attempts counted before the request are not kept.
    """
    now = now or utcnow()
    bodies = []
    for message in messages:
        message.body = fresh_body(settings, peer, message, now)
        message.attempts += 1
        bodies.append(message.body)
    session.execute(ExchangeLogEntry.__table__.insert(), [
        {"direction": "outbound", "message_id": message.message_id,
         "peer_node_id": peer.node_id, "raw": message.body, "at": now}
        for message in messages])
    request = (b'{"messages":[' + b",".join(bodies) + b'],"protocol_version":'
               + json.dumps(CURRENT_PROTOCOL_VERSION).encode("ascii") + b"}")
    url = connection.base_url + API_PREFIX + limits.path
    try:
        status, data = connection.post(limits.path, request)
    except FederationCallError as exc:
        return _hold(session, settings, peer, messages, now, str(exc))
    if status >= 400:
        text, reason = problem_text(status, data)
        error = f"POST {url} failed: {text}"
        if status >= 500 or status in RETRYABLE_STATUSES or reason in RETRYABLE_REASONS:
            return _hold(session, settings, peer, messages, now, error)
        forget_batch_limits(connection.base_url)
        logger.warning("federation peer rejected a batch request; sending one by one",
                       extra={"peer": peer.node_id, "messages": len(messages), "error": error})
        return BatchOutcome(fallback=True, errors=[error])
    results = _results(data, messages)
    if results is None:
        return _hold(session, settings, peer, messages, now,
                     f"{url} did not return one result per message")

    outcome = BatchOutcome()
    for index, (message, result) in enumerate(zip(messages, results, strict=True)):
        if result["outcome"] in ("applied", "duplicate"):
            record_delivery(message, peer, now)
            outcome.delivered += 1
            continue
        result_status = result.get("status") if isinstance(result.get("status"), int) else 422
        text, reason = problem_summary(result_status, result)
        error = f"POST {url} failed for message {message.message_id}: {text}"
        outcome.errors.append(error)
        retryable = (result_status >= 500 or result_status in RETRYABLE_STATUSES
                     or reason in RETRYABLE_REASONS)
        record_failure(session, settings, message, peer, now, error, result_status,
                       retryable=retryable)
        if retryable:
            # The messages after it wait behind it, as after a failed single message.
            outcome.retry_later = len(messages) - index
            break
        outcome.rejected += 1
    session.flush()
    logger.info("federation batch delivered",
                extra={"peer": peer.node_id, "first_sequence": messages[0].sequence,
                       "messages": len(messages), "delivered": outcome.delivered,
                       "rejected": outcome.rejected, "retry_later": outcome.retry_later})
    return outcome


def _results(data: bytes, messages: list[OutboxMessage]) -> list[dict] | None:
    """Return the response's results when there is one per message, in order, else None."""
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or len(results) != len(messages):
        return None
    for message, result in zip(messages, results, strict=True):
        if (not isinstance(result, dict)
                or result.get("outcome") not in ("applied", "duplicate", "rejected")
                or result.get("message_id") != message.message_id):
            return None
    return results


def _hold(session: Session, settings: Settings, peer: Peer, messages: list[OutboxMessage],
          now: datetime, error: str) -> BatchOutcome:
    """Keep every message of a failed request for a retry; the head holds back the others."""
    next_attempt_at = now + retry_delay(settings, messages[0].attempts)
    for message in messages:
        message.last_error = error
        message.next_attempt_at = next_attempt_at
    peer.last_error = error
    peer.last_error_at = now
    session.flush()
    logger.warning("federation batch delivery failed, will retry",
                   extra={"peer": peer.node_id, "first_sequence": messages[0].sequence,
                          "messages": len(messages), "attempt": messages[0].attempts,
                          "error": error, "next_attempt_at": next_attempt_at.isoformat()})
    return BatchOutcome(retry_later=len(messages), errors=[error])
