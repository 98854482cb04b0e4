"""Live dashboard, map and change stream, checked against counts worked out by hand.

The sample documents hold eight tasks; their levels as of 10/07/2026 09:00
are worked out in tests/local_tasks/sample_data.py. The node's clock is set
to that instant through THEODOI_CLOCK.
"""

from __future__ import annotations

import re

import pytest

from node.auth.service import create_api_token, create_user, grant_role, org_unit_by_code
from node.local_tasks.api.workflow_routes import CLOCK_CONFIG_KEY
from node.local_tasks.timeparse import parse_instant
from tests.local_tasks.sample_data import (
    AT_JULY,
    CONCLUSION,
    COUNTS_IN_JULY,
    LEAD_AGENCIES_IN_JULY,
    RESOLUTION,
    numbered_plan,
)

CELL = re.compile(r'<td class="num" data-level="(\w+)">([\d.,]+)</td>')
# GSO code of Cà Mau, the only province that leads a sample task (T7).
CA_MAU = "96"


@pytest.fixture
def july_app(app):  # noqa: ANN001
    july = parse_instant(AT_JULY)
    app.config[CLOCK_CONFIG_KEY] = lambda: july
    return app


@pytest.fixture
def sample(july_app, client) -> None:  # noqa: ANN001
    for body in (RESOLUTION, CONCLUSION):
        response = client.post("/api/v1/documents", json=body)
        assert response.status_code == 201, response.get_data(as_text=True)


def html_of(client, url: str) -> str:  # noqa: ANN001
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def section(markup: str, start: str, end: str) -> str:
    return markup[markup.index(start):markup.index(end, markup.index(start))]


def level_cells(markup: str) -> dict[str, int]:
    return {level: int(value.replace(".", "").replace(",", ""))
            for level, value in CELL.findall(markup)}


def table_rows(markup: str, kind: str) -> dict[str, dict[str, int]]:
    """Return the counts of each row of the table `kind`, keyed by the row's visible name."""
    table = section(markup, f'data-table="{kind}"', "</table>")
    rows = {}
    for row in re.findall(r"<tr data-key=.*?</tr>", table, flags=re.S):
        name = re.sub(r"<[^>]+>", "", re.search(r"<th scope=\"row\">(.*?)</th>", row,
                                                  flags=re.S).group(1)).strip()
        counts = level_cells(row)
        rows[name] = {level: count for level, count in counts.items() if count}
    return rows


def test_dashboard_counts_by_level_in_july(sample, client):  # noqa: ANN001
    markup = html_of(client, "/dashboard/")
    levels = level_cells(section(markup, 'class="levels live-levels"', "</table>"))

    expected = {**COUNTS_IN_JULY, "total": 8}
    assert levels == expected
    # Overdue: in progress overdue 1, implemented not completed 1, not started overdue 2.
    assert re.search(r'data-figure="overdue">4<', markup)
    assert re.search(r'data-figure="completed_on_time">1<', markup)


def test_dashboard_counts_by_agency_and_document(sample, client):  # noqa: ANN001
    markup = html_of(client, "/dashboard/panel")

    agencies = table_rows(markup, "agency")
    expected = {name: {**counts, "total": sum(counts.values())}
                for name, counts in LEAD_AGENCIES_IN_JULY}
    assert agencies == expected
    documents = table_rows(markup, "document")
    # 01-NQ/TW: T1 on time, T2 in progress overdue, T3 not started overdue, T4 in progress.
    assert documents["01-NQ/TW"] == {"completed_on_time": 1, "in_progress_overdue": 1,
                                     "not_started_overdue": 1, "in_progress_on_time": 1,
                                     "total": 4}
    # 02-KL/TW: T5 late, T6 implemented, T7 not started on time, T8 will not be carried out.
    assert documents["02-KL/TW"] == {"completed_late": 1, "implemented_not_completed": 1,
                                     "not_started_on_time": 1, "not_started_overdue": 1,
                                     "total": 4}
    confidentiality = table_rows(markup, "confidentiality")
    assert confidentiality == {"Thường": {**COUNTS_IN_JULY, "total": 8}}


def test_dashboard_of_scoped_leader_counts_own_tasks(sample, july_app, session_factory):  # noqa: ANN001
    with session_factory() as session:
        user = create_user(session, username="lanhdao.ubkt", full_name="Lãnh đạo UBKT",
                           password="mat-khau-lanh-dao-2026")
        grant_role(session, user, "leader", org_unit_by_code(session, "UBKTTW"))
        _, token = create_api_token(session, user, "tests")
        session.commit()
    leader = july_app.test_client()
    leader.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"

    markup = html_of(leader, "/dashboard/panel")

    # Ủy ban Kiểm tra Trung ương monitors T1 (completed on time) and leads T5 (completed late).
    levels = level_cells(section(markup, 'class="levels live-levels"', "</table>"))
    assert {level: count for level, count in levels.items() if count} == {
        "completed_on_time": 1, "completed_late": 1, "total": 2}
    assert "02-KL/TW" in markup
    assert "Hội đồng Lý luận Trung ương" not in markup


def test_completed_per_month_chart(sample, client):  # noqa: ANN001
    markup = html_of(client, "/dashboard/panel")

    # T5 was completed late on 12/02/2026 and T1 on time on 20/03/2026.
    february = section(markup, 'data-month="02/26"', "</g>")
    march = section(markup, 'data-month="03/26"', "</g>")
    assert "0 hoàn thành đúng hạn, 1 hoàn thành quá hạn" in february.lower()
    assert "1 hoàn thành đúng hạn, 0 hoàn thành quá hạn" in march.lower()
    assert markup.count('class="month"') == 12


def test_map_draws_every_province(sample, client):  # noqa: ANN001
    markup = html_of(client, "/dashboard/map")

    paths = re.findall(r'<path class="province (rate-\w+)"[^>]*data-province="(\d+)"'
                       r'[^>]*data-name="([^"]+)"', markup, flags=re.S)
    assert len(paths) == 34
    assert len({code for _, code, _ in paths}) == 34
    bands = {code: band for band, code, _ in paths}
    # Cà Mau leads T7 alone, not started: 0 of 1 on time, the lowest band.
    assert bands[CA_MAU] == "rate-low"
    assert {band for code, band in bands.items() if code != CA_MAU} == {"rate-none"}
    assert "0 trên 1 nhiệm vụ hoàn thành đúng hạn (0,0 %)" in markup


def test_map_rate_counts_subtree_once(july_app, client, session_factory):  # noqa: ANN001
    body = numbered_plan(4, reference="09-KH/TU")
    for index, task in enumerate(body["tasks"]):
        task["lead_agencies"] = ["Tỉnh ủy Cà Mau"]
        if index < 3:
            task["reported_state"] = "completed"
            task["completed_at"] = "2026-05-04T09:00:00+07:00"
    response = client.post("/api/v1/documents", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)

    markup = html_of(client, "/dashboard/map/panel")

    # 3 of 4 tasks completed on 04/05, before the deadline of 30/09: 75 %.
    assert "3 trên 4 nhiệm vụ hoàn thành đúng hạn (75,0 %)" in markup
    match = re.search(r'<path class="province (rate-\w+)"[^>]*data-province="96"', markup)
    assert match.group(1) == "rate-fair"


def test_event_stream_reports_a_change(sample, client):  # noqa: ANN001
    response = client.get("/dashboard/events", buffered=False)
    assert response.mimetype == "text/event-stream"
    events = (chunk.decode() for chunk in response.response)
    assert next(events).startswith("retry:")
    hello = next(events)
    assert hello.startswith("event: hello")
    count = int(re.search(r"data: (\d+)", hello).group(1))

    created = client.post("/api/v1/documents", json=numbered_plan(1, reference="10-KH/TW"))
    assert created.status_code == 201

    change = next(events)
    assert change.startswith("event: change")
    assert int(re.search(r"data: (\d+)", change).group(1)) > count
    response.close()


def test_event_stream_when_busy_checks_once(sample, client):  # noqa: ANN001
    from node.dashboard import views

    held = [views._stream_slots.acquire(blocking=False) for _ in range(views.MAX_STREAMS)]
    try:
        assert all(held)
        response = client.get("/dashboard/events", headers={"Last-Event-ID": "0"})
        body = response.get_data(as_text=True)
    finally:
        for _ in held:
            views._stream_slots.release()

    # The response asks the page to reconnect later, after one check that found changes.
    assert body.startswith(f"retry: {views.BUSY_RETRY_MILLISECONDS}")
    assert "event: change" in body
