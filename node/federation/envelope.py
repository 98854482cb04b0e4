"""Signed envelopes: build, sign, encode and verify the messages between nodes.

The signature is Ed25519 over the RFC 8785 canonical JSON of the envelope
without its `signature` member, after every string is put in Unicode NFC. A
verifier normalises too, so a relay that changes only the normalisation of a
string does not break a signature.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core.errors import FieldProblem
from node.federation import schemas
from node.federation.canonical import canonicalize, canonicalize_members, normalize_nfc
from node.federation.identity import sign_document, verify_signature

PROTOCOL_VERSIONS = ("1",)
CURRENT_PROTOCOL_VERSION = PROTOCOL_VERSIONS[-1]
MESSAGE_TYPES = (
    "directive",
    "receipt_confirmation",
    "objection",
    "objection_decision",
    "task_status",
    "aggregate_report",
    "ranking_publication",
    "key_rotation",
)
# Chosen to hold a directive of several hundred tasks with full content; raise
# it together with the web server's request limit if documents grow larger.
MAX_ENVELOPE_BYTES = 1024 * 1024
MAX_CLOCK_BEHIND = timedelta(minutes=5)
MAX_CLOCK_AHEAD = timedelta(minutes=1)

# Rejection reasons, each with the HTTP status of the receiving node's response.
REASON_STATUS = {
    "oversized": 413,
    "malformed": 400,
    "unsupported_version": 400,
    "unsigned": 401,
    "schema_invalid": 422,
    "unknown_type": 422,
    "wrong_recipient": 422,
    "unknown_sender": 403,
    "suspended_sender": 403,
    "bad_signature": 401,
    "clock_skew": 422,
    "not_allowed_from_peer": 403,
    "replay": 409,
    "sequence_reused": 409,
    # A valid, signed message whose content this node cannot apply, such as a
    # status of a task it never assigned to the sender.
    "not_applicable": 422,
}


class EnvelopeRejected(Exception):
    """An envelope failed verification; `reason` is one of REASON_STATUS.

    `authenticated` is true when the sender's signature had been verified
    before the check that failed.
    """

    def __init__(self, reason: str, message: str, problems: list[FieldProblem] | None = None,
                 *, authenticated: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.problems = problems or []
        self.authenticated = authenticated

    @property
    def status(self) -> int:
        return REASON_STATUS[self.reason]


@dataclass(frozen=True)
class VerifiedEnvelope:
    """An envelope whose structure, signature and payload were checked."""

    envelope: dict
    raw: bytes
    content_hash: str

    @property
    def message_id(self) -> str:
        return self.envelope["message_id"]

    @property
    def sender(self) -> str:
        return self.envelope["sender"]

    @property
    def type(self) -> str:
        return self.envelope["type"]

    @property
    def created_at(self) -> datetime:
        return parse_timestamp(self.envelope["created_at"])


def format_timestamp(instant: datetime) -> str:
    """Write an instant as RFC 3339 in UTC with millisecond precision, e.g. ...T08:00:00.000Z."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.upper().replace("Z", "+00:00")).astimezone(UTC)


def new_envelope(*, message_type: str, sender: str, recipient: str, sequence: int,
                 payload: dict, created_at: datetime | None = None,
                 message_id: str | None = None) -> dict:
    """Return an unsigned envelope of the current protocol version."""
    return {
        "protocol_version": CURRENT_PROTOCOL_VERSION,
        "message_id": message_id or str(uuid.uuid4()),
        "type": message_type,
        "sender": sender,
        "recipient": recipient,
        "created_at": format_timestamp(created_at or datetime.now(UTC)),
        "sequence": sequence,
        "payload": payload,
    }


def sign_envelope(envelope: dict, key: Ed25519PrivateKey) -> dict:
    """Return the NFC form of `envelope` with its signature set."""
    return sign_document(envelope, key)


def encode_envelope(envelope: dict) -> bytes:
    """Return the bytes sent on the wire: the canonical JSON of the signed envelope."""
    return canonicalize(envelope)


def content_hash(envelope: dict) -> str:
    """Return the SHA-256 of a message's content, for deduplication.

    The hash leaves out `signature` and `created_at`, so a sender that re-signs
    a message with a fresh timestamp for a retry still sends the same message.
    """
    content = {key: value for key, value in envelope.items()
               if key not in ("signature", "created_at")}
    return hashlib.sha256(canonicalize(normalize_nfc(content))).hexdigest()


def reject_duplicate_names(pairs: list[tuple[str, object]]) -> dict:
    result: dict = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate member name {name!r}")
        result[name] = value
    return result


def reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in JSON")


def parse_envelope(raw: bytes) -> dict:
    """Parse the wire bytes; raise EnvelopeRejected (oversized or malformed)."""
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise EnvelopeRejected(
            "oversized", f"envelope of {len(raw)} bytes is larger than the limit of "
            f"{MAX_ENVELOPE_BYTES} bytes; split the payload into several messages")
    try:
        envelope = json.loads(raw.decode("utf-8"), object_pairs_hook=reject_duplicate_names,
                              parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise EnvelopeRejected("malformed", f"envelope is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(envelope, dict):
        raise EnvelopeRejected("malformed", "envelope must be a JSON object")
    return envelope


def _check_version(envelope: dict) -> None:
    version = envelope.get("protocol_version")
    if version is not None and version not in PROTOCOL_VERSIONS:
        raise EnvelopeRejected(
            "unsupported_version",
            f"protocol version {version!r} is not supported; this node supports "
            f"{', '.join(PROTOCOL_VERSIONS)}")


def member_bytes(envelope: dict) -> dict[str, bytes]:
    """Return the canonical JSON of each top-level member of `envelope`.

    `canonicalize_members` of the result is the envelope's wire form, and of
    a subset its signed form or its content, so each envelope is written
    once. Raises ValueError or TypeError as `canonicalize` does.
    """
    return {name: canonicalize(value) for name, value in envelope.items()}


def _without(members: dict[str, bytes], *names: str) -> dict[str, bytes]:
    return {name: value for name, value in members.items() if name not in names}


def verify_envelope(raw: bytes, known_keys: Mapping[str, str], *, recipient: str | None = None,
                    now: datetime | None = None, parsed: dict | None = None,
                    wire_members: dict[str, bytes] | None = None) -> VerifiedEnvelope:
    """Verify an envelope as received; raise EnvelopeRejected naming the first failed check.

    `known_keys` maps each pinned sender's node id to its public key. The
    recipient is checked when given, and the clock when `now` is given.
    An envelope of a batch request comes already parsed (`parsed`), with
    `raw` and `wire_members` written from it by the caller.
    """
    if parsed is None:
        envelope = parse_envelope(raw)
    else:
        if len(raw) > MAX_ENVELOPE_BYTES:
            parse_envelope(raw)  # raises the same "oversized" rejection
        envelope = parsed
    _check_version(envelope)
    if not envelope.get("signature"):
        raise EnvelopeRejected("unsigned", "envelope has no signature; sign it with the "
                               "sender's node key")
    problems = schemas.validation_problems("envelope", envelope)
    if problems:
        raise EnvelopeRejected("schema_invalid", _problems_message("envelope", problems),
                               problems)
    if envelope["type"] not in MESSAGE_TYPES:
        raise EnvelopeRejected(
            "unknown_type", f"message type {envelope['type']!r} is unknown; known types: "
            f"{', '.join(MESSAGE_TYPES)}")
    if recipient is not None and envelope["recipient"] != recipient:
        raise EnvelopeRejected(
            "wrong_recipient", f"envelope is addressed to {envelope['recipient']!r}, "
            f"but this node is {recipient!r}")
    public_key = known_keys.get(envelope["sender"])
    if public_key is None:
        raise EnvelopeRejected(
            "unknown_sender", f"sender {envelope['sender']!r} is not a linked node; "
            "enrol it first")
    # The signature covers the NFC form. The wire form is normally NFC
    # already, and then its members serve for the signature and the hash too.
    normalized = normalize_nfc(envelope)
    assert isinstance(normalized, dict)
    if wire_members is not None and normalized == envelope:
        members = wire_members
    else:
        try:
            members = member_bytes(normalized)
        except (ValueError, TypeError):
            members = None
    if members is None or not verify_signature(
            canonicalize_members(_without(members, "signature")), envelope["signature"],
            public_key):
        raise EnvelopeRejected(
            "bad_signature", f"signature does not match the key pinned for sender "
            f"{envelope['sender']!r}")
    payload_problems = schemas.validation_problems(envelope["type"], envelope["payload"],
                                                   prefix="payload")
    if payload_problems:
        raise EnvelopeRejected("schema_invalid",
                               _problems_message(envelope["type"], payload_problems),
                               payload_problems, authenticated=True)
    digest = hashlib.sha256(canonicalize_members(
        _without(members, "signature", "created_at"))).hexdigest()
    verified = VerifiedEnvelope(envelope=envelope, raw=raw, content_hash=digest)
    if now is not None:
        check_clock(verified, now)
    return verified


def check_clock(verified: VerifiedEnvelope, now: datetime) -> None:
    """Raise EnvelopeRejected (clock_skew) unless the envelope was created in the window."""
    created_at = verified.created_at
    if created_at < now - MAX_CLOCK_BEHIND or created_at > now + MAX_CLOCK_AHEAD:
        raise EnvelopeRejected(
            "clock_skew",
            f"clock skew: the sender {verified.sender!r} stamped the message "
            f"{format_timestamp(created_at)}, and this node's clock reads "
            f"{format_timestamp(now)}; a message must be at most "
            f"{int(MAX_CLOCK_BEHIND.total_seconds() // 60)} minutes old and at most "
            f"{int(MAX_CLOCK_AHEAD.total_seconds() // 60)} minute ahead. "
            "Synchronise both clocks (NTP)", authenticated=True)


def _problems_message(schema_name: str, problems: list[FieldProblem]) -> str:
    listed = "; ".join(f"{problem.path}: {problem.message}" for problem in problems)
    return f"invalid against schema {schema_name} ({error_count(problems)}): {listed}"


def error_count(problems: list) -> str:
    """Return "1 error" or "N errors" for a list of schema problems."""
    return "1 error" if len(problems) == 1 else f"{len(problems)} errors"
