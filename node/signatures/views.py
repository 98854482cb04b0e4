"""Pages and API endpoints for the signed PDF of a document, and the fingerprint on task pages."""

from __future__ import annotations

import logging
import re

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup

from node.auth.service import roles_of
from node.auth.web import current_user, login_required, role_required
from node.core.errors import DomainError, FieldProblem, NotFoundError
from node.core.i18n import _
from node.core.web import db_session
from node.local_tasks import permissions
from node.local_tasks.models import Document, Task
from node.signatures import jobs, service, texts
from node.signatures.errors import PdfRejectedError
from node.signatures.models import DocumentFile

logger = logging.getLogger(__name__)

signatures = Blueprint("signatures", __name__)
signatures_api = Blueprint("signatures_api", __name__)

UPLOAD_ROLES = ("administrator", "central_officer")
FILE_FIELD = "file"
_FILENAME_PARAMETER = re.compile(r'filename="?([^";]+)"?')


def _settings():  # noqa: ANN202
    return current_app.config["THEODOI_SETTINGS"]


def _actor() -> str | None:
    user = current_user()
    return user.username if user is not None else None


def _document(document_id: int) -> Document:
    return permissions.get_visible_document(db_session(), current_user(), document_id)


def _file_of(document: Document, file_id: int) -> DocumentFile:
    file = db_session().get(DocumentFile, file_id)
    if file is None or file.document_id != document.id:
        raise NotFoundError(f"No signed file {file_id} for document {document.reference}")
    return file


def _store_and_verify(document: Document, data: bytes, filename: str | None) -> DocumentFile:
    """Store the upload; verify it now when small, else commit and verify in a thread."""
    settings = _settings()
    session = db_session()
    file = service.create_document_file(session, document, data=data, filename=filename,
                                        actor=_actor(), settings=settings)
    if file.size_bytes <= settings.signatures_background_bytes:
        return service.verify_document_file(session, file, settings=settings)
    # The thread reads the row in its own session, so the row must be committed first.
    session.commit()
    jobs.verify_in_background(current_app.extensions["theodoi_sessions"], file.id, settings)
    return file


def can_upload() -> bool:
    user = current_user()
    return user is not None and bool(roles_of(user) & set(UPLOAD_ROLES))


# Pages -------------------------------------------------------------------------


@signatures.post("/documents/<int:document_id>/signed-file")
@role_required(*UPLOAD_ROLES)
def upload_page(document_id: int):  # noqa: ANN201
    """Store and verify the signed PDF sent with the document page's form."""
    document = _document(document_id)
    upload = request.files.get(FILE_FIELD)
    try:
        if upload is None or not upload.filename:
            raise PdfRejectedError("No file was chosen; choose the signed PDF of the document "
                                   "and upload it", reason="missing")
        file = _store_and_verify(document, upload.read(), upload.filename)
    except DomainError as exc:
        db_session().rollback()
        logger.info("signed file upload rejected", extra={
            "document_id": document.id, "reason": getattr(exc, "reason", None),
            "error": exc.message})
        return render_template("signatures/upload_error.html", document=document,
                               error=exc, reason=getattr(exc, "reason", None),
                               filename=upload.filename if upload else None,
                               texts=texts), exc.status
    flash(_("The signed PDF %(name)s was stored: %(status)s.", name=file.filename,
            status=_(texts.STATUS_TITLES[file.status])), "success")
    return redirect(url_for("views.document_detail", document_id=document.id), 303)


@signatures.get("/documents/<int:document_id>/signed-file/<int:file_id>")
@login_required
def download_page(document_id: int, file_id: int):  # noqa: ANN201
    """Send the stored PDF of a document as uploaded."""
    return _send_file(_document(document_id), file_id)


def _send_file(document: Document, file_id: int) -> Response:
    file = _file_of(document, file_id)
    response = Response(file.content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f"attachment; filename=\"{file.id}.pdf\""
    response.headers["X-Content-SHA256"] = file.sha256
    return response


@signatures.app_template_global()
def document_file_panel(document: Document) -> Markup:
    """Render the signed-file panel of the document page."""
    file = service.current_file(db_session(), document)
    status = service.shown_status(file) if file is not None else None
    return Markup(render_template("signatures/_document_panel.html", document=document,
                                  file=file, status=status, texts=texts,
                                  can_upload=can_upload()))


@signatures.app_template_global()
def task_source_fingerprint(task: Task) -> Markup:
    """Render the task page's line naming the SHA-256 of the document file it was made from."""
    link = service.task_fingerprint(db_session(), task)
    return Markup(render_template("signatures/_task_fingerprint.html", task=task, link=link,
                                  texts=texts))


# API ---------------------------------------------------------------------------


def file_json(file: DocumentFile) -> dict:
    """Return the API form of a stored file and its verification outcome."""
    status = service.shown_status(file)
    return {
        "id": file.id,
        "document_id": file.document_id,
        "filename": file.filename,
        "size_bytes": file.size_bytes,
        "sha256": file.sha256,
        "status": status,
        "status_title": _(texts.STATUS_TITLES[status]),
        "explanation": _(texts.STATUS_EXPLANATIONS[status]),
        "is_authenticated": file.is_authenticated,
        "checked_signatures": file.checked_signatures,
        "total_signatures": file.total_signatures,
        "uploaded_at": file.uploaded_at.isoformat(),
        "uploaded_by": file.uploaded_by,
        "verified_at": file.verified_at.isoformat() if file.verified_at else None,
        "error": file.error,
        "content_url": url_for("signatures_api.file_content", document_id=file.document_id,
                               file_id=file.id),
        "signatures": [{
            "field_name": item.field_name,
            "status": item.status,
            "problems": list(item.problems),
            "signer_name": item.signer_name,
            "signer_organisation": item.signer_organisation,
            "signing_time": item.signing_time.isoformat() if item.signing_time else None,
            "certificate_sha256": item.certificate_sha256,
            "certificate_subject": item.certificate_subject,
            "certificate_issuer": item.certificate_issuer,
            "not_before": item.not_before.isoformat(),
            "not_after": item.not_after.isoformat(),
            "covers_whole_file": item.covers_whole_file,
        } for item in file.signatures],
    }


def _api_upload() -> tuple[bytes, str | None]:
    """Read the PDF of an API upload: a multipart `file` field or a raw application/pdf body."""
    upload = request.files.get(FILE_FIELD)
    if upload is not None:
        return upload.read(), upload.filename
    if request.mimetype == "application/pdf":
        match = _FILENAME_PARAMETER.search(request.headers.get("Content-Disposition", ""))
        return request.get_data(cache=False), (match.group(1) if match else None)
    error = PdfRejectedError(
        "Send the signed PDF as the multipart field `file`, or as the request body with "
        "Content-Type: application/pdf", reason="missing")
    error.problems = [FieldProblem(FILE_FIELD, error.message, request.mimetype or None)]
    raise error


@signatures_api.post("/documents/<int:document_id>/signed-file")
@role_required(*UPLOAD_ROLES)
def upload_api(document_id: int):  # noqa: ANN201
    """Store and verify a document's signed PDF; 201 when verified, 202 while pending."""
    document = _document(document_id)
    data, filename = _api_upload()
    file = _store_and_verify(document, data, filename)
    response = jsonify(file_json(file))
    response.status_code = 202 if file.status == texts.PENDING else 201
    response.headers["Location"] = url_for("signatures_api.file_status", document_id=document.id,
                                           file_id=file.id)
    return response


@signatures_api.get("/documents/<int:document_id>/signed-file")
@login_required
def current_file_api(document_id: int):  # noqa: ANN201
    """Return the newest signed file of a document with its verification outcome."""
    document = _document(document_id)
    file = service.current_file(db_session(), document)
    if file is None:
        raise NotFoundError(f"Document {document.reference} has no signed file; upload one "
                            "with POST to this address")
    return jsonify(file_json(file))


@signatures_api.get("/documents/<int:document_id>/signed-files/<int:file_id>")
@login_required
def file_status(document_id: int, file_id: int):  # noqa: ANN201
    """Return one signed file of a document with its verification status."""
    return jsonify(file_json(_file_of(_document(document_id), file_id)))


@signatures_api.get("/documents/<int:document_id>/signed-files/<int:file_id>/content")
@login_required
def file_content(document_id: int, file_id: int):  # noqa: ANN201
    """Send the PDF of one signed file as uploaded."""
    return _send_file(_document(document_id), file_id)
