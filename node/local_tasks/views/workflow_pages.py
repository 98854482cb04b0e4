"""Workflow screens: transfer, receipt, objections, progress updates and explanations.

Each screen is a GET page and a POST handler. A handler checks the CSRF
token (done for every POST by `node.auth.web`), the user's right to act on
the task, calls one workflow service, commits, flashes a Vietnamese message
and redirects (Post/Redirect/Get). On a rejected call nothing is written:
the session is rolled back and the form is shown again with each error
next to its field, the value entered and the fix.

Every form carries a random key in a hidden field. Progress updates pass it
to `submit_update` as the idempotency key. The services reject a repeated
transfer, receipt or decision, and only one objection may be open at a time.
`_SUBMISSIONS` lets a second click on the same form wait for the first and
show its result instead of an "already done" error.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from node.auth.models import User
from node.auth.web import current_user, login_required
from node.core.db import utcnow
from node.core.errors import DomainError, FieldProblem, NotFoundError
from node.core.i18n import _, _l
from node.core.web import db_session
from node.local_tasks import assessment, permissions, service
from node.local_tasks.assessment.models import (
    EVALUATION_RATINGS,
    Attachment,
    FINDING_KINDS,
    InspectionFinding,
)
from node.local_tasks.models import (
    REPORTED_STATES,
    ClassificationScheme,
    ClassificationValue,
    Document,
    GroupAssignment,
    OrgUnit,
    Task,
)
from node.local_tasks.views import views
from node.local_tasks.views.helpers import vn_datetime
from node.local_tasks.views.pages import task_detail
from node.local_tasks.workflow import (
    answer_explanation,
    approve_update,
    confirm_receipt,
    decide_objection,
    lodge_objection,
    request_explanation,
    return_update,
    submit_update,
    transfer_task,
)
from node.local_tasks.workflow.models import (
    OBJECTION_KINDS,
    ExplanationRequest,
    Objection,
    ProgressUpdate,
)

logger = logging.getLogger(__name__)

# Actions whose forms the task page's panel may show.
PANEL_ACTIONS = (
    permissions.TRANSFER, permissions.CONFIRM_RECEIPT, permissions.LODGE_OBJECTION,
    permissions.DECIDE_OBJECTION, permissions.SUBMIT_UPDATE, permissions.REVIEW_UPDATE,
    permissions.REQUEST_EXPLANATION, permissions.ANSWER_EXPLANATION, permissions.EVALUATE,
    permissions.RECORD_FINDING,
)


def can(user: User | None, action: str, task: Task) -> bool:
    return permissions.can(user, action, task)


def require(user: User | None, action: str, task: Task) -> None:
    permissions.require(user, action, task)


# Double submissions ----------------------------------------------------------


@dataclass
class _Submission:
    done: threading.Event = field(default_factory=threading.Event)
    redirect_to: str | None = None
    flash_message: str | None = None
    expires: float = 0.0


class _SubmissionRegistry:
    """Outcomes of recent form submissions of this process, keyed by user and form key.

    A second request with a key that is being handled waits for the first,
    then redirects where the first did. A key whose first request failed is
    handled again, and the services reject what was already done.
    """

    # NOTE: the registry lives in one process. With several worker processes a
    # double click may reach two of them, and the second then shows the
    # service's "already done" message. The database still contains one record.
    TTL_SECONDS = 15 * 60
    MAX_ENTRIES = 10_000
    WAIT_SECONDS = 30

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, str], _Submission] = OrderedDict()

    def claim(self, user_id: int, key: str) -> tuple[_Submission, bool]:
        """Return the submission of (`user_id`, `key`) and whether this request is its first."""
        now = time.monotonic()
        with self._lock:
            while self._entries and (len(self._entries) > self.MAX_ENTRIES
                                     or next(iter(self._entries.values())).expires < now):
                self._entries.popitem(last=False)
            existing = self._entries.get((user_id, key))
            if existing is not None:
                return existing, False
            entry = _Submission(expires=now + self.TTL_SECONDS)
            self._entries[(user_id, key)] = entry
            return entry, True

    def release(self, user_id: int, key: str, entry: _Submission) -> None:
        """Forget a submission that failed, so that a new attempt is handled again."""
        with self._lock:
            if self._entries.get((user_id, key)) is entry:
                del self._entries[(user_id, key)]
        entry.done.set()


_SUBMISSIONS = _SubmissionRegistry()
FORM_KEY_FIELD = "idempotency_key"
FORM_KEY_MAX_LENGTH = 100


def new_form_key() -> str:
    return uuid.uuid4().hex


class FormError(Exception):
    """A rejected submission: the form is shown again with these problems."""

    def __init__(self, message: str, problems: list[FieldProblem] | None = None,
                 status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []
        self.status = status


def _form_error(error: DomainError, field_names: dict[str, str]) -> FormError:
    """Turn a service error into a FormError whose problems use the form's field names."""
    problems = [FieldProblem(field_names.get(problem.path, problem.path), problem.message,
                             problem.value) for problem in error.problems]
    return FormError(error.message, problems, status=error.status)


def _handle_post(perform: Callable[[], tuple[str, str]],
                 render_again: Callable[[FormError], str],
                 field_names: dict[str, str] | None = None) -> Response | tuple[str, int]:
    """Run one submission: `perform` writes and returns (redirect URL, flash message).

    A DomainError (or a concurrent change) rolls back and re-renders the form
    through `render_again` with the error's status. A repeated form key
    redirects as the first submission did.
    """
    user = current_user()
    key = request.form.get(FORM_KEY_FIELD, "").strip()[:FORM_KEY_MAX_LENGTH]
    entry, first = _SUBMISSIONS.claim(user.id, key) if key else (None, True)
    if entry is not None and not first:
        entry.done.wait(_SubmissionRegistry.WAIT_SECONDS)
        if entry.redirect_to is not None:
            flash(entry.flash_message, "success")
            return redirect(entry.redirect_to, 303)
        entry, first = _SUBMISSIONS.claim(user.id, key)

    session = db_session()
    try:
        target, message_text = perform()
        session.commit()
    except (FormError, DomainError, StaleDataError) as exc:
        session.rollback()
        _release(user.id, key, entry)
        if isinstance(exc, FormError):
            error = exc
        elif isinstance(exc, DomainError):
            error = _form_error(exc, field_names or {})
        else:
            error = FormError(_("Someone else changed this task meanwhile, so nothing was "
                                "saved. Reload the page and submit again."), status=409)
        logger.info("workflow form rejected", extra={
            "endpoint": request.endpoint, "view_args": request.view_args, "user_id": user.id,
            "status": error.status, "reason": error.message})
        return render_again(error), error.status
    except BaseException:
        session.rollback()
        _release(user.id, key, entry)
        raise
    if entry is not None:
        entry.redirect_to = target
        entry.flash_message = message_text
        entry.done.set()
    flash(message_text, "success")
    return redirect(target, 303)


def _release(user_id: int, key: str, entry: _Submission | None) -> None:
    if entry is not None:
        _SUBMISSIONS.release(user_id, key, entry)


# Shared lookups ----------------------------------------------------------------


def _calendar():  # noqa: ANN202
    return current_app.extensions["theodoi_calendar"]


def _actor() -> str:
    return current_user().username


def _get_task(task_id: int) -> Task:
    return service.get_task(db_session(), task_id)


def _get(model: type, record_id: int, record_name: str):  # noqa: ANN202
    record = db_session().get(model, record_id)
    if record is None:
        raise NotFoundError(_("No %(what)s with id %(id)s.", what=record_name, id=record_id))
    return record


def _deadline_due(task: Task, kind: str) -> datetime | None:
    return next((row.due_at for row in task.deadlines if row.kind == kind), None)


def _task_label(task: Task) -> str:
    return _("Task %(number)s", number=task.task_no or task.position + 1)


def _tasks_where(session: Session, *conditions) -> list[Task]:  # noqa: ANN002
    """Return the tasks visible to the user that match `conditions`, in document order."""
    visible = permissions.visible_task_filter(session, current_user())
    return list(session.scalars(
        select(Task).where(visible, *conditions)
        .options(selectinload(Task.agencies), selectinload(Task.document),
                 selectinload(Task.deadlines))
        .order_by(Task.document_id, Task.position)))


def _allowed(user: User, action: str, tasks: Iterable[Task]) -> list[Task]:
    return [task for task in tasks if can(user, action, task)]


def _field_values(names: Iterable[str]) -> dict[str, str]:
    return {name: request.form.get(name, "") for name in names}


# 1. Central office: transfer ---------------------------------------------------


@views.get("/workflow/transfers")
@login_required
def transfer_queue():  # noqa: ANN201
    """Show the documents whose tasks wait for transfer, with the number of such tasks."""
    user = current_user()
    tasks = _allowed(user, "transfer", _tasks_where(db_session(), Task.transferred_at.is_(None)))
    documents: dict[int, tuple[Document, int]] = {}
    for task in tasks:
        document, count = documents.get(task.document_id, (task.document, 0))
        documents[task.document_id] = (document, count + 1)
    return render_template("workflow/transfers.html", documents=list(documents.values()))


def _active_units() -> list[OrgUnit]:
    return list(db_session().scalars(
        select(OrgUnit).where(OrgUnit.status == "active", OrgUnit.is_root.is_(False))
        .order_by(OrgUnit.sort_key)))


def _render_document_transfer(document: Document, error: FormError | None = None,
                              error_for: int | None = None) -> str:
    user = current_user()
    skipped = assessment.untransferable_tasks(document)
    rows = []
    groups = []
    for task in document.tasks:
        may_transfer = task.id not in skipped and can(user, permissions.TRANSFER, task)
        rows.append({"task": task, "skip_reason": skipped.get(task.id),
                     "may_transfer": may_transfer,
                     "may_classify": can(user, permissions.CLASSIFY, task),
                     "receipt_due_at": _deadline_due(task, "receipt")})
        if can(user, permissions.RESOLVE_GROUPS, task):
            groups.extend(group for group in task.group_assignments if group.resolved_at is None)
    return render_template(
        "workflow/document_transfer.html", document=document, rows=rows, groups=groups,
        units=_active_units() if groups else [], error=error, error_for=error_for,
        transfer_due_at=assessment.transfer_deadline(document), form_key=new_form_key(),
        any_open=any(row["may_transfer"] for row in rows))


@views.get("/workflow/documents/<int:document_id>")
@login_required
def document_transfer(document_id: int):  # noqa: ANN201
    """Show a document's tasks with their transfer state, and its groups of agencies to identify."""
    document = permissions.get_visible_document(db_session(), current_user(), document_id)
    return _render_document_transfer(document)


@views.post("/workflow/documents/<int:document_id>/transfer")
@login_required
def transfer_document_tasks(document_id: int):  # noqa: ANN201
    """Transfer every task of the document that is ready; the others are left out."""
    document = permissions.get_visible_document(db_session(), current_user(), document_id)
    for task in document.tasks:
        require(current_user(), permissions.TRANSFER, task)

    def perform() -> tuple[str, str]:
        reasons = assessment.untransferable_tasks(document)
        not_ready = sum(1 for reason in reasons.values() if reason != "already_transferred")
        transferred = assessment.transfer_document(db_session(), document, at=utcnow(),
                                                   actor=_actor(), calendar=_calendar())
        if not transferred:
            raise FormError(_("No task of this document is waiting for transfer."), status=409)
        if not_ready:
            text = _("%(count)s tasks transferred to their lead agencies; %(skipped)s not "
                     "ready were left out.", count=len(transferred), skipped=not_ready)
        else:
            text = _("%(count)s tasks transferred to their lead agencies.",
                     count=len(transferred))
        return url_for("views.document_transfer", document_id=document.id), text

    return _handle_post(perform, lambda error: _render_document_transfer(document, error))


@views.post("/workflow/tasks/<int:task_id>/transfer")
@login_required
def transfer_one(task_id: int):  # noqa: ANN201
    task = _get_task(task_id)
    require(current_user(), "transfer", task)

    def perform() -> tuple[str, str]:
        transfer_task(db_session(), task, at=utcnow(), actor=_actor(), calendar=_calendar())
        target = request.form.get("next") == "document" and url_for(
            "views.document_transfer", document_id=task.document_id)
        return (target or url_for("views.task_detail", task_id=task.id),
                _("%(task)s transferred to its lead agency.", task=_task_label(task)))

    return _handle_post(perform, lambda error: _render_document_transfer(task.document, error))


@views.post("/workflow/groups/<int:group_id>/resolve")
@login_required
def group_resolve(group_id: int):  # noqa: ANN201
    """Give a task the agencies that its group assignment means."""
    group = _get(GroupAssignment, group_id, _("group assignment"))
    require(current_user(), permissions.RESOLVE_GROUPS, group.task)
    chosen = request.form.getlist("org_units")

    def perform() -> tuple[str, str]:
        units = []
        for value in chosen:
            unit = db_session().get(OrgUnit, int(value)) if value.isdigit() else None
            if unit is None:
                raise FormError(_("The agency chosen is invalid."), [FieldProblem(
                    "org_units", _("Choose agencies from the list."), value)])
            units.append(unit)
        assessment.resolve_group_assignment(db_session(), group, actor=_actor(), org_units=units)
        return (url_for("views.document_transfer", document_id=group.task.document_id),
                _("Agencies identified for the group: %(text)s.", text=group.text))

    return _handle_post(
        perform, lambda error: _render_document_transfer(group.task.document, error, group.id))


def _render_classification_form(task: Task, error: FormError | None = None,
                                chosen: set[int] | None = None) -> str:
    schemes = db_session().scalars(
        select(ClassificationScheme).where(ClassificationScheme.code != "time")
        .options(selectinload(ClassificationScheme.values))
        .order_by(ClassificationScheme.id)).all()
    if chosen is None:
        chosen = {value.id for value in task.classifications}
    return render_template("workflow/classification_form.html", task=task, schemes=schemes,
                           chosen=chosen, error=error,
                           form_key=request.form.get(FORM_KEY_FIELD) or new_form_key())


@views.get("/workflow/tasks/<int:task_id>/classification")
@login_required
def classification_form(task_id: int):  # noqa: ANN201
    task = _get_task(task_id)
    require(current_user(), permissions.CLASSIFY, task)
    return _render_classification_form(task)


@views.post("/workflow/tasks/<int:task_id>/classification")
@login_required
def classification_submit(task_id: int):  # noqa: ANN201
    """Replace the scope, priority and other classifications of a task."""
    task = _get_task(task_id)
    require(current_user(), permissions.CLASSIFY, task)
    # Each scheme has its own field, named after its code; several values are allowed.
    submitted = [value for name in request.form if name.startswith("scheme_")
                 for value in request.form.getlist(name) if value]
    chosen = {int(value) for value in submitted if value.isdigit()}

    def perform() -> tuple[str, str]:
        values = []
        for value in submitted:
            row = db_session().get(ClassificationValue, int(value)) if value.isdigit() else None
            if row is None:
                raise FormError(_("The classification chosen is invalid."), [FieldProblem(
                    "values", _("Choose classifications from the lists."), value)])
            values.append(row)
        assessment.classify_task(db_session(), task, actor=_actor(), values=values)
        return (url_for("views.document_transfer", document_id=task.document_id),
                _("Classification of %(task)s saved.", task=_task_label(task)))

    return _handle_post(perform,
                        lambda error: _render_classification_form(task, error, chosen))


# 2. Agency inbox: receipt --------------------------------------------------------


def _render_inbox(error: FormError | None = None) -> str:
    user = current_user()
    session = db_session()
    now = utcnow()
    waiting = _allowed(user, "confirm_receipt", _tasks_where(
        session, Task.transferred_at.is_not(None), Task.received_at.is_(None)))
    received = _allowed(user, "lodge_objection",
                        _tasks_where(session, Task.received_at.is_not(None)))
    open_objections = set(session.scalars(select(Objection.task_id).where(
        Objection.status == "open", Objection.task_id.in_([task.id for task in received]))))
    objectable = []
    for task in received:
        due = _deadline_due(task, "objection")
        if due is not None and now <= due:
            objectable.append({"task": task, "due_at": due, "has_open": task.id in open_objections})
    rows = []
    for task in waiting:
        due = _deadline_due(task, "receipt")
        rows.append({"task": task, "due_at": due, "late": due is not None and now > due})
    return render_template("workflow/inbox.html", rows=rows, objectable=objectable,
                           error=error, form_key=new_form_key())


@views.get("/workflow/inbox")
@login_required
def inbox():  # noqa: ANN201
    """Show the tasks waiting for the user's receipt, and those still open to objections."""
    return _render_inbox()


@views.post("/workflow/tasks/<int:task_id>/receipt")
@login_required
def confirm(task_id: int):  # noqa: ANN201
    task = _get_task(task_id)
    require(current_user(), "confirm_receipt", task)

    def perform() -> tuple[str, str]:
        receipt = confirm_receipt(db_session(), task, at=utcnow(), actor=_actor(),
                                  calendar=_calendar())
        if receipt.is_late:
            text = _("Receipt of %(task)s confirmed; it is marked as late receipt (due by "
                     "%(due)s).", task=_task_label(task), due=vn_datetime(receipt.due_at))
        else:
            text = _("Receipt of %(task)s confirmed.", task=_task_label(task))
        return url_for("views.task_detail", task_id=task.id), text

    return _handle_post(perform, _render_inbox)


# 3. Objections ---------------------------------------------------------------------

OBJECTION_FIELDS = ("reason", "kind")


def _render_objection_form(task: Task, error: FormError | None = None,
                           values: dict | None = None) -> str:
    return render_template("workflow/objection_form.html", task=task, kinds=OBJECTION_KINDS,
                           due_at=_deadline_due(task, "objection"), error=error,
                           values=values or {"kind": "wrong_task", "reason": ""},
                           form_key=request.form.get(FORM_KEY_FIELD) or new_form_key())


@views.get("/workflow/tasks/<int:task_id>/objection")
@login_required
def objection_form(task_id: int):  # noqa: ANN201
    task = _get_task(task_id)
    require(current_user(), "lodge_objection", task)
    return _render_objection_form(task)


@views.post("/workflow/tasks/<int:task_id>/objection")
@login_required
def objection_submit(task_id: int):  # noqa: ANN201
    task = _get_task(task_id)
    require(current_user(), "lodge_objection", task)
    values = _field_values(OBJECTION_FIELDS)

    def perform() -> tuple[str, str]:
        lodge_objection(db_session(), task, at=utcnow(), actor=_actor(), reason=values["reason"],
                        kind=values["kind"], calendar=_calendar())
        return (url_for("views.task_detail", task_id=task.id),
                _("Objection to %(task)s sent to the central office.", task=_task_label(task)))

    return _handle_post(perform, lambda error: _render_objection_form(task, error, values))


def _render_objection_queue(error: FormError | None = None, error_for: int | None = None,
                            values: dict | None = None) -> str:
    user = current_user()
    session = db_session()
    objections = [row for row in session.scalars(
        select(Objection).join(Task, Task.id == Objection.task_id)
        .where(Objection.status == "open", permissions.visible_task_filter(session, user))
        .options(selectinload(Objection.task).selectinload(Task.agencies))
        .order_by(Objection.lodged_at, Objection.id))
        if can(user, "decide_objection", row.task)]
    units = _active_units()
    return render_template("workflow/objections.html", objections=objections, units=units,
                           error=error, error_for=error_for, values=values or {},
                           form_key=new_form_key())


@views.get("/workflow/objections")
@login_required
def objection_queue():  # noqa: ANN201
    """Show the open objections for the central office to accept or reject."""
    return _render_objection_queue()


@views.post("/workflow/objections/<int:objection_id>/decision")
@login_required
def objection_decide(objection_id: int):  # noqa: ANN201
    objection = _get(Objection, objection_id, _("objection"))
    require(current_user(), "decide_objection", objection.task)
    values = _field_values(("decision", "reason", "reassign_to"))

    def perform() -> tuple[str, str]:
        decision = values["decision"]
        if decision not in ("accept", "reject"):
            raise FormError(_("Choose whether to accept or reject the objection."),
                            [FieldProblem("decision", _("Choose accept or reject."), decision)])
        reassign_to = None
        if decision == "accept" and values["reassign_to"]:
            try:
                reassign_to = service.get_org_unit(db_session(), int(values["reassign_to"]))
            except (ValueError, NotFoundError):
                raise FormError(_("The agency to re-assign to is invalid."), [FieldProblem(
                    "reassign_to", _("Choose an agency from the list."),
                    values["reassign_to"])]) from None
        decide_objection(db_session(), objection, at=utcnow(), actor=_actor(),
                         accept=decision == "accept", reason=values["reason"],
                         reassign_to=reassign_to)
        if reassign_to is not None:
            text = _("Objection accepted; %(task)s re-assigned to %(unit)s and waiting for a "
                     "new transfer.", task=_task_label(objection.task), unit=reassign_to.name)
        elif decision == "accept":
            text = _("Objection accepted.")
        else:
            text = _("Objection rejected.")
        return url_for("views.objection_queue"), text

    return _handle_post(
        perform, lambda error: _render_objection_queue(error, objection.id, values),
        field_names={"reason": "reason", "reassign_to": "reassign_to"})


# 4. Progress updates ------------------------------------------------------------------

UPDATE_FIELDS = ("reported_state", "progress_percent", "milestone", "results", "difficulties",
                 "next_steps")


def _returned_updates(session: Session, task: Task, username: str) -> list[ProgressUpdate]:
    return list(session.scalars(
        select(ProgressUpdate).where(ProgressUpdate.task_id == task.id,
                                     ProgressUpdate.submitted_by == username,
                                     ProgressUpdate.status == "returned")
        .order_by(ProgressUpdate.reviewed_at.desc()).limit(5)))


def _render_update_form(task: Task, error: FormError | None = None,
                        values: dict | None = None) -> str:
    if values is None:
        values = dict.fromkeys(UPDATE_FIELDS, "")
        values["reported_state"] = task.reported_state
        if task.progress_percent is not None:
            values["progress_percent"] = str(task.progress_percent)
    settings = current_app.config["THEODOI_SETTINGS"]
    return render_template(
        "workflow/update_form.html", task=task, states=REPORTED_STATES, values=values,
        file_types=", ".join(sorted(assessment.ALLOWED_TYPES)),
        max_megabytes=settings.max_upload_bytes // (1024 * 1024),
        error=error, returned=_returned_updates(db_session(), task, _actor()),
        form_key=request.form.get(FORM_KEY_FIELD) or new_form_key())


@views.get("/workflow/tasks/<int:task_id>/update")
@login_required
def update_form(task_id: int):  # noqa: ANN201
    task = _get_task(task_id)
    require(current_user(), "submit_update", task)
    return _render_update_form(task)


def _parse_percent(text: str) -> int | None:
    text = text.strip().rstrip("%").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise FormError(_("The progress update is invalid."), [FieldProblem(
            "progress_percent", _("Progress must be a whole number from 0 to 100."),
            text)]) from None


@views.post("/workflow/tasks/<int:task_id>/update")
@login_required
def update_submit(task_id: int):  # noqa: ANN201
    task = _get_task(task_id)
    require(current_user(), "submit_update", task)
    values = _field_values(UPDATE_FIELDS)
    if task.confidentiality != "regular":
        # The form has no text fields for these tasks, so text sent anyway is dropped here.
        values = {name: values[name] for name in ("reported_state", "progress_percent")}

    def perform() -> tuple[str, str]:
        session = db_session()
        key = request.form.get(FORM_KEY_FIELD) or None
        # A repeated key returns the stored update, whose files were stored with it.
        repeated = key is not None and session.scalar(
            select(ProgressUpdate.id).where(ProgressUpdate.idempotency_key == key)) is not None
        texts = {name: values.get(name) or None
                 for name in ("milestone", "results", "difficulties", "next_steps")}
        update = submit_update(session, task, at=utcnow(), actor=_actor(),
                               reported_state=values["reported_state"],
                               progress_percent=_parse_percent(values["progress_percent"]),
                               idempotency_key=key, **texts)
        if not repeated:
            _store_files(update)
        return (url_for("views.task_detail", task_id=task.id),
                _("Progress update of %(task)s sent for approval.", task=_task_label(task)))

    return _handle_post(perform, lambda error: _render_update_form(task, error, values),
                        field_names={"file": "files", "filename": "files"})


def _store_files(update: ProgressUpdate) -> None:
    """Store the files of the form's `files` field as attachments of `update`."""
    settings = current_app.config["THEODOI_SETTINGS"]
    for upload in request.files.getlist("files"):
        if not upload.filename:
            continue
        assessment.store_attachment(db_session(), update, filename=upload.filename,
                                    stream=upload.stream, actor=_actor(), settings=settings)


@views.app_template_global()
def update_attachments(update: ProgressUpdate) -> list:
    return assessment.attachments_of(db_session(), update)


@views.get("/workflow/attachments/<int:attachment_id>")
@login_required
def attachment_download(attachment_id: int):  # noqa: ANN201
    """Send an attachment's file after checking the user may read its task and the checksum."""
    attachment = _get(Attachment, attachment_id, _("attachment"))
    require(current_user(), permissions.READ, attachment.progress_update.task)
    content = assessment.open_attachment(attachment,
                                         settings=current_app.config["THEODOI_SETTINGS"])
    return send_file(io.BytesIO(content), mimetype=attachment.media_type, as_attachment=True,
                     download_name=attachment.filename)


def _render_approvals(error: FormError | None = None, error_for: int | None = None,
                      values: dict | None = None) -> str:
    user = current_user()
    session = db_session()
    updates = [row for row in session.scalars(
        select(ProgressUpdate).join(Task, Task.id == ProgressUpdate.task_id)
        .where(ProgressUpdate.status == "submitted",
               permissions.visible_task_filter(session, user))
        .options(selectinload(ProgressUpdate.task).selectinload(Task.agencies))
        .order_by(ProgressUpdate.at, ProgressUpdate.id))
        if can(user, "review_update", row.task)]
    return render_template("workflow/approvals.html", updates=updates, error=error,
                           error_for=error_for, values=values or {}, form_key=new_form_key(),
                           current_username=user.username)


@views.get("/workflow/approvals")
@login_required
def approval_queue():  # noqa: ANN201
    """Show the submitted progress updates that the user may approve or return."""
    return _render_approvals()


@views.post("/workflow/updates/<int:update_id>/approve")
@login_required
def update_approve(update_id: int):  # noqa: ANN201
    update = _get(ProgressUpdate, update_id, _("progress update"))
    require(current_user(), "review_update", update.task)

    def perform() -> tuple[str, str]:
        approve_update(db_session(), update, at=utcnow(), actor=_actor())
        return (url_for("views.approval_queue"),
                _("Progress update of %(task)s approved.", task=_task_label(update.task)))

    return _handle_post(perform, lambda error: _render_approvals(error, update.id))


@views.post("/workflow/updates/<int:update_id>/return")
@login_required
def update_return(update_id: int):  # noqa: ANN201
    update = _get(ProgressUpdate, update_id, _("progress update"))
    require(current_user(), "review_update", update.task)
    values = _field_values(("comment",))

    def perform() -> tuple[str, str]:
        return_update(db_session(), update, at=utcnow(), actor=_actor(),
                      comment=values["comment"])
        return (url_for("views.approval_queue"),
                _("Progress update of %(task)s returned for revision.",
                  task=_task_label(update.task)))

    return _handle_post(perform, lambda error: _render_approvals(error, update.id, values))


@views.get("/workflow/updates")
@login_required
def my_updates():  # noqa: ANN201
    """Show the user's own progress updates, with the approver's comment on returned ones."""
    updates = db_session().scalars(
        select(ProgressUpdate).where(ProgressUpdate.submitted_by == _actor())
        .options(selectinload(ProgressUpdate.task))
        .order_by(ProgressUpdate.at.desc(), ProgressUpdate.id.desc()).limit(100)).all()
    return render_template("workflow/my_updates.html", updates=updates)


# 5. Explanations --------------------------------------------------------------------


def _open_explanations_for(user: User, action: str) -> list[ExplanationRequest]:
    session = db_session()
    return [row for row in session.scalars(
        select(ExplanationRequest).join(Task, Task.id == ExplanationRequest.task_id)
        .where(ExplanationRequest.status == "open",
               permissions.visible_task_filter(session, user))
        .options(selectinload(ExplanationRequest.task).selectinload(Task.agencies))
        .order_by(ExplanationRequest.requested_at, ExplanationRequest.id))
        if can(user, action, row.task)]


@views.get("/workflow/explanations")
@login_required
def explanation_list():  # noqa: ANN201
    """Show the open explanation requests that the user may reply to or may follow up."""
    user = current_user()
    return render_template("workflow/explanations.html",
                           to_answer=_open_explanations_for(user, "answer_explanation"),
                           to_follow=_open_explanations_for(user, "request_explanation"))


def _render_answer_form(request_row: ExplanationRequest, error: FormError | None = None,
                        values: dict | None = None) -> str:
    return render_template("workflow/explanation_form.html", explanation=request_row,
                           error=error, values=values or {"answer": ""},
                           form_key=request.form.get(FORM_KEY_FIELD) or new_form_key())


@views.get("/workflow/explanations/<int:request_id>")
@login_required
def explanation_form(request_id: int):  # noqa: ANN201
    row = _get(ExplanationRequest, request_id, _("explanation request"))
    require(current_user(), "answer_explanation", row.task)
    return _render_answer_form(row)


@views.post("/workflow/explanations/<int:request_id>")
@login_required
def explanation_answer(request_id: int):  # noqa: ANN201
    row = _get(ExplanationRequest, request_id, _("explanation request"))
    require(current_user(), "answer_explanation", row.task)
    values = _field_values(("answer",))

    def perform() -> tuple[str, str]:
        answer_explanation(db_session(), row, at=utcnow(), actor=_actor(), text=values["answer"])
        return url_for("views.explanation_list"), _("Explanation sent.")

    return _handle_post(perform, lambda error: _render_answer_form(row, error, values),
                        field_names={"text": "answer"})


@views.post("/workflow/tasks/<int:task_id>/explanation-request")
@login_required
def explanation_request(task_id: int):  # noqa: ANN201
    task = _get_task(task_id)
    require(current_user(), "request_explanation", task)
    values = _field_values(("reason",))

    def perform() -> tuple[str, str]:
        request_explanation(db_session(), task, at=utcnow(), actor=_actor(),
                            reason=values["reason"])
        return (url_for("views.task_detail", task_id=task.id),
                _("Explanation requested for %(task)s.", task=_task_label(task)))

    return _handle_post(perform, lambda error: _render_task_with_error(task, error))


def _render_task_with_error(task: Task, error: FormError) -> str:
    # The task page's view renders the page, and the panel reads the error from the request.
    request.environ["theodoi.workflow_error"] = error
    return task_detail(task.id)


# Task page panel ------------------------------------------------------------------


@views.app_template_global()
def workflow_panel(task: Task) -> dict:
    """Return what the signed-in user may do on `task`, for the task page's actions panel."""
    user = current_user()
    if user is None:
        return {"actions": set()}
    session = db_session()
    actions = {action for action in PANEL_ACTIONS if can(user, action, task)}
    now = utcnow()
    objection_due = _deadline_due(task, "objection")
    open_objection = session.scalars(select(Objection).where(
        Objection.task_id == task.id, Objection.status == "open")).first()
    submitted = list(session.scalars(select(ProgressUpdate).where(
        ProgressUpdate.task_id == task.id, ProgressUpdate.status == "submitted")
        .order_by(ProgressUpdate.at)))
    explanations = list(session.scalars(select(ExplanationRequest).where(
        ExplanationRequest.task_id == task.id, ExplanationRequest.status == "open")))
    return {
        "actions": actions,
        "may_transfer": "transfer" in actions and task.transferred_at is None
        and any(link.role == "lead" for link in task.agencies),
        "may_confirm": "confirm_receipt" in actions and task.transferred_at is not None
        and task.received_at is None,
        "receipt_due_at": _deadline_due(task, "receipt"),
        "may_object": "lodge_objection" in actions and task.received_at is not None
        and objection_due is not None and now <= objection_due and open_objection is None,
        "objection_due_at": objection_due,
        "open_objection": open_objection,
        "may_update": "submit_update" in actions and task.received_at is not None,
        "submitted": submitted,
        "returned": _returned_updates(session, task, user.username),
        "explanations": explanations,
        "form_key": new_form_key(),
        "error": request.environ.get("theodoi.workflow_error"),
    }


# 6. Evaluation and inspection findings ---------------------------------------------

EVALUATION_FIELDS = ("rating", "comment")
FINDING_FIELDS = ("kind", "finding", "recommendation")


def _render_evaluation_form(task: Task, error: FormError | None = None,
                            values: dict | None = None) -> str:
    session = db_session()
    return render_template(
        "workflow/evaluation_form.html", task=task, ratings=EVALUATION_RATINGS,
        values=values or {"rating": "", "comment": ""}, error=error,
        history=assessment.evaluation_history(session, task),
        form_key=request.form.get(FORM_KEY_FIELD) or new_form_key())


@views.get("/workflow/tasks/<int:task_id>/evaluation")
@login_required
def evaluation_form(task_id: int):  # noqa: ANN201
    task = _get_task(task_id)
    require(current_user(), permissions.EVALUATE, task)
    return _render_evaluation_form(task)


@views.post("/workflow/tasks/<int:task_id>/evaluation")
@login_required
def evaluation_submit(task_id: int):  # noqa: ANN201
    task = _get_task(task_id)
    require(current_user(), permissions.EVALUATE, task)
    values = _field_values(EVALUATION_FIELDS)
    if task.confidentiality != "regular":
        values["comment"] = ""

    def perform() -> tuple[str, str]:
        assessment.evaluate_task(db_session(), task, at=utcnow(), actor=_actor(),
                                 rating=values["rating"], comment=values["comment"] or None)
        return (url_for("views.task_detail", task_id=task.id),
                _("Evaluation of %(task)s recorded.", task=_task_label(task)))

    return _handle_post(perform, lambda error: _render_evaluation_form(task, error, values))


def _render_finding_form(task: Task, error: FormError | None = None,
                         values: dict | None = None) -> str:
    return render_template(
        "workflow/finding_form.html", task=task, kinds=FINDING_KINDS,
        values=values or dict.fromkeys(FINDING_FIELDS, ""), error=error,
        findings=assessment.findings_for_task(db_session(), task),
        form_key=request.form.get(FORM_KEY_FIELD) or new_form_key())


@views.get("/workflow/tasks/<int:task_id>/findings")
@login_required
def finding_form(task_id: int):  # noqa: ANN201
    task = _get_task(task_id)
    require(current_user(), permissions.RECORD_FINDING, task)
    return _render_finding_form(task)


@views.post("/workflow/tasks/<int:task_id>/findings")
@login_required
def finding_submit(task_id: int):  # noqa: ANN201
    task = _get_task(task_id)
    require(current_user(), permissions.RECORD_FINDING, task)
    values = _field_values(FINDING_FIELDS)
    if task.confidentiality != "regular":
        values["finding"] = values["recommendation"] = ""

    def perform() -> tuple[str, str]:
        assessment.record_finding(db_session(), at=utcnow(), actor=_actor(), kind=values["kind"],
                                  finding=values["finding"] or None,
                                  recommendation=values["recommendation"] or None, task=task)
        return (url_for("views.finding_list"),
                _("Inspection finding on %(task)s recorded.", task=_task_label(task)))

    return _handle_post(perform, lambda error: _render_finding_form(task, error, values))


@views.get("/workflow/findings")
@login_required
def finding_list():  # noqa: ANN201
    """Show the inspection findings on the tasks the user may see, newest first."""
    # NOTE: findings recorded about an org unit without a task are not listed here.
    return _render_findings()


def _render_findings(error: FormError | None = None, error_for: int | None = None,
                     values: dict | None = None) -> str:
    user = current_user()
    session = db_session()
    findings = session.scalars(
        select(InspectionFinding).join(Task, Task.id == InspectionFinding.task_id)
        .where(permissions.visible_task_filter(session, user))
        .options(selectinload(InspectionFinding.task))
        .order_by(InspectionFinding.recorded_at.desc(), InspectionFinding.id.desc())
        .limit(200)).all()
    closable = {row.id for row in findings
                if row.status == "open" and can(user, permissions.RECORD_FINDING, row.task)}
    return render_template("workflow/findings.html", findings=findings, closable=closable,
                           error=error, error_for=error_for, values=values or {},
                           form_key=new_form_key())



@views.post("/workflow/findings/<int:finding_id>/close")
@login_required
def finding_close(finding_id: int):  # noqa: ANN201
    """Close an inspection finding on a task with a note on how it was handled."""
    finding = _get(InspectionFinding, finding_id, _("inspection finding"))
    if finding.task is None:
        raise NotFoundError(_("No %(what)s with id %(id)s.", what=_("inspection finding"),
                              id=finding_id))
    require(current_user(), permissions.RECORD_FINDING, finding.task)
    values = _field_values(("note",))

    def perform() -> tuple[str, str]:
        assessment.close_finding(db_session(), finding, at=utcnow(), actor=_actor(),
                                 note=values["note"] or None)
        return url_for("views.finding_list"), _("Inspection finding closed.")

    return _handle_post(perform, lambda error: _render_findings(error, finding.id, values))


@views.app_template_global()
def task_assessment(task: Task) -> dict:
    """Return the current evaluation and the inspection findings of `task` for its page."""
    session = db_session()
    return {"evaluation": assessment.current_evaluation(session, task),
            "findings": assessment.findings_for_task(session, task)}

# Navigation ---------------------------------------------------------------------

# Workflow screens in the main menu, each with the roles that use it.
NAV_LINKS = (
    ("views.transfer_queue", _l("Transfer of tasks"), {"administrator", "central_officer"}),
    ("views.objection_queue", _l("Objections to decide"), {"administrator", "central_officer"}),
    ("views.inbox", _l("Tasks to receive"), {"updater", "approver"}),
    ("views.my_updates", _l("My progress reports"), {"updater"}),
    ("views.approval_queue", _l("Progress reports to approve"), {"approver"}),
    ("views.explanation_list", _l("Explanation requests"),
     {"administrator", "central_officer", "updater", "approver", "monitoring_officer"}),
    ("views.finding_list", _l("Inspection findings"),
     {"administrator", "central_officer", "updater", "approver", "monitoring_officer",
      "inspector", "leader"}),
)


@views.app_template_global()
def workflow_links() -> list[tuple[str, str]]:
    """Return (endpoint, title) of the workflow screens for the signed-in user's roles."""
    user = current_user()
    if user is None:
        return []
    roles = {grant.role for grant in user.role_grants}
    return [(endpoint, str(title)) for endpoint, title, users in NAV_LINKS if roles & users]
