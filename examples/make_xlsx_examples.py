"""Build the two XLSX examples from the rows of tasks_real_documents.csv.

Run from the repository root:

    .venv/bin/python examples/make_xlsx_examples.py

The workbooks copy the layout of the published appendices as an office
would send them: title rows above the header, section rows, merged cells and
dates stored as Excel date serials. Every cell text comes from the CSV; the
layout (which cells are merged, which rows are sub-rows) is reconstructed
from the published tables, as SOURCES.md explains.

* 2820_QD-UBND.xlsx: Phụ lục of 2820/QĐ-UBND. "Nguồn kinh phí" is merged
  down each section, and the three unnumbered sub-rows of tasks II.1, IV.2
  and V.1 share the merged STT cell of their task.
* 624_TB-VPCP.xlsx: Phụ lục I of 624/TB-VPCP. Three sub-tables, each with
  its own heading and header row. Deadlines are Excel date serials: in the
  first two sub-tables formatted as dd/mm/yyyy, in the third left as plain
  numbers, as happens when values are pasted without their format. Equal
  "Văn bản giao nhiệm vụ" and "Cơ quan chủ trì thực hiện" cells of
  consecutive rows are merged.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

HERE = Path(__file__).resolve().parent
SOURCE_CSV = HERE / "tasks_real_documents.csv"
EXCEL_EPOCH = date(1899, 12, 30)  # day zero of the 1900 date system, from serial 61 on

BOLD = Font(bold=True)
ITALIC = Font(italic=True)
WRAP = Alignment(wrap_text=True, vertical="top")
CENTRE = Alignment(horizontal="center", vertical="center", wrap_text=True)


def load_rows(reference: str) -> list[dict[str, str]]:
    with SOURCE_CSV.open(encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["document_number"] == reference]


def excel_serial(day: date) -> int:
    return (day - EXCEL_EPOCH).days


def title_rows(sheet: Worksheet, lines: list[tuple[str, Font | None]], width: int) -> int:
    """Write centred title lines merged across the table; return the next free row."""
    for number, (text, font) in enumerate(lines, start=1):
        cell = sheet.cell(row=number, column=1, value=text)
        cell.alignment = CENTRE
        if font is not None:
            cell.font = font
        sheet.merge_cells(start_row=number, start_column=1, end_row=number, end_column=width)
    return len(lines) + 2


def header_row(sheet: Worksheet, row: int, names: list[str]) -> None:
    for column, name in enumerate(names, start=1):
        cell = sheet.cell(row=row, column=column, value=name)
        cell.font = BOLD
        cell.alignment = CENTRE


def merge_down(sheet: Worksheet, column: int, first: int, last: int) -> None:
    if last > first:
        sheet.merge_cells(start_row=first, start_column=column, end_row=last, end_column=column)


def save(workbook: Workbook, path: Path) -> None:
    workbook.properties.creator = "theodoi examples"
    workbook.save(path)
    print(f"wrote {path.relative_to(HERE.parent)}")


# 2820/QĐ-UBND ----------------------------------------------------------------------

HEADERS_2820 = ["TT", "Nhiệm vụ", "Cơ quan chủ trì", "Cơ quan phối hợp",
                "Thời gian dự kiến hoàn thành", "Kết quả dự kiến", "Nguồn kinh phí"]
FUNDING = "Nguồn kinh phí"
SUB_ROW_CELLS = "_unparsed_following_cells_verbatim"


def sub_row_of(row: dict[str, str]) -> dict[str, str] | None:
    """Return the cells of the unnumbered sub-row that follows a task, if it has one.

    For IV.2 the CSV keeps the sub-row's task text under "Nguồn kinh phí",
    then its lead and coordinating agencies. For II.1 and V.1 the sub-row
    gives a task text and a lead agency.
    """
    extra = json.loads(row["other_columns_json"] or "{}")
    cells = extra.get(SUB_ROW_CELLS)
    if not cells:
        return None
    if row["task_no"] == "IV.2":
        return {"content": extra[FUNDING], "lead": cells[0], "coordinating": cells[1]}
    return {"content": cells[0], "lead": cells[1]}


def funding_of(row: dict[str, str]) -> str | None:
    extra = json.loads(row["other_columns_json"] or "{}")
    return None if row["task_no"] == "IV.2" else extra.get(FUNDING)


def build_2820(path: Path) -> None:
    rows = load_rows("2820/QĐ-UBND")
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Phụ lục"
    next_row = title_rows(sheet, [
        ("PHỤ LỤC", BOLD),
        ("NHIỆM VỤ CỦA CÁC SỞ, BAN, NGÀNH, PHƯỜNG, XÃ, ĐẶC KHU", BOLD),
        ("(Kèm theo Quyết định số 2820/QĐ-UBND ngày 19 tháng 11 năm 2025 của UBND "
         "Thành phố Hồ Chí Minh)", ITALIC),
    ], len(HEADERS_2820))
    header_row(sheet, next_row, HEADERS_2820)
    # The row of column numbers that many offices put under the header.
    for column in range(1, len(HEADERS_2820) + 1):
        sheet.cell(row=next_row + 1, column=column, value=f"({column})").alignment = CENTRE
    current = next_row + 2

    sections: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        sections.setdefault(row["section"], []).append(row)
    for section, section_rows in sections.items():
        numeral, _, title = section.partition(". ")
        sheet.cell(row=current, column=1, value=numeral).font = BOLD
        sheet.cell(row=current, column=2, value=title).font = BOLD
        current += 1
        first_task_row = current
        funding = funding_of(section_rows[0])
        for row in section_rows:
            task_row = current
            values = [int(row["task_no"].split(".")[1]), row["task_content"], row["lead_agency"],
                      row["coordinating_agencies"], row["deadline_text"], row["product"]]
            for column, value in enumerate(values, start=1):
                sheet.cell(row=task_row, column=column, value=value or None).alignment = WRAP
            current += 1
            sub_row = sub_row_of(row)
            if sub_row is None:
                continue
            sheet.cell(row=current, column=2, value=sub_row["content"]).alignment = WRAP
            sheet.cell(row=current, column=3, value=sub_row["lead"]).alignment = WRAP
            merge_down(sheet, 1, task_row, current)
            merge_down(sheet, 5, task_row, current)
            if "coordinating" in sub_row:
                sheet.cell(row=current, column=4, value=sub_row["coordinating"]).alignment = WRAP
            else:
                merge_down(sheet, 4, task_row, current)
                merge_down(sheet, 6, task_row, current)
            current += 1
        if funding:
            sheet.cell(row=first_task_row, column=7, value=funding).alignment = WRAP
            merge_down(sheet, 7, first_task_row, current - 1)

    for letter, width in zip("ABCDEFG", (6, 60, 28, 32, 16, 36, 24), strict=True):
        sheet.column_dimensions[letter].width = width
    save(workbook, path)


# 624/TB-VPCP -----------------------------------------------------------------------

HEADERS_624 = ["STT", "Nhiệm vụ", "Văn bản giao nhiệm vụ", "Cơ quan chủ trì thực hiện",
               "Thời hạn hoàn thành"]
ASSIGNING_DOCUMENT = "Văn bản giao nhiệm vụ"


def merge_equal_runs(sheet: Worksheet, column: int, cells: list[tuple[int, str]]) -> None:
    """Merge consecutive rows of one column that hold the same text."""
    start = 0
    for index in range(1, len(cells) + 1):
        if index == len(cells) or cells[index][1] != cells[start][1]:
            merge_down(sheet, column, cells[start][0], cells[index - 1][0])
            start = index


def build_624(path: Path) -> None:
    rows = load_rows("624/TB-VPCP")
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Phụ lục I"
    current = title_rows(sheet, [
        ("PHỤ LỤC I", BOLD),
        ("TỔNG HỢP CÁC NHIỆM VỤ CHẬM MUỘN THEO VĂN BẢN ĐÔN ĐỐC CỦA BAN CHỈ ĐẠO TRUNG ƯƠNG", BOLD),
        ("(Kèm theo Thông báo kết luận số 624/TB-VPCP ngày 16 tháng 11 năm 2025 của "
         "Văn phòng Chính phủ)", ITALIC),
        ("Dữ liệu tính đến ngày 07/11/2025", BOLD),
    ], len(HEADERS_624)) - 1

    sections: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        sections.setdefault(row["section"], []).append(row)
    for table_number, (section, section_rows) in enumerate(sections.items(), start=1):
        heading = sheet.cell(row=current, column=1, value=section)
        heading.font = BOLD
        sheet.merge_cells(start_row=current, start_column=1, end_row=current,
                          end_column=len(HEADERS_624))
        header_row(sheet, current + 1, HEADERS_624)
        current += 2
        documents: list[tuple[int, str]] = []
        leads: list[tuple[int, str]] = []
        for row in section_rows:
            number = row["task_no"].rsplit(".", 1)[1]
            assigning = json.loads(row["other_columns_json"])[ASSIGNING_DOCUMENT]
            sheet.cell(row=current, column=1, value=f"{number}.")
            sheet.cell(row=current, column=2, value=row["task_content"]).alignment = WRAP
            sheet.cell(row=current, column=3, value=assigning).alignment = WRAP
            sheet.cell(row=current, column=4, value=row["lead_agency"]).alignment = WRAP
            due = date.fromisoformat(row["deadline_iso_if_clear"])
            deadline = sheet.cell(row=current, column=5, value=excel_serial(due))
            if table_number < 3:
                deadline.number_format = "dd/mm/yyyy"
            documents.append((current, assigning))
            leads.append((current, row["lead_agency"]))
            current += 1
        merge_equal_runs(sheet, 3, documents)
        merge_equal_runs(sheet, 4, leads)
        current += 1

    for letter, width in zip("ABCDE", (6, 70, 30, 32, 14), strict=True):
        sheet.column_dimensions[letter].width = width
    save(workbook, path)


if __name__ == "__main__":
    build_2820(HERE / "2820_QD-UBND.xlsx")
    build_624(HERE / "624_TB-VPCP.xlsx")
