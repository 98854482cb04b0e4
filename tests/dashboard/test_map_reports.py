"""The centre's map adds the aggregate reports of provincial nodes, counting each task once.

A node rejects a message stamped more than five minutes before its clock, so
the reports are sent at the real time. The tasks' dates are chosen so their
levels do not depend on the day the test runs.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from node.core.timezone import VN_TZ
from node.federation.aggregates import queue_aggregate_report
from node.federation.jobs import period_start
from node.local_tasks.api.workflow_routes import CLOCK_CONFIG_KEY
from tests.accounts import officer_token
from tests.federation.nodes import (
    CENTRE,
    PROVINCE,
    SUB_UNIT,
    add_document,
    link,
    make_node,  # noqa: F401 - fixture
    pump,
    task_for,
)

# GSO code of Hà Nội, whose party committee TU01 runs the provincial node.
HA_NOI = "01"
LONG_AGO = date(2020, 6, 30)
FAR_AHEAD = date(2099, 12, 31)


def province_path(markup: str) -> str:
    return re.search(r'<path class="province[^>]*data-province="' + HA_NOI + r'"[^>]*>',
                     markup, flags=re.S).group(0)


def test_map_adds_province_report_once(make_node) -> None:  # noqa: ANN001, F811
    from node import create_app

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    today = now.astimezone(VN_TZ).date()
    year_report_at = now - timedelta(minutes=2)
    quarter_report_at = now - timedelta(minutes=1)
    previous_quarter = period_start("quarter", period_start("quarter", today) - timedelta(days=1))
    centre, province = make_node(CENTRE), make_node(PROVINCE)
    link(centre, province)
    # The centre assigns one task to Hà Nội, due in 2020 and not started: overdue.
    with centre.session() as session:
        add_document(session, "30-NQ/TW", [task_for(session, "TU01", deadline=LONG_AGO)],
                     issued_on=date(2020, 1, 6))
    pump(centre, province)
    with province.session() as session:
        # Completed before its deadline: completed on time.
        add_document(session, "5-KH/TU", [
            task_for(session, "TU01", deadline=LONG_AGO, reported_state="completed",
                     completed_at=datetime(2020, 5, 4, 2, 0, tzinfo=UTC)),
        ], issued_on=date(2020, 1, 15))
        # Issued today, after the previous quarter, due in 2099: not started, on time.
        add_document(session, "7-KH/TU", [task_for(session, SUB_UNIT[2], deadline=FAR_AHEAD)],
                     issued_on=today)
        queue_aggregate_report(session, province.settings, "year", period_start("year", today),
                               now=year_report_at)
        # A later report of a period that ended earlier: the map keeps the year's.
        queue_aggregate_report(session, province.settings, "quarter", previous_quarter,
                               now=quarter_report_at)
    results = pump(province, centre)
    # The year counts the province's two tasks, not the one it received from the centre.
    assert [result["rows"] for result in results] == [2, 1]

    app = create_app(centre.settings)
    app.config["TESTING"] = True
    app.config[CLOCK_CONFIG_KEY] = lambda: now
    with centre.session() as session:
        token = officer_token(session)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    try:
        response = client.get("/dashboard/map/panel")
    finally:
        app.extensions["theodoi_engine"].dispose()
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    path = province_path(response.get_data(as_text=True))

    # 1 own task (overdue) + 2 reported (1 on time, 1 open): 1 of 3 on time.
    assert "1 trên 3 nhiệm vụ hoàn thành đúng hạn (33,3 %)" in path
    assert 'class="province rate-low"' in path
    assert "Quá hạn: 1" in path
    assert 'data-source-own="Nhiệm vụ của nút này: 1"' in path
    # Vietnam is UTC+7 all year.
    report_time = (year_report_at + timedelta(hours=7)).strftime("%d/%m/%Y %H:%M")
    assert (f'data-source-reported="Nút tỉnh báo cáo: 2 nhiệm vụ, báo cáo lúc {report_time}"'
            in path)
