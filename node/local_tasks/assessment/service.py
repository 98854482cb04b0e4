"""Assessment of tasks: evaluations, inspection findings, attachments and assignment.

- Evaluation (Điều 5.1.i): the monitoring agency rates a task; each rating is
  a new row that supersedes the current one.
- Inspection findings (Điều 11): an inspection commission records findings
  and recommendations about a task or an org unit, which the agencies concerned
  see and which are closed once handled.
- Attachments (Điều 15): files of a progress update, checked by extension and
  content, stored once per SHA-256 under the instance folder.
- Assignment (Điều 6): the central office classifies a document's tasks,
  resolves groups of agencies into org units and transfers the tasks within
  TRANSFER_WORKING_DAYS working days of the document's issue.

As in the workflow, the functions take the session first and keyword-only
arguments, flush but never commit, and check no permissions. Each write of a
task records a task event, an audit entry and a log line through
`history.record_step`. A rejected call raises before writing anything.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from node.audit import service as audit_log
from node.core.db import utcnow
from node.core.errors import ConflictError, DomainError, ProblemCollector
from node.core.settings import Settings
from node.core.text import nfc
from node.local_tasks.assessment.models import (
    EVALUATION_RATINGS,
    FINDING_KINDS,
    Attachment,
    InspectionFinding,
    TaskEvaluation,
)
from node.local_tasks.calendar import WorkingCalendar
from node.local_tasks.deadlines_service import VN_TZ
from node.local_tasks.models import (
    ClassificationValue,
    Document,
    GroupAssignment,
    OrgUnit,
    Task,
    TaskAgency,
)
from node.local_tasks.workflow.errors import (
    StaleTaskError,
    WorkflowStateError,
    invalid,
    message,
    task_reference,
)
from node.local_tasks.workflow.history import (
    record_step,
    refresh_search_text,
    require_instant,
    require_text,
)
from node.local_tasks.workflow.models import ProgressUpdate
from node.local_tasks.workflow.service import transfer_task

logger = logging.getLogger("node.local_tasks.assessment")

_FINDING_AUDIT_FIELDS = ("task_id", "org_unit_id", "recorded_at", "recorded_by", "kind",
                         "finding", "recommendation", "status")


def _clean_text(value: str | None) -> str | None:
    return nfc(value).strip() or None if value is not None else None


def _lock_task(session: Session, task: Task) -> None:
    """Lock the task's row until the transaction ends, so that writes about it run one by one.

    PostgreSQL takes a row lock. SQLite ignores FOR UPDATE, but it allows one
    writer at a time and fails a transaction whose reads went stale.
    """
    session.execute(select(Task.id).where(Task.id == task.id).with_for_update())


# Evaluation ------------------------------------------------------------------


def current_evaluation(session: Session, task: Task) -> TaskEvaluation | None:
    """Return the evaluation of `task` that no other supersedes, or None before the first one."""
    return session.scalars(
        select(TaskEvaluation)
        .where(TaskEvaluation.task_id == task.id, TaskEvaluation.superseded_by_id.is_(None))
        .order_by(TaskEvaluation.id.desc()).limit(1)
    ).first()


def evaluation_history(session: Session, task: Task) -> list[TaskEvaluation]:
    """Return every evaluation of `task`, oldest first."""
    return list(session.scalars(
        select(TaskEvaluation).where(TaskEvaluation.task_id == task.id)
        .order_by(TaskEvaluation.evaluated_at, TaskEvaluation.id)
    ))


def evaluate_task(session: Session, task: Task, *, at: datetime, actor: str, rating: str,
                  comment: str | None = None) -> TaskEvaluation:
    """Store the monitoring agency's rating of `task`, superseding its current evaluation.

    `rating` is one of EVALUATION_RATINGS. Confidential and top-secret tasks
    store no text, so their evaluations carry no comment. An evaluation
    earlier than the current one is rejected, so the history stays in order.
    """
    require_instant(at)
    evaluator = (actor or "").strip()
    if not evaluator:
        raise invalid("actor", actor, "The evaluator is missing; sign in and evaluate again")
    comment_text = _clean_text(comment)
    problems = ProblemCollector()
    if rating not in EVALUATION_RATINGS:
        problems.add("rating", message("Unknown rating %(rating)r; use one of %(ratings)s",
                                       rating=rating, ratings=", ".join(EVALUATION_RATINGS)),
                     rating)
    if comment_text is not None and task.confidentiality != "regular":
        # The value is left out of the problem: it may be confidential.
        problems.add("comment", message("Evaluations of confidential and top-secret tasks carry "
                                        "only the rating; leave comment empty"), None)
    problems.raise_if_any(message("Evaluation of task %(task)s is invalid", task=task_reference(task)))

    _lock_task(session, task)
    previous = current_evaluation(session, task)
    if previous is not None and at < previous.evaluated_at:
        raise invalid("at", at.isoformat(),
                      "Evaluation at %(at)s is before the current evaluation %(evaluation_id)s "
                      "of %(previous_at)s; give the instant of this evaluation", at=at,
                      evaluation_id=previous.id, previous_at=previous.evaluated_at)

    evaluation = TaskEvaluation(task=task, evaluated_at=at, evaluated_by=evaluator,
                                rating=rating, comment=comment_text)
    session.add(evaluation)
    session.flush()
    if previous is not None:
        _supersede(session, task, previous, evaluation)
    record_step(
        session, task, kind="task.evaluation", at=at, actor=evaluator,
        content="task evaluated", outcome=rating,
        object_type="task_evaluation", object_id=evaluation.id,
        before={"evaluation_id": previous.id, "rating": previous.rating} if previous else None,
        after=audit_log.snapshot(evaluation, ("task_id", "evaluated_at", "evaluated_by",
                                              "rating", "comment")),
        detail={"rating": rating, "superseded_evaluation_id": previous.id if previous else None},
    )
    return evaluation


def _supersede(session: Session, task: Task, previous: TaskEvaluation,
               evaluation: TaskEvaluation) -> None:
    # The condition makes a concurrent evaluation that superseded `previous`
    # first show up as a row count of 0 instead of being overwritten.
    result = session.execute(
        update(TaskEvaluation)
        .where(TaskEvaluation.id == previous.id, TaskEvaluation.superseded_by_id.is_(None))
        .values(superseded_by_id=evaluation.id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        # No savepoint is used, because on SQLite the release of a savepoint that
        # opened the transaction commits it. The new row is removed instead.
        session.delete(evaluation)
        session.flush()
        raise StaleTaskError(message(
            "Evaluation %(evaluation_id)s of task %(task)s was superseded by someone else "
            "meanwhile; reload the task and evaluate again", evaluation_id=previous.id,
            task=task_reference(task)))
    session.expire(previous, ["superseded_by_id", "superseded_by"])


# Inspection findings ---------------------------------------------------------


def _record_without_task(session: Session, *, kind: str, actor: str | None, object_type: str,
                         object_id: int, outcome: str, before: dict | None,
                         after: dict | None) -> None:
    """Write the audit entry and log line of a step that concerns no task, so has no task event."""
    audit_log.record(session, actor=actor, action=kind, object_type=object_type,
                     object_id=object_id, before=before, after=after)
    logger.info("assessment step recorded",
                extra={"event_kind": kind, "object_type": object_type, "object_id": object_id,
                       "outcome": outcome, "actor": actor})


def _record_finding_step(session: Session, finding: InspectionFinding, *, kind: str, at: datetime,
                         actor: str, content: str, before: dict | None, after: dict) -> None:
    if finding.task is None:
        _record_without_task(session, kind=kind, actor=actor, object_type="inspection_finding",
                             object_id=finding.id, outcome=finding.status, before=before,
                             after=after)
        return
    record_step(session, finding.task, kind=kind, at=at, actor=actor, content=content,
                outcome=finding.status, object_type="inspection_finding", object_id=finding.id,
                before=before, after=after,
                detail={"finding_kind": finding.kind, "org_unit_id": finding.org_unit_id})


def _is_confidential(task: Task | None) -> bool:
    return task is not None and task.confidentiality != "regular"


def record_finding(session: Session, *, at: datetime, actor: str, kind: str,
                   finding: str | None = None, recommendation: str | None = None,
                   task: Task | None = None,
                   org_unit: OrgUnit | None = None) -> InspectionFinding:
    """Store an inspection commission's finding about `task`, `org_unit` or both.

    A finding needs a task or an org unit, and its text unless the task is
    confidential or top secret. Those tasks store no text, so their findings
    carry only the kind and the text stays outside the system.
    """
    require_instant(at)
    inspector = (actor or "").strip()
    if not inspector:
        raise invalid("actor", actor, "The inspector is missing; sign in and record the finding "
                      "again")
    finding_text = _clean_text(finding)
    recommendation_text = _clean_text(recommendation)
    problems = ProblemCollector()
    if task is None and org_unit is None:
        problems.add("task", message("A finding needs a task or an org unit; give at least one"),
                     None)
    if kind not in FINDING_KINDS:
        problems.add("kind", message("Unknown finding kind %(kind)r; use one of %(kinds)s",
                                     kind=kind, kinds=", ".join(FINDING_KINDS)), kind)
    if _is_confidential(task):
        for name, value in (("finding", finding_text), ("recommendation", recommendation_text)):
            if value is not None:
                problems.add(name, message(
                    "Findings on confidential and top-secret tasks carry only the kind; leave "
                    "%(field)s empty", field=name), None)
    elif finding_text is None:
        problems.add("finding", message("The finding is missing; describe what the "
                                        "inspection found"), finding)
    problems.raise_if_any(message("Inspection finding is invalid"))

    record = InspectionFinding(task=task, org_unit=org_unit, recorded_at=at,
                               recorded_by=inspector, kind=kind, finding=finding_text,
                               recommendation=recommendation_text, status="open")
    session.add(record)
    session.flush()
    _record_finding_step(session, record, kind="inspection.finding", at=at, actor=inspector,
                         content=f"inspection finding recorded ({kind})", before=None,
                         after=audit_log.snapshot(record, _FINDING_AUDIT_FIELDS))
    return record


def close_finding(session: Session, finding: InspectionFinding, *, at: datetime, actor: str,
                  note: str | None = None) -> InspectionFinding:
    """Close `finding` with a note on how it was handled; closed findings stay stored.

    The note is required, except on confidential and top-secret tasks, where
    it must be empty because they store no text.
    """
    require_instant(at)
    closer = (actor or "").strip()
    if not closer:
        raise invalid("actor", actor, "The person closing the finding is missing; sign in and "
                      "close it again")
    if finding.status != "open":
        raise WorkflowStateError(message(
            "Finding %(finding_id)s was already closed by %(actor)s at %(closed_at)s; nothing "
            "was changed", finding_id=finding.id, actor=finding.closed_by,
            closed_at=finding.closed_at))
    note_text = _clean_text(note)
    if _is_confidential(finding.task):
        if note_text is not None:
            raise invalid("note", None, "Findings on confidential and top-secret tasks carry no "
                          "text; leave note empty")
    else:
        note_text = require_text(note, "note")
    if at < finding.recorded_at:
        raise invalid("at", at.isoformat(),
                      "Closing at %(at)s is before the finding was recorded at %(recorded_at)s; "
                      "give the instant it was closed", at=at, recorded_at=finding.recorded_at)

    before = audit_log.snapshot(finding, ("status", "closed_at", "closed_by", "closing_note"))
    finding.status = "closed"
    finding.closed_at = at
    finding.closed_by = closer
    finding.closing_note = note_text
    session.flush()
    _record_finding_step(session, finding, kind="inspection.finding_close", at=at, actor=closer,
                         content="inspection finding closed", before=before,
                         after=audit_log.snapshot(finding, ("status", "closed_at", "closed_by",
                                                            "closing_note")))
    return finding


def findings_for_task(session: Session, task: Task) -> list[InspectionFinding]:
    """Return the findings recorded about `task`, newest first."""
    return list(session.scalars(
        select(InspectionFinding).where(InspectionFinding.task_id == task.id)
        .order_by(InspectionFinding.recorded_at.desc(), InspectionFinding.id.desc())
    ))


def findings_for_org_unit(session: Session, org_unit_ids: list[int], *,
                          status: str | None = None) -> list[InspectionFinding]:
    """Return the findings visible to an agency, newest first, optionally only open or closed ones.

    These are the findings about one of `org_unit_ids` and those about a task
    on which one of them has any role (lead, coordinating or monitoring).
    """
    if not org_unit_ids:
        return []
    task_ids = select(TaskAgency.task_id).where(TaskAgency.org_unit_id.in_(org_unit_ids))
    query = (
        select(InspectionFinding)
        .where(or_(InspectionFinding.org_unit_id.in_(org_unit_ids),
                   InspectionFinding.task_id.in_(task_ids)))
        .order_by(InspectionFinding.recorded_at.desc(), InspectionFinding.id.desc())
    )
    if status is not None:
        query = query.where(InspectionFinding.status == status)
    return list(session.scalars(query))


# Attachments -----------------------------------------------------------------

ATTACHMENTS_DIR = "attachments"
READ_CHUNK_BYTES = 64 * 1024
FILENAME_MAX_LENGTH = 255
_MEGABYTE = 1024 * 1024

_OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_SIGNATURE = b"PK\x03\x04"
# Members of an office file that hold macros, which run as code when opened.
_MACRO_MEMBERS = re.compile(r"(^|/)vbaProject\.bin$|^Basic/|^Scripts/", re.IGNORECASE)
_FILENAME_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")


class AttachmentTooLargeError(DomainError):
    """Error raised when an uploaded file is larger than the node's upload limit."""

    status = 413
    title = "Payload too large"


class AttachmentIntegrityError(DomainError):
    """Error raised when a stored file is missing or no longer matches its SHA-256 from upload."""

    status = 500
    title = "Stored file damaged"


def _starts_with(*signatures: bytes) -> Callable[[Path], bool]:
    def check(path: Path) -> bool:
        with path.open("rb") as handle:
            head = handle.read(16)
        return any(head.startswith(signature) for signature in signatures)
    return check


def _ooxml(main_member: str) -> Callable[[Path], bool]:
    """Check for an Office Open XML package with `main_member` and without macros."""
    def check(path: Path) -> bool:
        if not _starts_with(_ZIP_SIGNATURE)(path):
            return False
        try:
            with zipfile.ZipFile(path) as package:
                names = package.namelist()
        except zipfile.BadZipFile:
            return False
        return main_member in names and not any(_MACRO_MEMBERS.search(name) for name in names)
    return check


def _odf(mimetype: str) -> Callable[[Path], bool]:
    """Check for an OpenDocument package of type `mimetype` without macros."""
    def check(path: Path) -> bool:
        if not _starts_with(_ZIP_SIGNATURE)(path):
            return False
        try:
            with zipfile.ZipFile(path) as package:
                names = package.namelist()
                if "mimetype" not in names:
                    return False
                with package.open("mimetype") as member:
                    declared = member.read(100)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError):
            # RuntimeError means an encrypted member, NotImplementedError an unknown compression.
            return False
        return (declared == mimetype.encode("ascii")
                and not any(_MACRO_MEMBERS.search(name) for name in names))
    return check


def _plain_text(path: Path) -> bool:
    """Return whether the file is UTF-8 text without NUL bytes and without a script's #! line."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    with path.open("rb") as handle:
        first = handle.read(2)
        if first == b"#!":
            return False
        chunk = first
        while chunk:
            if b"\x00" in chunk:
                return False
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
            chunk = handle.read(READ_CHUNK_BYTES)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


# Extension → (media type, content check). Anything else is rejected, so
# executables, scripts, web pages and archives never get in. Archives are
# left out because their content cannot be checked here.
# NOTE: .doc and .xls share the OLE2 container signature, and the check
# does not read the container's directory, so a .doc renamed .xls passes.
ALLOWED_TYPES: dict[str, tuple[str, Callable[[Path], bool]]] = {
    "pdf": ("application/pdf", _starts_with(b"%PDF-")),
    "doc": ("application/msword", _starts_with(_OLE2_SIGNATURE)),
    "xls": ("application/vnd.ms-excel", _starts_with(_OLE2_SIGNATURE)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             _ooxml("word/document.xml")),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             _ooxml("xl/workbook.xml")),
    "odt": ("application/vnd.oasis.opendocument.text",
            _odf("application/vnd.oasis.opendocument.text")),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet",
            _odf("application/vnd.oasis.opendocument.spreadsheet")),
    "png": ("image/png", _starts_with(b"\x89PNG\r\n\x1a\n")),
    "jpg": ("image/jpeg", _starts_with(b"\xff\xd8\xff")),
    "jpeg": ("image/jpeg", _starts_with(b"\xff\xd8\xff")),
    "txt": ("text/plain", _plain_text),
}


def clean_filename(filename: str | None) -> str:
    """Return the uploaded name in NFC without folders, or raise ValidationError.

    Both / and \\ count as folder separators, because browsers on Windows
    may send the full path.
    """
    name = nfc(filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in (".", ".."):
        raise invalid("filename", filename, "The file name is missing; upload a named file")
    if _FILENAME_FORBIDDEN.search(name):
        raise invalid("filename", filename, "The file name %(name)r contains control "
                      "characters; rename the file and upload it again", name=name)
    if len(name) > FILENAME_MAX_LENGTH:
        raise invalid("filename", filename, "The file name is longer than %(max)s characters; "
                      "rename the file and upload it again", max=FILENAME_MAX_LENGTH)
    return name


def _file_type(name: str) -> tuple[str, str, Callable[[Path], bool]]:
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in ALLOWED_TYPES:
        raise invalid("filename", name, "Files of type %(extension)r cannot be attached; attach "
                      "one of %(allowed)s", extension=extension or "(none)",
                      allowed=", ".join(sorted(ALLOWED_TYPES)))
    media_type, check = ALLOWED_TYPES[extension]
    return extension, media_type, check


def _format_megabytes(size: int) -> str:
    return f"{size / _MEGABYTE:g}"


def _receive(stream: BinaryIO, temporary: Path, name: str, limit: int) -> tuple[int, str]:
    """Copy `stream` into `temporary` and return its size and SHA-256.

    Raises AttachmentTooLargeError as soon as more than `limit` bytes arrive.
    """
    digest = hashlib.sha256()
    size = 0
    with temporary.open("wb") as target:
        while chunk := stream.read(READ_CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise AttachmentTooLargeError(message(
                    "%(name)s is larger than the upload limit of %(limit)s MB; compress or "
                    "split the file and upload it again", name=name,
                    limit=_format_megabytes(limit)))
            digest.update(chunk)
            target.write(chunk)
    return size, digest.hexdigest()


def _require_attachable(update_row: ProgressUpdate) -> None:
    task = update_row.task
    if task.confidentiality != "regular":
        raise WorkflowStateError(message(
            "Task %(task)s is confidential or top secret, so its updates carry no files; "
            "deliver the files outside the system", task=task_reference(task)))
    if update_row.status != "submitted":
        raise WorkflowStateError(message(
            "Update %(update_id)s was already %(status)s; attach files to a new update",
            update_id=update_row.id, status=update_row.status))


def store_attachment(session: Session, update: ProgressUpdate, *, filename: str,
                     stream: BinaryIO, actor: str | None, settings: Settings) -> Attachment:
    """Check and store a file of a submitted progress update of a regular task.

    The content is streamed to a temporary file, then renamed to
    attachments/<sha256[:2]>/<sha256> under the instance folder, so equal
    files are stored once. The file is rejected, and nothing stays on disk or
    in the database, when it is empty, larger than settings.max_upload_bytes,
    of a type outside ALLOWED_TYPES, or its content does not match its extension.

    NOTE: when the caller's transaction rolls back after this returns, the
    stored file stays on disk without a row; nothing removes such files yet.
    """
    _require_attachable(update)
    name = clean_filename(filename)
    extension, media_type, check = _file_type(name)

    root = Path(settings.instance_path) / ATTACHMENTS_DIR
    incoming = root / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    handle, temporary_name = tempfile.mkstemp(dir=incoming, prefix="upload-")
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        size, sha256 = _receive(stream, temporary, name, settings.max_upload_bytes)
        if size == 0:
            raise invalid("file", name, "%(name)s is empty; upload the file with its content",
                          name=name)
        if not check(temporary):
            raise invalid("file", name, "The content of %(name)s is not a valid %(extension)s "
                          "file; upload the document itself, saved in that format", name=name,
                          extension=extension)
        existing = session.scalars(select(Attachment).where(
            Attachment.progress_update_id == update.id, Attachment.sha256 == sha256)).first()
        if existing is not None:
            raise ConflictError(message(
                "The same file is already attached to update %(update_id)s as %(existing)s "
                "(attachment %(attachment_id)s); nothing was changed", update_id=update.id,
                existing=existing.filename, attachment_id=existing.id))

        relative = f"{ATTACHMENTS_DIR}/{sha256[:2]}/{sha256}"
        final = Path(settings.instance_path) / relative
        final.parent.mkdir(parents=True, exist_ok=True)
        created = not final.exists()
        # Renaming within one file system is atomic, so readers never see a partial file.
        # An existing file has the same content and is replaced, which also repairs a damaged copy.
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)

    uploaded_at = utcnow()
    attachment = Attachment(progress_update=update, filename=name, media_type=media_type,
                            size_bytes=size, sha256=sha256, stored_path=relative,
                            uploaded_at=uploaded_at, uploaded_by=actor)
    try:
        session.add(attachment)
        session.flush()
        record_step(
            session, update.task, kind="task.attachment", at=uploaded_at, actor=actor,
            content="file attached to a progress update", outcome="stored",
            object_type="attachment", object_id=attachment.id,
            after=audit_log.snapshot(attachment, ("progress_update_id", "filename", "media_type",
                                                  "size_bytes", "sha256", "stored_path")),
            detail={"progress_update_id": update.id, "sha256": sha256, "size_bytes": size},
        )
    except BaseException:
        # The caller rolls the rows back. Another row may point at a file that
        # existed before, so only a file created here is removed.
        if created:
            final.unlink(missing_ok=True)
        raise
    return attachment


def attachments_of(session: Session, update: ProgressUpdate) -> list[Attachment]:
    """Return the attachments of `update` in upload order."""
    return list(session.scalars(
        select(Attachment).where(Attachment.progress_update_id == update.id)
        .order_by(Attachment.id)))


def open_attachment(attachment: Attachment, *, settings: Settings) -> bytes:
    """Read the stored file of `attachment` and return its content after checking its SHA-256.

    Raises AttachmentIntegrityError when the file is missing, outside the
    attachments folder, or its size or checksum differs from the stored row.
    """
    root = (Path(settings.instance_path) / ATTACHMENTS_DIR).resolve()
    path = (Path(settings.instance_path) / attachment.stored_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        logger.error("attachment file missing", extra={"attachment_id": attachment.id,
                                                       "stored_path": attachment.stored_path})
        raise AttachmentIntegrityError(message(
            "The stored file of attachment %(attachment_id)s (%(name)s) is missing; ask the "
            "administrator to restore it from backup", attachment_id=attachment.id,
            name=attachment.filename))
    content = path.read_bytes()
    actual = hashlib.sha256(content).hexdigest()
    if len(content) != attachment.size_bytes or actual != attachment.sha256:
        logger.error("attachment checksum mismatch",
                     extra={"attachment_id": attachment.id, "expected_sha256": attachment.sha256,
                            "actual_sha256": actual, "stored_path": attachment.stored_path})
        raise AttachmentIntegrityError(message(
            "The stored file of attachment %(attachment_id)s (%(name)s) does not match its "
            "checksum and may be damaged; ask the administrator to restore it from backup",
            attachment_id=attachment.id, name=attachment.filename))
    return content


# Assignment ------------------------------------------------------------------

# Codes of the reasons `untransferable_tasks` gives, with their descriptions.
SKIP_REASONS = {
    "already_transferred": "the task was already transferred",
    "no_lead_agency": "the task has no lead agency",
    "unresolved_lead_group": "a lead group of agencies is not yet resolved into org units",
}


def _value_label(value: ClassificationValue) -> str:
    return f"{value.scheme.code}={value.code}"


def classify_task(session: Session, task: Task, *, actor: str | None,
                  values: list[ClassificationValue]) -> Task:
    """Replace the scope, priority and other classifications of `task` with `values`.

    The time classification follows the deadline, so it is kept and must not
    be among `values`. Schemes that allow one value take at most one. A call
    that changes nothing writes nothing.
    """
    problems = ProblemCollector()
    chosen: list[ClassificationValue] = []
    for value in values:
        if value.scheme.code == "time":
            problems.add("values", message(
                "The time classification follows the deadline and is kept; leave %(value)s out",
                value=_value_label(value)), _value_label(value))
        elif not value.is_active:
            problems.add("values", message(
                "Classification %(value)s is no longer in use; choose an active value",
                value=_value_label(value)), _value_label(value))
        elif value not in chosen:
            chosen.append(value)
    for scheme in {value.scheme for value in chosen if not value.scheme.allows_many}:
        labels = [_value_label(value) for value in chosen if value.scheme is scheme]
        if len(labels) > 1:
            problems.add("values", message(
                "Scheme %(scheme)s takes one value, but %(values)s were given; keep one",
                scheme=scheme.code, values=", ".join(labels)), labels)
    problems.raise_if_any(message("Classification of task %(task)s is invalid",
                                  task=task_reference(task)))

    time_values = [value for value in task.classifications if value.scheme.code == "time"]
    new_values = time_values + chosen
    before = sorted(_value_label(value) for value in task.classifications)
    after = sorted(_value_label(value) for value in new_values)
    if before == after:
        return task
    task.classifications = new_values
    session.flush()
    record_step(
        session, task, kind="task.classify", at=utcnow(), actor=actor,
        content="task classified", outcome="changed", object_type="task", object_id=task.id,
        before={"classifications": before}, after={"classifications": after},
        detail={"classifications": after},
    )
    return task


def resolve_group_assignment(session: Session, group: GroupAssignment, *, actor: str | None,
                             org_units: list[OrgUnit]) -> list[TaskAgency]:
    """Give the task of `group` each of `org_units` in the group's role and mark it resolved.

    Units that already have that role on the task keep their row. Returns
    the links added. Dissolved or other inactive units are rejected.
    """
    task = group.task
    if group.resolved_at is not None:
        raise WorkflowStateError(message(
            "Group %(group_id)s (%(text)s) was already resolved at %(resolved_at)s; add further "
            "agencies to the task directly", group_id=group.id, text=group.text,
            resolved_at=group.resolved_at))
    if not org_units:
        raise invalid("org_units", [], "Group %(group_id)s (%(text)s) needs at least one org "
                      "unit; choose the agencies it means", group_id=group.id, text=group.text)
    problems = ProblemCollector()
    units: list[OrgUnit] = []
    for unit in org_units:
        if unit.status != "active":
            problems.add("org_units", message("%(unit)s is %(status)s; choose an active org unit",
                                              unit=unit.name, status=unit.status), unit.id)
        elif unit not in units:
            units.append(unit)
    problems.raise_if_any(message("Resolution of group %(group_id)s is invalid",
                                  group_id=group.id))

    linked = {link.org_unit_id for link in task.agencies if link.role == group.role}
    position = max((link.position for link in task.agencies if link.role == group.role),
                   default=-1) + 1
    added: list[TaskAgency] = []
    for unit in units:
        if unit.id in linked:
            continue
        link = TaskAgency(org_unit=unit, role=group.role, position=position)
        task.agencies.append(link)
        added.append(link)
        position += 1
    at = utcnow()
    group.resolved_at = at
    refresh_search_text(task)
    session.flush()
    record_step(
        session, task, kind="task.group_resolve", at=at, actor=actor,
        content=f"group of agencies resolved ({group.role})", outcome="resolved",
        object_type="group_assignment", object_id=group.id,
        before={"resolved_at": None},
        after={"resolved_at": at, "role": group.role,
               "org_unit_ids": [unit.id for unit in units]},
        detail={"role": group.role, "added_org_unit_ids": [link.org_unit_id for link in added],
                "already_linked_ids": sorted(unit.id for unit in units if unit.id in linked)},
    )
    return added


def untransferable_tasks(document: Document) -> dict[int, str]:
    """Map the id of each task of `document` that cannot be transferred to a SKIP_REASONS code."""
    reasons: dict[int, str] = {}
    for task in document.tasks:
        if task.transferred_at is not None:
            reasons[task.id] = "already_transferred"
        elif any(group.role == "lead" and group.resolved_at is None
                 for group in task.group_assignments):
            reasons[task.id] = "unresolved_lead_group"
        elif not any(link.role == "lead" for link in task.agencies):
            reasons[task.id] = "no_lead_agency"
    return reasons


def transfer_deadline(document: Document) -> datetime | None:
    """Return the transfer deadline of `document`: TRANSFER_WORKING_DAYS working days after issue.

    None when the document has no issue date or no tasks, or while the
    working calendar lacks the year the deadline falls in.
    """
    for task in document.tasks:
        for row in task.deadlines:
            if row.kind == "transfer":
                return row.due_at
    return None


def is_transfer_late(document: Document, at: datetime) -> bool | None:
    """Return whether a transfer at `at` is after the transfer deadline, or None if unknown."""
    require_instant(at)
    due_at = transfer_deadline(document)
    return None if due_at is None else at > due_at


def transfer_document(session: Session, document: Document, *, at: datetime, actor: str | None,
                      calendar: WorkingCalendar) -> list[Task]:
    """Transfer every task of `document` that is ready to its lead agencies; return them.

    Tasks listed by `untransferable_tasks` are skipped, and the audit entry
    and the log line name them with their reason. Every ready task is checked
    before the first transfer. After a failure while writing, the caller
    rolls the transaction back, as after any failed flush.
    """
    require_instant(at)
    if document.issued_on is not None and at.astimezone(VN_TZ).date() < document.issued_on:
        raise invalid("at", at.isoformat(),
                      "Transfer at %(at)s is before document %(reference)s was issued on "
                      "%(issued_on)s; give the instant of the transfer", at=at,
                      reference=document.reference, issued_on=document.issued_on.isoformat())
    skipped = untransferable_tasks(document)
    ready = [task for task in document.tasks if task.id not in skipped]
    due_at = transfer_deadline(document)
    is_late = None if due_at is None else at > due_at
    if not ready:
        logger.info("no task of the document to transfer",
                    extra={"document_id": document.id, "skipped": skipped, "actor": actor})
        return []

    for task in ready:
        transfer_task(session, task, at=at, actor=actor, calendar=calendar)
    audit_log.record(
        session, actor=actor, action="document.transfer", object_type="document",
        object_id=document.id,
        after={"transferred_at": at, "transferred_task_ids": [task.id for task in ready],
               "skipped": {str(task_id): reason for task_id, reason in skipped.items()},
               "transfer_due_at": due_at, "is_late": is_late},
    )
    logger.info("document tasks transferred",
                extra={"document_id": document.id,
                       "transferred_task_ids": [task.id for task in ready],
                       "skipped": skipped, "is_late": is_late, "actor": actor})
    return ready
