"""Alembic environment: runs on the app's own connection, or on DATABASE_URL from the CLI."""

from alembic import context

from council.config import Settings
from council.models import Base

config = context.config
connection = config.attributes.get("connection")


def run_on(conn) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=conn, target_metadata=Base.metadata,
                      render_as_batch=conn.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run_on(connection)
else:
    from council.db import make_engine

    with make_engine(Settings.from_env().database_url).begin() as conn:
        run_on(conn)
