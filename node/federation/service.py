"""Protocol services: this node's identity, enrolment of children, and receiving messages."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from node.core.db import SETTINGS_INFO_KEY, utcnow, wait_for_writer_turn
from node.core.errors import ConflictError, DomainError, NotFoundError, ValidationError
from node.core.settings import Settings
from node.federation import schemas
from node.federation.canonical import canonicalize_members
from node.federation.envelope import (
    PROTOCOL_VERSIONS,
    EnvelopeRejected,
    MAX_ENVELOPE_BYTES,
    VerifiedEnvelope,
    check_clock,
    encode_envelope,
    error_count,
    format_timestamp,
    member_bytes,
    reject_constant,
    reject_duplicate_names,
    verify_envelope,
)
from node.federation.handlers import CHILD, HANDLERS, PARENT, PREFETCHED_INFO_KEY
from node.federation.key_rotation import ANY_PEER, MESSAGE_TYPE as KEY_ROTATION
from node.federation.identity import (
    fingerprint,
    load_private_key,
    node_public_key,
    sign_document,
    verify_document,
)
from node.federation.models import (
    Enrolment,
    ExchangeLogEntry,
    InboxMessage,
    OutboxMessage,
    Peer,
    QuarantinedMessage,
)
from node.local_tasks.models import OrgUnit

logger = logging.getLogger(__name__)

MAX_TOKEN_HOURS = 30 * 24


class EnrolmentRejected(DomainError):
    """An enrolment request with a missing, used, expired or mismatched token."""

    status = 403
    title = "Enrolment rejected"


class VersionMismatch(DomainError):
    """The two nodes share no protocol version."""

    status = 400
    title = "No common protocol version"


def version_mismatch_message(ours: list[str] | tuple[str, ...], theirs: list[str]) -> str:
    return (f"no common protocol version: this node supports {', '.join(ours)}, "
            f"the other node supports {', '.join(theirs) or 'none'}; upgrade one of them")


def common_version(theirs: list[str]) -> str | None:
    """Return the newest protocol version both sides support, or None."""
    common = [version for version in PROTOCOL_VERSIONS if version in theirs]
    return max(common, key=int) if common else None


def relation_of(peer: Peer, settings: Settings) -> str:
    return PARENT if peer.level < settings.node_level else CHILD


def node_info(settings: Settings) -> dict:
    """Return this node's public identity, as GET /info publishes it."""
    public_key = node_public_key(settings)
    return {
        "node_id": settings.node_id,
        "level": settings.node_level,
        "org_unit_code": settings.node_org_unit,
        "protocol_versions": list(PROTOCOL_VERSIONS),
        "public_key": public_key,
        "fingerprint": fingerprint(public_key),
        "batch": batch_info(),
    }


# Enrolment ---------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_enrolment_token(session: Session, org_unit_code: str, *, hours: int,
                           now: datetime | None = None) -> tuple[str, Enrolment]:
    """Create a one-time token for a child node of `org_unit_code`; return it and its row."""
    if not 1 <= hours <= MAX_TOKEN_HOURS:
        raise ValidationError(f"token lifetime {hours} hours is invalid; use 1 to "
                              f"{MAX_TOKEN_HOURS} hours")
    if session.scalar(select(OrgUnit.id).where(OrgUnit.code == org_unit_code)) is None:
        raise NotFoundError(f"org unit {org_unit_code!r} not found; list the codes on the "
                            "org units page or with the API")
    now = now or utcnow()
    # A token is typed or pasted after `theodoi federation join URL`, where
    # one starting with "-" would be read as an option.
    token = secrets.token_urlsafe(32)
    while token.startswith("-"):
        token = secrets.token_urlsafe(32)
    enrolment = Enrolment(token_sha256=_token_hash(token), org_unit_code=org_unit_code,
                          created_at=now, expires_at=now + timedelta(hours=hours))
    session.add(enrolment)
    session.flush()
    logger.info("enrolment token created",
                extra={"org_unit": org_unit_code, "expires_at": enrolment.expires_at.isoformat()})
    return token, enrolment


def enrol_child(session: Session, settings: Settings, request_body: object,
                now: datetime | None = None) -> dict:
    """Pin a child node's key against a one-time token; return this node's signed identity."""
    now = now or utcnow()
    problems = schemas.validation_problems("enrolment_request", request_body)
    if problems:
        raise ValidationError("enrolment request is invalid", problems=problems)
    assert isinstance(request_body, dict)

    version = common_version(request_body["protocol_versions"])
    if version is None:
        raise VersionMismatch(version_mismatch_message(PROTOCOL_VERSIONS,
                                                       request_body["protocol_versions"]))
    if not verify_document(request_body, request_body["public_key"], field="proof"):
        raise EnrolmentRejected("the proof signature does not match the public key in the "
                                "request")

    enrolment = session.scalar(
        select(Enrolment).where(Enrolment.token_sha256 == _token_hash(request_body["token"]))
        .with_for_update())
    if enrolment is None:
        raise EnrolmentRejected("enrolment token is not valid; ask the parent's administrator "
                                "for a new one")
    if enrolment.used_at is not None:
        raise EnrolmentRejected("enrolment token was already used; ask the parent's "
                                "administrator for a new one")
    if enrolment.expires_at <= now:
        raise EnrolmentRejected(
            f"enrolment token expired at {format_timestamp(enrolment.expires_at)}; ask the "
            "parent's administrator for a new one")
    if enrolment.org_unit_code != request_body["org_unit_code"]:
        raise EnrolmentRejected(
            f"enrolment token is for org unit {enrolment.org_unit_code!r}, but the node "
            f"presents {request_body['org_unit_code']!r}; check node.org_unit in its settings")
    if request_body["level"] != settings.node_level + 1:
        raise ValidationError(
            f"a child of this level-{settings.node_level} node must be at level "
            f"{settings.node_level + 1}, not {request_body['level']}; check node.level")
    node_id = request_body["node_id"]
    if node_id == settings.node_id or session.scalar(
            select(Peer.id).where(Peer.node_id == node_id)) is not None:
        raise ConflictError(f"node id {node_id!r} is already linked to this node; give the "
                            "child node a unique node.id")

    session.add(Peer(node_id=node_id, level=request_body["level"],
                     org_unit_code=request_body["org_unit_code"],
                     public_key=request_body["public_key"], protocol_version=version,
                     status="active", created_at=now, last_contact_at=now))
    enrolment.used_at = now
    enrolment.used_by_node_id = node_id
    session.flush()
    logger.info("child node enrolled",
                extra={"peer": node_id, "org_unit": request_body["org_unit_code"],
                       "fingerprint": fingerprint(request_body["public_key"])})

    response = node_info(settings)
    response.update({"protocol_version": version, "child_node_id": node_id,
                     "enrolled_at": format_timestamp(now)})
    return sign_document(response, load_private_key(settings))


# Receiving messages -------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """A receiving node's response: the stored result, and whether it was a repeat."""

    message_id: str
    result: dict
    received_at: datetime
    duplicate: bool
    sender: str | None = None

    def as_dict(self) -> dict:
        return {"message_id": self.message_id, "result": self.result,
                "received_at": format_timestamp(self.received_at)}


def receive_message(session: Session, settings: Settings, raw: bytes, *,
                    now: datetime | None = None, remote_address: str | None = None) -> Receipt:
    """Verify, deduplicate, store and apply one envelope; raise EnvelopeRejected.

    Every rejection is stored in the quarantine in the same session, and the
    caller must commit it even though it responds with an error.
    """
    now = now or utcnow()
    # Applying a message may queue others at commit (a province passing a
    # directive on), which node.federation.hooks signs with these settings.
    session.info.setdefault(SETTINGS_INFO_KEY, settings)
    receiver = Receiver(session, settings, now)
    try:
        receipt = receiver.receive(raw)
    except EnvelopeRejected as rejection:
        _quarantine(session, settings, raw, rejection, now, remote_address)
        raise
    receiver.finish()
    if not receipt.duplicate:
        logger.info("federation message received",
                    extra={"message_id": receipt.message_id, "peer": receipt.sender})
    return receipt


# The limits of one batch request, published in GET /info. A batch of the
# largest envelopes (1 MiB each) must fit into the web server's request limit
# (`max_upload_bytes`, 20 MiB by default), so the byte limit stays below it.
MAX_BATCH_MESSAGES = 200
MAX_BATCH_BYTES = 8 * 1024 * 1024
BATCH_PATH = "/messages:batch"


def batch_info() -> dict:
    """Return the batch endpoint and its limits, as GET /info publishes them."""
    return {"path": BATCH_PATH, "max_messages": MAX_BATCH_MESSAGES,
            "max_bytes": MAX_BATCH_BYTES}


def receive_batch(session: Session, settings: Settings, body: bytes, *,
                  now: datetime | None = None, remote_address: str | None = None) -> list[dict]:
    """Verify and apply each envelope of a batch request; return one result per envelope.

    Each envelope is checked exactly as `receive_message` checks a single one,
    inside its own savepoint, so a rejected envelope is quarantined with its
    reason and the others are still applied. A request that is not a valid
    batch raises EnvelopeRejected after it is quarantined; the caller must
    commit in both cases.
    """
    now = now or utcnow()
    session.info.setdefault(SETTINGS_INFO_KEY, settings)
    try:
        items = _batch_items(body)
    except EnvelopeRejected as rejection:
        _quarantine(session, settings, body[:MAX_ENVELOPE_BYTES + 1], rejection, now,
                    remote_address)
        raise
    receiver = Receiver(session, settings, now)
    receiver.prefetch([item for item in items if isinstance(item, dict)])
    try:
        results = []
        position = 0
        while position < len(items):
            checked = _check_run(receiver, items[position:])
            position += len(checked)
            wait_for_writer_turn(session)
            together = _apply_together(receiver, checked)
            for raw, outcome in checked:
                try:
                    if isinstance(outcome, EnvelopeRejected):
                        raise outcome
                    if isinstance(outcome, Receipt):
                        receipt = outcome
                    elif together is not None:
                        receipt = together[outcome.message_id]
                    else:
                        receipt = receiver.apply(raw, outcome)
                except EnvelopeRejected as rejection:
                    _quarantine(session, settings, raw, rejection, now, remote_address)
                    results.append({
                        "message_id": _routing_fields(raw)[1], "outcome": "rejected",
                        "status": rejection.status, "reason": rejection.reason,
                        "detail": rejection.message,
                        "errors": [problem.as_dict() for problem in rejection.problems]})
                    continue
                results.append(dict(receipt.as_dict(),
                                    outcome="duplicate" if receipt.duplicate else "applied"))
    finally:
        # `finish` drops it as well, but is not reached when an envelope raised another error.
        session.info.pop(PREFETCHED_INFO_KEY, None)
    receiver.finish()
    counts = {outcome: sum(1 for result in results if result["outcome"] == outcome)
              for outcome in ("applied", "duplicate", "rejected")}
    sender = items[0].get("sender") if isinstance(items[0], dict) else None
    logger.info("federation batch received",
                extra={"peer": sender[:64] if isinstance(sender, str) else None, **counts})
    return results


def _apply_together(receiver: Receiver, checked: list) -> dict[str, Receipt] | None:
    """Apply the verified envelopes of a run together when their types allow it.

    Return their receipts by message id, or None when they must be applied
    one by one (another type in the run, one envelope only, or a failure).
    """
    verified = [(raw, outcome) for raw, outcome in checked
                if isinstance(outcome, VerifiedEnvelope)]
    if len(verified) < 2 or any(envelope.type not in APPLIED_TOGETHER
                                for _, envelope in verified):
        return None
    receipts = receiver.apply_together(verified)
    if receipts is None:
        return None
    return {receipt.message_id: receipt for receipt in receipts}


def _check_run(receiver: Receiver, items: list
               ) -> list[tuple[bytes, VerifiedEnvelope | Receipt | EnvelopeRejected]]:
    """Check the envelopes of `items` up to the first key rotation; return each with its outcome.

    The envelopes of a run are all checked before the first one is applied.
    On SQLite, applying takes the database's write lock, so other requests
    can write while this one checks signatures. A key rotation ends the run,
    because the envelopes after it may be signed with the new key.
    """
    checked: list[tuple[bytes, VerifiedEnvelope | Receipt | EnvelopeRejected]] = []
    for item in items:
        raw, members = _envelope_bytes(item)
        try:
            outcome = receiver.check(raw, parsed=item if members is not None else None,
                                     wire_members=members)
        except EnvelopeRejected as rejection:
            checked.append((raw, rejection))
            continue
        checked.append((raw, outcome))
        if isinstance(outcome, VerifiedEnvelope) and outcome.type == KEY_ROTATION:
            break
    return checked


def _batch_items(body: bytes) -> list:
    """Parse a batch request and check its limits; return its envelopes as parsed JSON."""
    if len(body) > MAX_BATCH_BYTES:
        raise EnvelopeRejected(
            "oversized", f"batch request is larger than the limit of {MAX_BATCH_BYTES} bytes; "
            "send fewer messages per request")
    try:
        request = json.loads(body.decode("utf-8"), object_pairs_hook=reject_duplicate_names,
                             parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise EnvelopeRejected("malformed",
                               f"batch request is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(request, dict):
        raise EnvelopeRejected("malformed", "batch request must be a JSON object with "
                               "protocol_version and messages")
    version = request.get("protocol_version")
    if version is not None and version not in PROTOCOL_VERSIONS:
        raise EnvelopeRejected(
            "unsupported_version", f"protocol version {version!r} is not supported; this node "
            f"supports {', '.join(PROTOCOL_VERSIONS)}")
    messages = request.get("messages")
    if isinstance(messages, list) and len(messages) > MAX_BATCH_MESSAGES:
        raise EnvelopeRejected(
            "oversized", f"batch request of {len(messages)} messages is larger than the limit "
            f"of {MAX_BATCH_MESSAGES} messages; send at most {MAX_BATCH_MESSAGES} per request")
    problems = schemas.validation_problems("batch_request", request)
    if problems:
        listed = "; ".join(f"{problem.path}: {problem.message}" for problem in problems)
        raise EnvelopeRejected("schema_invalid",
                               f"batch request is invalid ({error_count(problems)}): {listed}",
                               problems)
    return messages


def _envelope_bytes(item: object) -> tuple[bytes, dict[str, bytes] | None]:
    """Return the wire form of one envelope of a batch, its canonical JSON, and its members.

    The sender signs the canonical form, so this is the byte string it sent
    on its own, and the form that the size limit and the exchange log use.
    The members (see `envelope.member_bytes`) are None for an item that has
    no canonical form, which verification then rejects.
    """
    try:
        if isinstance(item, dict):
            members = member_bytes(item)
            return canonicalize_members(members), members
        return encode_envelope(item), None
    except (ValueError, TypeError):
        return json.dumps(item, ensure_ascii=False).encode("utf-8"), None


class _PinnedKeys(Mapping[str, str]):
    """The pinned key of each linked node, loaded only for the sender being checked."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self.peers: dict[str, Peer | None] = {}

    def peer(self, node_id: str) -> Peer | None:
        if node_id not in self.peers:
            self.peers[node_id] = self._session.scalar(select(Peer)
                                                       .where(Peer.node_id == node_id))
        return self.peers[node_id]

    def __getitem__(self, node_id: str) -> str:
        peer = self.peer(node_id)
        if peer is None:
            raise KeyError(node_id)
        return peer.public_key

    def __iter__(self) -> Iterator[str]:
        return iter(self._session.scalars(select(Peer.node_id)))

    def __len__(self) -> int:
        return self._session.scalar(select(func.count()).select_from(Peer))


def _verify(raw: bytes, peers: _PinnedKeys, settings: Settings, now: datetime, *,
            parsed: dict | None = None,
            wire_members: dict[str, bytes] | None = None) -> VerifiedEnvelope:
    try:
        return verify_envelope(raw, peers, recipient=settings.node_id, parsed=parsed,
                               wire_members=wire_members)
    except EnvelopeRejected as rejection:
        # During the grace period after a peer's key rotation, its former key
        # still signs valid messages.
        peer = peers.peer(_routing_fields(raw)[0] or "")
        if (rejection.reason != "bad_signature" or peer is None
                or not accepts_previous_key(peer, now)):
            raise
        try:
            return verify_envelope(raw, {peer.node_id: peer.previous_public_key},
                                   recipient=settings.node_id, parsed=parsed,
                                   wire_members=wire_members)
        except EnvelopeRejected:
            raise rejection from None


def accepts_previous_key(peer: Peer, now: datetime) -> bool:
    return bool(peer.previous_public_key and peer.previous_key_valid_until
                and peer.previous_key_valid_until > now)


@dataclass(frozen=True)
class _StoredMessage:
    """The inbox columns that the response to a repeated message needs."""

    message_id: str
    sender_node_id: str
    body_sha256: str
    result: dict
    received_at: datetime


_INBOX = InboxMessage.__table__
_EXCHANGE_LOG = ExchangeLogEntry.__table__
_STORED_COLUMNS = (InboxMessage.message_id, InboxMessage.sender_node_id,
                   InboxMessage.body_sha256, InboxMessage.result, InboxMessage.received_at)


# Message types whose envelopes of one batch can be applied in one savepoint
# and one flush (see `Receiver.apply_together`). Their handlers run no query
# that must see what an earlier envelope of the batch changed. They read such
# changes from the batch's caches (see `statuses.prefetch_assigned_tasks`).
APPLIED_TOGETHER = frozenset({"task_status"})


class _NotTogether(Exception):
    """A batch run that must be applied one envelope at a time."""


class Receiver:
    """Verifies and applies the envelopes of one transaction, one savepoint per envelope.

    Rows are written with Core inserts. The inbox row is inserted inside the
    envelope's savepoint, so its unique constraints reject a reused sequence or
    a message id stored concurrently. The exchange-log rows are inserted in one
    statement by `finish`, which the caller must call before committing.
    """

    def __init__(self, session: Session, settings: Settings, now: datetime) -> None:
        self.session = session
        self.settings = settings
        self.now = now
        self.peers = _PinnedKeys(session)
        # Inbox rows read or written in this transaction, by message id.
        self._stored: dict[str, _StoredMessage] = {}
        # After `prefetch`, an id missing from `_stored` is known not to be in the inbox.
        self._prefetched: set[str] = set()
        self._log_rows: list[dict] = []
        self._next_sequences: dict[str, int] = {}

    def prefetch(self, envelopes: list[dict]) -> None:
        """Read the inbox rows of `envelopes`, and the rows their handlers need, before receiving.

        The envelopes are parsed but not verified yet, so this only reads.
        """
        requested_ids = sorted({envelope["message_id"] for envelope in envelopes
                                if isinstance(envelope.get("message_id"), str)})
        if requested_ids:
            for row in self.session.execute(select(*_STORED_COLUMNS)
                                            .where(InboxMessage.message_id.in_(requested_ids))):
                self._stored[row.message_id] = _StoredMessage(*row)
            self._prefetched.update(requested_ids)
        by_type: dict[str, list[tuple[str, dict]]] = {}
        for envelope in envelopes:
            message_type, sender = envelope.get("type"), envelope.get("sender")
            if (isinstance(message_type, str) and isinstance(sender, str)
                    and envelope.get("message_id") not in self._stored):
                by_type.setdefault(message_type, []).append((sender, envelope))
        for message_type, typed in by_type.items():
            handler = HANDLERS.get(message_type)
            if handler is not None and handler.prefetch is not None:
                handler.prefetch(self.session, typed)

    def _stored_message(self, message_id: str, *, refresh: bool = False) -> _StoredMessage | None:
        if message_id in self._stored:
            return self._stored[message_id]
        if message_id in self._prefetched and not refresh:
            return None
        row = self.session.execute(select(*_STORED_COLUMNS)
                                   .where(InboxMessage.message_id == message_id)).first()
        if row is None:
            return None
        self._stored[message_id] = _StoredMessage(*row)
        return self._stored[message_id]

    def receive(self, raw: bytes, *, parsed: dict | None = None,
                wire_members: dict[str, bytes] | None = None) -> Receipt:
        """Verify, deduplicate and apply one envelope; raise EnvelopeRejected.

        `parsed` and `wire_members` come with an envelope of a batch request,
        which was parsed with the request (see `verify_envelope`).
        """
        checked = self.check(raw, parsed=parsed, wire_members=wire_members)
        if isinstance(checked, Receipt):
            return checked
        wait_for_writer_turn(self.session)
        return self.apply(raw, checked)

    def check(self, raw: bytes, *, parsed: dict | None = None,
              wire_members: dict[str, bytes] | None = None) -> VerifiedEnvelope | Receipt:
        """Verify one envelope without writing; return it, or the stored result of a repeat.

        Raise EnvelopeRejected for an envelope that cannot be applied.
        """
        settings, now = self.settings, self.now
        verified = _verify(raw, self.peers, settings, now, parsed=parsed,
                           wire_members=wire_members)
        peer = self.peers.peer(verified.sender)
        assert peer is not None
        if peer.status != "active":
            raise EnvelopeRejected("suspended_sender", f"sender {peer.node_id!r} is suspended "
                                   "on this node; ask its administrator to reactivate the link",
                                   authenticated=True)

        # A repeat gets its response before the clock check, so a sender that
        # retries an old message still gets the stored result.
        existing = self._stored_message(verified.message_id)
        if existing is not None:
            return _repeat(existing, verified)

        check_clock(verified, now)
        handler = HANDLERS[verified.type]
        relation = relation_of(peer, settings)
        if handler.accepted_from not in (relation, ANY_PEER):
            raise EnvelopeRejected(
                "not_allowed_from_peer", f"a {verified.type} message is accepted only from a "
                f"{handler.accepted_from} node, and {peer.node_id!r} is a {relation} of this "
                "node", authenticated=True)
        return verified

    def apply(self, raw: bytes, verified: VerifiedEnvelope) -> Receipt:
        """Apply an envelope that `check` returned, and store it; raise EnvelopeRejected."""
        session, settings = self.session, self.settings
        # A batch can carry one message twice, both checked before either was stored.
        if verified.message_id in self._stored:
            return _repeat(self._stored[verified.message_id], verified)
        peer = self.peers.peer(verified.sender)
        assert peer is not None
        handler = HANDLERS[verified.type]

        # The unique constraint on (sender, sequence) rejects a reused sequence
        # when the inbox row is inserted, and the savepoint then undoes what
        # the handler wrote.
        sequence = verified.envelope["sequence"]
        try:
            with session.begin_nested():
                result = handler.apply(session, settings, peer, verified.envelope)
                session.execute(_INBOX.insert(), [self._inbox_row(verified, peer, result)])
        except IntegrityError:
            # Another request stored the same message id first, or the
            # sequence belongs to another message.
            existing = self._stored_message(verified.message_id, refresh=True)
            if existing is not None:
                return _repeat(existing, verified)
            raise EnvelopeRejected(
                "sequence_reused", f"sequence {sequence} from {peer.node_id!r} already belongs "
                "to another message", authenticated=True) from None

        return self._stored_now(raw, verified, peer, result)

    def apply_together(self, checked: list[tuple[bytes, VerifiedEnvelope]]) -> list[Receipt] | None:
        """Apply envelopes in one savepoint and one flush; return None when one of them fails.

        Only message types in APPLIED_TOGETHER qualify. On any rejection or
        constraint violation the savepoint is rolled back, nothing is stored,
        and the caller applies the envelopes one by one with `apply`, which
        finds the one that fails.
        """
        session, settings = self.session, self.settings
        applied = []
        try:
            with session.begin_nested():
                # No flush between the envelopes: the handlers of these types
                # read what earlier envelopes changed from per-batch caches.
                with session.no_autoflush:
                    for raw, verified in checked:
                        if verified.message_id in self._stored:
                            raise _NotTogether()
                        peer = self.peers.peer(verified.sender)
                        assert peer is not None
                        result = HANDLERS[verified.type].apply(session, settings, peer,
                                                              verified.envelope)
                        applied.append((raw, verified, peer, result))
                session.execute(_INBOX.insert(), [
                    self._inbox_row(verified, peer, result)
                    for _, verified, peer, result in applied])
        except (_NotTogether, EnvelopeRejected, IntegrityError) as error:
            # Applying one by one finds the envelope at fault and quarantines it.
            logger.debug("federation batch applied one by one",
                         extra={"messages": len(checked),
                                "first_message_id": checked[0][1].message_id,
                                "error": f"{error.__class__.__name__}: {error}"[:300]})
            return None
        logger.debug("federation batch applied together", extra={"messages": len(checked)})
        return [self._stored_now(raw, verified, peer, result)
                for raw, verified, peer, result in applied]

    def _inbox_row(self, verified: VerifiedEnvelope, peer: Peer, result: dict) -> dict:
        """Return the inbox columns of an envelope applied in this transaction."""
        return {"message_id": verified.message_id, "message_type": verified.type,
                "sender_node_id": peer.node_id, "sequence": verified.envelope["sequence"],
                "body_sha256": verified.content_hash, "result": result, "received_at": self.now}

    def _stored_now(self, raw: bytes, verified: VerifiedEnvelope, peer: Peer,
                    result: dict) -> Receipt:
        """Note an envelope just applied and stored; return its receipt."""
        now = self.now
        sequence = verified.envelope["sequence"]
        self._stored[verified.message_id] = _StoredMessage(
            verified.message_id, peer.node_id, verified.content_hash, result, now)
        self._log_rows.append({"direction": "inbound", "message_id": verified.message_id,
                               "peer_node_id": peer.node_id, "raw": raw, "at": now})
        self._record_contact(peer, sequence)
        logger.debug("federation message received",
                     extra={"message_id": verified.message_id, "type": verified.type,
                            "peer": peer.node_id, "sequence": sequence})
        return Receipt(verified.message_id, result, now, duplicate=False, sender=peer.node_id)

    def _record_contact(self, peer: Peer, sequence: int) -> None:
        expected = self._next_sequences.get(peer.node_id, peer.next_expected_sequence)
        if sequence > expected:
            # Earlier messages may still be on their way (a sender retries them),
            # so a gap is logged and the message is applied.
            logger.warning("federation sequence gap",
                           extra={"peer": peer.node_id, "expected": expected,
                                  "received": sequence})
        self._next_sequences[peer.node_id] = max(expected, sequence + 1)

    def finish(self) -> None:
        """Write the exchange-log rows and the senders' contact times of the applied envelopes."""
        if self._log_rows:
            self.session.execute(_EXCHANGE_LOG.insert(), self._log_rows)
            self._log_rows = []
        for node_id, next_sequence in self._next_sequences.items():
            peer = self.peers.peer(node_id)
            assert peer is not None
            peer.next_expected_sequence = max(peer.next_expected_sequence, next_sequence)
            peer.last_contact_at = self.now
        self._next_sequences = {}
        self.session.info.pop(PREFETCHED_INFO_KEY, None)
        self.session.flush()


def _repeat(existing: _StoredMessage, verified: VerifiedEnvelope) -> Receipt:
    if (existing.body_sha256 != verified.content_hash
            or existing.sender_node_id != verified.sender):
        raise EnvelopeRejected(
            "replay", f"message id {verified.message_id} was already received with a different "
            "body; a new message needs a new id", authenticated=True)
    return Receipt(existing.message_id, existing.result, existing.received_at, duplicate=True)


def _quarantine(session: Session, settings: Settings, raw: bytes, rejection: EnvelopeRejected,
                now: datetime, remote_address: str | None) -> None:
    sender, message_id = _routing_fields(raw)
    # NOTE: rows are kept without limit or rate limiting, so an unauthenticated
    # client can grow this table; a retention job is still missing.
    session.add(QuarantinedMessage(raw=raw, reason=rejection.reason, detail=rejection.message,
                                   sender_node_id=sender, message_id=message_id,
                                   remote_address=remote_address, received_at=now))
    if rejection.authenticated and sender is not None:
        # Only a rejection of a correctly signed message is charged to the
        # peer, so a forger cannot fill in another node's error.
        peer = session.scalar(select(Peer).where(Peer.node_id == sender))
        if peer is not None:
            peer.last_error = f"{rejection.reason}: {rejection.message}"
            peer.last_error_at = now
    session.flush()
    logger.warning("federation message rejected",
                   extra={"reason": rejection.reason, "peer": sender, "message_id": message_id,
                          "remote_address": remote_address})


def _routing_fields(raw: bytes) -> tuple[str | None, str | None]:
    """Return the claimed sender and message id of a rejected message, when readable."""
    try:
        envelope = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, None
    if not isinstance(envelope, dict):
        return None, None
    sender = envelope.get("sender")
    message_id = envelope.get("message_id")
    return (sender[:64] if isinstance(sender, str) else None,
            message_id[:36] if isinstance(message_id, str) else None)


# Queries for the command line ------------------------------------------------------


def outbox_backlog(session: Session) -> dict[str, int]:
    """Return the number of undelivered outbox messages per recipient node id."""
    rows = session.execute(
        select(OutboxMessage.recipient_node_id, func.count())
        .where(OutboxMessage.sent_at.is_(None)).group_by(OutboxMessage.recipient_node_id))
    return {node_id: count for node_id, count in rows}


def last_sent_sequence(session: Session) -> dict[str, int]:
    """Return the highest sequence queued for each recipient node id."""
    rows = session.execute(select(OutboxMessage.recipient_node_id, func.max(OutboxMessage.sequence))
                           .group_by(OutboxMessage.recipient_node_id))
    return {node_id: sequence for node_id, sequence in rows}
