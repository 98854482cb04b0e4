"""`theodoi federation` commands about message contents: aggregate reports and rankings."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import click

from node.core.cli_support import cli_settings, open_session
from node.core.errors import DomainError
from node.federation.content_models import PERIOD_KINDS


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def _period_start(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD, the first "
                                 "day of the period") from None


@click.command("send-aggregates")
@click.option("--period", "period_kind", type=click.Choice(PERIOD_KINDS), required=True,
              help="Kind of reporting period.")
@click.option("--start", "start_text", required=True,
              help="First day of the period, YYYY-MM-DD (e.g. 2026-07-01 for the third quarter).")
def send_aggregates(period_kind: str, start_text: str) -> None:
    """Queue this node's task counts of one period for the parent node."""
    from node.federation.aggregates import period_bounds_text, queue_aggregate_report

    period_start = _period_start(start_text)
    settings = cli_settings()
    try:
        with open_session(settings) as session:
            message = queue_aggregate_report(session, settings, period_kind, period_start)
    except DomainError as exc:
        _fail(exc.message)
    click.echo(f"Queued aggregate report {message.message_id} of {period_kind} "
               f"{period_bounds_text(period_kind, period_start)} for {message.recipient_node_id}")


@click.command("publish-ranking")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def publish_ranking_command(file: Path) -> None:
    """Queue the ranking in FILE (JSON, ranking_publication schema) to every child node."""
    from node.federation.rankings_exchange import publish_ranking

    try:
        payload = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        _fail(f"{file} is not valid JSON: {exc}")
    settings = cli_settings()
    try:
        with open_session(settings) as session:
            messages = publish_ranking(session, settings, payload)
    except DomainError as exc:
        details = "; ".join(f"{problem.path}: {problem.message}" for problem in exc.problems)
        _fail(f"{exc.message}" + (f" ({details})" if details else ""))
    click.echo(f"Queued the ranking for {len(messages)} child nodes")


def register(group: click.Group) -> None:
    """Add the content commands to the `theodoi federation` group."""
    group.add_command(send_aggregates)
    group.add_command(publish_ranking_command)
