"""The database: one engine and session factory per app, schema kept current by Alembic."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from .extensions import get_settings, session_factory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# PostgreSQL advisory locks: work that app processes sharing a database do one at a time. The
# first key keeps them apart from any other program's advisory locks on the same database.
LOCK_NAMESPACE = int.from_bytes(b"coun", "big")
SCHEMA_LOCK = 1  # upgrading the schema at start
EXPLORATION_LOCK = 2  # the router's exploration counts, moved at every round start
SEED_LOCK = 3  # adding the shipped personas at start


def make_engine(url: str) -> Engine:
    """An engine for any SQLAlchemy URL; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def upgrade_schema(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision, keeping every existing row.

    On PostgreSQL the upgrade holds an advisory lock until it commits: app processes started
    together on one database then upgrade one after another (the later ones find the schema
    current) instead of racing to create the same tables, which failed all but one. On SQLite
    it runs with foreign keys off, as SQLite's own procedure for changing a table says: a
    migration in batch mode copies a table and drops the original, and with foreign keys on
    that drop deletes every row that references it (a round's answers and votes).
    """
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # outside a transaction, where SQLite takes it
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                hold_process_lock(connection, SCHEMA_LOCK)
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def hold_process_lock(connection: Connection | Session, lock: int) -> None:
    """Wait for `lock` and hold it until this transaction ends, so that app processes sharing
    a PostgreSQL database do this work one after another. (Nothing on SQLite: several app
    processes share PostgreSQL, not a file.)"""
    bind = connection.get_bind() if isinstance(connection, Session) else connection
    if bind.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:namespace, :lock)"),
                           {"namespace": LOCK_NAMESPACE, "lock": lock})


@contextmanager
def standalone_session(url: str) -> Iterator[Session]:
    """A committed-on-success session for CLIs that need the database but not the web app."""
    with standalone_database(url) as scope, scope() as session:
        yield session


@contextmanager
def standalone_database(url: str) -> Iterator[Callable[[], AbstractContextManager[Session]]]:
    """Short committed transactions for a long CLI run (`council eval` commits each answer
    as it comes, so a killed run keeps what it had)."""
    engine = make_engine(url)
    try:
        upgrade_schema(engine)
        factory = sessionmaker(engine, expire_on_commit=False)
        yield lambda: _transaction(factory)
    finally:
        engine.dispose()


def init_app(app: Flask) -> None:
    engine = make_engine(get_settings(app).database_url)
    upgrade_schema(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    app.extensions["council_db"] = factory


def session_scope(app: Flask | None = None) -> AbstractContextManager[Session]:
    """A session that commits on success and rolls back on error; one per unit of work."""
    return _transaction(session_factory(app))


@contextmanager
def _transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
