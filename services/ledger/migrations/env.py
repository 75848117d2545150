"""Alembic environment: migrations run on the connection services.ledger.db.upgrade hands over."""

from __future__ import annotations

from alembic import context

from services.ledger.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `navstream db upgrade` (services.ledger.db.upgrade), "
                       "which passes the connection for DATABASE_URL")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
