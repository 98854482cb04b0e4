"""Alembic migrations run from code: upgrade, downgrade and the model/head check."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from node.core.db import Base

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    config.attributes["engine"] = engine
    return config


def _run(engine: Engine, action, *args) -> None:  # noqa: ANN001
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        action(config, *args)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision` (the newest by default)."""
    logger.info("database upgrade started", extra={"revision": revision})
    _run(engine, command.upgrade, revision)
    logger.info("database upgrade finished", extra={"revision": revision})


def downgrade(engine: Engine, revision: str) -> None:
    _run(engine, command.downgrade, revision)


def revision(engine: Engine, message: str) -> None:
    """Write a new revision from the difference between the models and the database."""
    _run(engine, lambda config: command.revision(config, message=message, autogenerate=True))


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Leave out of model comparisons the objects that only migrations create.

    These are the substring indexes of the task text search, which SQLAlchemy
    models cannot describe (an FTS5 virtual table and a GIN index with an
    operator class). Alembic's `include_name` hook calls this.
    """
    from node.local_tasks.text_search import INDEX_OBJECTS

    return name not in INDEX_OBJECTS


def model_differences(engine: Engine) -> list:
    """Return the differences between the models and the migrated schema (empty when equal)."""
    from node.models_registry import import_all_models

    import_all_models()
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_name})
        return compare_metadata(context, Base.metadata)
