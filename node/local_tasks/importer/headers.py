"""Recognition of the header row of a task table.

Offices name the same column in many ways ("STT", "TT", "Số TT"; "Cơ quan
chủ trì", "Đơn vị chủ trì thực hiện"), in any case, with or without
accents and with line breaks. Headers are compared folded (lower case, no
accents, single spaces), first against exact names, then by the words they
start with or contain.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from node.core.text import fold

# Fields a column can fill.
TASK_NO = "task_no"
CONTENT = "content"
LEAD = "lead"
COORDINATING = "coordinating"
MONITORING = "monitoring"
DEADLINE = "deadline"
PRODUCT = "product"
RESULT = "result"
NOTE = "note"
SECTION = "section"
CONFIDENTIALITY = "confidentiality"
REFERENCE = "reference"
SUMMARY = "summary"
ISSUED_ON = "issued_on"
ISSUER = "issuer"
KIND = "kind"
EXTRA_JSON = "extra_json"
SOURCE = "source"
# Columns that the maker of a file derived from another column. They are
# checked against that column but never stored.
DERIVED_DEADLINE_DAY = "derived_deadline_day"
DERIVED_DEADLINE_END = "derived_deadline_end"

# The columns without which a row cannot be read as a task.
REQUIRED_FIELDS = (TASK_NO, CONTENT, LEAD)

# Exact header names, folded. The English names are those of the task table
# exported as CSV (one row per task, several documents per file).
_EXACT = {
    "stt": TASK_NO, "tt": TASK_NO, "so tt": TASK_NO, "so thu tu": TASK_NO, "thu tu": TASK_NO,
    "task_no": TASK_NO, "no": TASK_NO, "#": TASK_NO,
    "nhiem vu": CONTENT, "noi dung": CONTENT, "noi dung nhiem vu": CONTENT,
    "ten nhiem vu": CONTENT, "task_content": CONTENT, "content": CONTENT,
    "chu tri": LEAD, "lead_agency": LEAD, "lead_agencies": LEAD,
    "phoi hop": COORDINATING, "coordinating_agencies": COORDINATING,
    "theo doi": MONITORING, "monitoring_agency": MONITORING,
    "tien do": DEADLINE, "deadline_text": DEADLINE, "deadline": DEADLINE,
    "san pham": PRODUCT, "ket qua": PRODUCT, "product": PRODUCT,
    "ghi chu": NOTE, "note": NOTE,
    "section": SECTION,
    "do mat": CONFIDENTIALITY, "confidentiality": CONFIDENTIALITY,
    "document_number": REFERENCE, "so ky hieu": REFERENCE, "so, ky hieu": REFERENCE,
    "so hieu van ban": REFERENCE, "document_title": SUMMARY, "trich yeu": SUMMARY,
    "issued_date": ISSUED_ON, "ngay ban hanh": ISSUED_ON, "issuer": ISSUER,
    "co quan ban hanh": ISSUER, "document_kind": KIND, "loai van ban": KIND,
    "other_columns_json": EXTRA_JSON, "source_ref": SOURCE,
    "deadline_iso_if_clear": DERIVED_DEADLINE_DAY,
    "deadline_period_end_iso": DERIVED_DEADLINE_END,
}

# Rules tried in order when no exact name matches: (field, match kind, words).
# "contains" looks for the words anywhere, "starts" at the beginning.
_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (COORDINATING, "contains", ("phoi hop",)),
    (LEAD, "contains", ("chu tri",)),
    (MONITORING, "contains", ("theo doi",)),
    (DEADLINE, "starts", ("thoi gian", "thoi han", "tien do", "han hoan thanh", "moc thoi gian")),
    (RESULT, "starts", ("ket qua thuc hien", "tinh hinh thuc hien")),
    (PRODUCT, "contains", ("san pham",)),
    (PRODUCT, "starts", ("ket qua",)),
    (NOTE, "starts", ("ghi chu",)),
    (CONFIDENTIALITY, "starts", ("do mat",)),
    (CONTENT, "starts", ("noi dung", "ten nhiem vu", "nhiem vu", "ten de an")),
)

_NUMBERING = re.compile(r"\(\s*\d+\s*\)|\(\s*\*\s*\)|[:*]")
_SPACES = re.compile(r"\s+")


def normalise_header(cell: object) -> str:
    """Fold a header cell and drop column numbers such as "(1)", stars and colons."""
    if cell is None:
        return ""
    text = _NUMBERING.sub(" ", fold(str(cell)))
    return _SPACES.sub(" ", text).strip(" .")


def match_header(cell: object) -> str | None:
    """Return the field a header cell names, or None for a column to keep as extra data."""
    text = normalise_header(cell)
    if not text:
        return None
    if text in _EXACT:
        return _EXACT[text]
    for field_name, match_kind, words in _RULES:
        if match_kind == "contains" and any(word in text for word in words):
            return field_name
        if match_kind == "starts" and text.startswith(words):
            return field_name
    return None


@dataclass
class HeaderMap:
    """The column of each field in a table, and the columns that match no field."""

    columns: dict[str, int] = field(default_factory=dict)
    # Column index to header text, for the columns kept as extra data.
    extra: dict[int, str] = field(default_factory=dict)
    # Column index to header text as written, for messages.
    labels: dict[int, str] = field(default_factory=dict)

    def has(self, *fields: str) -> bool:
        return all(name in self.columns for name in fields)

    def label(self, field_name: str) -> str | None:
        """Return the column letter and header of `field_name`, e.g. "E (Thời hạn)"."""
        index = self.columns.get(field_name)
        return None if index is None else self.label_of(index)

    def label_of(self, index: int) -> str:
        return f"{column_letter(index)} ({self.labels.get(index, '')})"

    @property
    def width(self) -> int:
        """Number of columns up to the last named one. Empty header cells after it do not count."""
        return max(self.labels, default=-1) + 1


def column_letter(index: int) -> str:
    """Return the spreadsheet letter of a 0-based column index (0 is A, 26 is AA)."""
    letters = ""
    number = index + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


# The letters that start a column label: "E" of "E (Thời hạn)", or a bare "AA".
_LABEL_LETTERS = re.compile(r"^([A-Z]+)(?: \(|$)")


def column_index(label: str | None) -> int | None:
    """Return the 0-based column of a label made by `HeaderMap.label_of` or `column_letter`.

    Returns None for other text, such as an option name ("--reference").
    """
    match = _LABEL_LETTERS.match(label or "")
    if match is None:
        return None
    index = 0
    for letter in match.group(1):
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def map_header_row(cells: Sequence[object]) -> HeaderMap:
    """Map the cells of a header row to fields; the first column naming a field wins."""
    header = HeaderMap()
    for index, cell in enumerate(cells):
        text = _SPACES.sub(" ", str(cell)).strip() if cell is not None else ""
        if not text:
            continue
        header.labels[index] = text
        field_name = match_header(text)
        if field_name is None or field_name in header.columns:
            header.extra[index] = text
        else:
            header.columns[field_name] = index
    return header


# Rows searched for the header. Title blocks of real appendices take fewer
# than ten rows; a header lower than this is not the table's header.
HEADER_SEARCH_ROWS = 50


def find_header_row(rows: Sequence[Sequence[object]]) -> int | None:
    """Return the index of the first row that names the STT, task and lead-agency columns.

    Rows above it are title rows. Only the first HEADER_SEARCH_ROWS rows are searched.
    """
    for index, cells in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if map_header_row(cells).has(*REQUIRED_FIELDS):
            return index
    return None
