"""Helpers shared by CLI commands: settings, engine and a unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from node.core.db import make_engine, make_session_factory, unit_of_work
from node.core.logging import configure_logging
from node.core.settings import Settings, load_settings


# Set by `theodoi --verbose`: show informational log lines, not only warnings.
VERBOSE = False


def cli_settings() -> Settings:
    """Load the settings named by --config / $THEODOI_CONFIG and set up logging.

    Commands print their own summary, so informational log lines are shown
    only with --verbose; warnings and errors always are.
    """
    settings = load_settings()
    level = settings.log_level if VERBOSE else "WARNING"
    configure_logging(level)
    return settings


@contextmanager
def open_session(settings: Settings | None = None) -> Iterator[Session]:
    """Open a session on the node's database; commit on success, roll back on error."""
    settings = settings or cli_settings()
    engine = make_engine(settings.effective_database_url)
    try:
        with unit_of_work(make_session_factory(engine, settings)) as session:
            yield session
    finally:
        engine.dispose()
