"""Looking up one ``recording.stored`` event by its id (the web's recording id).

:class:`~hotline.store.event_queries.EventQueries` searches events by time
and call; the recordings player needs one event by ``event_id`` (unique,
``uq_events_event_id``).  Layer L2: plain dataclasses out.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import select

from hotline.store.db import Database
from hotline.store.event_queries import StoredEvent
from hotline.store.events import EventRow, from_ms

__all__ = ["RECORDING_KIND", "RecordingEvents"]

RECORDING_KIND: Final = "recording.stored"
MAX_ID_CHARS: Final = 32


class RecordingEvents:
    def __init__(self, db: Database) -> None:
        self._db = db

    def by_id(self, recording_id: str) -> StoredEvent | None:
        """The ``recording.stored`` event with this id, or None."""
        if not recording_id or len(recording_id) > MAX_ID_CHARS:
            return None
        stmt = select(EventRow).where(
            EventRow.event_id == recording_id, EventRow.kind == RECORDING_KIND
        )
        with self._db.session() as s:
            row = s.scalar(stmt)
            if row is None:
                return None
            return StoredEvent(
                seq=row.seq,
                event_id=row.event_id,
                kind=row.kind,
                timestamp=from_ms(row.ts_ms),
                call_id=row.call_id,
                queue_id=row.queue_id,
                operator_id=row.operator_id,
                topic=row.topic,
                trunk=row.trunk,
                direction=row.direction,
                payload=dict(row.payload),
            )
