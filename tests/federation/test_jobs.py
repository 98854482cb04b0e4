"""The scheduled aggregate reports: which periods they cover and who sends them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from node.core.db import make_engine, make_session_factory
from node.federation.jobs import periods_to_report, push_aggregates
from tests.federation.nodes import (
    CENTRE,
    PROVINCE,
    link,
    make_node,  # noqa: F401 - fixture
    outbox,
)


def test_periods_in_progress_mid_quarter() -> None:
    # 14 May 2026 10:00 in Vietnam.
    at = datetime(2026, 5, 14, 3, 0, tzinfo=UTC)
    assert periods_to_report(at) == [
        ("month", date(2026, 5, 1)),
        ("quarter", date(2026, 4, 1)),
        ("half_year", date(2026, 1, 1)),
        ("year", date(2026, 1, 1)),
    ]


def test_periods_on_first_day_of_year() -> None:
    # 1 January 2027 06:30 in Vietnam is still 31 December 2026 in UTC.
    at = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    periods = periods_to_report(at)
    assert periods[:4] == [("month", date(2027, 1, 1)), ("quarter", date(2027, 1, 1)),
                           ("half_year", date(2027, 1, 1)), ("year", date(2027, 1, 1))]
    # Every period of 2026 that ended the day before is reported once more.
    assert periods[4:] == [("month", date(2026, 12, 1)), ("quarter", date(2026, 10, 1)),
                           ("half_year", date(2026, 7, 1)), ("year", date(2026, 1, 1))]


def test_periods_on_first_day_of_month() -> None:
    # 1 August 2026 10:00 in Vietnam: only July has just ended.
    periods = periods_to_report(datetime(2026, 8, 1, 3, 0, tzinfo=UTC))
    assert periods[4:] == [("month", date(2026, 7, 1))]


def run_push(node, at: datetime) -> int:  # noqa: ANN001
    engine = make_engine(node.settings.effective_database_url)
    try:
        return push_aggregates(make_session_factory(engine, node.settings), node.settings, now=at)
    finally:
        engine.dispose()


def test_child_queues_reports_for_parent(make_node) -> None:  # noqa: ANN001, F811
    centre, province = make_node(CENTRE), make_node(PROVINCE)
    link(centre, province)
    at = datetime(2026, 5, 14, 3, 0, tzinfo=UTC)

    queued = run_push(province, at)

    assert queued == 4
    messages = outbox(province, recipient=centre.node_id, message_type="aggregate_report")
    assert len(messages) == 4
    periods = set()
    for message in messages:
        payload = json.loads(message.body)["payload"]
        periods.add((payload["period"]["kind"], payload["period"]["start"]))
    assert periods == {("month", "2026-05-01"), ("quarter", "2026-04-01"),
                       ("half_year", "2026-01-01"), ("year", "2026-01-01")}


def test_centre_queues_no_reports(make_node) -> None:  # noqa: ANN001, F811
    centre = make_node(CENTRE)
    at = datetime(2026, 5, 14, 3, 0, tzinfo=UTC)

    assert run_push(centre, at) == 0
    assert outbox(centre, message_type="aggregate_report") == []
