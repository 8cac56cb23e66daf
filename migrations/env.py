"""Alembic environment: migrates the connection fieldkit hands over (the unlocked vault), or the
scratch database named in alembic.ini when a developer autogenerates a revision."""
from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import fieldkit.models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def run_migrations(connection) -> None:
    # render_as_batch: SQLite alters tables by copying them, Alembic's batch mode does that for us.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    with create_engine(context.config.get_main_option("sqlalchemy.url")).begin() as scratch:
        run_migrations(scratch)
