"""Aggregate reports roll up from a sub-unit through a province to the centre."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from node.core.errors import ValidationError
from node.federation.aggregates import (
    node_aggregates,
    period_end,
    queue_aggregate_report,
    received_aggregates,
)
from node.federation.content_models import AggregateRow
from node.federation.envelope import EnvelopeRejected
from node.federation.service import receive_message
from node.local_tasks.completion import LEVELS
from tests.federation.nodes import (
    CENTRE,
    PROVINCE,
    SUB_UNIT,
    add_document,
    link,
    make_node,  # noqa: F401 - fixture
    outbox,
    pump,
    task_for,
)

Q1 = date(2026, 1, 1)


def instant(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 3, 0, tzinfo=UTC)


def counts(**values: int) -> dict[str, int]:
    return {level: values.get(level, 0) for level in LEVELS}


def test_period_end_of_each_kind() -> None:
    assert period_end("month", date(2026, 2, 1)) == date(2026, 2, 28)
    assert period_end("quarter", date(2026, 10, 1)) == date(2026, 12, 31)
    assert period_end("half_year", date(2026, 7, 1)) == date(2026, 12, 31)
    assert period_end("year", date(2028, 1, 1)) == date(2028, 12, 31)
    with pytest.raises(ValidationError) as caught:
        period_end("quarter", date(2026, 2, 1))
    assert "2026-02-01 does not start a quarter" in caught.value.message
    with pytest.raises(ValidationError):
        period_end("week", date(2026, 2, 2))


def test_three_level_chain_counts_each_task_once(make_node) -> None:  # noqa: ANN001, F811
    centre, province, sub_unit = make_node(CENTRE), make_node(PROVINCE), make_node(SUB_UNIT)
    link(centre, province)
    link(province, sub_unit)
    code = SUB_UNIT[2]

    # The centre assigns one task to the province: the centre counts it, the province does not.
    with centre.session() as session:
        add_document(session, "30-NQ/TW", [task_for(session, "TU01")])
    # The sub-unit's own tasks, levels as of 31 March 2026 (end of the first quarter):
    with sub_unit.session() as session:
        add_document(session, "1-KH/BTG", [
            # deadline 28 Feb, completed 20 Feb: completed on time
            task_for(session, code, deadline=date(2026, 2, 28), reported_state="completed",
                     completed_at=instant(date(2026, 2, 20))),
            # deadline 28 Feb, still in progress on 31 March: in progress, overdue
            task_for(session, code, deadline=date(2026, 2, 28), reported_state="in_progress"),
            # deadline 30 June, not started: not started, on time
            task_for(session, code, deadline=date(2026, 6, 30)),
        ], issued_on=date(2026, 1, 10))
        # Issued after the quarter: outside its population.
        add_document(session, "2-KH/BTG", [task_for(session, code)], issued_on=date(2026, 5, 1))
    # The province's own tasks:
    with province.session() as session:
        add_document(session, "5-KH/TU", [
            # deadline 31 Jan, completed 10 Feb: completed late
            task_for(session, "TU01", deadline=date(2026, 1, 31), reported_state="completed",
                     completed_at=instant(date(2026, 2, 10))),
            # assigned down to the sub-unit, deadline 15 March, not started: not started, overdue
            task_for(session, code, deadline=date(2026, 3, 15)),
            # ended without completion: implemented, not completed
            task_for(session, "TU01", deadline=date(2026, 3, 1),
                     reported_state="ended_not_completed"),
        ], issued_on=date(2026, 1, 15))
    pump(centre, province)
    assert [message.recipient_node_id for message in outbox(province, message_type="directive")] \
        == [SUB_UNIT[0]]
    pump(province, sub_unit)

    with sub_unit.session() as session:
        queue_aggregate_report(session, sub_unit.settings, "quarter", Q1)
    assert pump(sub_unit, province)[0]["rows"] == 1
    with province.session() as session:
        queue_aggregate_report(session, province.settings, "quarter", Q1)
    assert pump(province, centre)[0]["rows"] == 2

    with centre.session() as session:
        rows = {row.org_unit_code: row for row in received_aggregates(session, "quarter", Q1)}
        assert sorted(rows) == ["TU01", code]
        assert rows["TU01"].counts == counts(completed_late=1, implemented_not_completed=1)
        assert rows["TU01"].total == 2
        assert rows[code].counts == counts(completed_on_time=1, in_progress_overdue=1,
                                           not_started_on_time=1, not_started_overdue=1)
        assert rows[code].total == 4
        # Six tasks were assigned at the province or below by 31 March, each counted once.
        assert sum(row.total for row in rows.values()) == 6
        assert rows[code].org_unit_name == "Ban Tuyên giáo Thành ủy Hà Nội"

        # The centre's own view adds its task to the province (not started, on time).
        own = {row.org_unit_code: row for row in node_aggregates(session, centre.settings,
                                                                  "quarter", Q1)}
        assert own["TU01"].counts == counts(completed_late=1, implemented_not_completed=1,
                                            not_started_on_time=1)

    # A second report of the same period replaces the first instead of adding to it.
    with province.session() as session:
        queue_aggregate_report(session, province.settings, "quarter", Q1)
    pump(province, centre)
    with centre.session() as session:
        assert sum(row.total for row in received_aggregates(session, "quarter", Q1)) == 6
        assert len(session.scalars(select(AggregateRow)).all()) == 2
        assert received_aggregates(session, "quarter", date(2026, 4, 1)) == []


def test_report_with_wrong_total_rejected(make_node) -> None:  # noqa: ANN001, F811
    from node.federation.client import queue_message
    from node.federation.models import Peer
    from tests.federation.helpers import aggregate_report_payload

    centre, province = make_node(CENTRE), make_node(PROVINCE)
    link(centre, province)
    payload = aggregate_report_payload()
    payload["rows"][0]["total"] += 1
    with province.session() as session:
        message = queue_message(session, province.settings, session.scalar(select(Peer)),
                                "aggregate_report", payload)
    with pytest.raises(EnvelopeRejected) as caught, centre.session() as session:
        receive_message(session, centre.settings, message.body)
    assert caught.value.reason == "not_applicable"
    assert "total 5 is not the sum of its counts" in caught.value.message


def test_report_without_parent_rejected(make_node) -> None:  # noqa: ANN001, F811
    centre = make_node(CENTRE)
    with pytest.raises(ValidationError) as caught, centre.session() as session:
        queue_aggregate_report(session, centre.settings, "year", date(2026, 1, 1))
    assert "no parent node" in caught.value.message


def test_send_aggregates_command(make_node, monkeypatch, tmp_path) -> None:  # noqa: ANN001, F811
    from click.testing import CliRunner

    from node.cli import main

    centre, province = make_node(CENTRE), make_node(PROVINCE)
    link(centre, province)
    config = tmp_path / "province.toml"
    config.write_text(
        f'instance_path = "{province.settings.instance_path}"\n'
        f'database_url = "{province.settings.database_url}"\nlog_level = "WARNING"\n'
        '[node]\nid = "tu01-hanoi"\nlevel = 1\norg_unit = "TU01"\n', encoding="utf-8")
    monkeypatch.setenv("THEODOI_CONFIG", str(config))
    runner = CliRunner()

    result = runner.invoke(main, ["federation", "send-aggregates", "--period", "quarter",
                                  "--start", "2026-07-01"])
    assert result.exit_code == 0, result.output
    assert "of quarter 2026-07-01 to 2026-09-30 for centre" in result.output
    assert [row.message_type for row in outbox(province)] == ["aggregate_report"]

    wrong = runner.invoke(main, ["federation", "send-aggregates", "--period", "quarter",
                                 "--start", "2026-08-01"])
    assert wrong.exit_code == 2
    assert "2026-08-01 does not start a quarter" in wrong.output
