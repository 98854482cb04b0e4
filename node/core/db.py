"""Database engine, sessions and the shared declarative base."""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect, Engine, create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

logger = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 15_000


class Base(DeclarativeBase):
    """Declarative base of every model, with named constraints."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant stored in UTC and always read back timezone-aware in UTC.

    PostgreSQL keeps it as `timestamptz`; SQLite has no time zones, so the
    value is stored as naive UTC text and marked UTC again when read.
    Naive values are rejected because their zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect):  # type: ignore[override]
        if dialect.name == "sqlite":
            return dialect.type_descriptor(DateTime(timezone=False))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored; attach a zone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """Return the current instant, timezone-aware in UTC."""
    return datetime.now(UTC)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "savepoint")
    def _on_savepoint(connection, _name):  # noqa: ANN001
        # pysqlite opens its transaction late, at the first write. A SAVEPOINT
        # taken before any write would otherwise start a transaction of its own,
        # and its RELEASE would commit everything. Reads stay lock-free because
        # BEGIN is only forced here, not for every transaction.
        dbapi_connection = connection.connection.driver_connection
        if not dbapi_connection.in_transaction:
            connection.exec_driver_sql("BEGIN")


def make_engine(url: str, **kwargs: object) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine)
    else:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
    return engine


# Key of `Session.info` that stores the node's Settings, for code that runs from
# session events (such as queueing federation messages at commit) and has no
# other way to reach them.
SETTINGS_INFO_KEY = "theodoi_settings"


def make_session_factory(engine: Engine, settings: object | None = None) -> sessionmaker[Session]:
    """Return the session factory bound to `engine`; objects stay usable after commit.

    With `settings`, every session of the factory carries them in
    `Session.info[SETTINGS_INFO_KEY]`.
    """
    # The listeners that keep the dashboard counters and queue federation
    # messages on flush and commit are registered when their modules are
    # imported. A command that imports only its own modules would otherwise
    # write without them.
    from node.models_registry import import_all_models

    import_all_models()
    info = {SETTINGS_INFO_KEY: settings} if settings is not None else {}
    return sessionmaker(bind=engine, expire_on_commit=False, info=info)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit once at the end, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Writers of one SQLite database queue on an exclusive lock of this file beside it.
_WRITER_TURN_SUFFIX = "-writer-turn"
_WRITER_TURN_INFO_KEY = "theodoi_writer_turn"


def wait_for_writer_turn(session: Session) -> None:
    """Queue this session's transaction behind the other writers of its SQLite database.

    SQLite lets one connection write at a time. A connection that finds the
    database locked sleeps in its busy handler for growing intervals (1 ms
    up to 100 ms in `sqliteDefaultBusyCallback` of SQLite's main.c), so the
    database can stay unlocked while every waiter sleeps. Writers that call this first wait on an
    exclusive `flock` of a file beside the database instead, which the kernel
    hands to the next waiter as soon as the holder's transaction ends.

    Call it before the transaction's first write: a transaction that already
    holds SQLite's lock and then waits here would block a turn holder that
    waits for SQLite's lock, until the busy timeout. It does nothing on
    PostgreSQL, on an in-memory database and when the transaction already has
    its turn. Writers that do not call it still wait in the busy handler.
    """
    bind = session.get_bind()
    # A session bound to a connection (as in the tests) reads the URL from its engine.
    database = getattr(bind, "engine", bind).url.database if bind.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    session.connection()  # begins the transaction whose end releases the turn
    transaction = session.get_transaction()
    turn = session.info.get(_WRITER_TURN_INFO_KEY)
    if turn is not None and turn[0] is transaction:
        return
    descriptor = os.open(database + _WRITER_TURN_SUFFIX, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    except BaseException:
        os.close(descriptor)
        raise
    session.info[_WRITER_TURN_INFO_KEY] = (transaction, descriptor)


@event.listens_for(Session, "after_transaction_end")
def _end_writer_turn(session: Session, transaction) -> None:  # noqa: ANN001
    if transaction.parent is not None:
        return
    turn = session.info.pop(_WRITER_TURN_INFO_KEY, None)
    if turn is not None:
        # Closing the descriptor releases the lock.
        os.close(turn[1])
