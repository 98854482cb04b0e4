"""Downloading this quarter's report in each format from the report pages, in headless Chromium."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.e2e.test_browser import node_url, sign_in  # noqa: F401 - node_url is a fixture

pytestmark = pytest.mark.browser


def _check_file(fmt: str, path: Path) -> str:
    """Open a downloaded report with the library of its format and return its text."""
    if fmt == "docx":
        from docx import Document

        document = Document(str(path))
        return "\n".join([p.text for p in document.paragraphs]
                         + [cell.text for table in document.tables
                            for row in table.rows for cell in row.cells])
    if fmt == "xlsx":
        from openpyxl import load_workbook

        workbook = load_workbook(str(path))
        return "\n".join(str(value) for sheet in workbook for row in sheet.iter_rows(
            values_only=True) for value in row if value is not None)
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(path.read_bytes()))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def test_download_this_quarters_report_in_each_format(node_url: str, page,  # noqa: ANN001, F811
                                              tmp_path: Path) -> None:
    sign_in(page, node_url, "/reports")
    assert page.locator("h1").inner_text() == "Báo cáo định kỳ"
    # The form's defaults select this quarter's summary, so one click produces it.
    page.get_by_role("button", name="Lập báo cáo").click()
    page.wait_for_url("**/reports/*")
    title = page.locator("h1").inner_text()
    assert title.startswith("Tổng hợp tình hình, kết quả thực hiện nhiệm vụ được giao quý")
    page.get_by_role("button", name="Ban hành báo cáo này").click()
    page.wait_for_load_state()
    assert "Đã ban hành báo cáo số 1-BC/VPTW" in page.locator("p.flash").inner_text()
    for fmt in ("docx", "xlsx", "pdf"):
        with page.expect_download() as caught:
            page.locator(f'a[data-format="{fmt}"]').click()
        download = caught.value
        assert download.suggested_filename.endswith(f".{fmt}")
        target = tmp_path / download.suggested_filename
        download.save_as(str(target))
        text = _check_file(fmt, target)
        assert "BÁO CÁO" in text, fmt
        assert "1-BC/VPTW" in text, fmt
        # The sample documents hold eight tasks in all.
        assert "Tổng số 8 nhiệm vụ" in text, fmt
