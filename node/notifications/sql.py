"""Set-based inserts that skip rows a unique index already has, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Select, Table, true
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def insert_missing(session: Session, table: Table, columns: list[str], rows: Select) -> int:
    """INSERT ... SELECT `rows` into `table`, skipping duplicates; return the rows inserted.

    Both engines get ON CONFLICT DO NOTHING, so concurrent runs that select
    the same rows leave exactly one of each, while a row that breaks another
    constraint (a CHECK, a NOT NULL) still fails.
    """
    if rows.whereclause is None:
        # SQLite reads "SELECT ... FROM t ON CONFLICT" as a join's ON unless
        # the SELECT has a WHERE clause.
        rows = rows.where(true())
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).from_select(columns, rows).on_conflict_do_nothing()
    # SQLAlchemy 2 keeps the row count of an INSERT only when asked to.
    result = session.connection().execute(statement.execution_options(preserve_rowcount=True))
    return result.rowcount
