"""Queue configurations in the database (plain dataclasses out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from hotline.store.db import Database
from hotline.store.models import QueueRow

__all__ = ["QueuesRepository", "StoredQueue"]


@dataclass(frozen=True, slots=True)
class StoredQueue:
    queue_id: str
    name: str
    topic: str
    config: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True


class QueuesRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, queue: StoredQueue) -> None:
        """Insert or replace one queue."""
        with self._db.session() as s, s.begin():
            s.merge(
                QueueRow(
                    queue_id=queue.queue_id,
                    name=queue.name,
                    topic=queue.topic,
                    config=dict(queue.config),
                    enabled=queue.enabled,
                    updated_at=datetime.now(UTC),
                )
            )

    def clear(self) -> None:
        """Delete every queue (``hotline init --force``)."""
        with self._db.session() as s, s.begin():
            s.execute(delete(QueueRow))

    def all(self) -> list[StoredQueue]:
        with self._db.session() as s:
            rows = s.scalars(select(QueueRow).order_by(QueueRow.queue_id))
            return [_queue(r) for r in rows]

    def get(self, queue_id: str) -> StoredQueue | None:
        with self._db.session() as s:
            row = s.get(QueueRow, queue_id)
            return _queue(row) if row is not None else None


def _queue(r: QueueRow) -> StoredQueue:
    return StoredQueue(r.queue_id, r.name, r.topic, dict(r.config), r.enabled)
