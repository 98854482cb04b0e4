"""The calling side of the protocol: joining a parent, queueing and delivering messages."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
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
# Delay before the next delivery attempt, doubled per failed attempt up to the maximum.
RETRY_BASE_DELAY = timedelta(seconds=30)
RETRY_MAX_DELAY = timedelta(hours=1)


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


def queue_message(session: Session, settings: Settings, recipient: Peer, message_type: str,
                  payload: dict, *, now: datetime | None = None) -> OutboxMessage:
    """Sign a message for `recipient` and add it to the outbox with the next sequence."""
    problems = schemas.validation_problems(message_type, payload, prefix="payload")
    if problems:
        raise ValidationError(f"{message_type} payload is invalid", problems=problems)
    now = now or utcnow()
    last = session.scalar(select(func.max(OutboxMessage.sequence))
                          .where(OutboxMessage.recipient_node_id == recipient.node_id))
    envelope = new_envelope(message_type=message_type, sender=settings.node_id,
                            recipient=recipient.node_id, sequence=(last or 0) + 1,
                            payload=payload, created_at=now)
    signed = sign_envelope(envelope, load_private_key(settings))
    message = OutboxMessage(message_id=signed["message_id"], message_type=message_type,
                            recipient_node_id=recipient.node_id, sequence=signed["sequence"],
                            body=encode_envelope(signed), created_at=now, next_attempt_at=now)
    session.add(message)
    session.flush()
    return message


def _fresh_body(settings: Settings, message: OutboxMessage, now: datetime) -> bytes:
    envelope = json.loads(message.body.decode("utf-8"))
    created_at = datetime.fromisoformat(envelope["created_at"].replace("Z", "+00:00"))
    if now - created_at <= RESIGN_AFTER:
        return message.body
    envelope["created_at"] = format_timestamp(now)
    return encode_envelope(sign_envelope(envelope, load_private_key(settings)))


@dataclass(frozen=True)
class Delivery:
    """The outcome of one delivery attempt: the receiver's response, or the error."""

    delivered: bool
    response: dict | None = None
    error: str | None = None


def deliver(session: Session, settings: Settings, message: OutboxMessage,
            *, now: datetime | None = None) -> Delivery:
    """Send one outbox message to its recipient and record the attempt.

    A failure is recorded on the message and the peer, and the message stays
    in the outbox with the time of its next attempt.
    """
    now = now or utcnow()
    peer = session.scalar(select(Peer).where(Peer.node_id == message.recipient_node_id))
    if peer is None or not peer.base_url:
        return Delivery(False, error=f"node {message.recipient_node_id!r} has no known URL; "
                        "only the parent is called")
    body = _fresh_body(settings, message, now)
    message.body = body
    message.attempts += 1
    session.add(ExchangeLogEntry(direction="outbound", message_id=message.message_id,
                                 peer_node_id=peer.node_id, raw=body, at=now))
    url = _endpoint(peer.base_url, "/messages")
    try:
        response = _json_object(_call("POST", url, body), url)
    except FederationCallError as exc:
        delay = min(RETRY_BASE_DELAY * 2 ** (message.attempts - 1), RETRY_MAX_DELAY)
        message.last_error = str(exc)
        message.next_attempt_at = now + delay
        peer.last_error = str(exc)
        peer.last_error_at = now
        session.flush()
        logger.warning("federation delivery failed",
                       extra={"message_id": message.message_id, "peer": peer.node_id,
                              "attempt": message.attempts, "error": str(exc)})
        # NOTE: a rejection by the receiver (a 4xx response) is retried like a
        # network failure, although only a changed message could pass.
        return Delivery(False, error=str(exc))
    message.sent_at = now
    message.last_error = None
    message.next_attempt_at = None
    peer.last_contact_at = now
    session.flush()
    return Delivery(True, response=response)
