"""Agency and document search fields of the task list, and their suggestion endpoints.

The sample documents name five agencies, all under the central party
committee: Văn phòng Trung ương Đảng, Ban Tổ chức Trung ương, Ủy ban Kiểm
tra Trung ương, Hội đồng Lý luận Trung ương and Tỉnh ủy Cà Mau, an alias of
"Đảng bộ tỉnh Cà Mau (Tỉnh ủy Cà Mau)". Expected orders follow the
Vietnamese alphabet (b, d, đ, h, u, ư, v), worked out by hand.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from node.local_tasks.models import OrgUnit
from tests.local_tasks.sample_data import CONCLUSION, RESOLUTION
from tests.local_tasks.test_views import page_text, post_document, task_rows

DECISION = {"reference": "15-QĐ/TW", "kind": "decision", "summary": "Quyết định về đào tạo",
            "issued_on": "2026-04-01",
            "tasks": [{"task_no": "1", "content": "Đào tạo cán bộ",
                       "lead_agencies": ["Văn phòng Trung ương Đảng"], "time_class": "ad_hoc"}]}


@pytest.fixture
def sample(client) -> dict:  # noqa: ANN001
    return {body["reference"]: post_document(client, body)
            for body in (RESOLUTION, CONCLUSION, DECISION)}


def suggested(client, kind: str, **params) -> list:  # noqa: ANN001
    response = client.get(f"/api/v1/suggestions/{kind}", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_json()["items"]


def unit_id(session, code: str) -> int:  # noqa: ANN001
    return session.scalar(select(OrgUnit.id).where(OrgUnit.code == code))


def test_agencies_folded_in_vietnamese_order(client, sample) -> None:  # noqa: ANN001
    names = [item["name"] for item in suggested(client, "agencies", q="trung uong")]

    assert names == ["Ban Tổ chức Trung ương", "Hội đồng Lý luận Trung ương",
                     "Ủy ban Kiểm tra Trung ương", "Văn phòng Trung ương Đảng"]


def test_agencies_starting_with_text_first(client, sample) -> None:  # noqa: ANN001
    names = [item["name"] for item in suggested(client, "agencies", q="ỦY")]

    assert names == ["Ủy ban Kiểm tra Trung ương", "Đảng bộ tỉnh Cà Mau (Tỉnh ủy Cà Mau)"]


def test_agencies_limited(client, sample) -> None:  # noqa: ANN001
    items = suggested(client, "agencies", q="trung uong", limit="2")

    assert [item["name"] for item in items] == ["Ban Tổ chức Trung ương",
                                                "Hội đồng Lý luận Trung ương"]
    assert set(items[0]) == {"id", "code", "name", "parent"}


def test_agencies_without_tasks_left_out(client, sample) -> None:  # noqa: ANN001
    names = [item["name"] for item in suggested(client, "agencies", limit="50")]

    assert names == ["Ban Tổ chức Trung ương", "Đảng bộ tỉnh Cà Mau (Tỉnh ủy Cà Mau)",
                     "Hội đồng Lý luận Trung ương", "Ủy ban Kiểm tra Trung ương",
                     "Văn phòng Trung ương Đảng"]


def test_documents_match_reference_or_summary(client, sample) -> None:  # noqa: ANN001
    by_letters = suggested(client, "documents", q="qd")
    by_summary = suggested(client, "documents", q="kiem tra")
    everything = suggested(client, "documents")

    assert [item["reference"] for item in by_letters] == ["15-QĐ/TW"]
    assert by_letters[0]["summary"] == "Quyết định về đào tạo"
    assert [item["reference"] for item in by_summary] == ["02-KL/TW"]
    assert [item["reference"] for item in everything] == ["01-NQ/TW", "02-KL/TW", "15-QĐ/TW"]


@pytest.mark.parametrize(("params", "name", "message"), [
    ({"limit": "0"}, "limit", "out of range; give a number of at least 1"),
    ({"limit": "51"}, "limit", "out of range; give a number of at most 50"),
    ({"limit": "ten"}, "limit", "invalid integer; give a whole number such as 12"),
    ({"q": "x" * 201}, "q", "too long; type at most 200 characters"),
    ({"name": "Ban"}, "name", "unknown query parameter; known parameters are q, limit"),
])
def test_suggestion_rejects_bad_parameter(client, params, name, message) -> None:  # noqa: ANN001
    response = client.get("/api/v1/suggestions/agencies", query_string=params)

    assert response.status_code == 400
    problems = response.get_json()["errors"]
    assert [problem["path"] for problem in problems] == [name]
    assert problems[0]["message"] == message


def test_page_filters_by_typed_agency(client, session, sample) -> None:  # noqa: ANN001
    any_role = task_rows(page_text(client, "/tasks", agency="ban to chuc TRUNG UONG"))
    as_lead = task_rows(page_text(client, "/tasks", agency="Ban Tổ chức Trung ương",
                                  role="lead"))

    assert len(any_role) == 3
    assert len(as_lead) == 2


def test_page_typed_agency_replaces_stale_id(client, session, sample) -> None:  # noqa: ANN001
    markup = page_text(client, "/tasks", agency="Tỉnh ủy Cà Mau",
                       agency_id=str(unit_id(session, "BTCTW")))

    rows = task_rows(markup)
    assert len(rows) == 1
    assert "Sơ kết công tác ở Cà Mau" in rows[0]
    assert f'name="agency_id" value="{unit_id(session, "BTCTW")}"' not in markup


def test_page_shows_name_of_agency_id(client, session, sample) -> None:  # noqa: ANN001
    btctw = unit_id(session, "BTCTW")
    markup = page_text(client, "/tasks", agency_id=str(btctw))

    assert 'name="agency" value="Ban Tổ chức Trung ương"' in markup
    assert f'name="agency_id" value="{btctw}"' in markup
    assert "<select id=\"agency_id\"" not in markup


def test_page_filters_by_typed_document(client, sample) -> None:  # noqa: ANN001
    markup = page_text(client, "/tasks", document="02-kl/tw")

    assert len(task_rows(markup)) == 4
    assert 'name="document" value="02-KL/TW"' in markup
    assert f'name="document_id" value="{sample["02-KL/TW"]["id"]}"' in markup


@pytest.mark.parametrize(("params", "name"), [
    ({"agency": "Ban Không Có"}, "agency"),
    ({"document": "99-KH/TW"}, "document"),
])
def test_page_rejects_unknown_name(client, sample, params, name) -> None:  # noqa: ANN001
    markup = page_text(client, "/tasks", status=400, **params)

    assert name in markup
    assert next(iter(params.values())) in markup
    assert "choose one of the suggestions" in markup
