"""Alembic environment: runs with the connection that `node.core.migrate` hands over."""

from __future__ import annotations

from alembic import context

from node.core.db import Base
from node.core.migrate import include_name
from node.models_registry import import_all_models

import_all_models()
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
