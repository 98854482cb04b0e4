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
import sqlite3
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
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


AUTH_TESTS = Path(__file__).resolve().parent / "auth"
_password_hashes: dict[tuple[str, str, int], str] = {}


@pytest.fixture(autouse=True)
def _reuse_password_hashes(request: pytest.FixtureRequest,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash each test password once per run, except in the tests of tests/auth.

    Werkzeug's scrypt spends 0.1 s or more on a hash by design, and most tests
    create accounts with the same few passwords. Outside tests/auth a stored
    hash is still the real scrypt hash of its password, made once and reused.
    Signing in checks it with scrypt as before. Only the salt is shared
    between accounts. The tests of tests/auth hash every password anew.
    """
    if AUTH_TESTS in request.node.path.parents:
        return
    from node.auth import passwords

    original = passwords.generate_password_hash

    def generate_once(password: str, method: str = "scrypt", salt_length: int = 16) -> str:
        key = (password, method, salt_length)
        if key not in _password_hashes:
            _password_hashes[key] = original(password, method=method, salt_length=salt_length)
        return _password_hashes[key]

    monkeypatch.setattr(passwords, "generate_password_hash", generate_once)


def database_kind() -> str:
    return os.environ.get("THEODOI_TEST_DATABASE", "sqlite")


def _create_postgres_database(template: str | None = None) -> tuple[str, Engine]:
    """Create a database on the test server, empty or as a copy of `template`."""
    admin_url = os.environ.get("THEODOI_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"theodoi_test_{uuid.uuid4().hex[:12]}"
    statement = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    except Exception as exc:  # noqa: BLE001 - any failure means the server is unusable
        pytest.fail(
            f"PostgreSQL at {admin_url} is not reachable ({exc.__class__.__name__}: {exc}); "
            "start it or set THEODOI_TEST_POSTGRES_URL",
            pytrace=False,
        )
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    return url, admin


def _drop_postgres_database(url: str, admin: Engine) -> None:
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


class BackgroundDropper:
    """Drops PostgreSQL databases in background threads.

    DROP DATABASE waits for a checkpoint, which takes seconds while other
    databases are busy, so a test hands its databases over and goes on.
    Drops that run at the same time share one checkpoint, hence the several
    threads. `finish` waits until every database handed over is dropped.
    """

    THREADS = 4

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=self.THREADS,
                                            thread_name_prefix="database-dropper")
        self._drops: list[Future] = []

    def drop(self, url: str, admin: Engine) -> None:
        self._drops.append(self._executor.submit(_drop_postgres_database, url, admin))

    def finish(self) -> None:
        self._executor.shutdown(wait=True)
        errors = [str(drop.exception()) for drop in self._drops if drop.exception()]
        assert not errors, f"test databases not dropped: {errors}"


def _check_database_kind(kind: str) -> None:
    if kind not in ("sqlite", "postgresql"):
        pytest.fail(f"THEODOI_TEST_DATABASE={kind!r}: use sqlite or postgresql", pytrace=False)


class MigratedTemplates:
    """Databases built once per run by the real migrations and seeded with reference data.

    Migrating a database takes seconds on PostgreSQL, so tests whose subject is
    not the migrations start from a copy of one of these instead: a copy of
    the file on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL. The
    run's PostgreSQL databases are dropped through `dropper`.
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._sqlite: Path | None = None
        self._postgres: tuple[str, Engine] | None = None
        self.dropper = BackgroundDropper()

    def _build(self, url: str) -> None:
        from node.core.db import unit_of_work
        from node.local_tasks.reference import seed_reference_data

        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            with unit_of_work(sessionmaker(bind=engine)) as session:
                seed_reference_data(session)
        finally:
            engine.dispose()

    def sqlite_copy(self, target: Path) -> str:
        """Copy the SQLite template to `target` and return its URL."""
        if self._sqlite is None:
            template = self._folder / "migrated.sqlite3"
            self._build(f"sqlite:///{template}")
            self._sqlite = template
        # The backup API copies a consistent image, whatever the journal mode.
        with closing(sqlite3.connect(self._sqlite)) as source, \
                closing(sqlite3.connect(target)) as copy:
            source.backup(copy)
        return f"sqlite:///{target}"

    def postgres_copy(self) -> tuple[str, Engine]:
        """Create a copy of the PostgreSQL template; return its URL and the admin engine."""
        if self._postgres is None:
            url, admin = _create_postgres_database()
            self._postgres = (url, admin)
            self._build(url)
        return _create_postgres_database(template=make_url(self._postgres[0]).database)

    def close(self) -> None:
        if self._postgres is not None:
            self.dropper.drop(*self._postgres)
        self.dropper.finish()


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    templates = MigratedTemplates(tmp_path_factory.mktemp("templates"))
    yield templates
    templates.close()


class DatabaseFactory:
    """Creates the databases of one test; `close` hands the PostgreSQL ones to the dropper."""

    def __init__(self, folder: Path, templates: MigratedTemplates) -> None:
        self._folder = folder
        self._templates = templates
        self._created: list[tuple[str, Engine]] = []

    def new(self, name: str, *, migrated: bool = False, kind: str | None = None) -> str:
        """Return the URL of a new database of `kind` (the suite's by default).

        It is empty, or with `migrated` a copy of the migrated template.
        """
        kind = kind or database_kind()
        _check_database_kind(kind)
        if kind == "sqlite":
            path = self._folder / f"{name}.sqlite3"
            assert not path.exists(), f"database {name} already exists in this test"
            return self._templates.sqlite_copy(path) if migrated else f"sqlite:///{path}"
        url, admin = (self._templates.postgres_copy() if migrated
                      else _create_postgres_database())
        self._created.append((url, admin))
        return url

    def close(self) -> None:
        for url, admin in self._created:
            self._templates.dropper.drop(url, admin)


@pytest.fixture
def databases(tmp_path: Path, migrated_templates: MigratedTemplates) -> Iterator[DatabaseFactory]:
    """New databases for tests that commit for real, dropped afterwards."""
    factory = DatabaseFactory(tmp_path, migrated_templates)
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a fresh database for this run, dropped afterwards."""
    _check_database_kind(database_kind())
    if database_kind() == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        return
    url, admin = _create_postgres_database()
    yield url
    _drop_postgres_database(url, admin)


@pytest.fixture
def fresh_database_url(databases: DatabaseFactory) -> str:
    """URL of an empty database of the suite's kind, for tests that commit for real."""
    return databases.new("fresh")


@pytest.fixture
def migrated_database_url(databases: DatabaseFactory) -> str:
    """URL of a migrated database of the suite's kind, seeded with reference data."""
    return databases.new("migrated", migrated=True)


def write_node_config(folder: Path, database_url: str) -> Path:
    config = folder / "theodoi.toml"
    config.write_text(f'instance_path = "instance"\ndatabase_url = "{database_url}"\n'
                      'log_level = "WARNING"\n', encoding="utf-8")
    return config


@pytest.fixture
def node_config(tmp_path: Path, fresh_database_url: str) -> Path:
    """A settings file for a node on a fresh database, for CLI tests."""
    return write_node_config(tmp_path, fresh_database_url)


@pytest.fixture
def migrated_node_config(tmp_path: Path, migrated_database_url: str) -> Path:
    """A settings file for a node on a migrated database, for CLI tests not about migrating."""
    return write_node_config(tmp_path, migrated_database_url)


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


@contextmanager
def rolled_back_connection(engine: Engine) -> Iterator[Connection]:
    """Yield a connection inside a transaction that is rolled back at the end."""
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@contextmanager
def savepoint(connection: Connection) -> Iterator[Connection]:
    """Yield `connection` inside a savepoint that is rolled back at the end.

    Tests that share data stored once for their module or class each run
    inside one, so what a test changes does not reach the next.
    """
    nested = connection.begin_nested()
    yield connection
    nested.rollback()


def savepoint_sessions(connection: Connection) -> sessionmaker[Session]:
    # Commits inside the code under test end savepoints, so the outer
    # transaction can still undo everything the test did.
    return sessionmaker(bind=connection, expire_on_commit=False,
                        join_transaction_mode="create_savepoint")


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    with rolled_back_connection(engine) as connection:
        yield connection


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    return savepoint_sessions(connection)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    session = session_factory()
    yield session
    session.close()


def build_test_app(settings: Settings) -> Flask:
    """Build the node's Flask app in testing mode."""
    from node import create_app

    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@contextmanager
def app_for_test(app: Flask, session_factory: sessionmaker[Session]) -> Iterator[Flask]:
    """Lend a shared app to one test, its requests on the test's sessions.

    The app's config and extensions are put back as they were afterwards, so
    what one test sets (a clock, a setting) does not reach the next.
    """
    config = dict(app.config)
    extensions = dict(app.extensions)
    app.extensions["theodoi_sessions"] = session_factory
    try:
        yield app
    finally:
        app.config.clear()
        app.config.update(config)
        app.extensions.clear()
        app.extensions.update(extensions)


@pytest.fixture(scope="session")
def shared_app(settings: Settings, engine: Engine) -> Iterator[Flask]:
    """One app for the run: building an app compiles every URL rule, which is slow."""
    app = build_test_app(settings)
    yield app
    app.extensions["theodoi_engine"].dispose()


@pytest.fixture
def app(shared_app: Flask, session_factory: sessionmaker[Session]) -> Iterator[Flask]:
    """The Flask app, its requests sharing the test's rolled-back transaction."""
    with app_for_test(shared_app, session_factory) as app:
        yield app


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
