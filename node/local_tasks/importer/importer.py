"""Turning a task table into document records, and storing them all or none.

Parsing (`parse_file`, `parse_table`) needs no database: it reads the rows,
collects every problem as (row, column, value, reason) and builds one
`DocumentInput` per document. Storing (`store_documents`, `import_file`)
matches agencies and calls the service for each document in the caller's
transaction, and rolls everything back when any problem was found or when
it is a dry run.

Layouts read:

* A table with one document: its number, date and issuer come from the
  import options or, failing those, from the title rows above the header.
* A table with a document-number column (such as the CSV export of task
  tables): one document per number, with its details from its rows.

Rows under the header are read as follows. Blank rows, repeated header
rows and rows of column numbers ("1", "2", "3" or "(1)", "(2)") are
skipped. A row whose STT is a Roman numeral or a letter ("I", "B.") or a
numbered heading ("1. Các nhiệm vụ ...") and that names no lead agency is
a section: its text becomes the `section` of the tasks under it. A row
whose STT and task cells both come from merged cells above continues the
task above and adds its agencies to it. Every other row is a task.

A row with fewer cells than the header has columns, or with non-empty cells
to the right of the last named column, is a problem and is not read
further: its cells would land in the wrong columns. Section rows may be
shorter than the header.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from node.core.i18n import lazy_gettext as _l
from node.core.text import clean, fold, nfc
from node.local_tasks.agency_text import classify_agency_cell
from node.local_tasks.deadlines import DeadlineError, parse_deadline
from node.local_tasks.importer import headers as h
from node.local_tasks.importer.readers import (
    HeaderBlock,
    ReadError,
    Row,
    Table,
    cell_text,
    read_header_block,
    read_table,
)
from node.local_tasks.inputs import DocumentInput, TaskInput

logger = logging.getLogger(__name__)

# Files with more rows than this show a progress bar on a terminal.
PROGRESS_MIN_ROWS = 500

REGULAR = "regular"
ABSOLUTELY_SECRET = "absolutely_secret"
_CONFIDENTIALITY_RANK = {"regular": 0, "confidential": 1, "top_secret": 2, ABSOLUTELY_SECRET: 3}
# The levels as the report names them.
_CONFIDENTIALITY_NAMES = {
    REGULAR: _l("regular"),
    "confidential": _l("confidential"),
    "top_secret": _l("top secret"),
    ABSOLUTELY_SECRET: _l("absolutely secret"),
}
_CONFIDENTIALITY_WORDS = {
    "": REGULAR, "thuong": REGULAR, "binh thuong": REGULAR, "regular": REGULAR,
    "mat": "confidential", "confidential": "confidential",
    "toi mat": "top_secret", "top secret": "top_secret", "top_secret": "top_secret",
    "tuyet mat": ABSOLUTELY_SECRET, "absolutely secret": ABSOLUTELY_SECRET,
    "absolutely_secret": ABSOLUTELY_SECRET,
}


@dataclass
class ImportOptions:
    """Document details given on the command line, and how to store the file."""

    reference: str | None = None
    issued_on: date | None = None
    kind: str | None = None
    summary: str | None = None
    issuer: str | None = None
    confidentiality: str | None = None
    sheet: str | None = None
    create_agencies: bool = False
    dry_run: bool = False


@dataclass
class Problem:
    """One thing wrong with the file: where it is, the value found and the reason."""

    row: int | None
    column: str | None
    value: object
    reason: str
    document: str | None = None

    def as_dict(self) -> dict:
        value = self.value
        if isinstance(value, date | datetime):
            value = value.isoformat()
        return {
            "document": self.document,
            "row": self.row,
            "column": self.column,
            "value": value,
            "reason": self.reason,
        }


@dataclass
class ParsedDocument:
    """A document built from the file, with the row of each of its tasks."""

    document: DocumentInput
    header: h.HeaderMap
    first_row: int | None
    task_rows: list[int] = field(default_factory=list)


@dataclass
class ParseResult:
    """The outcome of parsing a file: its documents and every problem found."""

    file_name: str
    documents: list[ParsedDocument] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    row_count: int = 0
    # True when the file is absolutely secret: nothing of it is kept.
    rejected: bool = False


def _problem(row: int | None, column: str | None, value: object, reason: object,
             document: str | None = None) -> Problem:
    return Problem(row, column, value, str(reason), document)


def _problem_order(problem: Problem) -> tuple[bool, int, bool, int]:
    column = h.column_index(problem.column)
    return (problem.row is not None, problem.row or 0, column is not None, column or 0)


def sort_problems(problems: list[Problem]) -> list[Problem]:
    """Sort problems by row, then by column from left to right.

    Problems of the whole file or document (no row) come first, and within a
    row those not tied to a column (a whole row, an option) come before the
    columns. Problems at the same place keep the order in which they were found.
    """
    return sorted(problems, key=_problem_order)


# Confidentiality ----------------------------------------------------------------------


def confidentiality_code(value: object) -> str | None:
    """Map a confidentiality word (Vietnamese or English) to its code, None when unknown."""
    word = fold(cell_text(value)).replace("-", " ").strip(" .")
    if "tuyet mat" in word:
        return ABSOLUTELY_SECRET
    return _CONFIDENTIALITY_WORDS.get(word)


def confidentiality_name(code: str) -> str:
    """Name a confidentiality level in the current locale; an unknown code is returned as is."""
    name = _CONFIDENTIALITY_NAMES.get(code)
    return code if name is None else str(name)


def _stricter(first: str, second: str) -> str:
    return first if _CONFIDENTIALITY_RANK[first] >= _CONFIDENTIALITY_RANK[second] else second


def _absolutely_secret_problem(row: int | None, column: str | None, value: object) -> Problem:
    return _problem(
        row, column, value,
        _l("Absolutely secret (tuyệt mật) material must never be entered into the system; "
           "nothing of this file was read or stored. Remove the file from the import."),
    )


# Entry points --------------------------------------------------------------------------


def parse_file(path: Path, options: ImportOptions, *, progress: bool = False) -> ParseResult:
    """Read and parse a CSV or XLSX file; a file that cannot be read gives one problem."""
    if confidentiality_code(options.confidentiality) == ABSOLUTELY_SECRET:
        result = ParseResult(file_name=path.name)
        _reject(result, _absolutely_secret_problem(None, "--confidentiality",
                                                   options.confidentiality))
        return result
    data = path.read_bytes()
    try:
        table = read_table(path, sheet=options.sheet)
    except ReadError as error:
        return ParseResult(file_name=path.name, problems=[_problem(None, None, path.name, error)])
    result = parse_table(table, options, progress=progress)
    for parsed in result.documents:
        parsed.document.source_sha256 = hashlib.sha256(data).hexdigest()
    return result


def parse_table(table: Table, options: ImportOptions, *, progress: bool = False) -> ParseResult:
    """Build documents from the rows of a table, collecting every problem on the way."""
    result = ParseResult(file_name=table.name, row_count=len(table.rows))
    header_index = h.find_header_row([row.values for row in table.rows])
    if header_index is None:
        # A marked file without a usable header is still rejected as marked.
        block = read_header_block(table.rows[:h.HEADER_SEARCH_ROWS])
        if _reject_if_absolutely_secret(result, options, block, h.HeaderMap(), []):
            return result
        result.problems.append(_problem(
            None, None, None,
            str(_l("No header row found: none of the first {count} rows names the STT, task "
                   "(Nhiệm vụ, Nội dung) and lead agency (Cơ quan chủ trì) columns. Add that "
                   "header row.")).format(count=h.HEADER_SEARCH_ROWS),
        ))
        return result

    header = h.map_header_row(table.rows[header_index].values)
    block = read_header_block(table.rows[:header_index])
    data_rows = table.rows[header_index + 1:]
    if _reject_if_absolutely_secret(result, options, block, header, data_rows):
        return result

    builder = _DocumentBuilder(result, header, block, options, table)
    builder.section = _section_above_header(table.rows[:header_index])
    for row in _with_progress(data_rows, progress):
        builder.read_row(row)
    builder.finish()
    result.problems = sort_problems(result.problems)
    return result


def _with_progress(rows: list[Row], enabled: bool) -> Iterable[Row]:
    if not enabled or len(rows) <= PROGRESS_MIN_ROWS or not sys.stderr.isatty():
        return rows
    from tqdm import tqdm

    return tqdm(rows, desc=str(_l("Reading rows")), unit=str(_l("row")), file=sys.stderr)


def _reject_if_absolutely_secret(result: ParseResult, options: ImportOptions, block: HeaderBlock,
                                 header: h.HeaderMap, rows: list[Row]) -> bool:
    """Reject the file when any confidentiality mark is absolutely secret (tuyệt mật)."""
    found: Problem | None = None
    if confidentiality_code(options.confidentiality) == ABSOLUTELY_SECRET:
        found = _absolutely_secret_problem(None, "--confidentiality", options.confidentiality)
    for row_number, text in block.confidentiality_marks:
        if found is None and confidentiality_code(text) == ABSOLUTELY_SECRET:
            found = _absolutely_secret_problem(row_number, None, text)
    if found is None:
        column = header.columns.get(h.CONFIDENTIALITY)
        for row in rows:
            if column is not None and confidentiality_code(row.value(column)) == ABSOLUTELY_SECRET:
                found = _absolutely_secret_problem(
                    row.number, header.label(h.CONFIDENTIALITY), row.text(column)
                )
                break
    if found is None:
        return False
    _reject(result, found)
    return True


def _reject(result: ParseResult, problem: Problem) -> None:
    result.problems = [problem]
    result.documents = []
    result.rejected = True
    logger.warning("import rejected: absolutely secret marking", extra={"file": result.file_name})


# Row kinds -----------------------------------------------------------------------------

_SECTION_NUMERAL = re.compile(r"^(?:[IVXLC]+|[A-ZĐ])[.)]?$", re.IGNORECASE)
_SECTION_HEADING = re.compile(r"^(?:[IVXLC]+|[A-ZĐ]|\d+)[.)]\s*\S+(?:\s+\S+){2,}$", re.IGNORECASE)
_COLUMN_NUMBER = re.compile(r"^\(?\d{1,2}\)?$")


def _is_column_number_row(row: Row) -> bool:
    texts = [row.text(index) for index in range(len(row.values))]
    filled = [text for text in texts if text]
    return len(filled) >= 3 and all(_COLUMN_NUMBER.match(text) for text in filled)


def _section_title(row: Row, header: h.HeaderMap) -> str | None:
    """Return the section a row opens, or None when the row is not a section heading."""
    if row.text(header.columns.get(h.LEAD)):
        return None
    number = row.text(header.columns.get(h.TASK_NO))
    title = row.text(header.columns.get(h.CONTENT))
    if _SECTION_NUMERAL.match(number):
        numeral = number.rstrip(".)")
        return f"{numeral}. {title}" if title else numeral
    if _SECTION_HEADING.match(number):
        return f"{number} {title}".strip()
    return None


def _section_above_header(rows: list[Row]) -> str | None:
    """Return the section named by the last title row, as in "1. Các nhiệm vụ ..." above a table."""
    filled = [row for row in rows if not row.is_blank()]
    if not filled:
        return None
    texts = [text for text in (cell_text(value) for value in filled[-1].values) if text]
    if _SECTION_HEADING.match(texts[0]):
        return " ".join(texts)
    if _SECTION_NUMERAL.match(texts[0]) and len(texts) > 1:
        return f"{texts[0].rstrip('.)')}. {' '.join(texts[1:])}"
    return None


def _task_number(text: str) -> str | None:
    return text.rstrip(".").strip() or None


def _parse_day(value: object) -> date | None:
    """Read an issue date: a date cell, ISO 2025-01-09 or 09/01/2025. Raises ValueError."""
    if value is None or cell_text(value) == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = cell_text(value)
    match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if match:
        return date(int(match[1]), int(match[2]), int(match[3]))
    match = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
    if match:
        return date(int(match[3]), int(match[2]), int(match[1]))
    raise ValueError(text)


# A day written with its year, as in "30/06/2026" or "30-6-2026".
_DAY_WITH_YEAR = re.compile(r"\b\d{1,2}\s*[/.-]\s*\d{1,2}\s*[/.-]\s*\d{4}\b")
# Gives a year to periods written without one ("Quý II", "Tháng 6") so that they
# read as deadlines in `_looks_like_deadline`; the date found is never used.
_ANY_ISSUE_DATE = date(2000, 1, 1)


def _looks_like_deadline(text: str) -> bool:
    """Tell whether text reads as a deadline ("30/06/2026", "Quý II/2026", "Thường xuyên")."""
    try:
        deadline = parse_deadline(text, issued_on=_ANY_ISSUE_DATE)
    except DeadlineError:
        return False
    return deadline.text is not None


def _dated_name(agencies: list[str], groups: list[str]) -> str | None:
    """Return the first name of an agency cell that is a date or deadline, or None.

    An agency name that contains a day with its year ("Bộ Công an 30/06/2026")
    counts too, because it would become an org unit with a date in its name.
    A group is kept as written, so only a group that is a deadline counts.
    """
    for name in agencies:
        if _looks_like_deadline(name) or _DAY_WITH_YEAR.search(name):
            return name
    return next((group for group in groups if _looks_like_deadline(group)), None)


# Building documents --------------------------------------------------------------------


@dataclass
class _DocumentState:
    """A document being assembled from its rows."""

    reference: str
    first_row: int | None
    tasks: list[TaskInput] = field(default_factory=list)
    task_rows: list[int] = field(default_factory=list)
    # Document details from columns: field name to (row, value).
    details: dict[str, tuple[int, object]] = field(default_factory=dict)
    confidentiality: str = REGULAR
    issued_on: date | None = None


class _DocumentBuilder:
    """Reads data rows one by one and groups their tasks into documents."""

    def __init__(self, result: ParseResult, header: h.HeaderMap, block: HeaderBlock,
                 options: ImportOptions, table: Table) -> None:
        self.result = result
        self.header = header
        self.block = block
        self.options = options
        self.table = table
        self.multi = header.has(h.REFERENCE)
        self.documents: dict[str, _DocumentState] = {}
        self.last_task: tuple[_DocumentState, TaskInput] | None = None
        # The section of the rows read last, from the latest section row.
        self.section: str | None = None
        self.confidentiality = self._confidentiality_of_options()
        self.single = None if self.multi else self._single_document()

    # Document details ------------------------------------------------------------

    def _single_document(self) -> _DocumentState:
        options, block = self.options, self.block
        reference = clean(options.reference) or block.reference or ""
        replaced = block.reference and fold(options.reference) != fold(block.reference)
        if options.reference and replaced:
            self.result.notes.append(str(_l(
                "--reference {given} replaces {found}, found in the title rows."
            )).format(given=clean(options.reference), found=block.reference))
        if not reference:
            self._add(None, "--reference", None, _l(
                "The document number is missing: the title rows give none. Pass it as "
                "--reference NUMBER/SYMBOL, e.g. --reference 617/KH-UBND."
            ))
        state = _DocumentState(reference=reference, first_row=None)
        state.confidentiality = self.confidentiality
        state.issued_on = options.issued_on or block.issued_on
        self.documents[reference] = state
        return state

    def _confidentiality_of_options(self) -> str:
        """Return the strictest level given by --confidentiality and the title rows."""
        level = REGULAR
        marks = [(None, "--confidentiality", self.options.confidentiality)]
        marks += [(row, None, text) for row, text in self.block.confidentiality_marks]
        for row, where, value in marks:
            if value is None or cell_text(value) == "":
                continue
            code = confidentiality_code(value)
            if code is None:
                self._add(row, where, value, _l(
                    "Unknown confidentiality level; use thường, mật or tối mật "
                    "(regular, confidential, top_secret)."
                ))
                continue
            level = _stricter(level, code)
        return level

    def _document_for(self, row: Row) -> _DocumentState | None:
        if self.single is not None:
            return self.single
        column = self.header.columns[h.REFERENCE]
        reference = row.text(column) or clean(self.options.reference)
        if not reference:
            self._add(row.number, self.header.label(h.REFERENCE), "", _l(
                "The document number is missing on this row; fill it in or pass --reference."
            ))
            return None
        key = fold(reference)
        state = self.documents.get(key)
        if state is None:
            state = _DocumentState(reference=reference, first_row=row.number)
            state.confidentiality = self.confidentiality
            state.issued_on = self.options.issued_on
            self.documents[key] = state
        return state

    def _record_details(self, state: _DocumentState, row: Row) -> None:
        """Keep the document details a row gives, and flag values that differ between rows."""
        for field_name in (h.SUMMARY, h.ISSUED_ON, h.ISSUER, h.KIND, h.CONFIDENTIALITY, h.SOURCE):
            column = self.header.columns.get(field_name)
            value = row.value(column)
            if column is None or cell_text(value) == "":
                continue
            if field_name == h.CONFIDENTIALITY:
                code = confidentiality_code(value)
                if code is None:
                    self._add(row.number, self.header.label(field_name), cell_text(value), _l(
                        "Unknown confidentiality level; use thường, mật or tối mật "
                        "(regular, confidential, top_secret)."
                    ), state.reference)
                    continue
                state.confidentiality = _stricter(state.confidentiality, code)
                continue
            known = state.details.get(field_name)
            if known is None:
                state.details[field_name] = (row.number, value)
                if field_name == h.ISSUED_ON and self.options.issued_on is None:
                    state.issued_on = self._read_issue_date(row, value, state)
            elif fold(cell_text(known[1])) != fold(cell_text(value)):
                self._add(row.number, self.header.label(field_name), cell_text(value), str(_l(
                    "Differs from row {row} of the same document ('{first}'); a document's "
                    "details must be the same on every row."
                )).format(row=known[0], first=cell_text(known[1])), state.reference)

    def _read_issue_date(self, row: Row, value: object, state: _DocumentState) -> date | None:
        try:
            return _parse_day(value)
        except ValueError:
            self._add(row.number, self.header.label(h.ISSUED_ON), cell_text(value), _l(
                "Invalid issue date; write it as dd/mm/yyyy or yyyy-mm-dd."
            ), state.reference)
            return None

    # Rows ------------------------------------------------------------------------

    def _add(self, row: int | None, column: str | None, value: object, reason: object,
             document: str | None = None) -> None:
        self.result.problems.append(_problem(row, column, value, reason, document))

    def read_row(self, row: Row) -> None:
        header = self.header
        if row.is_blank() or _is_column_number_row(row):
            return
        if h.map_header_row(row.values).has(*h.REQUIRED_FIELDS):
            return  # the header repeated above a sub-table
        section = _section_title(row, header)
        if not self._check_row_width(row, short_allowed=section is not None):
            self.last_task = None
            return
        if section is not None:
            self.section = section
            self.last_task = None
            return
        if self._continues_last_task(row):
            self._merge_into_last_task(row)
            return
        state = self._document_for(row)
        if state is None:
            return
        self._record_details(state, row)
        if state.first_row is None:
            state.first_row = row.number
        task = self._task_from_row(row, state)
        state.tasks.append(task)
        state.task_rows.append(row.number)
        self.last_task = (state, task)

    def _check_row_width(self, row: Row, *, short_allowed: bool) -> bool:
        """Report a row with fewer cells than the header, or with filled cells past it.

        Either way a separator is usually missing or doubled, so the cells
        after it belong to other columns. Returns False for such a row.
        """
        width = self.header.width
        # In a file of several documents, the document-number cell may be shifted too.
        document = self.single.reference if self.single is not None else None
        if len(row.values) < width and not short_allowed:
            self._add(row.number, None, None, str(_l(
                "The row has {cells} cells but the header has {columns} columns; check for a "
                "missing separator."
            )).format(cells=len(row.values), columns=width), document or None)
            return False
        beyond = [index for index in range(width, len(row.values)) if row.text(index)]
        if beyond:
            self._add(row.number, h.column_letter(beyond[0]), row.text(beyond[0]), str(_l(
                "The row has {cells} cells but the header has {columns} columns; check for a "
                "separator too many, or name the extra columns in the header."
            )).format(cells=beyond[-1] + 1, columns=width), document or None)
            return False
        return True

    def _continues_last_task(self, row: Row) -> bool:
        number_column = self.header.columns[h.TASK_NO]
        content_column = self.header.columns[h.CONTENT]
        return (
            self.last_task is not None
            and number_column in row.inherited
            and content_column in row.inherited
        )

    def _agencies(self, row: Row, field_name: str, role: str, task: TaskInput,
                  state: _DocumentState) -> list[str] | None:
        """Return the agencies of a cell and add its groups to `task`.

        Returns None, after reporting the cell, when a name in it reads as a
        date or deadline: the cells of the row are then most likely shifted,
        and such a name must never become an agency.
        """
        column = self.header.columns.get(field_name)
        agencies, groups = classify_agency_cell(row.value(column))
        dated = _dated_name(agencies, groups)
        if dated is not None:
            self._add(row.number, self.header.label(field_name), dated, _l(
                "Reads as a date or deadline, not an agency name; check that the cells of this "
                "row are in the right columns."
            ), state.reference)
            return None
        for group in groups:
            if (role, group) not in task.group_assignments:
                task.group_assignments.append((role, group))
        return agencies

    def _task_from_row(self, row: Row, state: _DocumentState) -> TaskInput:
        header = self.header
        columns = header.columns
        task = TaskInput(origin=f"row {row.number}")
        task.task_no = _task_number(row.text(columns.get(h.TASK_NO)))
        content = row.value(columns.get(h.CONTENT))
        task.content = nfc(str(content)).strip() if content is not None else None
        task.product = row.text(columns.get(h.PRODUCT)) or None
        task.result_summary = row.text(columns.get(h.RESULT)) or None
        task.section = row.text(columns.get(h.SECTION)) or self.section

        lead = self._agencies(row, h.LEAD, "lead", task, state)
        task.lead_agencies = lead or []
        task.coordinating_agencies = (
            self._agencies(row, h.COORDINATING, "coordinating", task, state) or []
        )
        monitoring = self._agencies(row, h.MONITORING, "monitoring", task, state) or []
        if len(monitoring) > 1:
            self._add(row.number, header.label(h.MONITORING), row.text(columns.get(h.MONITORING)),
                      _l("Name one monitoring agency per task."), state.reference)
        task.monitoring_agency = monitoring[0] if monitoring else None

        lead_is_group = any(role == "lead" for role, _ in task.group_assignments)
        # A lead cell that holds a date was reported above; a second problem would repeat it.
        if lead == [] and not lead_is_group:
            self._add(row.number, header.label(h.LEAD), "", _l(
                "The lead agency is missing; name at least one. If this row is a section "
                "heading, put a Roman numeral or a letter in the STT column."
            ), state.reference)

        self._read_deadline(row, state, task)
        task.extra = self._extra(row, state) or None
        return task

    def _read_deadline(self, row: Row, state: _DocumentState, task: TaskInput) -> None:
        columns = self.header.columns
        value = row.value(columns.get(h.DEADLINE))
        try:
            task.deadline = parse_deadline(value, issued_on=state.issued_on)
        except DeadlineError as error:
            self._add(row.number, self.header.label(h.DEADLINE), cell_text(value), error,
                      state.reference)
            return
        for field_name in (h.DERIVED_DEADLINE_DAY, h.DERIVED_DEADLINE_END):
            derived = row.text(columns.get(field_name))
            if not derived:
                continue
            try:
                expected = _parse_day(derived)
            except ValueError:
                expected = None
            if expected != task.deadline.on:
                self._add(row.number, self.header.label(field_name), derived, str(_l(
                    "The deadline '{text}' reads as {on}, but this column gives {derived}; "
                    "correct one of them."
                )).format(text=task.deadline.text, on=task.deadline.on or str(_l("no date")),
                          derived=derived), state.reference)

    def _extra(self, row: Row, state: _DocumentState) -> dict:
        extra: dict = {}
        columns = self.header.columns
        note_column = columns.get(h.NOTE)
        extra_columns = dict(self.header.extra)
        if note_column is not None:
            extra_columns[note_column] = self.header.labels[note_column]
        for index, label in extra_columns.items():
            text = row.text(index)
            if text:
                extra[label] = text
        json_text = row.text(columns.get(h.EXTRA_JSON))
        if json_text:
            try:
                values = json.loads(json_text)
            except json.JSONDecodeError as error:
                values = None
                reason = str(_l("Invalid JSON ({error}); write an object such as "
                                '{{"Nguồn kinh phí": "..."}}.')).format(error=error.msg)
            else:
                reason = str(_l('Expected a JSON object such as {{"Nguồn kinh phí": "..."}}.'))
            if isinstance(values, dict):
                extra.update(values)
            else:
                self._add(row.number, self.header.label(h.EXTRA_JSON), json_text, reason,
                          state.reference)
        return extra

    def _merge_into_last_task(self, row: Row) -> None:
        """Add the agencies of a row whose STT and task cells are merged with the row above."""
        assert self.last_task is not None
        state, task = self.last_task
        for field_name, role, names in (
            (h.LEAD, "lead", task.lead_agencies),
            (h.COORDINATING, "coordinating", task.coordinating_agencies),
        ):
            if self.header.columns.get(field_name) in row.inherited:
                continue
            for name in self._agencies(row, field_name, role, task, state) or []:
                if fold(name) not in {fold(known) for known in names}:
                    names.append(name)
        deadline_column = self.header.columns.get(h.DEADLINE)
        value = row.value(deadline_column)
        if deadline_column not in row.inherited and cell_text(value):
            try:
                deadline = parse_deadline(value, issued_on=state.issued_on)
            except DeadlineError as error:
                self._add(row.number, self.header.label(h.DEADLINE), cell_text(value), error,
                          state.reference)
                return
            if task.deadline.text is None:
                task.deadline = deadline
            elif deadline.on != task.deadline.on or deadline.time_class != task.deadline.time_class:
                self._add(row.number, self.header.label(h.DEADLINE), cell_text(value), _l(
                    "This row continues the task above, which has another deadline; split the "
                    "task into rows of its own or give both rows one deadline."
                ), state.reference)

    # Finishing -------------------------------------------------------------------

    def finish(self) -> None:
        for state in self.documents.values():
            if self.multi and not state.tasks:
                continue
            self.result.documents.append(self._build(state))
        if not any(parsed.document.tasks for parsed in self.result.documents):
            self._add(None, None, None, _l("The table has no task rows under its header."))

    def _build(self, state: _DocumentState) -> ParsedDocument:
        options = self.options
        details = state.details

        def detail(field_name: str) -> str | None:
            value = details.get(field_name)
            return cell_text(value[1]) or None if value else None

        document = DocumentInput(
            reference=state.reference,
            kind_code=clean(options.kind) or detail(h.KIND),
            summary=clean(options.summary) or detail(h.SUMMARY),
            issued_on=state.issued_on,
            issuing_body=clean(options.issuer) or detail(h.ISSUER) or (
                None if self.multi else self.block.issuer),
            confidentiality=state.confidentiality,
            tasks=state.tasks,
            source=detail(h.SOURCE) or self._source(),
        )
        if state.confidentiality == REGULAR:
            for task, row_number in zip(state.tasks, state.task_rows, strict=True):
                if not task.content:
                    self._add(row_number, self.header.label(h.CONTENT), "", _l(
                        "The task content is missing; describe the task."
                    ), state.reference)
        else:
            self._strip_confidential(document)
        return ParsedDocument(document=document, header=self.header,
                              first_row=state.first_row, task_rows=state.task_rows)

    def _source(self) -> str:
        sheet = f", sheet {self.table.sheet}" if self.table.sheet else ""
        return f"import of {self.table.name}{sheet}"

    def _strip_confidential(self, document: DocumentInput) -> None:
        """Drop what a confidential or top-secret document must not store.

        The service enforces the same rule; the importer drops the text first
        so that it never leaves this function's caller.
        """
        had_summary = document.summary is not None
        document.summary = None
        for task in document.tasks:
            task.content = None
            task.product = None
            task.result_summary = None
            task.section = None
            task.extra = None
        if had_summary:
            note = _l(
                "{reference} is {level}: only task numbers, agencies and deadlines were kept; "
                "the document summary, task content, products, results and other columns "
                "were dropped."
            )
        else:
            note = _l(
                "{reference} is {level}: only task numbers, agencies and deadlines were kept; "
                "task content, products, results and other columns were dropped."
            )
        self.result.notes.append(str(note).format(
            reference=document.reference, level=confidentiality_name(document.confidentiality)))


def import_file(session, path: Path, options: ImportOptions | None = None, *,  # noqa: ANN001
                create_agencies: bool = False, dry_run: bool = False, actor: str | None = None,
                progress: bool = False):  # noqa: ANN201 - storing.ImportResult
    """Parse a file and store all its documents in `session` (a Session), or none of them.

    `create_agencies` and `dry_run` are used only when no `options` are
    given. The caller commits. When any problem is found, or in a dry run,
    the session is rolled back before this returns, so nothing is written.
    """
    from node.local_tasks.importer.storing import store_documents

    if options is None:
        options = ImportOptions(create_agencies=create_agencies, dry_run=dry_run)
    parsed = parse_file(path, options, progress=progress)
    return store_documents(session, parsed, options, actor=actor, progress=progress)
