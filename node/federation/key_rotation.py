"""Applying a peer's key rotation: its new key replaces the pinned one, the former stays valid.

A node that rotates its key announces the new public key to each linked node
in a `key_rotation` message signed with the former key. The message carries a
proof made with the new key, so a node can only announce a key whose private
half it holds. The receiver keeps the former key as valid until the instant the sender
named (at most MAX_GRACE after the rotation), so messages the sender signed
before the rotation still pass.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.orm import Session

from node.core.db import utcnow
from node.core.settings import Settings
from node.federation.envelope import EnvelopeRejected, format_timestamp, parse_timestamp
from node.federation.handlers import register
from node.federation.identity import fingerprint, verify_document
from node.federation.models import Peer

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "key_rotation"
# A message type that both the parent and the children may send.
ANY_PEER = "any"
MAX_GRACE = timedelta(days=30)


def proof_document(node_id: str, public_key: str) -> dict:
    """Return the document the new key signs to prove its holder announced it."""
    return {"node_id": node_id, "public_key": public_key}


@register(MESSAGE_TYPE, ANY_PEER)
def apply_key_rotation(session: Session, settings: Settings, peer: Peer,
                       envelope: dict) -> dict:
    payload = envelope["payload"]
    new_key = payload["public_key"]
    document = dict(proof_document(peer.node_id, new_key), proof=payload["proof"])
    if not verify_document(document, new_key, field="proof"):
        raise EnvelopeRejected(
            "bad_signature", f"the proof of key rotation from {peer.node_id!r} is not a valid "
            "signature by the announced key; the sender must sign it with its new key",
            authenticated=True)
    now = utcnow()
    valid_until = min(parse_timestamp(payload["previous_key_valid_until"]), now + MAX_GRACE)
    if new_key != peer.public_key:
        peer.previous_public_key = peer.public_key
        peer.public_key = new_key
        peer.previous_key_valid_until = valid_until
    logger.info("peer rotated its key",
                extra={"peer": peer.node_id, "message_id": envelope["message_id"],
                       "fingerprint": fingerprint(new_key),
                       "previous_key_valid_until": format_timestamp(valid_until)})
    return {"status": "key_rotated", "fingerprint": fingerprint(new_key),
            "previous_key_valid_until": format_timestamp(valid_until)}
