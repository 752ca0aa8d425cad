"""The database: one engine and session factory per app, schema kept current by Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from .extensions import get_settings, session_factory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


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
    """Bring the schema to the newest Alembic revision, keeping every existing row."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def standalone_session(url: str) -> Iterator[Session]:
    """A committed-on-success session for CLIs that need the database but not the web app."""
    engine = make_engine(url)
    try:
        upgrade_schema(engine)
        with _transaction(sessionmaker(engine, expire_on_commit=False)) as session:
            yield session
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
