"""Helpers shared by CLI commands: settings, engine and a unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from node.core.db import make_engine, make_session_factory, unit_of_work
from node.core.logging import configure_logging
from node.core.settings import Settings, load_settings


def cli_settings() -> Settings:
    """Load the settings named by --config / $THEODOI_CONFIG and set up logging."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return settings


@contextmanager
def open_session(settings: Settings | None = None) -> Iterator[Session]:
    """Open a session on the node's database; commit on success, roll back on error."""
    settings = settings or cli_settings()
    engine = make_engine(settings.effective_database_url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()
