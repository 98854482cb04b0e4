"""SQLite transactions: a savepoint released before any write must not commit."""

from sqlalchemy import text

from node.core.db import make_engine


def test_savepoint_release_does_not_commit(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'savepoint.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE items (name TEXT)"))

    with engine.connect() as connection:
        transaction = connection.begin()
        nested = connection.begin_nested()
        connection.execute(text("INSERT INTO items VALUES ('inside savepoint')"))
        nested.commit()
        transaction.rollback()

    with engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM items")).scalar()
    engine.dispose()
    assert count == 0


def test_pragmas_are_set(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'pragmas.sqlite3'}")
    with engine.connect() as connection:
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    engine.dispose()
    assert journal == "wal"
    assert foreign_keys == 1
    assert timeout == 15000
