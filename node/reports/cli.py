"""`theodoi reports` and `theodoi evaluation`: the periodic work, run by hand."""

from __future__ import annotations

from datetime import datetime

import click

from node.core.cli_support import cli_settings
from node.core.db import make_engine, make_session_factory, utcnow


def _instant(value: str | None) -> datetime:
    from node.local_tasks.timeparse import parse_instant

    if value is None:
        return utcnow()
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc}", param_hint="--at") from None


@click.group()
def reports() -> None:
    """Periodic reports (Điều 15.1, 16.2); the scheduler also produces them daily."""


@reports.command("produce-due")
@click.option("--at", "at_text", help="Instant to produce as of, ISO 8601 (default: now).")
def reports_produce_due(at_text: str | None) -> None:
    """Produce, as drafts, the periodic reports due by the instant and not produced yet."""
    from node.reports.service import produce_due_reports

    settings = cli_settings()
    engine = make_engine(settings.effective_database_url)
    try:
        produced = produce_due_reports(make_session_factory(engine), settings, _instant(at_text))
    finally:
        engine.dispose()
    click.echo(f"Reports produced: {len(produced)}")


@click.group()
def evaluation() -> None:
    """Evaluation of agencies (Điều 17); the scheduler also runs it daily."""


@evaluation.command("run")
@click.option("--at", "at_text", help="Instant to evaluate as of, ISO 8601 (default: now).")
def evaluation_run(at_text: str | None) -> None:
    """Score the last ended quarter, half-year and year; follow up two low ratings in a row."""
    from node.evaluation.service import evaluate_ended_periods

    settings = cli_settings()
    engine = make_engine(settings.effective_database_url)
    try:
        summary = evaluate_ended_periods(make_session_factory(engine), _instant(at_text),
                                         locale=settings.default_locale)
    finally:
        engine.dispose()
    for kind, figures in summary.items():
        click.echo(f"{kind} from {figures['period_start']}: {figures['agencies']} agencies, "
                   f"{figures['explanations']} explanation requests opened")
