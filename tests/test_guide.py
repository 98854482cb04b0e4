"""The user guide page: its language, its terms and its links."""

from __future__ import annotations

import re

import pytest
from flask_babel import force_locale
from werkzeug.exceptions import MethodNotAllowed, NotFound

from node.auth.views import ROLE_LABELS
from node.guide import guide_path, render_guide
from node.local_tasks import deadlines_service
from node.local_tasks.views.labels import LEVEL_LABELS

LANGUAGES = ("vi", "en")


def _page(client, language: str) -> str:  # noqa: ANN001
    response = client.get(f"/guide?lang={language}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_guide_vietnamese_by_default(anonymous_client) -> None:  # noqa: ANN001
    page = anonymous_client.get("/guide").get_data(as_text=True)
    assert "<h1>Hướng dẫn sử dụng</h1>" in page
    assert "Mức độ hoàn thành" in page
    assert "Mục lục" in page


def test_guide_english_on_request(anonymous_client) -> None:  # noqa: ANN001
    page = _page(anonymous_client, "en")
    assert "<h1>User guide</h1>" in page
    assert "Completion levels" in page
    assert 'aria-label="Contents"' in page


def test_guide_linked_from_menu(client) -> None:  # noqa: ANN001
    page = client.get("/tasks").get_data(as_text=True)
    assert '<a href="/guide"' in page
    assert "Hướng dẫn sử dụng" in page


@pytest.mark.parametrize("language", LANGUAGES)
def test_guide_uses_screen_terms(app, anonymous_client, language: str) -> None:  # noqa: ANN001
    """The level and role names in the guide are the ones the screens show."""
    page = _page(anonymous_client, language)
    with app.test_request_context(), force_locale(language):
        levels = [str(label) for label in LEVEL_LABELS.values()]
        roles = [str(label) for label in ROLE_LABELS.values()]
    for label in levels + roles:
        assert label in page, f"{label!r} missing from the {language} guide"


def test_guide_languages_have_same_sections() -> None:
    vietnamese, english = (render_guide(language) for language in LANGUAGES)
    assert len(vietnamese.sections) == len(english.sections)
    assert len(vietnamese.sections) >= 10
    assert vietnamese.html.count("<table>") == english.html.count("<table>")
    assert vietnamese.html.count("<li>") == english.html.count("<li>")


@pytest.mark.parametrize("language", LANGUAGES)
def test_guide_links_open_pages(app, language: str) -> None:  # noqa: ANN001
    adapter = app.url_map.bind("localhost")
    links = re.findall(r'href="(/[^"#]*)"', render_guide(language).html)
    assert links, "the guide links to no page"
    for link in links:
        try:
            adapter.match(link, method="GET")
        except (NotFound, MethodNotAllowed):
            pytest.fail(f"the {language} guide links to {link}, which no page serves")


def test_guide_service_levels_match_code() -> None:
    """The working-time figures of Điều 6 in the guide are the ones the deadlines use."""
    text = guide_path("vi").read_text(encoding="utf-8")
    assert f"{deadlines_service.TRANSFER_WORKING_DAYS} ngày làm việc kể từ ngày ban hành" in text
    assert f"{deadlines_service.RECEIPT_WORKING_HOURS} giờ làm việc kể từ khi" in text
    assert f"{deadlines_service.OBJECTION_WORKING_HOURS} giờ làm việc kể từ khi tiếp nhận" in text
    assert f"{deadlines_service.FEEDBACK_WORKING_DAYS} ngày làm việc kể từ khi nhận" in text
    assert f"{deadlines_service.RESULT_REPORT_WORKING_DAYS} ngày làm việc sau thời hạn" in text
    assert f"{deadlines_service.RESULT_REPORT_WORKING_DAYS_LONG} ngày làm việc với nhiệm vụ" in text


def test_guide_escapes_raw_html(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    (tmp_path / "vi.md").write_text("# Tiêu đề\n\n<script>alert(1)</script>\n", encoding="utf-8")
    monkeypatch.setattr("node.guide.GUIDE_DIR", tmp_path)
    render_guide.cache_clear()
    try:
        html = render_guide("vi").html
    finally:
        render_guide.cache_clear()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
