"""Finding recordings: the CDR search joined with the ``recording.stored`` events.

A recording is identified by the id of its ``recording.stored`` event.  The
search runs over the calls' records (the ``call_records`` projection when it
is current, else the CDRs rebuilt from the raw events, as the reports do)
and then picks the recordings of the calls found.  A recording whose file
retention removed (:meth:`~hotline.store.retention.RetentionStore.deleted_recordings`)
is listed as deleted; one whose file is simply gone is listed as missing.
Blocking: call in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from hotline.core.errors import RemoteProtocolError
from hotline.reports.cdr import (
    CallDetailRecord,
    CdrFilter,
    CdrOutcome,
    build_cdrs,
    cdr_from_projection,
)
from hotline.reports.events import event_from_record
from hotline.reports.projection import ms_of
from hotline.store.db import Database
from hotline.store.event_queries import EventQueries, StoredEvent
from hotline.store.projection_queries import ProjectionQueries
from hotline.store.recording_events import RECORDING_KIND, RecordingEvents
from hotline.store.retention import RetentionStore

__all__ = [
    "MAX_RESULTS",
    "RECORDING_KIND",
    "FoundRecording",
    "RecordingQuery",
    "find_cdrs",
    "find_recording",
    "resolve_file",
    "search_recordings",
]

MAX_RESULTS: Final = 500
#: A recording is stored when its call ends: look this far past the period for it.
STORED_SLACK: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RecordingQuery:
    start: datetime
    end: datetime
    number: str | None = None
    operator_id: str | None = None
    topic: str | None = None
    outcome: CdrOutcome | None = None
    limit: int = MAX_RESULTS


@dataclass(frozen=True, slots=True)
class FoundRecording:
    recording_id: str
    call_id: str
    stored_at: datetime
    path: str
    size_bytes: int | None
    duration_s: float | None
    deleted: bool
    cdr: CallDetailRecord | None


def find_cdrs(db: Database, q: RecordingQuery) -> list[CallDetailRecord]:
    """The call records matching ``q`` (projection when current, else the raw events)."""
    source = ProjectionQueries(db)
    if source.is_current():
        rows = source.cdrs(
            ms_of(q.start),
            ms_of(q.end),
            number=q.number,
            topic=q.topic,
            operator_id=q.operator_id,
            outcome=q.outcome.value if q.outcome is not None else None,
        )
        return [cdr_from_projection(r) for r in rows]
    stored = EventQueries(db).for_report(
        q.start,
        q.end,
        lookback=timedelta(0),
        topic=q.topic,
        operator_id=q.operator_id if q.topic is None else None,
    )
    events = []
    for s in stored:
        try:
            events.append(event_from_record(s))
        except RemoteProtocolError:
            continue  # a damaged event is not a reason to refuse the search
    where = CdrFilter(
        start=q.start,
        end=q.end,
        number=q.number,
        topic=q.topic,
        operator_id=q.operator_id,
        outcome=q.outcome,
    )
    return list(build_cdrs(events, end=q.end, where=where))


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _found(e: StoredEvent, deleted: frozenset[str], cdr: CallDetailRecord | None) -> FoundRecording:
    size = _number(e.payload.get("size_bytes"))
    return FoundRecording(
        recording_id=e.event_id,
        call_id=e.call_id or "",
        stored_at=e.timestamp,
        path=str(e.payload.get("path") or ""),
        size_bytes=int(size) if size is not None else None,
        duration_s=_number(e.payload.get("duration_s")),
        deleted=e.event_id in deleted,
        cdr=cdr,
    )


def search_recordings(db: Database, q: RecordingQuery) -> list[FoundRecording]:
    """Recordings of the calls matching ``q``, newest call first."""
    cdrs = {c.call_id: c for c in find_cdrs(db, q)}
    if not cdrs:
        return []
    stored = EventQueries(db).between(q.start, q.end + STORED_SLACK, kinds=[RECORDING_KIND])
    deleted = RetentionStore(db, Path()).deleted_recordings()
    found = [_found(e, deleted, cdrs[e.call_id]) for e in stored if e.call_id in cdrs]
    found.sort(key=lambda r: r.cdr.started_at if r.cdr else r.stored_at, reverse=True)
    return found[: q.limit]


def find_recording(db: Database, recording_id: str) -> FoundRecording | None:
    """One recording by its id, with its call's record (None: no such recording)."""
    queries = EventQueries(db)
    event = RecordingEvents(db).by_id(recording_id)
    if event is None or event.call_id is None:
        return None
    events = []
    for s in queries.of_calls([event.call_id]):
        try:
            events.append(event_from_record(s))
        except RemoteProtocolError:
            continue
    cdrs = build_cdrs(events, end=max(e.timestamp for e in events) if events else event.timestamp)
    deleted = RetentionStore(db, Path()).deleted_recordings()
    return _found(event, deleted, cdrs[0] if cdrs else None)


def resolve_file(path: str, root: Path | None) -> Path | None:
    """The recording's file, only inside ``root`` when one is configured (None: refused)."""
    if not path:
        return None
    candidate = Path(path)
    if root is not None:
        base = root.resolve()
        full = (candidate if candidate.is_absolute() else base / candidate).resolve()
        if not full.is_relative_to(base):
            return None
        return full
    return candidate if candidate.is_absolute() else None
