"""`theodoi scheduler`: list the periodic jobs and run one by hand."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask

from node.core.cli_support import cli_settings
from node.core.db import utcnow
from node.core.timezone import VN_TZ


@click.group()
def scheduler() -> None:
    """Periodic jobs of the node (run by `theodoi serve`, one runner per database)."""


@contextmanager
def _node_app() -> Iterator[Flask]:
    from node import create_app
    from node.core import cli_support
    from node.core.logging import configure_logging

    settings = cli_settings()
    app = create_app(settings)
    # create_app sets the node's log level; commands show INFO lines only with -v.
    configure_logging(settings.log_level if cli_support.VERBOSE else "WARNING")
    try:
        yield app
    finally:
        app.extensions["theodoi_engine"].dispose()


def _local(instant) -> str:  # noqa: ANN001
    return instant.astimezone(VN_TZ).isoformat(timespec="seconds") if instant else "-"


@scheduler.command("list")
def scheduler_list() -> None:
    """List each job with its trigger, its next run and its last run."""
    from node.scheduler.runner import SchedulerRunner
    from node.scheduler.service import job_states, lease_holder

    now = utcnow()
    with _node_app() as app, app.extensions["theodoi_sessions"]() as session:
        runner = SchedulerRunner(app)
        states = job_states(session)
        holder = lease_holder(session, now=now)
    click.echo(f"Runner holding the lease: {holder or 'none'}")
    for spec in runner.jobs:
        trigger = runner.triggers[spec.job_id]
        state = states.get(spec.job_id)
        last = (f"{_local(state.last_scheduled_for)} {state.last_status}" if state else "never")
        click.echo(f"{spec.job_id}\n  {spec.description}\n  trigger: {trigger} in {trigger.timezone}\n"
                   f"  next: {_local(trigger.get_next_fire_time(None, now))}\n  last: {last}")


@scheduler.command("run-once")
@click.argument("job_id")
def scheduler_run_once(job_id: str) -> None:
    """Run JOB_ID now, in this process, whatever the schedule."""
    from node.scheduler.runner import run_once

    try:
        with _node_app() as app:
            outcome = run_once(app, job_id)
    except KeyError as exc:
        click.echo(f"Error: {exc.args[0]}", err=True)
        sys.exit(2)
    click.echo(f"{job_id}: {outcome}")
    if outcome == "failed":
        sys.exit(1)
