"""The calling side of the protocol: joining a parent, queueing and delivering messages."""

from __future__ import annotations

import http.client
import json
import logging
import random
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from node.core.db import utcnow
from node.core.errors import ValidationError
from node.core.settings import Settings
from node.federation import schemas
from node.federation.envelope import (
    PROTOCOL_VERSIONS,
    encode_envelope,
    format_timestamp,
    new_envelope,
    sign_envelope,
)
from node.federation.identity import (
    decode_public_key,
    load_previous_private_key,
    load_private_key,
    node_public_key,
    sign_document,
    verify_document,
)
from node.federation.models import ExchangeLogEntry, OutboxMessage, Peer
from node.federation.service import common_version, version_mismatch_message

logger = logging.getLogger(__name__)

API_PREFIX = "/federation/v1"
HTTP_TIMEOUT_SECONDS = 15
# A queued message older than this is signed again with a fresh timestamp
# before each attempt, so the receiver's clock check (at most 5 minutes old)
# passes. The receiver deduplicates on id and content, not on the timestamp.
RESIGN_AFTER = timedelta(minutes=1)


class FederationCallError(Exception):
    """A call to another node failed; the message names the call and the cause."""


def _endpoint(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + API_PREFIX + path


def _problem_detail(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return f"HTTP {error.code}"
    detail = body.get("detail") if isinstance(body, dict) else None
    reason = body.get("reason") if isinstance(body, dict) else None
    problems = body.get("errors") if isinstance(body, dict) else None
    text = f"HTTP {error.code}"
    if reason:
        text += f" {reason}"
    if detail:
        text += f": {detail}"
    if problems:
        text += " (" + "; ".join(f"{item.get('path')}: {item.get('message')}"
                                 for item in problems if isinstance(item, dict)) + ")"
    return text


def _call(method: str, url: str, body: bytes | None = None) -> bytes:
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json",
                                              "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise FederationCallError(f"{method} {url} failed: {_problem_detail(exc)}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FederationCallError(f"{method} {url} failed: {reason}") from None


def _json_object(data: bytes, url: str) -> dict:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise FederationCallError(f"{url} did not return JSON") from None
    if not isinstance(value, dict):
        raise FederationCallError(f"{url} did not return a JSON object")
    return value


def fetch_info(base_url: str) -> dict:
    """GET another node's public identity and check that its fields are present."""
    url = _endpoint(base_url, "/info")
    info = _json_object(_call("GET", url), url)
    for name, kind in (("node_id", str), ("level", int), ("org_unit_code", str),
                       ("protocol_versions", list), ("public_key", str)):
        if not isinstance(info.get(name), kind):
            raise FederationCallError(f"{url} returned no valid {name}")
    try:
        decode_public_key(info["public_key"])
    except ValueError as exc:
        raise FederationCallError(f"{url} returned an invalid public key: {exc}") from None
    return info


def join_parent(session: Session, settings: Settings, parent_url: str, token: str,
                *, now: datetime | None = None) -> Peer:
    """Enrol this node with its parent and pin the parent's key; return the parent's row."""
    now = now or utcnow()
    existing = session.scalar(select(Peer).where(Peer.level < settings.node_level))
    if existing is not None:
        raise FederationCallError(f"this node is already linked to parent {existing.node_id!r} "
                                  f"at {existing.base_url}")
    info = fetch_info(parent_url)
    if common_version(info["protocol_versions"]) is None:
        raise FederationCallError(version_mismatch_message(PROTOCOL_VERSIONS,
                                                           info["protocol_versions"]))
    if info["level"] != settings.node_level - 1:
        raise FederationCallError(
            f"node {info['node_id']!r} is at level {info['level']}, so it cannot be the parent "
            f"of this level-{settings.node_level} node; check the URL and node.level")

    request_body = sign_document({
        "token": token,
        "node_id": settings.node_id,
        "level": settings.node_level,
        "org_unit_code": settings.node_org_unit,
        "public_key": node_public_key(settings),
        "protocol_versions": list(PROTOCOL_VERSIONS),
        "requested_at": format_timestamp(now),
    }, load_private_key(settings), field="proof")
    url = _endpoint(parent_url, "/enrol")
    response = _json_object(_call("POST", url, json.dumps(request_body).encode("utf-8")), url)

    # The enrolment response must come from the node that /info described,
    # proven by a signature made with the key that /info published.
    if response.get("node_id") != info["node_id"] or response.get("public_key") != info[
            "public_key"]:
        raise FederationCallError(f"{url} responded with another identity than "
                                  f"{parent_url}/info")
    if not verify_document(response, info["public_key"]):
        raise FederationCallError(f"{url} responded with an invalid signature")
    if response.get("protocol_version") not in PROTOCOL_VERSIONS:
        raise FederationCallError(f"{url} chose protocol version "
                                  f"{response.get('protocol_version')!r}, which this node does "
                                  f"not support ({', '.join(PROTOCOL_VERSIONS)})")
    if response.get("child_node_id") != settings.node_id:
        raise FederationCallError(f"{url} enrolled {response.get('child_node_id')!r}, "
                                  f"not this node {settings.node_id!r}")

    parent = Peer(node_id=info["node_id"], level=info["level"],
                  org_unit_code=info["org_unit_code"], public_key=info["public_key"],
                  base_url=parent_url.rstrip("/"),
                  protocol_version=response["protocol_version"], status="active",
                  created_at=now, last_contact_at=now)
    session.add(parent)
    session.flush()
    logger.info("joined parent node", extra={"peer": parent.node_id, "url": parent.base_url})
    return parent


def signing_key_for(settings: Settings, peer: Peer) -> Ed25519PrivateKey:
    """Return the key that signs messages to `peer`.

    After a key rotation the peer has pinned only the former key until the
    message that announces the new one reaches it, so until then the former key signs.
    """
    if peer.key_rotation_sequence is not None:
        return load_previous_private_key(settings)
    return load_private_key(settings)


def queue_message(session: Session, settings: Settings, recipient: Peer, message_type: str,
                  payload: dict, *, now: datetime | None = None) -> OutboxMessage:
    """Sign a message for `recipient` and add it to the outbox with the next sequence.

    When the session commits, the background sender is woken to push it.
    """
    problems = schemas.validation_problems(message_type, payload, prefix="payload")
    if problems:
        raise ValidationError(f"{message_type} payload is invalid", problems=problems)
    now = now or utcnow()
    last = session.scalar(select(func.max(OutboxMessage.sequence))
                          .where(OutboxMessage.recipient_node_id == recipient.node_id))
    envelope = new_envelope(message_type=message_type, sender=settings.node_id,
                            recipient=recipient.node_id, sequence=(last or 0) + 1,
                            payload=payload, created_at=now)
    signed = sign_envelope(envelope, signing_key_for(settings, recipient))
    message = OutboxMessage(message_id=signed["message_id"], message_type=message_type,
                            recipient_node_id=recipient.node_id, sequence=signed["sequence"],
                            body=encode_envelope(signed), created_at=now, next_attempt_at=now)
    session.add(message)
    session.flush()
    session.info[NOTIFY_FLAG] = True
    logger.info("federation message queued",
                extra={"message_id": message.message_id, "type": message_type,
                       "peer": recipient.node_id, "sequence": message.sequence})
    return message


NOTIFY_FLAG = "federation_outbox_changed"


@event.listens_for(Session, "after_commit")
def _wake_sender(session: Session) -> None:
    if session.info.pop(NOTIFY_FLAG, False):
        from node.federation.delivery import notify_committed

        notify_committed()


@event.listens_for(Session, "after_rollback")
def _forget_queued(session: Session) -> None:
    session.info.pop(NOTIFY_FLAG, None)


def fresh_body(settings: Settings, peer: Peer, message: OutboxMessage, now: datetime) -> bytes:
    """Return the message's wire bytes, signed again with a fresh timestamp when old."""
    envelope = json.loads(message.body.decode("utf-8"))
    created_at = datetime.fromisoformat(envelope["created_at"].replace("Z", "+00:00"))
    if now - created_at <= RESIGN_AFTER:
        return message.body
    envelope["created_at"] = format_timestamp(now)
    return encode_envelope(sign_envelope(envelope, signing_key_for(settings, peer)))


@dataclass(frozen=True)
class Delivery:
    """The outcome of one delivery attempt: the receiver's response, or the error.

    `retryable` is false when the receiver rejected the message itself (a 4xx
    response), so sending it again unchanged cannot succeed.
    """

    delivered: bool
    response: dict | None = None
    error: str | None = None
    status: int | None = None
    retryable: bool = True


# Rejections that depend on the link, not on the message: sending again later can succeed.
RETRYABLE_REASONS = frozenset({"suspended_sender"})
RETRYABLE_STATUSES = frozenset({408, 425, 429})


class Connection:
    """A kept-alive HTTP connection to one peer, reopened after any failure."""

    def __init__(self, base_url: str, timeout: float = HTTP_TIMEOUT_SECONDS) -> None:
        parts = urllib.parse.urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FederationCallError(f"peer URL {base_url!r} is not an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self._parts = parts
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def _open(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = (http.client.HTTPSConnection if self._parts.scheme == "https"
                    else http.client.HTTPConnection)
            self._connection = kind(self._parts.hostname, self._parts.port,
                                    timeout=self._timeout)
        return self._connection

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST `body` to the API `path`; return the status and the response body."""
        url = self.base_url + API_PREFIX + path
        target = self._parts.path.rstrip("/") + API_PREFIX + path
        # The server may close a kept-alive connection while it is idle, so a
        # failure on a reused connection is tried once more on a new one. A
        # request sent twice this way is a repeat that the receiver deduplicates.
        for reused in (self._connection is not None, False):
            try:
                connection = self._open()
                connection.request("POST", target, body=body,
                                   headers={"Content-Type": "application/json",
                                            "Accept": "application/json"})
                response = connection.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return response.status, data
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if not reused:
                    raise FederationCallError(
                        f"POST {url} failed: {exc or exc.__class__.__name__}") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def problem_text(status: int, data: bytes) -> tuple[str, str | None]:
    """Return a one-line text of an error response and its `reason` member, if any."""
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return f"HTTP {status}", None
    if not isinstance(body, dict):
        return f"HTTP {status}", None
    return problem_summary(status, body)


def problem_summary(status: int, body: dict) -> tuple[str, str | None]:
    """Return a one-line text of a problem object and its `reason` member, if any."""
    reason = body.get("reason") if isinstance(body.get("reason"), str) else None
    detail = body.get("detail")
    problems = body.get("errors")
    text = f"HTTP {status}"
    if reason:
        text += f" {reason}"
    if detail:
        text += f": {detail}"
    if problems and isinstance(problems, list):
        text += " (" + "; ".join(f"{item.get('path')}: {item.get('message')}"
                                 for item in problems if isinstance(item, dict)) + ")"
    return text, reason


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    """Return the wait before attempt `attempts + 1`: doubled per attempt, capped, jittered.

    The jitter draws the delay between half and all of the doubled value, so
    children that failed together do not all retry in the same second.
    """
    base = settings.federation_retry_base_seconds
    ceiling = min(base * 2 ** min(max(attempts - 1, 0), 40), settings.federation_retry_max_seconds)
    return timedelta(seconds=ceiling * (0.5 + random.random() / 2))


def deliver(session: Session, settings: Settings, message: OutboxMessage,
            *, now: datetime | None = None, connection: Connection | None = None) -> Delivery:
    """Send one outbox message to its recipient and record the attempt.

    A network failure or a 5xx response leaves the message in the outbox with
    the time of its next attempt. A rejection (4xx) marks it failed with the
    receiver's explanation; an administrator retries it by hand.
    """
    now = now or utcnow()
    peer = session.scalar(select(Peer).where(Peer.node_id == message.recipient_node_id))
    if peer is None or not peer.base_url:
        return Delivery(False, error=f"node {message.recipient_node_id!r} has no known URL; "
                        "only the parent is called", retryable=False)
    body = fresh_body(settings, peer, message, now)
    message.body = body
    message.attempts += 1
    session.add(ExchangeLogEntry(direction="outbound", message_id=message.message_id,
                                 peer_node_id=peer.node_id, raw=body, at=now))
    own_connection = connection is None
    connection = connection or Connection(peer.base_url)
    try:
        status, data = connection.post("/messages", body)
    except FederationCallError as exc:
        return record_failure(session, settings, message, peer, now, str(exc), None,
                              retryable=True)
    finally:
        if own_connection:
            connection.close()
    url = connection.base_url + API_PREFIX + "/messages"
    if status >= 400:
        text, reason = problem_text(status, data)
        retryable = status >= 500 or status in RETRYABLE_STATUSES or reason in RETRYABLE_REASONS
        return record_failure(session, settings, message, peer, now,
                              f"POST {url} failed: {text}", status, retryable=retryable)
    try:
        response = _json_object(data, url)
    except FederationCallError as exc:
        return record_failure(session, settings, message, peer, now, str(exc), status,
                              retryable=True)
    record_delivery(message, peer, now)
    session.flush()
    logger.info("federation message delivered",
                extra={"message_id": message.message_id, "peer": peer.node_id,
                       "sequence": message.sequence, "attempt": message.attempts})
    return Delivery(True, response=response, status=status)


def record_delivery(message: OutboxMessage, peer: Peer, now: datetime) -> None:
    """Mark `message` delivered: the peer stored it, or had stored it before."""
    message.sent_at = now
    message.failed_at = None
    message.last_error = None
    message.next_attempt_at = None
    peer.last_contact_at = now
    if peer.key_rotation_sequence is not None and message.sequence >= peer.key_rotation_sequence:
        # The peer has the new key now; later messages are signed with it.
        peer.key_rotation_sequence = None


def record_failure(session: Session, settings: Settings, message: OutboxMessage, peer: Peer,
                   now: datetime, error: str, status: int | None, *,
                   retryable: bool) -> Delivery:
    """Record a failed attempt: a retry after the backoff delay, or failed until retried by hand."""
    message.last_error = error
    peer.last_error = error
    peer.last_error_at = now
    if retryable:
        message.next_attempt_at = now + retry_delay(settings, message.attempts)
        logger.warning("federation delivery failed, will retry",
                       extra={"message_id": message.message_id, "peer": peer.node_id,
                              "attempt": message.attempts, "error": error,
                              "next_attempt_at": message.next_attempt_at.isoformat()})
    else:
        message.failed_at = now
        message.next_attempt_at = None
        logger.error("federation message rejected by the receiver; retry it by hand after "
                     "fixing the cause",
                     extra={"message_id": message.message_id, "peer": peer.node_id,
                            "attempt": message.attempts, "error": error})
    session.flush()
    return Delivery(False, error=error, status=status, retryable=retryable)
