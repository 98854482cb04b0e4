"""substring index over the tasks' folded search text

Revision ID: e1f2a3b4c5d6
Revises: e2a3b4c5d6e7
Create Date: 2026-12-05 00:00:00

SQLite gets an FTS5 table with the trigram tokenizer over `tasks.search_text`
(external content, so the text is not stored twice), kept in step with the
tasks by three triggers. PostgreSQL gets a pg_trgm GIN index on the column.
Both only narrow the candidates: `LIKE` on the column still decides a match.

NOTE: SQLite drops a table's triggers with the table. A later migration that
rebuilds `tasks` in batch mode (copy and rename) must create the three
triggers again; `tests/local_tasks/test_text_search.py` fails otherwise.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import node.core.db  # noqa: F401


revision = 'e1f2a3b4c5d6'
down_revision = 'e2a3b4c5d6e7'
branch_labels = None
depends_on = None

# The trigram tokenizer first shipped with SQLite 3.34.0.
SQLITE_TRIGRAM_VERSION = (3, 34, 0)

SQLITE_TRIGGERS = {
    "tasks_fts_insert": """
        CREATE TRIGGER tasks_fts_insert AFTER INSERT ON tasks BEGIN
            INSERT INTO tasks_fts (rowid, search_text) VALUES (new.id, new.search_text);
        END""",
    "tasks_fts_delete": """
        CREATE TRIGGER tasks_fts_delete AFTER DELETE ON tasks BEGIN
            INSERT INTO tasks_fts (tasks_fts, rowid, search_text)
            VALUES ('delete', old.id, old.search_text);
        END""",
    "tasks_fts_update": """
        CREATE TRIGGER tasks_fts_update AFTER UPDATE OF id, search_text ON tasks BEGIN
            INSERT INTO tasks_fts (tasks_fts, rowid, search_text)
            VALUES ('delete', old.id, old.search_text);
            INSERT INTO tasks_fts (rowid, search_text) VALUES (new.id, new.search_text);
        END""",
}


def _upgrade_sqlite() -> None:
    version = op.get_bind().exec_driver_sql("SELECT sqlite_version()").scalar()
    if tuple(int(part) for part in version.split(".")[:3]) < SQLITE_TRIGRAM_VERSION:
        raise RuntimeError(
            f"SQLite {version} has no FTS5 trigram tokenizer, which the task text search "
            "index needs; run the node with a Python whose sqlite3 module links SQLite 3.34 "
            "or later, or use PostgreSQL")
    op.execute(
        "CREATE VIRTUAL TABLE tasks_fts USING fts5("
        "search_text, content='tasks', content_rowid='id', tokenize='trigram')")
    for ddl in SQLITE_TRIGGERS.values():
        op.execute(ddl)
    op.execute("INSERT INTO tasks_fts (tasks_fts) VALUES ('rebuild')")


def _upgrade_postgresql() -> None:
    bind = op.get_bind()
    available = bind.execute(sa.text(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar()
    if available is None:
        raise RuntimeError(
            "PostgreSQL extension pg_trgm is not available on this server, and the task text "
            "search index needs it; install the server's contrib package (postgresql-contrib "
            "on Debian and Ubuntu) and run the upgrade again")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE INDEX ix_tasks_search_text_trgm ON tasks "
               "USING gin (search_text gin_trgm_ops)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The pg_trgm extension stays: other objects of the database may use it.
        op.execute("DROP INDEX ix_tasks_search_text_trgm")
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.execute("DROP TABLE tasks_fts")
