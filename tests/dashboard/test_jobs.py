"""The daily dashboard job moves the horizon and stores the day's snapshot."""

from __future__ import annotations

from node.core.db import utcnow
from node.dashboard import counters
from node.dashboard.jobs import start_day
from node.dashboard.models import DashboardDailySnapshot
from node.scheduler.registry import find_job
from tests.dashboard.test_counters import NOW, make_task


def test_start_day_moves_horizon_and_snapshots(session_factory, settings, calendar):  # noqa: ANN001
    with session_factory() as session:
        counters.rebuild(session, now=NOW)
        make_task(session, calendar)
        session.commit()

    start_day(session_factory, settings)

    with session_factory() as session:
        today = counters.local_day(utcnow())
        assert counters.read_state(session)["horizon_at"] == counters.day_start(utcnow())
        snapshot = session.get(DashboardDailySnapshot, today)
        assert snapshot is not None
        # The task made by make_task is due 30/06/2026 and not started.
        assert sum(snapshot.level_counts.values()) == 1
        assert counters.compare_with_recount(session) == []


def test_start_day_is_registered():
    assert find_job("dashboard.start_day").target == "node.dashboard.jobs:start_day"
