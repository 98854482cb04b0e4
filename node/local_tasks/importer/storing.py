"""Storing parsed documents through the service: the whole file or nothing.

Agencies are matched row by row first, so that an unknown agency is reported
with the row and column that name it. Then the service validates and stores
each document. Any problem, or a dry run, rolls the session back.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from node.core.errors import DomainError, ValidationError
from node.core.i18n import lazy_gettext as _l
from node.core.text import fold
from node.local_tasks import service
from node.local_tasks.errors import DocumentExistsError
from node.local_tasks.importer import headers as h
from node.local_tasks.importer.importer import (
    PROGRESS_MIN_ROWS,
    ImportOptions,
    ParsedDocument,
    ParseResult,
    Problem,
    sort_problems,
)

logger = logging.getLogger(__name__)


@dataclass
class DocumentSummary:
    """The counts of one stored document (in a dry run, of one checked document)."""

    reference: str
    tasks: int
    group_assignments: int
    confidentiality: str


@dataclass
class ImportResult:
    """The outcome of an import: counts, agencies to create and every problem."""

    file_name: str
    dry_run: bool
    written: bool = False
    documents: list[DocumentSummary] = field(default_factory=list)
    # Agencies created with needs_review. Unless `written`, those that would be created.
    created_agencies: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejected: bool = False

    @property
    def task_count(self) -> int:
        return sum(document.tasks for document in self.documents)

    @property
    def group_assignment_count(self) -> int:
        return sum(document.group_assignments for document in self.documents)

    def summary_line(self) -> str:
        """Return the counts on one line, e.g. "5 documents, 256 tasks, ... written"."""
        if self.written:
            template = _l("{documents} document(s), {tasks} task(s), {groups} group "
                          "assignment(s), {agencies} agency(ies) created")
        else:
            template = _l("{documents} document(s), {tasks} task(s), {groups} group "
                          "assignment(s), {agencies} agency(ies) would be created")
        counts = str(template).format(documents=len(self.documents), tasks=self.task_count,
                                      groups=self.group_assignment_count,
                                      agencies=len(self.created_agencies))
        if self.problems:
            outcome = str(_l("not written: {count} problem(s)")).format(count=len(self.problems))
        elif self.written:
            outcome = str(_l("written"))
        else:
            outcome = str(_l("not written (dry run)"))
        return f"{counts}; {outcome}"


def summarise(parsed: ParseResult, *, dry_run: bool) -> ImportResult:
    """Build the result of a parse alone, before anything is matched or stored."""
    return ImportResult(
        file_name=parsed.file_name,
        dry_run=dry_run,
        documents=[
            DocumentSummary(
                reference=item.document.reference,
                tasks=len(item.document.tasks),
                group_assignments=sum(len(task.group_assignments) for task in item.document.tasks),
                confidentiality=item.document.confidentiality,
            )
            for item in parsed.documents
        ],
        problems=sort_problems(parsed.problems),
        notes=list(parsed.notes),
        rejected=parsed.rejected,
    )


def store_documents(session: Session, parsed: ParseResult, options: ImportOptions, *,
                    actor: str | None = None, progress: bool = False) -> ImportResult:
    """Match agencies and create every parsed document through the service, all or nothing."""
    result = summarise(parsed, dry_run=options.dry_run)
    if parsed.rejected:
        return result

    bar = _progress_bar(parsed, progress)
    pending: set[str] = set()
    try:
        for item in parsed.documents:
            unknown = _match_agencies(session, item, options, pending, result)
            if not _create(session, item, options, actor, unknown, result):
                break
            if bar is not None:
                bar.update(len(item.document.tasks))
    finally:
        if bar is not None:
            bar.close()

    result.problems = sort_problems(result.problems)
    if result.problems or options.dry_run:
        session.rollback()
        logger.info(
            "import not written",
            extra={"file": result.file_name, "problems": len(result.problems),
                   "dry_run": options.dry_run},
        )
        return result
    session.flush()
    result.written = True
    logger.info(
        "import stored",
        extra={"file": result.file_name, "documents": len(result.documents),
               "tasks": result.task_count, "created_agencies": len(result.created_agencies),
               "actor": actor},
    )
    return result


def _progress_bar(parsed: ParseResult, enabled: bool):  # noqa: ANN202 - tqdm or None
    if not enabled or parsed.row_count <= PROGRESS_MIN_ROWS or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    total = sum(len(item.document.tasks) for item in parsed.documents)
    return tqdm(total=total, desc=str(_l("Storing tasks")), unit=str(_l("task")), file=sys.stderr)


_ROLES = (
    (h.LEAD, "lead_agencies"),
    (h.COORDINATING, "coordinating_agencies"),
)


def _match_agencies(session: Session, item: ParsedDocument, options: ImportOptions,
                    pending: set[str], result: ImportResult) -> set[str]:
    """Report each unknown agency at its row, or list it for creation; return the unknown names."""
    unknown: set[str] = set()
    document = item.document
    for task, row in zip(document.tasks, item.task_rows, strict=True):
        named = [(field_name, name) for field_name, attribute in _ROLES
                 for name in getattr(task, attribute)]
        if task.monitoring_agency:
            named.append((h.MONITORING, task.monitoring_agency))
        for field_name, name in named:
            key = fold(name)
            if key in pending or service.find_org_unit(session, name) is not None:
                continue
            if options.create_agencies:
                pending.add(key)
                result.created_agencies.append(name)
                continue
            unknown.add(key)
            result.problems.append(Problem(
                row, item.header.label(field_name), name,
                str(_l("Unknown agency: no org unit has this name or alias. Add it with its "
                       "aliases, correct the name, or import with --create-agencies.")),
                document.reference,
            ))
    return unknown


def _create(session: Session, item: ParsedDocument, options: ImportOptions, actor: str | None,
            unknown: set[str], result: ImportResult) -> bool:
    """Create one document; return False when the session can no longer be used."""
    document = item.document
    try:
        service.create_document(session, document, create_agencies=options.create_agencies,
                                actor=actor)
    except ValidationError as error:
        for problem in error.problems:
            mapped = _from_service(item, problem.path, problem.value, problem.message)
            if problem.path == "agencies" and fold(str(problem.value)) in unknown:
                continue  # already reported at its row
            if not _already_reported(result.problems, mapped):
                result.problems.append(mapped)
    except DomainError as error:
        reason = error.message
        if isinstance(error, DocumentExistsError):
            reason = str(_l("This document is already stored; import each document once."))
        result.problems.append(Problem(item.first_row, item.header.label(h.REFERENCE)
                                       or "--reference", document.reference, reason,
                                       document.reference))
    except SQLAlchemyError as error:
        logger.exception("import failed in the database", extra={"file": result.file_name,
                                                                  "reference": document.reference})
        result.problems.append(Problem(
            None, None, document.reference,
            str(_l("Storing failed in the database ({error}); nothing was written.")).format(
                error=error.__class__.__name__),
            document.reference,
        ))
        return False
    return True


_TASK_PATH = re.compile(r"^tasks\[(\d+)\]\.?(\w*)")
# Service field names and the columns that hold them.
_SERVICE_FIELDS = {
    "content": h.CONTENT,
    "product": h.PRODUCT,
    "result_summary": h.RESULT,
    "lead_agencies": h.LEAD,
    "deadline": h.DEADLINE,
    "classifications": h.DEADLINE,
    "reference": h.REFERENCE,
    "summary": h.SUMMARY,
    "kind": h.KIND,
    "confidentiality": h.CONFIDENTIALITY,
}
_OPTIONS = {"reference": "--reference", "summary": "--summary", "kind": "--kind",
            "confidentiality": "--confidentiality"}


def _service_reason(path: str, value: object, message: str) -> str:
    """Return the reason of a service problem in the current locale.

    The service writes its problems in English for every caller, so the
    problems an import can meet are translated here with the same facts.
    NOTE: other service problems keep the service's English message.
    """
    match = _TASK_PATH.match(path)
    field_name = match.group(2) if match else path
    if match and field_name == "content":
        return str(_l("The task content is missing; describe the task."))
    if match and field_name == "lead_agencies":
        return str(_l("The lead agency is missing; name at least one. If this row is a section "
                      "heading, put a Roman numeral or a letter in the STT column."))
    if match:
        return message
    if field_name == "reference":
        return str(_l("Missing or invalid number and symbol; write it as NUMBER/SYMBOL, "
                      "e.g. 03/NQ-CP."))
    if field_name == "kind":
        return str(_l("Unknown document kind; use a code listed under /api/v1/document-kinds."))
    if field_name == "tasks" and isinstance(value, int):
        return str(_l("A document may list at most {count} tasks.")).format(
            count=service.MAX_DOCUMENT_TASKS)
    if field_name == "tasks":
        return str(_l("A document needs at least one task."))
    return message


def _from_service(item: ParsedDocument, path: str, value: object, message: str) -> Problem:
    """Turn a service problem ("tasks[3].content") into a row and column of the file."""
    reference = item.document.reference
    message = _service_reason(path, value, message)
    match = _TASK_PATH.match(path)
    if match:
        index = int(match.group(1))
        row = item.task_rows[index] if index < len(item.task_rows) else None
        column = item.header.label(_SERVICE_FIELDS.get(match.group(2), ""))
        # The service gives the task's origin ("row 12") as the value, which the row repeats.
        cell_value = None if str(value).startswith("row ") else value
        return Problem(row, column, cell_value, message, reference)
    column = item.header.label(_SERVICE_FIELDS.get(path, "")) or _OPTIONS.get(path)
    return Problem(item.first_row if column else None, column, value, message, reference)


def _already_reported(problems: list[Problem], new: Problem) -> bool:
    """Tell whether parsing already reported a problem in the same column and row.

    A parse problem without a row, such as a missing --reference, covers
    its column on every row of its document. A missing document number is
    None in one problem and "" in the other, so the two count as the same.
    """
    for old in problems:
        if old.column != new.column or (old.document or None) != (new.document or None):
            continue
        if old.row == new.row and new.row is not None:
            return True
        if old.row is None and old.column is not None:
            return True
    return False
