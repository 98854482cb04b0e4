"""Capped totals of the task list: exact up to 1,000 matching tasks, "more than" beyond.

The data is one plan of 1,001 numbered tasks ("Nhiệm vụ số N của kế hoạch");
every task but the last has a deadline. Expected totals, by hand:

- no filter: 1,001 tasks, more than the cap of 1,000;
- has_deadline=true: tasks 1 to 1,000, exactly the cap;
- text "số 10": tasks 10, 100 to 109, 1000 and 1001, 13 tasks;
- the plan's own task list: 1,001 tasks, counted exactly.
"""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from node.local_tasks.models import OrgUnit
from tests.accounts import officer_token
from tests.conftest import (
    app_for_test,
    rolled_back_connection,
    savepoint,
    savepoint_sessions,
)

TASKS = 1001


def plan_of(count: int, reference: str = "09-KH/TW") -> dict:
    tasks = [{"task_no": str(number), "content": f"Nhiệm vụ số {number} của kế hoạch",
              "lead_agencies": ["Văn phòng Trung ương Đảng"], "deadline_on": "2026-09-30"}
             for number in range(1, count + 1)]
    del tasks[-1]["deadline_on"]
    tasks[-1]["time_class"] = "continuous"
    return {"reference": reference, "kind": "plan", "summary": "Kế hoạch có nhiều nhiệm vụ",
            "issued_on": "2026-03-02", "tasks": tasks}


@pytest.fixture(scope="module")
def module_connection(engine):  # noqa: ANN001, ANN201
    with rolled_back_connection(engine) as connection:
        yield connection


@pytest.fixture
def connection(module_connection):  # noqa: ANN001, ANN201
    with savepoint(module_connection) as connection:
        yield connection


@pytest.fixture(scope="module")
def plan(module_connection, shared_app) -> dict:  # noqa: ANN001
    """The plan of 1,001 tasks, stored once through the API for the tests of this module."""
    sessions = savepoint_sessions(module_connection)
    with sessions() as session:
        token = officer_token(session, "vanphong.danhsach")
        session.commit()
    with app_for_test(shared_app, sessions) as app:
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        response = client.post("/api/v1/documents", json=plan_of(TASKS))
    assert response.status_code == 201, response.get_data(as_text=True)[:2000]
    return response.get_json()


def api_page(client, **params) -> dict:  # noqa: ANN001
    response = client.get("/api/v1/tasks", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_json()


def visible(markup: str) -> str:
    text = re.sub(r"<[^>]+>", " ", markup)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def pager_links(markup: str) -> list[str]:
    pager = re.search(r'<nav class="pager".*?</nav>', markup, re.S)
    assert pager, "no pager"
    return [visible(item) for item in
            re.findall(r'<(?:a|span) [^>]*>(.*?)</(?:a|span)>', pager.group(0), re.S)]


def test_api_total_capped_at_limit(client, plan) -> None:  # noqa: ANN001
    first = api_page(client, page_size=50)
    twentieth = api_page(client, page_size=50, page=20)
    # The end of page 21 (1,050) lies past the cap, so the count goes on to it.
    last = api_page(client, page_size=50, page=21)

    assert (first["total"], first["total_exact"], first["pages"]) == (1000, False, 20)
    assert len(first["items"]) == 50
    assert (twentieth["total"], twentieth["total_exact"]) == (1000, False)
    assert [task["task_no"] for task in twentieth["items"]][-1] == "1000"
    assert (last["total"], last["total_exact"], last["pages"]) == (1001, True, 21)
    assert [task["task_no"] for task in last["items"]] == ["1001"]

    at_limit = api_page(client, has_deadline="true", page_size=50)
    searched = api_page(client, q="số 10", page_size=50)

    assert (at_limit["total"], at_limit["total_exact"], at_limit["pages"]) == (1000, True, 20)
    assert (searched["total"], searched["total_exact"], searched["pages"]) == (13, True, 1)
    assert sorted(int(task["task_no"]) for task in searched["items"]) == [
        10, *range(100, 110), 1000, 1001]

    # A document's own list counts its tasks exactly.
    body = client.get(f"/api/v1/documents/{plan['id']}", query_string={"page_size": 50})
    tasks = body.get_json()["tasks"]

    assert (tasks["total"], tasks["total_exact"], tasks["pages"]) == (1001, True, 21)


def test_web_total_capped_at_limit(client, plan) -> None:  # noqa: ANN001
    vietnamese = client.get("/tasks", query_string={"page_size": 50, "lang": "vi"}).get_data(
        as_text=True)
    english = client.get("/tasks", query_string={"page_size": 50, "lang": "en"}).get_data(
        as_text=True)

    assert "Tìm thấy hơn 1.000 nhiệm vụ · trang 1" in visible(vietnamese)
    assert "trang 1/" not in visible(vietnamese)
    assert "More than 1,000 tasks found · page 1" in visible(english)
    # Pages 1 to 20 are known, and a gap and Next show that more follow.
    assert pager_links(vietnamese) == ["1", "2", "3", "…", "20", "…", "Trang sau"]
    assert pager_links(english)[-2:] == ["…", "Next"]

    at_limit = client.get("/tasks", query_string={"page_size": 50, "has_deadline": "true",
                                                   "lang": "vi"})
    searched = client.get("/tasks", query_string={"q": "số 10", "lang": "en"})
    document = client.get(f"/documents/{plan['id']}", query_string={"page_size": 50, "lang": "vi"})

    assert "Tìm thấy 1000 nhiệm vụ · trang 1/20" in visible(at_limit.get_data(as_text=True))
    assert pager_links(at_limit.get_data(as_text=True)) == [
        "1", "2", "3", "…", "20", "Trang sau"]
    assert "13 tasks found" in visible(searched.get_data(as_text=True))
    assert "More than" not in searched.get_data(as_text=True)
    # A document's own list counts its 1,001 tasks exactly: 21 pages, no gap after the last.
    assert pager_links(document.get_data(as_text=True)) == [
        "1", "2", "3", "…", "21", "Trang sau"]


def test_filter_fields_show_selection(client, session) -> None:  # noqa: ANN001
    # Another reference than the module's plan, which other tests of the module may have stored.
    document = client.post("/api/v1/documents", json=plan_of(2, "10-KH/TW")).get_json()
    office = session.scalar(select(OrgUnit.id).where(OrgUnit.code == "VPTW"))

    markup = client.get("/tasks", query_string={"agency_id": office, "document_id": document["id"],
                                                "lang": "vi"}).get_data(as_text=True)

    assert 'name="agency" value="Văn phòng Trung ương Đảng"' in markup
    assert f'name="agency_id" value="{office}"' in markup
    assert 'name="document" value="10-KH/TW"' in markup
    assert f'name="document_id" value="{document["id"]}"' in markup
    assert "Tìm thấy 2 nhiệm vụ" in visible(markup)


def test_agency_page_past_cap(client, session, plan) -> None:  # noqa: ANN001
    office = session.scalar(select(OrgUnit.id).where(OrgUnit.code == "VPTW"))

    second = api_page(client, agency_id=office, role="lead", page_size=50, page=2)

    assert (second["total"], second["total_exact"]) == (1000, False)
    assert [task["task_no"] for task in second["items"]] == [str(n) for n in range(51, 101)]


def test_walk_chosen_by_agency_share(session, plan) -> None:  # noqa: ANN001
    from node.local_tasks.queries import TaskFilter, _walk_is_shorter

    office = session.scalar(select(OrgUnit.id).where(OrgUnit.code == "VPTW"))
    other = session.scalar(select(OrgUnit.id).where(OrgUnit.code == "BTCTW"))

    # Every task of the plan is led by the office: 100 rows take about 100 probes.
    assert _walk_is_shorter(session, TaskFilter(agency_id=office), 100)
    # An agency on no task never walks.
    assert not _walk_is_shorter(session, TaskFilter(agency_id=other), 100)
    assert not _walk_is_shorter(session, TaskFilter(), 100)
