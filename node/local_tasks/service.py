"""Services of one node's tasks: documents, tasks, agencies and their deadlines.

Every entry point (API, web form, import, later federation) goes through
these functions, so the rules of Điều 5 hold whatever the source.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.audit import service as audit_log
from node.core.errors import FieldProblem, NotFoundError, ProblemCollector, ValidationError
from node.core.text import clean, fold, nfc, sort_key
from node.core.timezone import VN_TZ
from node.local_tasks import deadlines_service
from node.local_tasks.errors import (
    AbsolutelySecretError,
    DocumentExistsError,
    OrgUnitNotFoundError,
    TaskNotFoundError,
)
from node.local_tasks.inputs import DocumentInput, TaskInput
from node.local_tasks.models import (
    CONFIDENTIALITY_LEVELS,
    REPORTED_STATES,
    ClassificationScheme,
    ClassificationValue,
    Document,
    DocumentKind,
    GroupAssignment,
    OrgUnit,
    OrgUnitAlias,
    Task,
    TaskAgency,
    TaskEvent,
)

logger = logging.getLogger(__name__)


# Words that name a confidentiality level, folded (no accents, lower case).
_CONFIDENTIALITY_WORDS = {
    "": "regular",
    "thuong": "regular",
    "regular": "regular",
    "mat": "confidential",
    "confidential": "confidential",
    "toi mat": "top_secret",
    "top secret": "top_secret",
    "top_secret": "top_secret",
}
_ABSOLUTELY_SECRET_WORDS = {"tuyet mat", "absolutely secret", "absolutely_secret"}

MAX_DOCUMENT_TASKS = 10_000

# Fields copied into audit entries. No task content is copied, because the
# tasks of confidential documents must never reveal it.
_DOCUMENT_AUDIT_FIELDS = ("reference", "number", "symbol", "kind_id", "summary", "issued_on",
                          "signer", "issuing_body", "submitting_body", "confidentiality",
                          "task_count", "source", "source_sha256")
_ORG_UNIT_AUDIT_FIELDS = ("code", "name", "name_en", "short_name", "kind", "parent_id",
                          "is_root", "gso_code", "status", "needs_review", "source")


def parse_confidentiality(value: str | None, *, path: str = "confidentiality") -> str:
    """Map a confidentiality word (Vietnamese or English) to its code.

    Raises AbsolutelySecretError for tuyệt mật, which never enters the system.
    """
    word = fold(value).replace("-", " ").strip()
    if word in _ABSOLUTELY_SECRET_WORDS or "tuyet mat" in word:
        raise AbsolutelySecretError(path, value)
    if word not in _CONFIDENTIALITY_WORDS:
        raise_invalid(
            path,
            value,
            "unknown confidentiality level; use thường, mật or tối mật "
            "(regular, confidential, top_secret)",
        )
    return _CONFIDENTIALITY_WORDS[word]


def raise_invalid(path: str, value: object, message: str) -> NoReturn:
    """Raise ValidationError for one invalid field."""
    raise ValidationError(message, problems=[FieldProblem(path, message, value)])


def end_of_day(day: date) -> datetime:
    """Return the last instant of `day` in Vietnam, the deadline of a date-only deadline."""
    return datetime.combine(day, time(23, 59, 59, 999999), tzinfo=VN_TZ)


# Org units -----------------------------------------------------------------


def find_org_unit(session: Session, name: str) -> OrgUnit | None:
    """Find the org unit called `name` (or an alias of it), ignoring case and accents."""
    folded = fold(name)
    if not folded:
        return None
    unit = session.scalars(select(OrgUnit).where(OrgUnit.name_folded == folded)).first()
    if unit is not None:
        return unit
    return session.scalars(
        select(OrgUnit).join(OrgUnitAlias).where(OrgUnitAlias.alias_folded == folded)
    ).first()


def get_org_unit(session: Session, org_unit_id: int) -> OrgUnit:
    unit = session.get(OrgUnit, org_unit_id)
    if unit is None:
        raise OrgUnitNotFoundError(f"No org unit with id {org_unit_id}")
    return unit


def root_org_unit(session: Session) -> OrgUnit | None:
    return session.scalars(select(OrgUnit).where(OrgUnit.is_root.is_(True))).first()


def create_org_unit(
    session: Session,
    *,
    code: str,
    name: str,
    kind: str,
    parent: OrgUnit | None,
    name_en: str | None = None,
    short_name: str | None = None,
    gso_code: str | None = None,
    status: str = "active",
    needs_review: bool = False,
    source: str | None = None,
    aliases: list[str] | None = None,
    actor: str | None = None,
) -> OrgUnit:
    """Create an org unit under `parent` (None only for the root) with its aliases."""
    name = clean(name)
    unit = OrgUnit(
        code=clean(code),
        name=name,
        name_en=name_en,
        short_name=clean(short_name) or None,
        kind=kind,
        parent=parent,
        is_root=parent is None,
        gso_code=gso_code,
        status=status,
        needs_review=needs_review,
        name_folded=fold(name),
        sort_key=sort_key(name),
        source=source,
    )
    session.add(unit)
    seen = {unit.name_folded}
    added_aliases: list[str] = []
    for alias in aliases or []:
        folded = fold(alias)
        if folded and folded not in seen:
            seen.add(folded)
            added_aliases.append(clean(alias))
            session.add(OrgUnitAlias(org_unit=unit, alias=clean(alias), alias_folded=folded))
    session.flush()
    audit_log.record(session, actor=actor, action="org_unit.create", object_type="org_unit",
                     object_id=unit.id, after={**audit_log.snapshot(unit, _ORG_UNIT_AUDIT_FIELDS),
                                               "aliases": added_aliases})
    logger.info("org unit created", extra={"org_unit_id": unit.id, "code": unit.code})
    return unit


def _imported_unit_code(session: Session) -> str:
    """Return the code after the highest IMPnnnnn code in use.

    A count of the imported units would repeat a code still in use once a
    unit has been merged into another and deleted.
    """
    codes = session.scalars(select(OrgUnit.code).where(OrgUnit.code.like("IMP%")))
    numbers = [int(code[3:]) for code in codes if code[3:].isdigit()]
    return f"IMP{max(numbers, default=0) + 1:05d}"


# Documents and tasks ---------------------------------------------------------


_REFERENCE = re.compile(r"^\s*(?P<number>\d+[A-Za-z]?)\s*[/-]\s*(?P<symbol>\S.*?)\s*$")


def _split_reference(reference: str) -> tuple[str, str]:
    """Split "03/NQ-CP" (state style) or "57-NQ/TW" (party style) into number and symbol."""
    match = _REFERENCE.match(reference)
    if match is None:
        number, _, symbol = reference.partition("/")
        return number.strip(), symbol.strip()
    return match["number"], match["symbol"]


def _kind_from_symbol(session: Session, symbol: str) -> DocumentKind | None:
    prefix = re.split(r"[-/]", symbol, maxsplit=1)[0].strip().upper()
    for kind in session.scalars(select(DocumentKind)):
        if prefix and prefix in kind.symbol_prefixes.upper().split():
            return kind
    return None


def _validate_document(session: Session, doc: DocumentInput, problems: ProblemCollector) -> str:
    confidentiality = parse_confidentiality(doc.confidentiality)
    reference = clean(doc.reference)
    if not reference or "/" not in reference:
        problems.add(
            "reference",
            "missing or invalid number and symbol; write it as NUMBER/SYMBOL, e.g. 03/NQ-CP",
            doc.reference,
        )
    elif session.scalar(select(Document.id).where(Document.reference == reference)):
        raise DocumentExistsError(
            f"Document {reference} is already stored; import each document once",
        )
    if doc.kind_code and not session.scalar(
        select(DocumentKind.id).where(DocumentKind.code == doc.kind_code)
    ):
        problems.add("kind", "unknown document kind; use a code listed under /api/v1/document-kinds",
                     doc.kind_code)
    if confidentiality != "regular":
        if clean(doc.summary):
            problems.add("summary", "confidential and top-secret documents store no summary; "
                         "leave it empty", None)
        for index, task in enumerate(doc.tasks):
            for field_name in ("content", "product", "result_summary"):
                if clean(getattr(task, field_name)):
                    problems.add(f"tasks[{index}].{field_name}",
                                 "confidential and top-secret documents store no task content, "
                                 "products or detailed results; leave it empty",
                                 _origin(task))
    if doc.task_count is not None and doc.tasks and doc.task_count != len(doc.tasks):
        problems.add("task_count", f"does not match the {len(doc.tasks)} tasks given", doc.task_count)
    if len(doc.tasks) > MAX_DOCUMENT_TASKS:
        problems.add("tasks", f"a document may list at most {MAX_DOCUMENT_TASKS} tasks",
                     len(doc.tasks))
    if confidentiality == "regular" and not doc.tasks:
        problems.add("tasks", "a document needs at least one task", None)
    return confidentiality


def _origin(task: TaskInput) -> str | None:
    return task.origin


def _validate_task(index: int, task: TaskInput, confidentiality: str,
                   problems: ProblemCollector) -> None:
    path = f"tasks[{index}]"
    if confidentiality == "regular" and not clean(task.content):
        problems.add(f"{path}.content", "task content is missing; describe the task", _origin(task))
    if task.reported_state not in REPORTED_STATES:
        problems.add(f"{path}.reported_state",
                     f"unknown state; use one of {', '.join(REPORTED_STATES)}", task.reported_state)
    if task.reported_state == "completed" and task.completed_at is None:
        problems.add(f"{path}.completed_at", "a completed task needs its completion instant", None)
    if task.reported_state != "completed" and task.completed_at is not None:
        problems.add(f"{path}.completed_at",
                     "only a completed task has a completion instant; remove it or set the "
                     "state to completed", task.completed_at.isoformat())
    for name in ("completed_at", "transferred_at"):
        value = getattr(task, name)
        if value is not None and value.tzinfo is None:
            problems.add(f"{path}.{name}", "instant without a time zone; add an offset such as "
                         "+07:00", value.isoformat())
    if task.deadline.at is not None and task.deadline.at.tzinfo is None:
        problems.add(f"{path}.deadline", "instant without a time zone; add an offset such as +07:00",
                     task.deadline.at.isoformat())
    if task.progress_percent is not None and not 0 <= task.progress_percent <= 100:
        problems.add(f"{path}.progress_percent", "must be between 0 and 100",
                     task.progress_percent)
    if not task.lead_agencies and not any(role == "lead" for role, _ in task.group_assignments):
        problems.add(f"{path}.lead_agencies", "a task needs at least one lead agency", _origin(task))


def _resolve_agencies(
    session: Session,
    doc: DocumentInput,
    *,
    create_agencies: bool,
    problems: ProblemCollector,
    actor: str | None,
) -> dict[str, OrgUnit]:
    """Match every agency name of the document to an org unit, creating missing ones if asked."""
    names: dict[str, str] = {}
    for task in doc.tasks:
        for name in [*task.lead_agencies, *task.coordinating_agencies, task.monitoring_agency]:
            if name and clean(name):
                names.setdefault(fold(name), clean(name))
    resolved: dict[str, OrgUnit] = {}
    root = root_org_unit(session)
    for folded, name in names.items():
        unit = find_org_unit(session, name)
        if unit is None and create_agencies:
            if root is None:
                problems.add("agencies", "the org-unit tree is empty; run `theodoi init` first", name)
                continue
            unit = create_org_unit(session, code=_imported_unit_code(session), name=name,
                                   kind="imported", parent=root, needs_review=True,
                                   source="created by import; review its place in the tree",
                                   actor=actor)
        if unit is None:
            origins = [t.origin or f"tasks[{i}]" for i, t in enumerate(doc.tasks)
                       if folded in {fold(n) for n in
                                     [*t.lead_agencies, *t.coordinating_agencies,
                                      t.monitoring_agency or ""]}]
            problems.add("agencies", f"unknown agency (in {', '.join(origins[:5])}); add it as an "
                         "org unit or allow creating missing agencies", name)
            continue
        resolved[folded] = unit
    return resolved


def _classification_values(session: Session, pairs: list[tuple[str, str]], path: str,
                           problems: ProblemCollector) -> list[ClassificationValue]:
    values: list[ClassificationValue] = []
    for scheme_code, value_code in pairs:
        value = session.scalars(
            select(ClassificationValue)
            .join(ClassificationScheme)
            .where(ClassificationScheme.code == scheme_code, ClassificationValue.code == value_code)
        ).first()
        if value is None:
            problems.add(path, f"unknown classification {scheme_code}={value_code}; use a value "
                         "listed under /api/v1/classifications", f"{scheme_code}={value_code}")
        elif value not in values:
            values.append(value)
    return values


def _search_text(document: Document, task: Task, agency_names: list[str],
                 groups: list[str]) -> str:
    parts = [document.reference, task.task_no or "", *agency_names, *groups]
    if task.confidentiality == "regular":
        parts += [task.content or "", task.product or "", task.section or ""]
    return fold(" ".join(parts))


def create_document(
    session: Session,
    doc: DocumentInput,
    *,
    create_agencies: bool = False,
    actor: str | None = None,
    calendar=None,  # noqa: ANN001 - WorkingCalendar; None loads the configured one
) -> Document:
    """Validate and store a document with its tasks, agencies and service-level deadlines.

    Every problem is collected and raised at once as ValidationError; nothing
    is flushed unless the whole document is valid.
    """
    problems = ProblemCollector()
    confidentiality = _validate_document(session, doc, problems)
    for index, task_input in enumerate(doc.tasks):
        _validate_task(index, task_input, confidentiality, problems)
    agencies = _resolve_agencies(session, doc, create_agencies=create_agencies, problems=problems,
                                 actor=actor)
    classifications = [
        _classification_values(session, t.classifications + [("time", t.deadline.time_class)],
                               f"tasks[{i}].classifications", problems)
        for i, t in enumerate(doc.tasks)
    ]
    problems.raise_if_any(f"Document {clean(doc.reference) or '(no number)'} is invalid")

    number, symbol = _split_reference(clean(doc.reference))
    kind = (
        session.scalars(select(DocumentKind).where(DocumentKind.code == doc.kind_code)).first()
        if doc.kind_code else _kind_from_symbol(session, symbol)
    )
    regular = confidentiality == "regular"
    document = Document(
        reference=clean(doc.reference),
        number=number,
        symbol=symbol,
        kind=kind,
        summary=clean(doc.summary) or None if regular else None,
        issued_on=doc.issued_on,
        signer=clean(doc.signer) or None,
        issuing_body=clean(doc.issuing_body) or None,
        submitting_body=clean(doc.submitting_body) or None,
        confidentiality=confidentiality,
        task_count=len(doc.tasks) if doc.tasks else (doc.task_count or 0),
        source=doc.source,
        source_sha256=doc.source_sha256,
    )
    session.add(document)
    for position, (task_input, values) in enumerate(zip(doc.tasks, classifications, strict=True)):
        _add_task(session, document, position, task_input, values, agencies, regular, actor)
    session.flush()
    deadlines_service.compute_for_document(session, document, calendar=calendar)
    audit_log.record(session, actor=actor, action="document.create", object_type="document",
                     object_id=document.id,
                     after=audit_log.snapshot(document, _DOCUMENT_AUDIT_FIELDS))
    logger.info(
        "document created",
        extra={"document_id": document.id, "reference": document.reference,
               "task_count": document.task_count, "actor": actor},
    )
    return document


def _add_task(session: Session, document: Document, position: int, task_input: TaskInput,
              values: list[ClassificationValue], agencies: dict[str, OrgUnit], regular: bool,
              actor: str | None) -> Task:
    deadline = task_input.deadline
    deadline_at = deadline.at or (end_of_day(deadline.on) if deadline.on else None)
    task = Task(
        document=document,
        position=position,
        task_no=clean(task_input.task_no) or None,
        section=clean(task_input.section) or None if regular else None,
        content=nfc(task_input.content).strip() if regular and task_input.content else None,
        product=clean(task_input.product) or None if regular else None,
        confidentiality=document.confidentiality,
        deadline_text=clean(deadline.text) or None,
        deadline_on=deadline.on or (deadline.at.astimezone(VN_TZ).date() if deadline.at else None),
        deadline_at=deadline_at,
        deadline_precision=deadline.precision if deadline_at else "none",
        reported_state=task_input.reported_state,
        completed_at=task_input.completed_at,
        progress_percent=task_input.progress_percent,
        result_summary=clean(task_input.result_summary) or None if regular else None,
        transferred_at=task_input.transferred_at,
        extra=task_input.extra if regular else None,
    )
    task.classifications = values
    names: list[str] = []
    roles = [("lead", task_input.lead_agencies), ("coordinating", task_input.coordinating_agencies),
             ("monitoring", [task_input.monitoring_agency] if task_input.monitoring_agency else [])]
    seen: set[tuple[int, str]] = set()
    for role, role_names in roles:
        for agency_position, name in enumerate(role_names):
            unit = agencies[fold(name)]
            if (unit.id, role) in seen:
                continue
            seen.add((unit.id, role))
            task.agencies.append(TaskAgency(org_unit=unit, role=role, position=agency_position))
            names.append(unit.name)
    groups = [clean(text) for _, text in task_input.group_assignments]
    for role, text in task_input.group_assignments:
        task.group_assignments.append(GroupAssignment(role=role, text=clean(text)))
    task.search_text = _search_text(document, task, names, groups)
    task.events.append(TaskEvent(kind="created", actor=actor,
                                 detail={"origin": task_input.origin} if task_input.origin else None))
    session.add(task)
    return task


def get_document(session: Session, document_id: int) -> Document:
    document = session.get(Document, document_id)
    if document is None:
        raise NotFoundError(f"No document with id {document_id}")
    return document


def get_task(session: Session, task_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise TaskNotFoundError(f"No task with id {task_id}")
    return task


def list_documents(session: Session) -> list[Document]:
    return list(session.scalars(select(Document).order_by(Document.issued_on.desc(), Document.id)))


def confidentiality_codes() -> tuple[str, ...]:
    return CONFIDENTIALITY_LEVELS
