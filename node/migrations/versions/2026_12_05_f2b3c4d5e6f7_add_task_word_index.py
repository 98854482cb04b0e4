"""word index over the tasks' search text, level inputs by task id

Revision ID: f2b3c4d5e6f7
Revises: e1f2a3b4c5d6
Create Date: 2026-12-05 07:00:00

A phrase such as "an ninh mang" is made of common trigrams ("ang", "an "),
so the trigram index of e1f2a3b4c5d6 returns thousands of candidates for it.
Its words are much rarer together. This revision adds a word index beside
the trigram one; like it, the word index only narrows the candidates and
`LIKE` on `tasks.search_text` still decides a match.

- SQLite: the FTS5 table `tasks_words` with the `unicode61` tokenizer,
  external content, kept in step with `tasks` by three triggers.
- PostgreSQL: a GIN index on `task_search_words(search_text)`, a function
  that splits the text at every character other than a-z and 0-9 and keeps
  the first 100 characters of each word (a tsvector lexeme has a size limit).

It also adds `ix_tasks_id_level_inputs`, so a list filtered by agency and
completion level finds the level of the agency's tasks without reading
their rows.

NOTE: SQLite drops a table's triggers with the table. A later migration that
rebuilds `tasks` in batch mode (copy and rename) must create these triggers
again, as for `tasks_fts`.
"""

from __future__ import annotations

from alembic import op

import node.core.db  # noqa: F401


revision = 'f2b3c4d5e6f7'
down_revision = 'e1f2a3b4c5d6'
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = {
    "tasks_words_insert": """
        CREATE TRIGGER tasks_words_insert AFTER INSERT ON tasks BEGIN
            INSERT INTO tasks_words (rowid, search_text) VALUES (new.id, new.search_text);
        END""",
    "tasks_words_delete": """
        CREATE TRIGGER tasks_words_delete AFTER DELETE ON tasks BEGIN
            INSERT INTO tasks_words (tasks_words, rowid, search_text)
            VALUES ('delete', old.id, old.search_text);
        END""",
    "tasks_words_update": """
        CREATE TRIGGER tasks_words_update AFTER UPDATE OF id, search_text ON tasks BEGIN
            INSERT INTO tasks_words (tasks_words, rowid, search_text)
            VALUES ('delete', old.id, old.search_text);
            INSERT INTO tasks_words (rowid, search_text) VALUES (new.id, new.search_text);
        END""",
}

# The word list of a search text as a tsvector without positions. The split
# pattern and the 100-character cut must match `text_search.word_query`.
POSTGRESQL_FUNCTION = """
    CREATE FUNCTION task_search_words(search_text text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT pg_catalog.array_to_tsvector(ARRAY(
            SELECT DISTINCT pg_catalog.left(word, 100)
            FROM pg_catalog.regexp_split_to_table(search_text, '[^a-z0-9]+') AS word
            WHERE word <> ''))
    $$"""


def upgrade() -> None:
    op.create_index("ix_tasks_id_level_inputs", "tasks",
                    ["id", "reported_state", "deadline_at", "completed_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        op.execute("CREATE INDEX ix_tasks_search_words ON tasks "
                   "USING gin (task_search_words(search_text))")
        return
    op.execute(
        "CREATE VIRTUAL TABLE tasks_words USING fts5("
        "search_text, content='tasks', content_rowid='id', tokenize='unicode61')")
    for ddl in SQLITE_TRIGGERS.values():
        op.execute(ddl)
    op.execute("INSERT INTO tasks_words (tasks_words) VALUES ('rebuild')")
    # Without statistics of the new index SQLite looks tasks up by id through
    # the table. Where statistics exist, they are completed; a database never
    # analyzed stays without them, as partial statistics can mislead the planner.
    bind = op.get_bind()
    if bind.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'").scalar():
        op.execute("ANALYZE ix_tasks_id_level_inputs")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_tasks_search_words")
        op.execute("DROP FUNCTION task_search_words(text)")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE tasks_words")
    op.drop_index("ix_tasks_id_level_inputs", table_name="tasks")
