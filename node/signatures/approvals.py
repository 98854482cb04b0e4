"""The node's signatures over approval decisions, and the check that finds changed records.

Every approval or return of a progress update and every acceptance or
rejection of an objection (Điều 6 and 15.3) is signed by the node when its
audit entry is written, in the same transaction. The signed canonical record
names what was decided (the update or objection with its content), by whom
and when, and the hash of the audit entry. `check_approvals` rebuilds each
record from the current rows, so a later change to a decision, to its
signature or to its audit entry is reported.

The workflow knows nothing of this module: a SQLAlchemy session listener
sees the new audit entries of those actions. It signs only inside a Flask
application context, where the node's settings are known; decisions written
elsewhere (scripts, the demo loader) stay unsigned and `check_approvals`
reports them as such.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from flask import Flask, current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from node.audit import service as audit_log
from node.audit.models import AuditEntry
from node.core.settings import Settings
from node.local_tasks.workflow.models import Objection, ProgressUpdate
from node.signatures import signing
from node.signatures.models import ApprovalSignature
from node.signatures.trust import load_trust_anchors

logger = logging.getLogger(__name__)

# Audit actions whose records the node signs, with the type of the object they name.
SIGNED_ACTIONS = {
    "task.progress_approve": "task_progress_update",
    "task.progress_return": "task_progress_update",
    "task.objection_decision": "task_objection",
}
RECORD_VERSION = 1
_PENDING_KEY = "theodoi_approvals_to_sign"

# Problems that `check_approvals` reports.
UNSIGNED = "unsigned"
SIGNATURE_INVALID = "signature_invalid"
RECORD_CHANGED = "record_changed"
RECORD_MISSING = "record_missing"
UNKNOWN_CERTIFICATE = "unknown_certificate"

_PROGRESS_FIELDS = ("id", "task_id", "at", "submitted_by", "reported_state", "progress_percent",
                    "milestone", "results", "difficulties", "next_steps", "status",
                    "reviewed_at", "reviewed_by", "review_comment")
_OBJECTION_FIELDS = ("id", "task_id", "kind", "reason", "lodged_at", "lodged_by", "status",
                     "decided_at", "decided_by", "decision_reason", "decided_late",
                     "reassigned_to_id")


def _decision(session: Session, object_type: str, object_id: str) -> dict[str, Any] | None:
    model, fields = ((ProgressUpdate, _PROGRESS_FIELDS) if object_type == "task_progress_update"
                     else (Objection, _OBJECTION_FIELDS))
    row = session.get(model, int(object_id))
    return audit_log.snapshot(row, fields) if row is not None else None


def canonical_record(session: Session, entry: AuditEntry) -> dict[str, Any] | None:
    """Return the record that the node signs for `entry`, or None when its object is gone."""
    decision = _decision(session, entry.object_type, entry.object_id)
    if decision is None:
        return None
    return {
        "version": RECORD_VERSION,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "decided_by": entry.actor,
        "decision": decision,
        "audit_sequence": entry.sequence,
        "audit_entry_hash": entry.entry_hash,
    }


def record_bytes(record: dict[str, Any]) -> bytes:
    """Return the signed bytes: the audit log's canonical JSON of `record`, in UTF-8."""
    return audit_log.canonical_json(record).encode("utf-8")


def _algorithm(identity: signing.SigningIdentity) -> str:
    if isinstance(identity.key, ec.EllipticCurvePrivateKey):
        return "ecdsa-sha256"
    if isinstance(identity.key, rsa.RSAPrivateKey):
        return "rsa-pkcs1v15-sha256"
    return "ed25519"


def sign_entry(session: Session, entry: AuditEntry, settings: Settings) -> ApprovalSignature:
    """Sign the canonical record of `entry` with the node's key and add the signature row."""
    signing.ensure_signing_identity(settings, settings.node_org_unit)
    identity = signing.load_signing_identity(settings)
    record = canonical_record(session, entry)
    if record is None:
        raise ValueError(f"audit entry {entry.sequence} names {entry.object_type} "
                         f"{entry.object_id}, which does not exist")
    signature = ApprovalSignature(
        audit_entry_id=entry.id, action=entry.action, object_type=entry.object_type,
        object_id=entry.object_id, record=audit_log.json_safe(record, "record"),
        signature=base64.b64encode(signing.sign_bytes(identity, record_bytes(record))).decode(),
        algorithm=_algorithm(identity), certificate_sha256=identity.certificate_sha256,
        certificate_pem=identity.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        signed_at=entry.at)
    session.add(signature)
    logger.info("approval record signed", extra={
        "audit_sequence": entry.sequence, "action": entry.action,
        "object_type": entry.object_type, "object_id": entry.object_id})
    return signature


def _collect_entries(session: Session, _flush_context: object) -> None:
    entries = [item for item in session.new
               if isinstance(item, AuditEntry) and item.action in SIGNED_ACTIONS]
    if entries:
        session.info.setdefault(_PENDING_KEY, []).extend(entries)


def _sign_collected(session: Session, _flush_context: object) -> None:
    entries = session.info.pop(_PENDING_KEY, [])
    if not entries or not has_app_context():
        return
    settings = current_app.config.get("THEODOI_SETTINGS")
    if not isinstance(settings, Settings):
        return
    for entry in entries:
        sign_entry(session, entry, settings)


def init_approval_signing(_app: Flask) -> None:
    """Sign approval records written by every session while a request of the app runs."""
    if not event.contains(Session, "after_flush", _collect_entries):
        event.listen(Session, "after_flush", _collect_entries)
        event.listen(Session, "after_flush_postexec", _sign_collected)


# Checking ----------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalProblem:
    """One decision whose signature does not hold, and why."""

    audit_sequence: int
    action: str
    object_type: str
    object_id: str
    problem: str
    changed_fields: tuple[str, ...] = ()


@dataclass
class ApprovalCheck:
    """Outcome of `check_approvals`."""

    checked: int = 0
    problems: list[ApprovalProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _signature_holds(row: ApprovalSignature) -> bool:
    try:
        certificate = x509.load_pem_x509_certificate(row.certificate_pem.encode())
        signature = base64.b64decode(row.signature, validate=True)
        data = record_bytes(row.record)
        key = certificate.public_key()
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            return False
    except (ValueError, InvalidSignature):
        return False
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest() \
        == row.certificate_sha256


def known_certificates(settings: Settings) -> set[str]:
    """Return the SHA-256 of the node's certificate and of every certificate in the trust folder.

    A node whose key was replaced keeps its older approvals verifiable by
    putting the old certificate into the trust folder.
    """
    known: set[str] = set()
    try:
        known.add(signing.load_signing_identity(settings).certificate_sha256)
    except signing.SigningKeyError:
        logger.warning("node signing certificate unavailable while checking approvals")
    anchors = load_trust_anchors(settings.signatures_trust_dir)
    for certificate in (*anchors.roots, *anchors.intermediates):
        known.add(hashlib.sha256(certificate.dump()).hexdigest())
    return known


def _changed_fields(stored: dict[str, Any], current: dict[str, Any]) -> tuple[str, ...]:
    names = sorted(set(stored) | set(current))
    changed = [name for name in names if name != "decision" and stored.get(name) != current.get(name)]
    stored_decision, current_decision = stored.get("decision", {}), current.get("decision", {})
    changed += [f"decision.{name}" for name in sorted(set(stored_decision) | set(current_decision))
                if stored_decision.get(name) != current_decision.get(name)]
    return tuple(changed)


def _check_entry(session: Session, entry: AuditEntry, row: ApprovalSignature | None,
                 known: set[str]) -> ApprovalProblem | None:
    def problem(code: str, fields: tuple[str, ...] = ()) -> ApprovalProblem:
        return ApprovalProblem(entry.sequence, entry.action, entry.object_type, entry.object_id,
                               code, fields)

    if row is None:
        return problem(UNSIGNED)
    if not _signature_holds(row):
        return problem(SIGNATURE_INVALID)
    if row.certificate_sha256 not in known:
        return problem(UNKNOWN_CERTIFICATE)
    current = canonical_record(session, entry)
    if current is None:
        return problem(RECORD_MISSING)
    current = audit_log.json_safe(current, "record")
    if current != row.record:
        return problem(RECORD_CHANGED, _changed_fields(row.record, current))
    return None


def check_approvals(session: Session, settings: Settings) -> ApprovalCheck:
    """Check the signature of every signed decision in the audit log, oldest first."""
    known = known_certificates(settings)
    signatures = {row.audit_entry_id: row for row in session.scalars(select(ApprovalSignature))}
    result = ApprovalCheck()
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action.in_(SIGNED_ACTIONS))
                              .order_by(AuditEntry.sequence))
    for entry in entries:
        result.checked += 1
        found = _check_entry(session, entry, signatures.pop(entry.id, None), known)
        if found is not None:
            result.problems.append(found)
    return result
