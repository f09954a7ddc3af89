"""A service database for CLI tests: `hotline init`, queues, and stored events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from typer.testing import CliRunner

from hotline.app.cli import app
from hotline.app.settings import load_settings
from hotline.reports.events import CallCentreEvent
from hotline.store.db import Database
from hotline.store.events import EventStore
from hotline.store.queues import QueuesRepository, StoredQueue


async def _store(db: Database, journal: Path, events: Iterable[CallCentreEvent]) -> None:
    store = EventStore(db, journal)
    for event in events:
        store.append(event)
    await store.flush_all()
    store.close()


def seed_database(
    workdir: Path, events: Iterable[CallCentreEvent], queues: Iterable[StoredQueue]
) -> None:
    """Initialise the database of the current settings, save ``queues``, store ``events``."""
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    db = Database(load_settings().database_url)
    try:
        repo = QueuesRepository(db)
        for queue in queues:
            repo.save(queue)
        asyncio.run(_store(db, workdir / "journal.jsonl", events))
    finally:
        db.dispose()
