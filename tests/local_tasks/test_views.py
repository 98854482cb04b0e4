"""Web pages: dashboard, task list and task, documents, agencies, group assignments.

Data is posted through the API; the expected numbers are worked out by hand
in sample_data. Pages are Vietnamese unless ?lang=en requests English.
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from node.local_tasks.completion import LEVELS
from node.local_tasks.models import OrgUnit
from tests.local_tasks.sample_data import (
    AT_JULY,
    CONCLUSION,
    COUNTS_IN_JULY,
    LEAD_AGENCIES_IN_JULY,
    RESOLUTION,
    confidential_directive,
    numbered_plan,
)

VI_LEVEL_NAMES = {
    "completed_on_time": "Hoàn thành đúng hạn",
    "completed_late": "Hoàn thành quá hạn",
    "in_progress_on_time": "Đang thực hiện trong hạn",
    "in_progress_overdue": "Đang thực hiện quá hạn",
    "implemented_not_completed": "Đã triển khai nhưng chưa hoàn thành",
    "not_started_on_time": "Chưa triển khai trong hạn",
    "not_started_overdue": "Chưa triển khai quá hạn",
}


def post_document(client, body: dict) -> dict:  # noqa: ANN001
    response = client.post("/api/v1/documents", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def sample(client) -> dict:  # noqa: ANN001
    return {body["reference"]: post_document(client, body) for body in (RESOLUTION, CONCLUSION)}


def page_text(client, url: str, status: int = 200, **params) -> str:  # noqa: ANN001
    response = client.get(url, query_string=params) if params else client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def visible(markup: str) -> str:
    """Return the text of `markup` without tags, entities decoded and spaces collapsed."""
    text = re.sub(r"<[^>]+>", " ", markup)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def level_cell(markup: str, level: str) -> str:
    match = re.search(rf'data-level="{level}">(.*?)</td>', markup, re.S)
    assert match, level
    return visible(match.group(1))


def share_cell(markup: str, level: str) -> str:
    match = re.search(rf'data-level="{level}">.*?</td>\s*<td class="num">(.*?)</td>', markup, re.S)
    assert match, level
    return visible(match.group(1))


def agency_rows(markup: str) -> list[str]:
    return [visible(name) for name in re.findall(
        r'<tr data-agency="\d+">\s*<th scope="row"><a [^>]*>(.*?)</a>', markup, re.S)]


def task_rows(markup: str) -> list[str]:
    body = re.search(r'<table class="tasks">.*?<tbody>(.*?)</tbody>', markup, re.S)
    assert body, "no task table"
    return [visible(row) for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]


# Dashboard -----------------------------------------------------------------------


def test_dashboard_vietnamese_counts(client, sample) -> None:  # noqa: ANN001
    markup = page_text(client, "/", at=AT_JULY)

    assert '<html lang="vi">' in markup
    text = visible(markup)
    assert "Tổng quan tình hình thực hiện nhiệm vụ" in text
    assert "Nhiệm vụ theo mức độ hoàn thành" in text
    assert "Nhiệm vụ theo cơ quan chủ trì và mức độ hoàn thành" in text
    assert "Mức độ hoàn thành tính đến 10/07/2026 09:00." in text
    for level in LEVELS:
        assert level_cell(markup, level) == str(COUNTS_IN_JULY[level])
        assert VI_LEVEL_NAMES[level] in text
    assert level_cell(markup, "total") == "8"
    # One task in eight is 12,5 %, two are 25,0 %, with the Vietnamese decimal comma.
    assert share_cell(markup, "completed_on_time") == "12,5 %"
    assert share_cell(markup, "not_started_overdue") == "25,0 %"


def test_dashboard_agencies_in_vietnamese_order(client, sample) -> None:  # noqa: ANN001
    markup = page_text(client, "/", at=AT_JULY)

    assert agency_rows(markup) == [name for name, _ in LEAD_AGENCIES_IN_JULY]
    text = visible(markup)
    # The task led by a group of agencies gets its own row, outside every agency.
    assert "Giao nhóm cơ quan (chưa xác định)" in text


def test_dashboard_links_to_filtered_list(client, session, sample) -> None:  # noqa: ANN001
    markup = page_text(client, "/", at=AT_JULY)
    unit_id = session.scalar(select(OrgUnit.id).where(OrgUnit.code == "BTCTW"))

    links = [html.unescape(href) for href in re.findall(r'href="(/tasks\?[^"]*)"', markup)]
    queries = [parse_qs(urlsplit(link).query) for link in links]

    expected_query = {"agency_id": [str(unit_id)], "role": ["lead"],
                      "level": ["in_progress_overdue"], "at": [AT_JULY]}
    assert expected_query in queries
    target = links[queries.index(expected_query)]
    listed = page_text(client, target)
    rows = task_rows(listed)
    assert len(rows) == 1
    assert "Hoàn thiện thể chế về đất đai" in rows[0]
    # The task link keeps the instant, so the task page shows the same level.
    task_link = html.unescape(re.search(r'href="(/tasks/\d+\?[^"]*)"', listed).group(1))
    assert parse_qs(urlsplit(task_link).query) == {"at": [AT_JULY]}
    assert "Đang thực hiện quá hạn" in visible(page_text(client, task_link))


def test_dashboard_now_and_empty(client) -> None:  # noqa: ANN001
    text = visible(page_text(client, "/"))

    assert "Mức độ hoàn thành tính đến thời điểm hiện tại" in text
    assert "Chưa có nhiệm vụ nào." in text


def test_dashboard_english(client, sample) -> None:  # noqa: ANN001
    markup = page_text(client, "/", at=AT_JULY, lang="en")

    assert '<html lang="en">' in markup
    text = visible(markup)
    assert "Overview of task implementation" in text
    assert "Completed on time" in text
    assert "Not started, overdue" in text
    assert share_cell(markup, "completed_on_time") == "12.5 %"
    # The choice is remembered in a cookie for the next pages.
    assert "Task list" in visible(page_text(client, "/tasks"))
    assert "Danh sách nhiệm vụ" in visible(page_text(client, "/tasks", lang="vi"))


# Task list ---------------------------------------------------------------------------


def test_task_list_rows(client, sample) -> None:  # noqa: ANN001
    markup = page_text(client, "/tasks", at=AT_JULY, document_id=sample["01-NQ/TW"]["id"])

    rows = task_rows(markup)
    assert len(rows) == 4
    assert "Xây dựng đề án phát triển đường sắt tốc độ cao" in rows[0]
    assert "Văn phòng Trung ương Đảng" in rows[0]
    assert "31/03/2026" in rows[0]
    assert "Hoàn thành đúng hạn" in rows[0]
    # The deadline as written and the day it means.
    assert "Quý II/2026 30/06/2026" in rows[1]
    assert "Đang thực hiện quá hạn" in rows[1]
    assert "Các tỉnh ủy, thành ủy giao nhóm cơ quan (chưa xác định)" in rows[3]
    assert "Không có thời hạn" in rows[3]
    assert 'class="badge level-in_progress_overdue"' in markup


def test_task_list_filters_by_levels(client, sample) -> None:  # noqa: ANN001
    markup = page_text(client, "/tasks", at=AT_JULY,
                       level=["not_started_overdue", "completed_late"])

    rows = task_rows(markup)
    assert len(rows) == 3
    assert "Tìm thấy 3 nhiệm vụ" in visible(markup)
    for row in rows:
        assert ("Chưa triển khai quá hạn" in row) or ("Hoàn thành quá hạn" in row)
    assert re.search(r'value="completed_late" checked', markup)


def test_task_list_filters_by_agency_role(client, session, sample) -> None:  # noqa: ANN001
    unit_id = session.scalar(select(OrgUnit.id).where(OrgUnit.code == "BTCTW"))

    any_role = task_rows(page_text(client, "/tasks", agency_id=unit_id))
    as_lead = task_rows(page_text(client, "/tasks", agency_id=unit_id, role="lead"))

    assert len(any_role) == 3
    assert len(as_lead) == 2


def test_task_list_other_filters(client, sample) -> None:  # noqa: ANN001
    in_spring = task_rows(page_text(client, "/tasks", deadline_from="2026-03-01",
                                    deadline_to="2026-06-01"))
    without = task_rows(page_text(client, "/tasks", has_deadline="false"))
    of_document = task_rows(page_text(client, "/tasks", document_id=sample["02-KL/TW"]["id"]))

    assert len(in_spring) == 3
    assert len(without) == 1
    assert "Tuyên truyền nghị quyết" in without[0]
    assert len(of_document) == 4


@pytest.mark.parametrize(("text", "expected"), [
    ("duong sat toc do cao", "Xây dựng đề án phát triển đường sắt tốc độ cao"),
    ("dat dai", "Hoàn thiện thể chế về đất đai"),
    ("DAT DAI", "Hoàn thiện thể chế về đất đai"),
    ("tuyen truyen", "Tuyên truyền nghị quyết"),
])
def test_task_search_without_accents(client, sample, text: str, expected: str) -> None:  # noqa: ANN001
    markup = page_text(client, "/tasks", q=text)

    rows = task_rows(markup)
    assert len(rows) == 1
    assert expected in rows[0]
    assert f'value="{text}"' in markup


def test_task_search_no_match(client, sample) -> None:  # noqa: ANN001
    text = visible(page_text(client, "/tasks", q="không tồn tại"))

    assert "Tìm thấy 0 nhiệm vụ" in text
    assert "Không có nhiệm vụ nào phù hợp với bộ lọc." in text


def test_task_list_pagination(client) -> None:  # noqa: ANN001
    post_document(client, numbered_plan(7))

    first = page_text(client, "/tasks", page_size=3)
    last = page_text(client, "/tasks", page_size=3, page=3)

    assert "Tìm thấy 7 nhiệm vụ · trang 1/3" in visible(first)
    assert len(task_rows(first)) == 3
    assert "Tìm thấy 7 nhiệm vụ · trang 3/3" in visible(last)
    assert len(task_rows(last)) == 1
    assert "Nhiệm vụ số 7 của kế hoạch" in task_rows(last)[0]
    pager = re.search(r'<nav class="pager".*?</nav>', first, re.S).group(0)
    assert [visible(link) for link in re.findall(r"<a [^>]*>(.*?)</a>", pager)] == [
        "2", "3", "Trang sau"]
    assert 'href="/tasks?page_size=3&amp;page=2"' in pager


def test_task_list_invalid_filter_page(client) -> None:  # noqa: ANN001
    markup = page_text(client, "/tasks", status=400, level="bogus", deadline_from="30/06/2026")

    text = visible(markup)
    assert "Yêu cầu không hợp lệ" in text
    assert "level = bogus" in text
    assert "deadline_from = 30/06/2026" in text


def test_confidential_row_shows_no_content(client) -> None:  # noqa: ANN001
    post_document(client, confidential_directive())

    rows = task_rows(page_text(client, "/tasks"))

    assert "Nội dung mật — không lưu" in rows[0]
    assert "Ban Nội chính Trung ương" in rows[0]


# Task page -------------------------------------------------------------------------------


def test_task_page_fields(client, sample) -> None:  # noqa: ANN001
    task_id = sample["01-NQ/TW"]["tasks"]["items"][0]["id"]

    text = visible(page_text(client, f"/tasks/{task_id}", at=AT_JULY))

    assert "Nhiệm vụ 1 Hoàn thành đúng hạn" in text
    assert "Cơ quan chủ trì Văn phòng Trung ương Đảng" in text
    assert "Cơ quan phối hợp Ban Tổ chức Trung ương" in text
    assert "Cơ quan theo dõi Ủy ban Kiểm tra Trung ương" in text
    assert "Thời hạn tính được: 31/03/2026 (hết hạn lúc 31/03/2026 23:59, theo ngày)" in text
    # Completed at 09:00 in Hà Nội, stored as 02:00 UTC, shown in Vietnam time.
    assert "Thời điểm hoàn thành 20/03/2026 09:00" in text
    assert "Mức độ ưu tiên: Trọng tâm, ưu tiên" in text
    assert "Hạn chuyển giao 08/01/2026 17:00" in text
    assert "Hạn báo cáo kết quả 03/04/2026 17:00" in text
    assert "Mốc báo cáo giữa kỳ" in text
    assert "Lịch sử" in text
    assert "Tạo nhiệm vụ vanphong.test" in text


def test_task_page_deadline_as_written(client, sample) -> None:  # noqa: ANN001
    task_id = sample["02-KL/TW"]["tasks"]["items"][2]["id"]

    text = visible(page_text(client, f"/tasks/{task_id}", at=AT_JULY))

    assert "Theo văn bản: Năm 2026" in text
    assert "31/12/2026" in text
    assert "cuối năm" in text
    assert "Chưa triển khai trong hạn" in text
    # The result report falls in 2027, which the working calendar does not cover yet.
    assert "Hạn báo cáo kết quả Chưa tính được: chưa có lịch làm việc của năm đó" in text
    html = page_text(client, f"/tasks/{task_id}", at=AT_JULY)
    assert re.search(r'class="pending" title="[^"]*2027', html)


def test_task_page_group_assignment(client, sample) -> None:  # noqa: ANN001
    task_id = sample["01-NQ/TW"]["tasks"]["items"][3]["id"]

    text = visible(page_text(client, f"/tasks/{task_id}"))

    assert "Các tỉnh ủy, thành ủy chưa xác định cơ quan cụ thể" in text
    assert "Không có thời hạn: nhiệm vụ không bị tính quá hạn." in text


def test_task_page_confidential(client) -> None:  # noqa: ANN001
    document = post_document(client, confidential_directive())
    task_id = document["tasks"]["items"][0]["id"]

    text = visible(page_text(client, f"/tasks/{task_id}"))

    assert "Nội dung mật — không lưu" in text
    assert "Văn bản giao nhiệm vụ có độ mật «Mật»" in text
    assert "Độ mật Mật" in text


def test_task_page_english(client, sample) -> None:  # noqa: ANN001
    task_id = sample["01-NQ/TW"]["tasks"]["items"][0]["id"]

    text = visible(page_text(client, f"/tasks/{task_id}", lang="en"))

    assert "Lead agency Văn phòng Trung ương Đảng" in text
    assert "Transfer deadline 08/01/2026 17:00" in text
    assert "Result report deadline" in text
    assert "Priority: Key priority" in text


def test_missing_task_page(client) -> None:  # noqa: ANN001
    text = visible(page_text(client, "/tasks/999999", status=404))

    assert "Không tìm thấy" in text
    assert "Về trang tổng quan" in text


# Documents, agencies, group assignments -------------------------------------------------------


def test_document_list(client, sample) -> None:  # noqa: ANN001
    post_document(client, confidential_directive())

    text = visible(page_text(client, "/documents"))

    assert "Văn bản giao nhiệm vụ" in text
    assert "3 văn bản" in text
    assert "01-NQ/TW Nghị quyết 05/01/2026 Về phát triển hạ tầng giao thông" in text
    assert "05-CT/TW Chỉ thị 02/02/2026 Văn bản mật — không lưu trích yếu" in text


def test_document_page(client, sample) -> None:  # noqa: ANN001
    document_id = sample["02-KL/TW"]["id"]

    markup = page_text(client, f"/documents/{document_id}", at=AT_JULY)

    text = visible(markup)
    assert "Kết luận 02-KL/TW" in text
    assert "Trích yếu Về công tác kiểm tra, giám sát" in text
    assert "Ngày ban hành 12/01/2026" in text
    assert "Số lượng nhiệm vụ 4" in text
    assert level_cell(markup, "completed_late") == "1"
    assert level_cell(markup, "completed_on_time") == "0"
    assert level_cell(markup, "total") == "4"
    assert len(task_rows(markup)) == 4


def test_confidential_document_page(client) -> None:  # noqa: ANN001
    document = post_document(client, confidential_directive())

    text = visible(page_text(client, f"/documents/{document['id']}"))

    assert "Trích yếu Không lưu" in text
    assert "Văn bản có độ mật «Mật»: hệ thống chỉ lưu số, ký hiệu" in text
    assert "không lưu trích yếu và nội dung nhiệm vụ" in text


def test_agencies_page_highlights_review(client) -> None:  # noqa: ANN001
    body = numbered_plan(1)
    body["tasks"][0]["lead_agencies"] = ["Bộ Công Thương"]
    response = client.post("/api/v1/documents?create_agencies=true", json=body)
    assert response.status_code == 201

    markup = page_text(client, "/agencies")
    only_review = page_text(client, "/agencies", needs_review="1")

    assert "1 cơ quan cần rà soát vị trí trong cây tổ chức." in visible(markup)
    assert re.search(r'<tr class="needs-review">\s*<td>Bộ Công Thương', markup)
    rows = re.findall(r"<tr[^>]*>\s*<td>(.*?)</td>", only_review, re.S)
    assert [visible(row) for row in rows] == ["Bộ Công Thương cần rà soát"]


def test_group_assignments_page(client, sample) -> None:  # noqa: ANN001
    text = visible(page_text(client, "/group-assignments"))

    assert "Giao nhóm cơ quan cần xác định" in text
    assert "1 nội dung giao nhóm cơ quan cần xác định" in text
    assert "01-NQ/TW Nhiệm vụ 4 Cơ quan chủ trì Các tỉnh ủy, thành ủy" in text


def test_style_sheet_served(client) -> None:  # noqa: ANN001
    markup = page_text(client, "/")
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', markup).group(1)

    response = client.get(href)

    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert b".level-not_started_overdue" in response.data
    response.close()
    # Nothing is loaded from outside the node.
    assert "http://" not in markup
    assert "https://" not in markup


def test_oversized_upload_explained(app, anonymous_client) -> None:  # noqa: ANN001
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    response = anonymous_client.post("/login", data={"username": "a" * (2 * 1024 * 1024)},
                                     headers={"Accept": "text/html"})
    assert response.status_code == 413
    text = response.get_data(as_text=True)
    assert "Tệp tải lên quá lớn" in text
    assert "vượt quá giới hạn 1 MB" in text
