"""Alembic environment of the project server: migrates the connection fieldkit hands over."""
from alembic import context

from fieldkit.server.storage import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
