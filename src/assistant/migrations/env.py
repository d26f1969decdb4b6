"""Alembic's entry point for the question log. `questionlog.migrate` passes an open
connection in `config.attributes["connection"]`; there is no alembic.ini and no URL here."""

from alembic import context

from assistant.questionlog import METADATA

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=METADATA, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
