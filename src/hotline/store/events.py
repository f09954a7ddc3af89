"""The append-only event table and the writer that never blocks call handling.

docs/metrics.md: raw events are the source of truth, kept so that any metric
can be recomputed for any past period; no counter lives only in memory.

:class:`EventStore`
    ``append(event)`` is synchronous and O(1): the event goes into a bounded
    deque; past its bound it is written at once to the local journal (a
    JSON-lines file in the data directory), never dropped.  The writer
    coroutine :meth:`EventStore.run` drains the deque in batches (up to
    ``batch_size`` rows per INSERT, at least every ``flush_interval_s``)
    with the blocking SQLAlchemy calls in :func:`asyncio.to_thread`.  When
    the database fails, the batch goes to the journal and everything after it
    follows it there, in order, until the database answers again (retried
    with exponential backoff); then the journal is replayed in order and
    truncated.  Every event has a unique ``event_id`` under a unique
    constraint and every INSERT skips ids already stored, so a replay after a
    crash never duplicates an event.

    Given :class:`~hotline.store.projections.Projections`, each batch also
    updates the projections and interval rollups of its calls, in the same
    transaction as the insert.

    Counters for ``/metrics``: :attr:`~EventStore.pending`,
    :attr:`~EventStore.journal_backlog`, ``written_total``,
    ``journaled_total``, ``replayed_total``, ``rejected_total``,
    ``corrupt_journal_lines`` and ``database_up``.

Events are stored with their timestamp as whole milliseconds since the Unix
epoch (``ts_ms``): exact, the same on SQLite and PostgreSQL, and cheap to
index.  The store does not import :mod:`hotline.reports` (a higher layer):
it accepts any object shaped like :class:`StorableEvent`, which
:class:`hotline.reports.events.CallCentreEvent` is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Executable,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from hotline.core.clock import Clock, SystemClock
from hotline.core.records import EventRecord
from hotline.store.db import Database
from hotline.store.models import Base

if TYPE_CHECKING:
    from hotline.store.projections import Projections

__all__ = [
    "DEFAULT_JOURNAL_NAME",
    "EventRow",
    "EventStore",
    "StorableEvent",
    "from_ms",
    "row_of",
    "to_ms",
]

log = logging.getLogger(__name__)

DEFAULT_JOURNAL_NAME: Final = "events.journal.jsonl"
MAX_JOURNAL_LINE_BYTES: Final = 64 * 1024
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_TS_MS: Final = 2**53  # far beyond any real date, and within every integer column
_MAX_PAYLOAD_KEYS: Final = 64
_ID = String(64)
_ROW_KEYS: Final = (
    "event_id",
    "ts_ms",
    "kind",
    "call_id",
    "queue_id",
    "operator_id",
    "topic",
    "trunk",
    "direction",
    "payload",
)
_TEXT_LIMITS: Final = {
    "event_id": 32,
    "kind": 40,
    "call_id": 64,
    "queue_id": 64,
    "operator_id": 64,
    "topic": 64,
    "trunk": 64,
    "direction": 8,
}


class EventRow(Base):
    """One event, never updated or deleted by the application (docs/metrics.md)."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("event_id", name="uq_events_event_id"),
        Index("ix_events_ts_ms", "ts_ms"),
        Index("ix_events_kind_ts_ms", "kind", "ts_ms"),
        Index("ix_events_queue_ts_ms", "queue_id", "ts_ms"),
        Index("ix_events_topic_ts_ms", "topic", "ts_ms"),
        Index("ix_events_operator_ts_ms", "operator_id", "ts_ms"),
        Index("ix_events_call_id", "call_id"),
        # Each operator's last login/logout/state event before a time (reports).
        Index("ix_events_operator_kind_ts_ms", "operator_id", "kind", "ts_ms"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(32))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(40))
    call_id: Mapped[str | None] = mapped_column(_ID, nullable=True)
    queue_id: Mapped[str | None] = mapped_column(_ID, nullable=True)
    operator_id: Mapped[str | None] = mapped_column(_ID, nullable=True)
    topic: Mapped[str | None] = mapped_column(_ID, nullable=True)
    trunk: Mapped[str | None] = mapped_column(_ID, nullable=True)
    direction: Mapped[str | None] = mapped_column(String(8), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


StorableEvent = EventRecord
"""What the store needs of an event (``hotline.reports.events.CallCentreEvent`` fits)."""


def to_ms(ts: datetime) -> int:
    """Whole milliseconds since the Unix epoch of an aware datetime (exact)."""
    return (ts - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ts_ms: int) -> datetime:
    """The aware UTC datetime of ``ts_ms`` milliseconds since the Unix epoch."""
    return _EPOCH + timedelta(milliseconds=ts_ms)


def row_of(event: StorableEvent) -> dict[str, Any]:
    """The table row (and journal line) of ``event``: plain JSON-able values."""
    return {
        "event_id": event.event_id,
        "ts_ms": to_ms(event.timestamp),
        "kind": str(event.kind),
        "call_id": event.call_id,
        "queue_id": event.queue_id,
        "operator_id": event.operator_id,
        "topic": event.topic,
        "trunk": event.trunk,
        "direction": str(event.direction) if event.direction is not None else None,
        "payload": dict(event.payload),
    }


def _valid_row(row: object) -> dict[str, Any] | None:
    """``row`` if it is a well-formed journal row, else None."""
    if not isinstance(row, dict) or set(row) != set(_ROW_KEYS):
        return None
    ts_ms, payload = row["ts_ms"], row["payload"]
    if isinstance(ts_ms, bool) or not isinstance(ts_ms, int) or not 0 <= ts_ms < _MAX_TS_MS:
        return None
    if not isinstance(payload, dict) or len(payload) > _MAX_PAYLOAD_KEYS:
        return None
    if not all(isinstance(v, str | int | float | bool | None) for v in payload.values()):
        return None
    for key, limit in _TEXT_LIMITS.items():
        value = row[key]
        required = key in ("event_id", "kind")
        if value is None and not required:
            continue
        if not isinstance(value, str) or not value or len(value) > limit:
            return None
    return row


def _is_outage(exc: SQLAlchemyError) -> bool:
    """A connectivity problem (retry later) rather than a row the database refuses."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class _Journal:
    """The append-only JSON-lines journal (loop thread writes; a worker thread reads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = open(path, "ab")  # noqa: SIM115  (kept open for the store's life)
        size = self._file.tell()
        if size:
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    # A line torn by a crash: end it, so the next line stays whole.
                    self._file.write(b"\n")
                    self._file.flush()

    def write(self, rows: list[dict[str, Any]]) -> None:
        data = b"".join(
            json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            for row in rows
        )
        self._file.write(data)
        self._file.flush()

    def fileno(self) -> int:
        return self._file.fileno()

    def size(self) -> int:
        return os.fstat(self._file.fileno()).st_size

    def truncate(self) -> None:
        self._file.flush()
        os.ftruncate(self._file.fileno(), 0)

    def close(self) -> None:
        self._file.close()

    def count_lines(self) -> int:
        with open(self.path, "rb") as f:
            return sum(1 for line in f if line.strip())

    def read_chunk(self, offset: int, max_rows: int) -> tuple[list[dict[str, Any]], int, int]:
        """Up to ``max_rows`` rows of whole lines from ``offset``: (rows, new offset, corrupt)."""
        rows: list[dict[str, Any]] = []
        corrupt = 0
        with open(self.path, "rb") as f:
            f.seek(offset)
            while len(rows) < max_rows:
                line = f.readline(MAX_JOURNAL_LINE_BYTES + 1)
                if not line.endswith(b"\n"):
                    if len(line) > MAX_JOURNAL_LINE_BYTES:
                        f.readline()  # skip the rest of an oversized line
                        corrupt += 1
                        offset = f.tell()
                        continue
                    break  # end of file, or a line still being written
                offset += len(line)
                if not line.strip():
                    continue
                try:
                    row = _valid_row(json.loads(line))
                except ValueError:
                    row = None
                if row is None:
                    corrupt += 1
                else:
                    rows.append(row)
        return rows, offset, corrupt


class EventStore:
    """Writes events to the ``events`` table without ever blocking the caller.

    Call :meth:`append` from the event loop's thread (it is not thread-safe),
    run :meth:`run` as an owned task, and at shutdown :meth:`stop` it, await
    it, then :meth:`close`.  Only :meth:`run` (or, when it is not running,
    :meth:`flush_once` / :meth:`flush_all`) may drive the writer.
    """

    def __init__(
        self,
        db: Database,
        journal_path: Path,
        *,
        max_pending: int = 10_000,
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        clock: Clock | None = None,
        projections: Projections | None = None,
    ) -> None:
        if max_pending < 1 or batch_size < 1:
            raise ValueError("max_pending and batch_size must be >= 1")
        self._db = db
        self._projections = projections
        self._clock: Clock = clock or SystemClock()
        self._pending: deque[dict[str, Any]] = deque()
        self._max_pending = max_pending
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._retry_delay_s = retry_initial_s
        self._retry_at = float("-inf")
        self._journal = _Journal(journal_path)
        self._rejected_path = journal_path.with_name(journal_path.name + ".rejected")
        self._replay_offset = 0
        self._wakeup = asyncio.Event()
        self._stopping = False
        #: Events in the journal that are not yet in the database.
        self.journal_backlog = self._journal.count_lines()
        self.written_total = 0
        self.journaled_total = 0
        self.replayed_total = 0
        self.rejected_total = 0
        self.corrupt_journal_lines = 0
        self.database_up = self.journal_backlog == 0
        self.last_error: str | None = None

    @property
    def pending(self) -> int:
        """Events in memory, waiting for the writer."""
        return len(self._pending)

    @property
    def retry_at(self) -> float | None:
        """When (monotonic seconds) the database will be tried again; None while it is up."""
        return None if self._retry_at == float("-inf") else self._retry_at

    @property
    def journal_path(self) -> Path:
        return self._journal.path

    def append(self, event: StorableEvent) -> None:
        """Queue ``event``; O(1), never blocks on the database, never drops it."""
        row = row_of(event)
        if len(self._pending) >= self._max_pending:
            self._journal.write([row])
            self.journal_backlog += 1
            self.journaled_total += 1
            return
        self._pending.append(row)
        if len(self._pending) >= self._batch_size:
            self._wakeup.set()

    async def run(self) -> None:
        """The writer: until :meth:`stop`, then one last flush.  Cancelling it
        journals whatever is still in memory."""
        try:
            while not self._stopping:
                await self.flush_once()
                healthy = self.database_up and not self.journal_backlog
                if healthy and len(self._pending) >= self._batch_size:
                    continue  # a full batch is waiting: write it now
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._flush_interval_s)
            await self.flush_all()
        except asyncio.CancelledError:
            self._spill_pending()
            raise

    def stop(self) -> None:
        """Ask :meth:`run` to flush what it holds and return."""
        self._stopping = True
        self._wakeup.set()

    async def flush_all(self) -> None:
        """Write everything held to the database, or to the journal if it is down."""
        while self._pending or self.journal_backlog:
            before = (len(self._pending), self.journal_backlog)
            self._retry_at = float("-inf")
            await self.flush_once()
            if not self.database_up or before == (len(self._pending), self.journal_backlog):
                if self._spill_pending():
                    await self._sync_journal()
                return

    def close(self) -> None:
        """Journal what is still in memory and close the journal file."""
        self._spill_pending()
        self._journal.close()

    async def flush_once(self) -> None:
        """One step of the writer: a batch to the database, or the outage path."""
        if self.journal_backlog or not self.database_up:
            await self._outage_step()
            return
        batch = self._take(self._batch_size)
        if not batch:
            return
        try:
            rejected = await asyncio.to_thread(self._insert, batch)
        except SQLAlchemyError as exc:
            self._down(exc)
            self._journal.write(batch)
            self.journal_backlog += len(batch)
            self.journaled_total += len(batch)
            self._spill_pending()
            await self._sync_journal()
            return
        self.written_total += len(batch) - rejected
        self.rejected_total += rejected

    # -- the outage path ---------------------------------------------------
    async def _outage_step(self) -> None:
        if self._spill_pending():
            await self._sync_journal()
        if self._clock.monotonic() < self._retry_at:
            return
        while self.journal_backlog:
            try:
                rows, offset, corrupt, rejected = await asyncio.to_thread(
                    self._replay_chunk, self._replay_offset
                )
            except SQLAlchemyError as exc:
                self._down(exc)
                return
            self._replay_offset = offset
            self.corrupt_journal_lines += corrupt
            self.replayed_total += rows - rejected
            self.written_total += rows - rejected
            self.rejected_total += rejected
            self.journal_backlog = max(self.journal_backlog - rows - corrupt, 0)
            if rows == 0 and corrupt == 0:
                break
            if offset >= self._journal.size():
                self.journal_backlog = 0
        if self._replay_offset >= self._journal.size():
            self._journal.truncate()
            self._replay_offset = 0
            self.journal_backlog = 0
        if self.journal_backlog == 0:
            self._up()

    def _replay_chunk(self, offset: int) -> tuple[int, int, int, int]:
        """(worker thread) Insert the next journal rows: (rows, new offset, corrupt, rejected)."""
        rows, new_offset, corrupt = self._journal.read_chunk(offset, self._batch_size)
        if not rows and not corrupt:
            # Nothing readable: make sure the database is back before declaring so.
            with self._db.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return 0, new_offset, 0, 0
        rejected = self._insert(rows) if rows else 0
        return len(rows), new_offset, corrupt, rejected

    def _spill_pending(self) -> int:
        """Move everything in memory to the journal (in order); how many events moved."""
        if not self._pending:
            return 0
        rows = list(self._pending)
        self._pending.clear()
        self._journal.write(rows)
        self.journal_backlog += len(rows)
        self.journaled_total += len(rows)
        return len(rows)

    async def _sync_journal(self) -> None:
        await asyncio.to_thread(os.fsync, self._journal.fileno())

    def _down(self, exc: SQLAlchemyError) -> None:
        if self.database_up:
            log.warning("event store: database unavailable, journaling events: %s", exc)
        self.database_up = False
        self.last_error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        self._retry_at = self._clock.monotonic() + self._retry_delay_s
        self._retry_delay_s = min(self._retry_delay_s * 2, self._retry_max_s)

    def _up(self) -> None:
        if not self.database_up:
            log.info("event store: database back, journal replayed")
        self.database_up = True
        self.last_error = None
        self._retry_delay_s = self._retry_initial_s
        self._retry_at = float("-inf")

    def _take(self, n: int) -> list[dict[str, Any]]:
        take = min(n, len(self._pending))
        return [self._pending.popleft() for _ in range(take)]

    # -- database (worker thread) -------------------------------------------
    def _insert(self, rows: list[dict[str, Any]]) -> int:
        """Insert ``rows``, skipping ids already stored; returns how many were rejected.

        Connectivity errors propagate (the caller journals and retries).  A
        batch the database refuses for another reason is retried row by row,
        and the rows it still refuses go to the ``.rejected`` file, never lost.
        """
        try:
            self._insert_many(rows)
        except SQLAlchemyError as exc:
            if _is_outage(exc):
                raise
            return self._insert_one_by_one(rows)
        return 0

    def _insert_many(self, rows: list[dict[str, Any]]) -> None:
        stmt: Executable
        if self._db.engine.dialect.name == "postgresql":
            stmt = pg_insert(EventRow).on_conflict_do_nothing(index_elements=["event_id"])
        else:
            stmt = sqlite_insert(EventRow).on_conflict_do_nothing(index_elements=["event_id"])
        with self._db.engine.begin() as conn:
            if self._projections is None:
                conn.execute(stmt, rows)
                return
            # The projections follow the events in the same transaction: they never drift.
            before = self._projections.seq_before(conn)
            conn.execute(stmt, rows)
            self._projections.after_insert(conn, rows, before)

    def _insert_one_by_one(self, rows: list[dict[str, Any]]) -> int:
        refused: list[dict[str, Any]] = []
        for row in rows:
            try:
                self._insert_many([row])
            except SQLAlchemyError as exc:
                if _is_outage(exc):
                    raise
                refused.append(row)
        if refused:
            log.error("event store: %d events refused by the database", len(refused))
            with open(self._rejected_path, "ab") as f:
                for row in refused:
                    f.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
        return len(refused)
