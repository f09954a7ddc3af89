"""Alembic environment: runs on a connection handed over by hotline.store.db."""

from __future__ import annotations

from alembic import context

# Imported for their side effect: they register their tables on Base.metadata.
import hotline.store.accounts
import hotline.store.audit
import hotline.store.events
import hotline.store.feed_outbox
import hotline.store.kb
import hotline.store.organisations
import hotline.store.proposals
import hotline.store.retention
import hotline.store.trunk_credentials
import hotline.store.web_sessions
import hotline.store.wrapups  # noqa: F401
from hotline.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
