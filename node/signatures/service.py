"""Signed PDFs of documents: upload checks, verification results and task fingerprints.

Regular documents may carry their signed PDF. Confidential and top-secret
(mật, tối mật) documents may not, because the regulation lets the system
store no summary and no content of them (Điều 5.2), and a PDF is content.
Absolutely-secret documents never exist in the node.

The functions take the session first, flush but never commit, and check no
permissions: the views decide who may call them.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import PurePosixPath, PureWindowsPath

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.audit import service as audit_log
from node.core.db import utcnow
from node.core.settings import Settings
from node.local_tasks.models import Document, Task
from node.signatures import texts, verify
from node.signatures.errors import ConfidentialDocumentError, PdfRejectedError, file_problem
from node.signatures.models import DocumentFile, FileSignature, TaskSourceFingerprint
from node.signatures.trust import load_trust_anchors

logger = logging.getLogger(__name__)

MAX_FILENAME_LENGTH = 255
# A file still pending this long after its upload lost its verification
# thread (the process stopped), so it is shown as failed.
STALE_PENDING_AFTER = timedelta(minutes=15)


def clean_filename(filename: str | None) -> str:
    """Return the last part of an uploaded file's name in NFC, or "document.pdf"."""
    name = PureWindowsPath(PurePosixPath(filename or "").name).name
    name = unicodedata.normalize("NFC", name).strip()
    return name[-MAX_FILENAME_LENGTH:] or "document.pdf"


def _require_regular(document: Document) -> None:
    if document.confidentiality != "regular":
        raise ConfidentialDocumentError(
            f"Document {document.reference} is classified as {document.confidentiality}: the "
            "system stores no summary and no content of confidential and top-secret documents, "
            "so their signed PDF is not uploaded here. Keep the PDF in the confidential archive; "
            "the document's number, dates, bodies and task count stay recorded")


def _check_upload(data: bytes, name: str, settings: Settings) -> None:
    suffix = PurePosixPath(name).suffix.lower()
    if suffix and suffix != ".pdf":
        raise file_problem(PdfRejectedError(
            f"{name} is a {suffix} file; upload the signed PDF of the document (.pdf)",
            reason="wrong_type"), name)
    if not data:
        raise file_problem(PdfRejectedError(f"{name} is empty; upload the signed PDF with its "
                                            "content", reason="empty"), name)
    try:
        verify.open_pdf(data, max_bytes=settings.max_upload_bytes)
    except PdfRejectedError as exc:
        raise file_problem(exc, name) from None


def create_document_file(session: Session, document: Document, *, data: bytes,
                         filename: str | None, actor: str | None,
                         settings: Settings) -> DocumentFile:
    """Check and store the signed PDF of `document` as pending verification.

    Raises ConfidentialDocumentError for a confidential or top-secret
    document, and PdfRejectedError (with a problem on the `file` field) when
    the file is empty, not a PDF, larger than settings.max_upload_bytes,
    unreadable or encrypted. Nothing is written then.
    """
    _require_regular(document)
    name = clean_filename(filename)
    _check_upload(data, name, settings)
    file = DocumentFile(document_id=document.id, filename=name, size_bytes=len(data),
                        sha256=verify.sha256_hex(data), content=data, status=texts.PENDING,
                        is_authenticated=False, checked_signatures=0, uploaded_by=actor,
                        uploaded_at=utcnow())
    session.add(file)
    session.flush()
    audit_log.record(session, actor=actor, action="document_file.upload",
                     object_type="document_file", object_id=file.id,
                     after={"document_id": document.id, "filename": name,
                            "size_bytes": file.size_bytes, "sha256": file.sha256})
    logger.info("signed document file stored", extra={
        "document_id": document.id, "file_id": file.id, "sha256": file.sha256,
        "size_bytes": file.size_bytes})
    return file


def node_certificate_sha256(settings: Settings) -> str | None:
    """Return the SHA-256 of the node's signing certificate, or None when it is unusable."""
    from node.signatures.signing import SigningKeyError, load_signing_identity

    try:
        return load_signing_identity(settings).certificate_sha256
    except SigningKeyError:
        return None


def verify_document_file(session: Session, file: DocumentFile, *, settings: Settings,
                         on_progress: Callable[[int, int], None] | None = None) -> DocumentFile:
    """Verify the signatures of `file`, store the outcome and the tasks' fingerprints."""
    report = verify.verify_pdf(
        file.content, load_trust_anchors(settings.signatures_trust_dir),
        max_bytes=max(settings.max_upload_bytes, file.size_bytes),
        node_certificate_sha256=node_certificate_sha256(settings), on_progress=on_progress)
    return record_report(session, file, report)


def record_report(session: Session, file: DocumentFile,
                  report: verify.VerificationReport) -> DocumentFile:
    """Store `report` as the outcome of `file` and link the document's tasks to its SHA-256."""
    file.status = report.status
    file.is_authenticated = report.is_authenticated
    file.total_signatures = len(report.signatures)
    file.checked_signatures = len(report.signatures)
    file.verified_at = utcnow()
    file.error = None
    file.signatures.clear()
    session.flush()
    for position, item in enumerate(report.signatures):
        file.signatures.append(FileSignature(
            position=position, field_name=item.field_name[:200], status=item.status,
            problems=list(item.problems), signer_name=_cut(item.signer_name, 300),
            signer_organisation=_cut(item.signer_organisation, 300),
            signing_time=item.signing_time, certificate_sha256=item.certificate_sha256,
            certificate_subject=item.certificate_subject,
            certificate_issuer=item.certificate_issuer, not_before=item.not_before,
            not_after=item.not_after, covers_whole_file=item.covers_whole_file,
            modification_level=item.modification_level))
    _link_tasks(session, file)
    session.flush()
    audit_log.record(session, actor=None, action="document_file.verify",
                     object_type="document_file", object_id=file.id,
                     after={"status": file.status, "is_authenticated": file.is_authenticated,
                            "sha256": file.sha256,
                            "signers": [item.certificate_sha256 for item in report.signatures]})
    logger.info("signed document file verified", extra={
        "document_id": file.document_id, "file_id": file.id, "status": file.status})
    return file


def _cut(text: str | None, length: int) -> str | None:
    return text[:length] if text is not None else None


def _link_tasks(session: Session, file: DocumentFile) -> None:
    task_ids = session.scalars(select(Task.id).where(Task.document_id == file.document_id))
    linked = set(session.scalars(select(TaskSourceFingerprint.task_id)
                                 .where(TaskSourceFingerprint.file_id == file.id)))
    for task_id in task_ids:
        if task_id not in linked:
            session.add(TaskSourceFingerprint(task_id=task_id, file_id=file.id,
                                              sha256=file.sha256, recorded_at=utcnow()))


def mark_failed(session: Session, file: DocumentFile, error: str) -> None:
    """Record that verifying `file` stopped on an unexpected error."""
    file.status = texts.FAILED
    file.is_authenticated = False
    file.error = error[:2000]
    file.verified_at = utcnow()
    session.flush()


def current_file(session: Session, document: Document) -> DocumentFile | None:
    """Return the newest uploaded file of `document`, or None."""
    return session.scalars(
        select(DocumentFile).where(DocumentFile.document_id == document.id)
        .order_by(DocumentFile.uploaded_at.desc(), DocumentFile.id.desc()).limit(1)
    ).first()


def shown_status(file: DocumentFile, *, now: datetime | None = None) -> str:
    """Return the status to show: a pending file whose thread is gone shows as failed."""
    now = now or utcnow()
    if file.status == texts.PENDING and now - file.uploaded_at > STALE_PENDING_AFTER:
        return texts.FAILED
    return file.status


def task_fingerprint(session: Session, task: Task) -> TaskSourceFingerprint | None:
    """Return the newest verified document file that `task` refers to, or None."""
    return session.scalars(
        select(TaskSourceFingerprint).where(TaskSourceFingerprint.task_id == task.id)
        .order_by(TaskSourceFingerprint.id.desc()).limit(1)
    ).first()
