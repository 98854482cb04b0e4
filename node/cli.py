"""The `theodoi` command: node administration from the shell."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from node.core.cli_support import cli_settings, open_session
from node.core.settings import CONFIG_ENV, SettingsError

logger = logging.getLogger(__name__)


class NodeCommandGroup(click.Group):
    """The top command group: turns setup mistakes into one-line errors, not tracebacks."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            _fail(str(exc))
        except (OperationalError, ProgrammingError) as exc:
            logger.warning("database command failed", extra={"error": str(exc.orig)})
            _fail(_database_hint(str(exc.orig)))


def _database_hint(error: str) -> str:
    lowered = error.lower()
    if "no such table" in lowered or "does not exist" in lowered and "relation" in lowered:
        return f"the node's database is not initialised ({error}); run `theodoi init` first"
    return (f"the database could not be opened ({error}); check database_url and "
            "instance_path in the settings, then run `theodoi init`")


@click.group(cls=NodeCommandGroup)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Settings file (TOML); defaults to $THEODOI_CONFIG.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show the node's informational log lines on stderr.")
def main(config_path: Path | None, verbose: bool) -> None:
    """Administer a theodoi node."""
    from node.core import cli_support

    cli_support.VERBOSE = verbose
    if config_path is not None:
        os.environ[CONFIG_ENV] = str(config_path.resolve())


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def initialise_node(settings) -> dict[str, int]:  # noqa: ANN001
    """Create the instance folder and node key, migrate the database and seed reference data."""
    from node.core import migrate
    from node.core.db import make_engine
    from node.federation.identity import ensure_node_keys
    from node.federation.links import recover_key_rotation
    from node.local_tasks.calendar import load_calendar
    from node.local_tasks.deadlines_service import ensure_calendar_current
    from node.local_tasks.reference import seed_reference_data

    settings.instance_path.mkdir(parents=True, exist_ok=True)
    ensure_node_keys(settings)
    engine = make_engine(settings.effective_database_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    with open_session(settings) as session:
        recover_key_rotation(session, settings)
    with open_session(settings) as session:
        counts = seed_reference_data(session)
        counts["recomputed_tasks"] = ensure_calendar_current(session, load_calendar(settings))
    _ensure_signing_identity(settings)
    return counts


def _ensure_signing_identity(settings) -> None:  # noqa: ANN001
    """Create the key and certificate that sign the node's PDFs and approvals, if missing."""
    from sqlalchemy import select

    from node.local_tasks.models import OrgUnit
    from node.signatures.signing import ensure_signing_identity

    with open_session(settings) as session:
        name = session.scalar(select(OrgUnit.name).where(OrgUnit.code == settings.node_org_unit))
    ensure_signing_identity(settings, name or settings.node_org_unit)


@main.command()
def init() -> None:
    """Create the node's database (or upgrade it) and load the reference data."""
    try:
        settings = cli_settings()
        counts = initialise_node(settings)
    except SettingsError as exc:
        _fail(str(exc))
    click.echo(f"Node initialised in {settings.instance_path}")
    for name, count in counts.items():
        click.echo(f"  {name}: {count} added")


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Upgrade the database schema to REVISION (default: the newest)."""
    from node.core import migrate
    from node.core.db import make_engine

    settings = cli_settings()
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    try:
        migrate.upgrade(engine, revision)
    finally:
        engine.dispose()
    click.echo(f"Database at revision {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Downgrade the database schema to REVISION ("base" removes every table)."""
    from node.core import migrate
    from node.core.db import make_engine

    engine = make_engine(cli_settings().effective_database_url)
    try:
        migrate.downgrade(engine, revision)
    finally:
        engine.dispose()
    click.echo(f"Database at revision {revision}")


@db.command("check")
def db_check() -> None:
    """Check that the models equal the migrated schema; exit 1 when they differ."""
    from node.core import migrate
    from node.core.db import make_engine

    engine = make_engine(cli_settings().effective_database_url)
    try:
        differences = migrate.model_differences(engine)
    finally:
        engine.dispose()
    if differences:
        for difference in differences:
            click.echo(f"  {difference}", err=True)
        click.echo("Models differ from the migrations; write a new revision", err=True)
        sys.exit(1)
    click.echo("Models match the migrations")


def _parse_instant(value: str | None) -> datetime:
    from node.local_tasks.timeparse import VN_TZ, parse_instant

    if value is None:
        return datetime.now(UTC).astimezone(VN_TZ)
    try:
        return parse_instant(value)
    except ValueError as exc:
        _fail(f"--at {value!r}: {exc}")
        raise


@main.group()
def report() -> None:
    """Reports from the command line."""


@report.command("levels")
@click.option("--at", "at_text", help="Instant to evaluate levels at, ISO 8601 (default: now). "
              "A value without offset is Vietnam time; a date alone means the end of that day.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def report_levels(at_text: str | None, as_json: bool) -> None:
    """Print the number of tasks at each completion level."""
    from node.local_tasks.queries import count_by_level

    at = _parse_instant(at_text)
    with open_session() as session:
        counts = count_by_level(session, at=at)
    if as_json:
        click.echo(json.dumps({"at": at.isoformat(), "counts": counts,
                               "total": sum(counts.values())}, ensure_ascii=False))
        return
    click.echo(f"Completion levels as of {at.isoformat()}")
    for level, count in counts.items():
        click.echo(f"  {level:<28}{count:>8}")
    click.echo(f"  {'total':<28}{sum(counts.values()):>8}")


@main.group()
def workflow() -> None:
    """Periodic workflow checks (the node's scheduler also runs them daily)."""


@workflow.command("open-explanations")
@click.option("--at", "at_text", help="Instant to check at, ISO 8601 (default: now).")
def workflow_open_explanations(at_text: str | None) -> None:
    """Open an explanation request for each missed checkpoint or result report (Điều 15.4)."""
    from node.local_tasks.workflow.explanations import open_explanations_for_missed_checkpoints

    at = _parse_instant(at_text)
    with open_session() as session:
        opened = open_explanations_for_missed_checkpoints(session, at=at)
    click.echo(f"Explanation requests opened: {opened}")


@main.group()
def classification() -> None:
    """Classifications of tasks (Điều 4): list them and add values."""


@classification.command("list")
def classification_list() -> None:
    """List every classification scheme and its values."""
    from node.local_tasks.queries import classification_values

    with open_session() as session:
        for value in classification_values(session):
            click.echo(f"{value.scheme.code}\t{value.code}\t{value.name_vi}\t{value.name_en}")


@classification.command("add")
@click.argument("scheme")
@click.argument("code")
@click.argument("name_vi")
@click.argument("name_en")
def classification_add(scheme: str, code: str, name_vi: str, name_en: str) -> None:
    """Add value CODE to classification SCHEME (a new scheme is created if needed)."""
    from node.core.errors import ValidationError
    from node.local_tasks.reference import add_classification_value

    try:
        with open_session() as session:
            add_classification_value(session, scheme_code=scheme, code=code, name_vi=name_vi,
                                     name_en=name_en)
    except ValidationError as exc:
        _fail(exc.message)
    click.echo(f"Added {scheme}={code}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="TCP port.")
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the node over HTTP with gunicorn."""
    from node.core.server import run_server

    settings = cli_settings()
    initialise_node(settings)
    run_server(settings, host=host, port=port, workers=workers)


def _register_optional_commands() -> None:
    from node.audit.cli import audit
    from node.auth.cli import user
    from node.dashboard.cli import dashboard
    from node.demo import demo
    from node.federation import content_cli
    from node.federation.cli import federation
    from node.local_tasks.calendar_cli import calendar
    from node.local_tasks.import_cli import import_command
    from node.local_tasks.org_unit_cli import org_unit
    from node.reports.cli import evaluation, reports
    from node.scheduler.cli import scheduler
    from node.signatures.cli import sign

    main.add_command(audit)
    main.add_command(calendar)
    main.add_command(dashboard)
    main.add_command(import_command)
    main.add_command(org_unit)
    main.add_command(demo)
    content_cli.register(federation)
    main.add_command(federation)
    main.add_command(sign)
    main.add_command(user)
    main.add_command(scheduler)
    main.add_command(reports)
    main.add_command(evaluation)


_register_optional_commands()
