"""Exports of a report snapshot: DOCX laid out as a party document, XLSX and PDF.

`render_pdf` is the single place PDFs are made, so that signing can wrap it.
The PDF embeds DejaVu Serif (shipped in node/reports/fonts with its licence),
which covers every Vietnamese letter.
"""

from __future__ import annotations

import io
from pathlib import Path

from node.reports.layout import Layout, Table, layout
from node.reports.models import ReportSnapshot

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
FORMATS = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def file_name(snapshot: ReportSnapshot, fmt: str) -> str:
    return f"{layout(snapshot).file_stem}.{fmt}"


def render(snapshot: ReportSnapshot, fmt: str) -> bytes:
    """Return the report in `fmt` (docx, xlsx or pdf)."""
    renderers = {"docx": render_docx, "xlsx": render_xlsx, "pdf": render_pdf}
    if fmt not in renderers:
        raise ValueError(f"unknown export format {fmt!r}; use one of {sorted(renderers)}")
    return renderers[fmt](snapshot)


# DOCX ---------------------------------------------------------------------------


def _docx_paragraph(cell_or_doc, text: str, *, bold: bool = False, italic: bool = False,  # noqa: ANN001
                    underline: bool = False, size: int = 13, align: str = "center"):  # noqa: ANN202
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    paragraph = cell_or_doc.add_paragraph()
    paragraph.alignment = {"center": WD_ALIGN_PARAGRAPH.CENTER, "left": WD_ALIGN_PARAGRAPH.LEFT,
                           "justify": WD_ALIGN_PARAGRAPH.JUSTIFY}[align]
    run = paragraph.add_run(text)
    run.bold, run.italic, run.underline = bold, italic, underline
    run.font.size = Pt(size)
    return paragraph


def _docx_header(document, lay: Layout) -> None:  # noqa: ANN001
    table = document.add_table(rows=1, cols=2)
    left, right = table.rows[0].cells
    left.paragraphs[0].text = ""
    _docx_paragraph(left, lay.issuer_name, bold=True)
    _docx_paragraph(left, "*")
    _docx_paragraph(left, lay.number_line)
    right.paragraphs[0].text = ""
    _docx_paragraph(right, lay.party, bold=True, underline=True)
    _docx_paragraph(right, lay.place_date, italic=True)


def _docx_table(document, table: Table) -> None:  # noqa: ANN001
    from docx.shared import Pt

    _docx_paragraph(document, table.heading, bold=True, align="left")
    if table.rows:
        grid = document.add_table(rows=1, cols=len(table.columns))
        grid.style = "Table Grid"
        for cell, title in zip(grid.rows[0].cells, table.columns, strict=True):
            cell.text = title
            cell.paragraphs[0].runs[0].bold = True
        for row in table.rows:
            cells = grid.add_row().cells
            for cell, value in zip(cells, row, strict=True):
                cell.text = "" if value is None else str(value)
        for row in grid.rows:
            for cell in row.cells:
                for run in cell.paragraphs[0].runs:
                    run.font.size = Pt(10)
    if table.note:
        _docx_paragraph(document, table.note, italic=True, align="left", size=12)


def render_docx(snapshot: ReportSnapshot) -> bytes:
    """Return the report as a Word document laid out as a party document."""
    from docx import Document as WordDocument

    lay = layout(snapshot)
    document = WordDocument()
    document.styles["Normal"].font.name = "Times New Roman"
    document.core_properties.title = lay.title
    _docx_header(document, lay)
    if lay.is_draft:
        _docx_paragraph(document, lay.draft_word, bold=True, size=12)
    _docx_paragraph(document, lay.report_word, bold=True, size=15)
    _docx_paragraph(document, lay.title, bold=True, size=14)
    _docx_paragraph(document, "-----")
    for sentence in lay.sentences:
        _docx_paragraph(document, sentence, align="justify", size=13)
    for table in lay.tables:
        _docx_table(document, table)
    closing = document.add_table(rows=1, cols=2)
    left, right = closing.rows[0].cells
    left.paragraphs[0].text = ""
    _docx_paragraph(left, lay.recipients_heading, bold=True, italic=True, underline=True,
                    align="left", size=12)
    for recipient in lay.recipients:
        _docx_paragraph(left, f"- {recipient},", align="left", size=11)
    right.paragraphs[0].text = ""
    _docx_paragraph(right, lay.signature, bold=True)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# XLSX ---------------------------------------------------------------------------


def _sheet_title(text: str, used: set[str]) -> str:
    cleaned = "".join(" " if ch in "[]:*?/\\" else ch for ch in text)[:31].strip() or "Sheet"
    title, index = cleaned, 2
    while title in used:
        title = f"{cleaned[:28]} {index}"
        index += 1
    used.add(title)
    return title


def render_xlsx(snapshot: ReportSnapshot) -> bytes:
    """Return the report as a workbook: the heading and counts first, one sheet per list."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    lay = layout(snapshot)
    workbook = Workbook()
    used: set[str] = set()
    first = workbook.active
    for index, table in enumerate(lay.tables):
        sheet = first if index == 0 else workbook.create_sheet()
        sheet.title = _sheet_title(table.sheet or table.heading, used)
        if index == 0:
            for line in (lay.issuer_name, lay.number_line, lay.party, lay.place_date,
                         lay.report_word + ("" if not lay.is_draft else f" ({lay.draft_word})"),
                         lay.title, *lay.sentences, ""):
                sheet.append([line])
            sheet["A6"].font = Font(bold=True)
        sheet.append([table.heading])
        sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True)
        sheet.append(table.columns)
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for row in table.rows:
            sheet.append(row)
        if table.note:
            sheet.append([table.note])
        for letter, width in zip("ABCDEFGH", table.widths, strict=False):
            sheet.column_dimensions[letter].width = max(8, width * 9)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# PDF ----------------------------------------------------------------------------

FONT = "DejaVuSerif"


def _pdf():  # noqa: ANN202
    from fpdf import FPDF

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_margins(20, 15, 15)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_font(FONT, "", str(FONTS_DIR / "DejaVuSerif.ttf"))
    pdf.add_font(FONT, "B", str(FONTS_DIR / "DejaVuSerif-Bold.ttf"))
    pdf.add_font(FONT, "I", str(FONTS_DIR / "DejaVuSerif-Italic.ttf"))
    return pdf


def _pdf_header(pdf, lay: Layout) -> None:  # noqa: ANN001
    half = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    top = pdf.get_y()
    pdf.set_font(FONT, "B", 11)
    pdf.multi_cell(half, 5.5, lay.issuer_name, align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font(FONT, "", 11)
    pdf.multi_cell(half, 5.5, "*", align="C", new_x="LEFT", new_y="NEXT")
    pdf.multi_cell(half, 5.5, lay.number_line, align="C", new_x="LEFT", new_y="NEXT")
    bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + half, top)
    pdf.set_font(FONT, "BU", 11)
    pdf.multi_cell(half, 5.5, lay.party, align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font(FONT, "I", 11)
    pdf.multi_cell(half, 5.5, lay.place_date, align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_xy(pdf.l_margin, max(bottom, pdf.get_y()) + 6)


# A PDF table row must fit on one page. At 8.5 pt in the narrowest column
# (about 12 characters a line) 400 characters take about 34 lines (153 mm),
# well within the 267 mm of an A4 page, so longer cells are cut and marked.
# The DOCX and XLSX exports keep the whole text.
PDF_CELL_MAX_CHARS = 400


def _pdf_cell_text(value: object) -> str:
    text = "" if value is None else str(value)
    if len(text) <= PDF_CELL_MAX_CHARS:
        return text
    cut = text[:PDF_CELL_MAX_CHARS].rsplit(" ", 1)[0]
    return cut + " …"


def _pdf_table(pdf, table: Table) -> None:  # noqa: ANN001
    pdf.set_font(FONT, "B", 11)
    pdf.multi_cell(0, 6, table.heading, new_x="LMARGIN", new_y="NEXT")
    if table.rows:
        pdf.set_font(FONT, "", 8.5)
        with pdf.table(col_widths=table.widths, line_height=4.5, text_align="LEFT",
                       first_row_as_headings=True) as grid:
            header = grid.row()
            for title in table.columns:
                header.cell(title)
            for row in table.rows:
                cells = grid.row()
                for value in row:
                    cells.cell(_pdf_cell_text(value))
    if table.note:
        pdf.set_font(FONT, "I", 10)
        pdf.multi_cell(0, 5.5, table.note, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def render_pdf(snapshot: ReportSnapshot) -> bytes:
    """Return the report as a PDF with embedded Vietnamese fonts. The one place PDFs are made."""
    lay = layout(snapshot)
    pdf = _pdf()
    pdf.set_title(lay.title)
    pdf.set_creator("theodoi")
    pdf.set_lang("vi")
    pdf.add_page()
    _pdf_header(pdf, lay)
    if lay.is_draft:
        pdf.set_font(FONT, "B", 11)
        pdf.cell(0, 6, lay.draft_word, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "B", 14)
    pdf.cell(0, 8, lay.report_word, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "B", 12)
    pdf.multi_cell(0, 6.5, lay.title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(FONT, "", 11)
    for sentence in lay.sentences:
        pdf.multi_cell(0, 6, sentence, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for table in lay.tables:
        _pdf_table(pdf, table)
    pdf.ln(4)
    half = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    top = pdf.get_y()
    pdf.set_font(FONT, "B", 10)
    pdf.multi_cell(half, 5, lay.recipients_heading, new_x="LEFT", new_y="NEXT")
    pdf.set_font(FONT, "", 9.5)
    for recipient in lay.recipients:
        pdf.multi_cell(half, 5, f"- {recipient},", new_x="LEFT", new_y="NEXT")
    pdf.set_xy(pdf.l_margin + half, top)
    pdf.set_font(FONT, "B", 11)
    pdf.multi_cell(half, 5.5, lay.signature, align="C")
    return bytes(pdf.output())
