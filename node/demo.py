"""`theodoi demo`: a node loaded with the real example documents, served on loopback."""

from __future__ import annotations

import logging
import socket
import tempfile
from pathlib import Path

import click
from sqlalchemy import func, select

from node.core.cli_support import open_session
from node.core.settings import PROJECT_ROOT, Settings, load_settings

logger = logging.getLogger(__name__)

EXAMPLES_DIR = PROJECT_ROOT / "examples"
# The real task tables loaded into the demo, in order; their sources are in
# examples/SOURCES.md.
EXAMPLE_FILES = ("tasks_real_documents.csv",)

DEMO_CONFIG = """\
# Settings of a demo node; see config/node.example.toml for every setting.
instance_path = "."

[node]
id = "demo-central"
level = 0
org_unit = "VPTW"
"""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def prepare_demo(folder: Path) -> Settings:
    """Create (or reuse) a demo node in `folder` and load the example documents once."""
    from node.cli import initialise_node
    from node.local_tasks.importer.importer import import_file
    from node.local_tasks.models import Document

    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "theodoi.toml"
    if not config.exists():
        config.write_text(DEMO_CONFIG, encoding="utf-8")
    settings = load_settings(config)
    initialise_node(settings)
    with open_session(settings) as session:
        if session.scalar(select(func.count()).select_from(Document)):
            return settings
    for name in EXAMPLE_FILES:
        with open_session(settings) as session:
            result = import_file(session, EXAMPLES_DIR / name, create_agencies=True)
            click.echo(f"Imported {name}: {result.summary_line()}")
    return settings


def _print_demo_accounts(settings: Settings) -> None:
    """Create one account per role (new passwords on every start) and print them."""
    from node.auth.demo import create_demo_accounts

    with open_session(settings) as session:
        accounts = create_demo_accounts(session)
    click.echo("Demo accounts (sign in at /login):")
    for username, password, role, org_unit_code in accounts:
        click.echo(f"  {username:<16} {password:<24} {role} @ {org_unit_code}")


@click.command()
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=0, type=int, help="TCP port; 0 picks a free one.")
@click.option("--no-serve", is_flag=True, help="Prepare the node and exit without serving.")
def demo(folder: Path | None, host: str, port: int, no_serve: bool) -> None:
    """Run a demo node in FOLDER (a new temporary folder by default) with the real documents."""
    from node.core.server import run_server

    folder = folder or Path(tempfile.mkdtemp(prefix="theodoi-demo-"))
    settings = prepare_demo(folder.resolve())
    _print_demo_accounts(settings)
    if no_serve:
        click.echo(f"Demo node ready in {folder}")
        return
    port = port or free_port(host)
    click.echo(f"Demo node in {folder}")
    click.echo(f"Open http://{host}:{port}/ in a browser (Ctrl+C stops it)")
    run_server(settings, host=host, port=port, workers=2)
