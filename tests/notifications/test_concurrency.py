"""One warning per task, kind and day, and one e-mail each, however many processes run the job.

`theodoi serve` runs with 4 gunicorn workers on a loopback port, sharing one
database of the suite's engine; every worker starts a scheduler runner.
Separately, 4 `theodoi scheduler run-once` processes run the daily job at
the same moment, bypassing the lease, to show that the unique indexes and
the e-mail claims alone keep the result exact.

The node's calendar here counts every weekday as working and makes today a
make-up working day if it is a holiday, so that the job raises warnings
whatever day the suite runs on.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time as wall_time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from node.core.db import make_engine, make_session_factory, unit_of_work
from node.core.settings import DEFAULT_CALENDAR_DIR, load_settings
from node.core.timezone import VN_TZ
from node.demo import free_port
from node.local_tasks.calendar import load_calendar
from node.notifications.models import DeadlineWarning, Notification, WebhookDelivery
from node.notifications.webhooks import create_webhook
from node.scheduler.models import SchedulerJobRun
from tests.notifications.helpers import add_person, add_tasks
from tests.notifications.mail_server import MailServer
from tests.notifications.webhook_receiver import WebhookReceiver

THEODOI = str(Path(sys.executable).with_name("theodoi"))
JOB = "notifications.daily_warnings"
WORKERS = 4


def _calendar_dir(tmp_path: Path, today: date) -> Path:
    folder = tmp_path / "calendar"
    shutil.copytree(DEFAULT_CALENDAR_DIR, folder)
    return folder


def _write_config(tmp_path: Path, database_url: str, smtp_port: int, run_at: str) -> Path:
    config = tmp_path / "theodoi.toml"
    config.write_text(f"""\
instance_path = "instance"
database_url = "{database_url}"
calendar_dir = "{tmp_path / 'calendar'}"
log_level = "INFO"

[working_hours]
weekdays = [1, 2, 3, 4, 5, 6, 7]

[warnings]
run_at = "{run_at}"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
sender = "canhbao@theodoi.test"
""", encoding="utf-8")
    return config


def _make_today_working(config: Path) -> None:
    """Add today to its year's file as a make-up working day if the calendar has it off."""
    settings = load_settings(config)
    today = datetime.now(VN_TZ).date()
    if load_calendar(settings).is_working_day(today):
        return
    year_file = settings.calendar_dir / f"{today.year}.toml"
    with year_file.open("a", encoding="utf-8") as handle:
        handle.write(f'\n[[makeup_working_days]]\ndate = {today.isoformat()}\n'
                     'reason = "Ngày làm việc của nút kiểm thử"\nsource = "kiểm thử"\n')


def _prepare_node(config: Path, receiver: WebhookReceiver) -> dict:
    """Initialise the node and store three tasks, two people with e-mail and a webhook."""
    from node.cli import initialise_node

    settings = load_settings(config)
    initialise_node(settings)
    calendar = load_calendar(settings)
    today = datetime.now(VN_TZ).date()
    engine = make_engine(settings.effective_database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        tasks = add_tasks(session, calendar, {
            "today": today,
            "soon": calendar.add_working_days(today, 1),
            "late": today - timedelta(days=10),
        }, issued_on=today - timedelta(days=30))
        add_person(session, "capnhat.dongthoi", "updater", "TU04", email="capnhat@caobang.test")
        add_person(session, "vanphong.dongthoi", "central_officer", "VPTW",
                   email="vanphong@vptw.test")
        receiver.secret = create_webhook(session, name="Thu nhận", url=receiver.url,
                                         actor="kiemthu").secret
        ids = {name: task.id for name, task in tasks.items()}
    engine.dispose()
    return ids


def _check_exactly_once(config: Path, task_ids: dict, mail_server: MailServer,
                        receiver: WebhookReceiver) -> None:
    settings = load_settings(config)
    today = datetime.now(VN_TZ).date()
    engine = make_engine(settings.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            duplicates = session.execute(
                select(DeadlineWarning.task_id, DeadlineWarning.kind, DeadlineWarning.warned_on)
                .where(DeadlineWarning.task_id.is_not(None))
                .group_by(DeadlineWarning.task_id, DeadlineWarning.kind,
                          DeadlineWarning.warned_on)
                .having(func.count() > 1)).all()
            task_warnings = set(session.execute(
                select(DeadlineWarning.task_id, DeadlineWarning.kind)
                .where(DeadlineWarning.warned_on == today,
                       DeadlineWarning.kind.in_(("due_today", "due_soon", "overdue")))).all())
            emailed = session.scalar(select(func.count()).select_from(Notification).where(
                Notification.email_status == "sent"))
            pending = session.scalar(select(func.count()).select_from(Notification).where(
                Notification.email_status == "pending"))
            warning_count = session.scalar(select(func.count()).select_from(DeadlineWarning))
            delivered = session.scalar(select(func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.status == "delivered"))
    finally:
        engine.dispose()

    assert duplicates == []
    assert task_warnings == {(task_ids["today"], "due_today"), (task_ids["soon"], "due_soon"),
                             (task_ids["late"], "overdue")}
    # The updater gets the three deadline warnings; the officer the overdue one and the
    # three missed transfers, plus any report warnings of the day for both.
    assert emailed >= 7
    assert pending == 0
    assert len(mail_server.messages) == emailed
    assert delivered == warning_count
    received_ids = [body["id"] for body in receiver.received]
    assert len(received_ids) == len(set(received_ids)) == warning_count
    assert receiver.bad_signatures == 0


@pytest.fixture
def services():
    with MailServer() as mail_server, WebhookReceiver() as receiver:
        yield mail_server, receiver


def _wait_for(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = wall_time.monotonic() + timeout
    while wall_time.monotonic() < deadline:
        if predicate():
            return
        wall_time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _finished_runs(config: Path) -> list[tuple[str, str, str]]:
    engine = make_engine(load_settings(config).effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            return [tuple(row) for row in session.execute(
                select(SchedulerJobRun.reason, SchedulerJobRun.status, SchedulerJobRun.runner)
                .where(SchedulerJobRun.job_id == JOB, SchedulerJobRun.status != "running"))]
    finally:
        engine.dispose()


def _unfinished_runs(config: Path) -> int:
    engine = make_engine(load_settings(config).effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            return session.scalar(select(func.count()).select_from(SchedulerJobRun).where(
                SchedulerJobRun.job_id == JOB, SchedulerJobRun.status == "running"))
    finally:
        engine.dispose()


def test_four_workers_run_the_job_once(tmp_path, migrated_database_url, services):
    mail_server, receiver = services
    today = datetime.now(VN_TZ).date()
    _calendar_dir(tmp_path, today)
    config = _write_config(tmp_path, migrated_database_url, mail_server.port, "06:15")
    _make_today_working(config)
    task_ids = _prepare_node(config, receiver)
    # The workers start in a few seconds and catch up the run of yesterday at this
    # time; today's scheduled run follows, unless a slow start let its time pass.
    run_at = datetime.now(VN_TZ) + timedelta(seconds=20)
    _write_config(tmp_path, migrated_database_url, mail_server.port, run_at.strftime("%H:%M:%S"))

    port = free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen([THEODOI, "--config", str(config), "serve", "--port", str(port),
                               "--workers", str(WORKERS)], stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        _wait_for(lambda: _finished_runs(config), timeout=60, what="a run of the daily job")
        # The scheduled run fires at run_at if a runner held the lease by then.
        _wait_for(lambda: datetime.now(VN_TZ) > run_at + timedelta(seconds=3)
                  or any(reason == "schedule" for reason, _, _ in _finished_runs(config)),
                  timeout=30, what="the scheduled time of the daily job")
        _wait_for(lambda: not _unfinished_runs(config), timeout=60,
                  what="the runs of the daily job to finish")
        _wait_for(lambda: len(receiver.received) >= 1, timeout=10, what="webhook deliveries")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()

    runs = _finished_runs(config)
    reasons = sorted(reason for reason, _status, _runner in runs)
    assert reasons in (["catch_up"], ["catch_up", "schedule"])
    assert {status for _reason, status, _runner in runs} == {"succeeded"}
    server_log = (tmp_path / "server.log").read_text()
    assert server_log.count("scheduler runner started") == WORKERS
    _check_exactly_once(config, task_ids, mail_server, receiver)


def test_concurrent_manual_runs_give_one_result(tmp_path, migrated_database_url, services):
    mail_server, receiver = services
    _calendar_dir(tmp_path, datetime.now(VN_TZ).date())
    config = _write_config(tmp_path, migrated_database_url, mail_server.port, "06:15")
    _make_today_working(config)
    task_ids = _prepare_node(config, receiver)

    processes = [subprocess.Popen([THEODOI, "--config", str(config), "scheduler", "run-once", JOB],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(WORKERS)]
    outputs = [process.communicate(timeout=120)[0] for process in processes]

    assert all(f"{JOB}: succeeded" in output for output in outputs), outputs
    _check_exactly_once(config, task_ids, mail_server, receiver)
