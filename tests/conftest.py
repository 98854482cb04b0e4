"""Shared fixtures: a migrated database per run, a rolled-back transaction per test.

The suite runs on SQLite by default. Set THEODOI_TEST_DATABASE=postgresql to
run it on PostgreSQL (THEODOI_TEST_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/test); a missing server then fails the
run with the reason instead of skipping tests.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from node.core import migrate
from node.core.db import make_engine
from node.core.settings import Settings
from node.local_tasks.calendar import WorkingCalendar, load_calendar

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    """Fail any test that opens a network connection outside loopback."""
    original = socket.socket.connect

    def guarded_connect(sock: socket.socket, address):  # noqa: ANN001
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise AssertionError(f"test tried to connect to {address[0]}; only loopback is allowed")
        return original(sock, address)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    yield
    socket.socket.connect = original  # type: ignore[method-assign]


def database_kind() -> str:
    return os.environ.get("THEODOI_TEST_DATABASE", "sqlite")


def _create_postgres_database() -> tuple[str, Engine]:
    admin_url = os.environ.get("THEODOI_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            name = f"theodoi_test_{uuid.uuid4().hex[:12]}"
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means the server is unusable
        pytest.fail(
            f"PostgreSQL at {admin_url} is not reachable ({exc.__class__.__name__}: {exc}); "
            "start it or set THEODOI_TEST_POSTGRES_URL",
            pytrace=False,
        )
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    return url, admin


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a fresh database for this run, dropped afterwards."""
    if database_kind() == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        return
    if database_kind() != "postgresql":
        pytest.fail(f"THEODOI_TEST_DATABASE={database_kind()!r}: use sqlite or postgresql")
    url, admin = _create_postgres_database()
    yield url
    name = make_url(url).database
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """URL of an empty database of the suite's kind, for tests that commit for real."""
    if database_kind() == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    url, admin = _create_postgres_database()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def node_config(tmp_path: Path, fresh_database_url: str) -> Path:
    """A settings file for a node on a fresh database, for CLI tests."""
    config = tmp_path / "theodoi.toml"
    config.write_text(f'instance_path = "instance"\ndatabase_url = "{fresh_database_url}"\n'
                      'log_level = "WARNING"\n', encoding="utf-8")
    return config


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    instance = tmp_path_factory.mktemp("instance")
    return Settings(instance_path=instance, database_url=database_url, secret_key="test-secret",
                    log_level="WARNING")


@pytest.fixture(scope="session")
def calendar(settings: Settings) -> WorkingCalendar:
    return load_calendar(settings)


@pytest.fixture(scope="session")
def engine(database_url: str, calendar: WorkingCalendar) -> Iterator[Engine]:
    """Engine on a database built by the real migrations and seeded with reference data."""
    from node.core.db import unit_of_work
    from node.local_tasks.deadlines_service import recompute_all
    from node.local_tasks.reference import seed_reference_data

    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with unit_of_work(sessionmaker(bind=engine)) as session:
        seed_reference_data(session)
        recompute_all(session, calendar)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine):
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def session_factory(connection) -> sessionmaker[Session]:  # noqa: ANN001
    # Commits inside the code under test end savepoints, so the outer
    # transaction can still undo everything the test did.
    return sessionmaker(bind=connection, expire_on_commit=False,
                        join_transaction_mode="create_savepoint")


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    session = session_factory()
    yield session
    session.close()


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session], engine: Engine):
    """The Flask app, its requests sharing the test's rolled-back transaction."""
    from node import create_app

    app = create_app(settings)
    app.config["TESTING"] = True
    app.extensions["theodoi_sessions"] = session_factory
    return app


@pytest.fixture
def client(app, session_factory):  # noqa: ANN001
    """A test client signed in, through an API token, as a central-office officer."""
    from tests.accounts import officer_token

    with session_factory() as session:
        token = officer_token(session)
        session.commit()
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture
def anonymous_client(app):  # noqa: ANN001
    """A test client that is not signed in."""
    return app.test_client()


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "examples"


def make_standalone_engine(url: str) -> Engine:
    """An engine outside the per-test transaction, for tests that need real commits."""
    return create_engine(url)
