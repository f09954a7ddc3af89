"""Alembic environment: runs on a connection handed over by hotline.store.db."""

from __future__ import annotations

from alembic import context

import hotline.store.events  # noqa: F401 - registers the events table on Base.metadata
from hotline.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
