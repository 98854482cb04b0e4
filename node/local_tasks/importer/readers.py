"""Reading of task tables from CSV and XLSX files into rows of cell values.

Every text cell comes out in NFC. Number and date cells of a workbook keep
their type, so deadlines written as Excel dates can be read as dates.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from node.core.i18n import lazy_gettext as _l
from node.core.text import clean, fold, nfc
from node.local_tasks.importer.headers import find_header_row

CSV_SUFFIXES = (".csv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")


class ReadError(ValueError):
    """A file cannot be read as a task table; the message names the file and the fix."""

    def __init__(self, template: object, **values: object) -> None:
        # The message is translated when the error is raised, into the current locale.
        super().__init__(str(template).format(**values))


@dataclass
class Row:
    """One row of a table: its number as a spreadsheet shows it and its cell values."""

    number: int
    values: list[object]
    # Indexes of the cells that took their value from a merged range above them.
    inherited: frozenset[int] = frozenset()

    def value(self, index: int | None) -> object:
        if index is None or index >= len(self.values):
            return None
        return self.values[index]

    def text(self, index: int | None) -> str:
        """Return the cell as one line of text ("" when empty)."""
        return cell_text(self.value(index))

    def is_blank(self) -> bool:
        return all(cell_text(value) == "" for value in self.values)


@dataclass
class Table:
    """The rows of one sheet or CSV file, with where they came from."""

    rows: list[Row]
    name: str
    sheet: str | None = None
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)


def cell_text(value: object) -> str:
    """Return a cell as text on one line: numbers without ".0", dates as dd/mm/yyyy."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"
    return clean(str(value))


def read_table(path: Path, *, sheet: str | None = None) -> Table:
    """Read a CSV or XLSX file; the kind is taken from the file name's suffix."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        if sheet:
            raise ReadError(_l("{name} is a CSV file and has no sheets; drop the sheet name"),
                            name=path.name)
        return read_csv_bytes(path.read_bytes(), name=path.name)
    if suffix in XLSX_SUFFIXES:
        return read_xlsx(path, sheet=sheet)
    if suffix == ".xls":
        raise ReadError(
            _l("{name} is an old Excel 97-2003 file; save it as .xlsx and import that"),
            name=path.name,
        )
    raise ReadError(_l("{name} is neither a CSV nor an XLSX file; import a .csv or .xlsx file"),
                    name=path.name)


# CSV --------------------------------------------------------------------------


def decode_csv_bytes(data: bytes) -> tuple[str, str]:
    """Decode a CSV file: UTF-8 with or without a byte order mark, else Windows-1258.

    Returns (text, encoding name). UTF-16 with a byte order mark, which
    Excel writes as "Unicode Text", is read too. Windows-1258 writes most
    tones as separate combining marks, so the text is normalised to NFC.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return nfc(data[3:].decode("utf-8")), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return nfc(data.decode("utf-16")), "utf-16"
    try:
        return nfc(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    # NOTE: any byte sequence decodes as Windows-1258, so a file in another
    # single-byte code page comes out as wrong letters rather than an error.
    return nfc(data.decode("cp1258")), "cp1258"


def _delimiter(text: str) -> str:
    sample = text[:8192]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def read_csv_bytes(data: bytes, *, name: str = "input.csv") -> Table:
    """Read CSV bytes into rows numbered from 1, as a spreadsheet shows the records."""
    text, encoding = decode_csv_bytes(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    rows: list[Row] = []
    try:
        for number, record in enumerate(reader, start=1):
            values: list[object] = [cell if cell.strip() else None for cell in record]
            rows.append(Row(number, values))
    except csv.Error as error:
        raise ReadError(_l("{name} is not valid CSV near record {record}: {error}"),
                        name=name, record=len(rows) + 1, error=error) from error
    return Table(rows=_trim_blank_end(rows), name=name, encoding=encoding)


# XLSX -------------------------------------------------------------------------


def read_xlsx(path: Path, *, sheet: str | None = None) -> Table:
    """Read one sheet of a workbook; a merged range gives its value to every row it covers.

    The value goes to the range's first column only: a title merged across
    columns stays in one cell, so it does not look like a full row.
    Without `sheet`, the first sheet that has a task header row is read.
    """
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as error:
        raise ReadError(_l("{name} cannot be opened as an XLSX workbook: {error}"),
                        name=path.name, error=error) from error
    try:
        if sheet is not None:
            if sheet not in workbook.sheetnames:
                raise ReadError(
                    _l("{name} has no sheet named {sheet!r}; its sheets are {sheets}"),
                    name=path.name, sheet=sheet,
                    sheets=", ".join(repr(name) for name in workbook.sheetnames),
                )
            return _read_sheet(workbook[sheet], path.name)
        tables = [_read_sheet(worksheet, path.name) for worksheet in workbook.worksheets]
    finally:
        workbook.close()
    for table in tables:
        if find_header_row([row.values for row in table.rows]) is not None:
            return table
    return tables[0]


def _read_sheet(worksheet, name: str) -> Table:  # noqa: ANN001 - openpyxl Worksheet
    grid: list[list[object]] = [
        [_xlsx_value(value) for value in values]
        for values in worksheet.iter_rows(values_only=True)
    ]
    inherited: dict[int, set[int]] = {}
    for merged in worksheet.merged_cells.ranges:
        top = merged.min_row - 1
        column = merged.min_col - 1
        if top >= len(grid):
            continue
        value = grid[top][column]
        for row_index in range(top + 1, min(merged.max_row, len(grid))):
            grid[row_index][column] = value
            inherited.setdefault(row_index, set()).add(column)
    rows = [
        Row(index + 1, values, frozenset(inherited.get(index, ())))
        for index, values in enumerate(grid)
    ]
    return Table(rows=_trim_blank_end(rows), name=name, sheet=worksheet.title)


def _xlsx_value(value: object) -> object:
    if isinstance(value, str):
        text = nfc(value).strip()
        return text or None
    return value


def _trim_blank_end(rows: list[Row]) -> list[Row]:
    while rows and rows[-1].is_blank():
        rows.pop()
    return rows


# Header block -----------------------------------------------------------------


@dataclass
class HeaderBlock:
    """Document details found in the title rows above the table header."""

    reference: str | None = None
    issued_on: date | None = None
    issuer: str | None = None
    # Confidentiality marks as (row number, text), e.g. (2, "Mật"), in reading order.
    confidentiality_marks: list[tuple[int, str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


# "Số: 03/NQ-CP" on a line of its own.
_NUMBER_LINE = re.compile(r"^số\s*:?\s*(\d[\w.]*\s*/\s*[^\s,;()]+)", re.IGNORECASE)
# "(Kèm theo Kế hoạch số 617/KH-UBND ngày 01/12/2025 của UBND tỉnh Đồng Tháp)".
_ATTACHED_TO = re.compile(
    r"kèm theo\b.*?\bsố\s*:?\s*(\d[\w.]*\s*/\s*[^\s,;()]+)(.*)", re.IGNORECASE
)
_WORDY_DATE = re.compile(r"ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})\s+năm\s+(\d{4})", re.IGNORECASE)
_NUMERIC_DATE = re.compile(r"ngày\s+(\d{1,2})\s*/\s*(\d{1,2})\s*/\s*(\d{4})", re.IGNORECASE)
# "Hà Nội, ngày 09 tháng 01 năm 2025": a place, a comma, then the date.
_PLACE_DATE = re.compile(r"^[^,]{2,60},\s*ngày\b", re.IGNORECASE)
_ISSUER = re.compile(r"\bcủa\s+(.+?)\s*\)?\s*$", re.IGNORECASE)
_CONFIDENTIALITY_LABEL = re.compile(r"^độ\s+mật\s*:?\s*(.*)$", re.IGNORECASE)
_CONFIDENTIALITY_STAMPS = {"mat", "toi mat", "tuyet mat"}


def _date_in(text: str) -> date | None:
    match = _WORDY_DATE.search(text) or _NUMERIC_DATE.search(text)
    if not match:
        return None
    day, month, year = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _reference(text: str) -> str:
    return re.sub(r"\s*/\s*", "/", text).rstrip(".")


def read_header_block(rows: list[Row]) -> HeaderBlock:
    """Collect what the title rows reliably give: number, issue date, issuer, confidentiality.

    The number and date come from a "Số: ..." line, or else from a
    "(Kèm theo ... số ... ngày ... của ...)" line, which also names the
    issuer. Other numbers in the titles usually belong to other documents, so
    they are ignored. A "Độ mật" cell or a cell holding only "Mật", "Tối mật"
    or "Tuyệt mật" gives the confidentiality.
    """
    block = HeaderBlock()
    attached: tuple[str, str] | None = None
    for row in rows:
        cells = [cell_text(value) for value in row.values]
        for position, text in enumerate(cells):
            if not text:
                continue
            block.lines.append(text)
            _read_confidentiality(block, row.number, text, cells[position + 1:])
            number = _NUMBER_LINE.match(text)
            if number and block.reference is None:
                block.reference = _reference(number.group(1))
            match = _ATTACHED_TO.search(text)
            if match and attached is None:
                attached = (_reference(match.group(1)), match.group(2))
            if block.issued_on is None and _PLACE_DATE.match(text):
                block.issued_on = _date_in(text)
    if attached is not None:
        reference, rest = attached
        if block.reference is None:
            block.reference = reference
        if block.reference == reference:
            block.issued_on = block.issued_on or _date_in(rest)
            issuer = _ISSUER.search(rest)
            if issuer:
                block.issuer = issuer.group(1).strip().rstrip(")").strip()
    return block


def _read_confidentiality(block: HeaderBlock, number: int, text: str, after: list[str]) -> None:
    label = _CONFIDENTIALITY_LABEL.match(text)
    if label:
        value = label.group(1).strip() or next((cell for cell in after if cell), "")
        if value:
            block.confidentiality_marks.append((number, value))
        return
    if fold(text).strip(" .") in _CONFIDENTIALITY_STAMPS:
        block.confidentiality_marks.append((number, text))
