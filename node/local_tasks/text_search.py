"""Text filter of the task lists: a folded phrase matched as a substring of `tasks.search_text`.

The match itself is always `search_text LIKE '%phrase%'`. A substring index
only narrows the candidates first, so both paths return the same tasks:

- SQLite: the FTS5 table `tasks_fts` with the trigram tokenizer, kept in
  step with `tasks` by triggers (migration e1f2a3b4c5d6);
- PostgreSQL: the pg_trgm GIN index `ix_tasks_search_text_trgm`, which the
  planner picks for the `LIKE` by itself.

A trigram index cannot narrow a phrase shorter than three characters, so
such phrases are matched by reading the search text of the tasks.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, column, table

from node.core.text import fold
from node.local_tasks.models import Task

# The shortest phrase that contains a trigram.
MIN_INDEXED_LENGTH = 3

# Database objects that migrations create outside the models, so the
# models-versus-migrations check leaves them out: the FTS5 table with its
# shadow tables (SQLite) and the trigram index (PostgreSQL).
INDEX_OBJECTS = frozenset({
    "tasks_fts", "tasks_fts_data", "tasks_fts_idx", "tasks_fts_docsize", "tasks_fts_config",
    "ix_tasks_search_text_trgm",
})


# The FTS5 table in SQL: its column named like the table matches
# against every indexed column.
_FTS = table("tasks_fts", column("rowid"), column("tasks_fts"))


def phrase_of(value: str | None) -> str:
    """Fold a search entry into the phrase that the filter matches (quotes around it dropped)."""
    return fold(value).strip('"').strip() if value else ""


def like_condition(phrase: str) -> ColumnElement[bool]:
    """Match `phrase` literally anywhere in the search text, `%` and `_` included."""
    escaped = phrase.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Task.search_text.like(f"%{escaped}%", escape="\\")


def fts_query(phrase: str) -> str:
    """Quote `phrase` as one FTS5 string, so the trigram tokenizer reads it as a substring."""
    return '"' + phrase.replace('"', '""') + '"'


def narrow_to_index(query: Select, phrase: str, dialect: str) -> Select:
    """Join the SQLite trigram index to `query`, so it reads only tasks that may contain `phrase`.

    Returns `query` unchanged on PostgreSQL, whose planner uses the trigram
    index for the `LIKE`, and for phrases too short for a trigram.
    """
    if dialect != "sqlite" or len(phrase) < MIN_INDEXED_LENGTH:
        return query
    return (query.join(_FTS, _FTS.c.rowid == Task.id)
            .where(_FTS.c.tasks_fts.match(fts_query(phrase))))
