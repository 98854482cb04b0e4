"""The scheduler: one runner per database, one run per scheduled instant, catch-up once."""

from __future__ import annotations

import threading
import time as wall_time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from node import create_app
from node.cli import main
from node.core import migrate
from node.core.db import make_engine
from node.core.settings import Settings
from node.core.timezone import VN_TZ
from node.scheduler.models import SchedulerJobRun, SchedulerJobState
from node.scheduler.registry import JOBS, JobSpec
from node.scheduler.runner import SchedulerRunner
from node.scheduler.triggers import TriggerSpecError, build_trigger, latest_fire_time

CALLS: list[str] = []
CALLS_LOCK = threading.Lock()


def record_call(session_factory, settings) -> None:  # noqa: ANN001
    """A job that only records that it ran."""
    with CALLS_LOCK:
        CALLS.append(settings.node_id)


def failing_job(app) -> None:  # noqa: ANN001
    raise RuntimeError("the job broke")


DAILY = JobSpec("test.daily", "tests.scheduler.test_scheduler:record_call",
                {"cron": {"hour": 6, "minute": 15}})
FAILING = JobSpec("test.failing", "tests.scheduler.test_scheduler:failing_job",
                  {"cron": {"hour": 6, "minute": 15}})


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()
    yield
    CALLS.clear()


def _runner(app, clock: Clock, name: str, jobs=(DAILY,)) -> SchedulerRunner:  # noqa: ANN001
    return SchedulerRunner(app, jobs=list(jobs), clock=clock, name=name)


def test_cron_trigger_fires_in_vietnam_time():
    trigger = build_trigger({"cron": {"hour": 6, "minute": 15}})
    now = datetime(2026, 3, 4, 0, 0, tzinfo=UTC)  # 07:00 in Vietnam

    latest = latest_fire_time(trigger, now=now)

    assert latest == datetime(2026, 3, 3, 23, 15, tzinfo=UTC)


def test_invalid_trigger_names_the_problem():
    with pytest.raises(TriggerSpecError, match="unknown kind 'weekly'"):
        build_trigger({"weekly": {"day": 1}})


def test_registry_ids_are_unique_and_resolvable():
    from node.scheduler.runner import check_target

    ids = [spec.job_id for spec in JOBS]
    assert len(ids) == len(set(ids))
    for spec in JOBS:
        check_target(spec.target)
        build_trigger(spec.trigger_for(Settings()))


def test_second_runner_waits_for_the_lease(app):
    clock = Clock(datetime(2026, 3, 4, 7, 0, tzinfo=VN_TZ))
    # No jobs: the test's database connection must not be shared with job threads.
    first, second = _runner(app, clock, "first", ()), _runner(app, clock, "second", ())
    try:
        first.tick()
        second.tick()
        assert first.is_running_jobs
        assert not second.is_running_jobs

        clock.now += timedelta(seconds=31)  # the first runner stopped renewing
        second.tick()
        first.tick()
        assert second.is_running_jobs
        assert not first.is_running_jobs
    finally:
        first.stop()
        second.stop()


def test_one_run_per_scheduled_instant(app, session):
    clock = Clock(datetime(2026, 3, 4, 6, 15, 1, tzinfo=VN_TZ))
    first, second = _runner(app, clock, "first"), _runner(app, clock, "second")

    outcomes = [first.run_scheduled("test.daily"), second.run_scheduled("test.daily")]

    assert outcomes == ["succeeded", "skipped"]
    assert CALLS == ["local"]
    runs = session.scalars(select(SchedulerJobRun)).all()
    assert [(run.job_id, run.scheduled_for, run.runner) for run in runs] == [
        ("test.daily", datetime(2026, 3, 3, 23, 15, tzinfo=UTC), "first")]


def test_missed_run_caught_up_once_after_restart(app, session):
    clock = Clock(datetime(2026, 3, 4, 6, 15, 1, tzinfo=VN_TZ))
    assert _runner(app, clock, "before").run_scheduled("test.daily") == "succeeded"

    # Down from Wednesday 07:00 to Saturday 09:00: the runs of Thursday,
    # Friday and Saturday were missed; only Saturday's is run, once.
    clock.now = datetime(2026, 3, 7, 9, 0, tzinfo=VN_TZ)
    restarted = _runner(app, clock, "after")
    assert restarted.missed_runs() == [("test.daily", datetime(2026, 3, 7, 6, 15, tzinfo=VN_TZ))]
    assert restarted.catch_up() == {"test.daily": "succeeded"}
    assert _runner(app, clock, "again").catch_up() == {}

    assert CALLS == ["local", "local"]
    state = session.get(SchedulerJobState, "test.daily")
    assert state.last_scheduled_for == datetime(2026, 3, 6, 23, 15, tzinfo=UTC)
    assert state.last_status == "succeeded"
    reasons = session.scalars(select(SchedulerJobRun.reason).order_by(SchedulerJobRun.id)).all()
    assert reasons == ["schedule", "catch_up"]


def test_no_catch_up_before_the_scheduled_time(app):
    clock = Clock(datetime(2026, 3, 4, 6, 15, 1, tzinfo=VN_TZ))
    _runner(app, clock, "before").run_scheduled("test.daily")

    clock.now = datetime(2026, 3, 5, 6, 0, tzinfo=VN_TZ)

    assert _runner(app, clock, "after").missed_runs() == []


def test_failed_job_is_recorded_and_not_repeated(app, session):
    clock = Clock(datetime(2026, 3, 4, 7, 0, tzinfo=VN_TZ))
    runner = _runner(app, clock, "only", jobs=(FAILING,))

    assert runner.catch_up() == {"test.failing": "failed"}
    assert runner.catch_up() == {}

    run = session.scalars(select(SchedulerJobRun)).one()
    assert run.status == "failed"
    assert "the job broke" in run.error


@pytest.fixture
def committed_app(tmp_path: Path, fresh_database_url: str):
    """An app on its own database, for runners whose threads commit for real."""
    settings = Settings(instance_path=tmp_path / "instance", database_url=fresh_database_url,
                        secret_key="scheduler-test", log_level="WARNING")
    settings.instance_path.mkdir()
    engine = make_engine(fresh_database_url)
    migrate.upgrade(engine)
    engine.dispose()
    app = create_app(settings)
    yield app
    app.extensions["theodoi_engine"].dispose()


def test_apscheduler_runs_the_job_of_the_lease_holder(committed_app):
    every_second = JobSpec("test.every_second", "tests.scheduler.test_scheduler:record_call",
                           {"interval": {"seconds": 1}})
    holder = SchedulerRunner(committed_app, jobs=[every_second], name="holder")
    waiting = SchedulerRunner(committed_app, jobs=[every_second], name="waiting")
    try:
        holder.tick()
        waiting.tick()
        deadline = wall_time.monotonic() + 10
        while len(CALLS) < 3 and wall_time.monotonic() < deadline:
            wall_time.sleep(0.1)
    finally:
        holder.stop()
        waiting.stop()

    assert len(CALLS) >= 3
    with committed_app.extensions["theodoi_sessions"]() as session:
        runners = set(session.scalars(select(SchedulerJobRun.runner)))
        instants = session.scalars(select(SchedulerJobRun.scheduled_for)).all()
    assert runners == {"holder"}
    assert len(instants) == len(set(instants))


def test_cli_lists_and_runs_jobs(node_config, monkeypatch):
    monkeypatch.setenv("THEODOI_CONFIG", str(node_config))
    runner = CliRunner()
    assert runner.invoke(main, ["init"], catch_exceptions=False).exit_code == 0

    listed = runner.invoke(main, ["scheduler", "list"], catch_exceptions=False)
    ran = runner.invoke(main, ["scheduler", "run-once", "workflow.open_explanations"],
                        catch_exceptions=False)
    unknown = runner.invoke(main, ["scheduler", "run-once", "no.such.job"])

    assert listed.exit_code == 0, listed.output
    assert "workflow.open_explanations" in listed.output
    assert "in Asia/Ho_Chi_Minh" in listed.output
    assert ran.exit_code == 0, ran.output
    assert "workflow.open_explanations: succeeded" in ran.output
    assert unknown.exit_code == 2
    assert "unknown job 'no.such.job'" in unknown.output
