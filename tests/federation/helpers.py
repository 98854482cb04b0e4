"""Builders shared by the federation tests: keys, linked peers and signed envelopes."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from node.federation.envelope import encode_envelope, new_envelope, sign_envelope
from node.federation.identity import encode_public_key
from node.federation.models import Peer

CHILD_NODE_ID = "tu01-hanoi"
CHILD_ORG_UNIT = "TU01"


def link_child(session: Session, key: Ed25519PrivateKey, *, node_id: str = CHILD_NODE_ID,
               status: str = "active") -> Peer:
    """Pin `key` as the key of a level-1 child node."""
    peer = Peer(node_id=node_id, level=1, org_unit_code=CHILD_ORG_UNIT,
                public_key=encode_public_key(key.public_key()), protocol_version="1",
                status=status)
    session.add(peer)
    session.flush()
    return peer


def task_status_payload(task_ref: str = "VPTW/12-NQ/TW/1", summary: str = "Đã hoàn thành") -> dict:
    return {"updates": [{
        "task_ref": task_ref,
        "reported_state": "completed",
        "completed_at": "2026-03-02T03:00:00Z",
        "result_summary": summary,
        "confidentiality": "regular",
        "reported_at": "2026-03-02T04:00:00Z",
        "approved_at": "2026-03-02T05:00:00+07:00",
        "approved_by": "Nguyễn Văn A",
    }]}


def aggregate_report_payload(row_code: str = CHILD_ORG_UNIT, completed_on_time: int = 2) -> dict:
    """An aggregate report of the first quarter of 2026 with one row; any child may send it."""
    counts = {"completed_on_time": completed_on_time, "completed_late": 1,
              "in_progress_on_time": 0, "in_progress_overdue": 0, "implemented_not_completed": 0,
              "not_started_on_time": 0, "not_started_overdue": 1}
    return {"org_unit_code": CHILD_ORG_UNIT,
            "period": {"kind": "quarter", "start": "2026-01-01", "end": "2026-03-31"},
            "as_of": "2026-04-01T00:00:00Z",
            "rows": [{"org_unit_code": row_code, "counts": counts,
                      "total": sum(counts.values())}]}


def envelope_for(key: Ed25519PrivateKey, *, recipient: str = "local",
                 sender: str = CHILD_NODE_ID, sequence: int = 1,
                 message_type: str = "aggregate_report", payload: dict | None = None,
                 created_at: datetime | None = None, message_id: str | None = None,
                 sign: bool = True) -> dict:
    envelope = new_envelope(message_type=message_type, sender=sender, recipient=recipient,
                            sequence=sequence,
                            payload=payload if payload is not None else aggregate_report_payload(),
                            created_at=created_at or datetime.now(UTC), message_id=message_id)
    return sign_envelope(envelope, key) if sign else envelope


def wire(envelope: dict) -> bytes:
    return encode_envelope(envelope)
