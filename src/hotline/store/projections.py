"""Projections of the event table: calls (CDR), queue visits, handlings, call-backs, spans.

docs/metrics.md: the events are the source of truth; these tables are derived
from them, kept in step with them and rebuildable from them at any time.

* ``call_records``: one row per call (the CDR plus the call's facts), indexed
  for search by period, number, topic, operator and outcome;
* ``call_visits``: one row per call and queue (docs/metrics.md, Offered);
* ``call_handlings``: one row per operator handling of a call;
* ``call_callbacks``: call-back attempts and completions;
* ``call_spans``: operator connected and wrap-up time of each call;
* ``projection_meta``: up to which event (``seq``) the projections are
  current.  Reports use the projections only when it equals the newest
  event, so events written by a writer without projections (or a failed
  projection) send reports back to the raw events until a rebuild.

The rows themselves are made by a :class:`Projector` (in production
:class:`hotline.reports.projection.EventProjector`, handed in by the
application, because the store may not import the reports layer).

:meth:`Projections.apply` re-projects some calls inside the caller's
transaction: it deletes their rows, projects every stored event of those calls
again, inserts the new rows, refreshes the repeat-call flags of their callers
and recomputes the interval rollups (:mod:`hotline.store.rollups`) of every
bucket they touched, before and after.  :class:`~hotline.store.events.EventStore`
calls it in the same transaction as each batch insert, so projections and
rollups never drift from the events.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Connection,
    Index,
    Integer,
    String,
    Text,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Mapped, aliased, mapped_column

from hotline.core.records import EventRecord
from hotline.store.db import Database
from hotline.store.event_queries import StoredEvent
from hotline.store.events import EventRow, from_ms, to_ms
from hotline.store.models import Base
from hotline.store.rollups import ROLLUP_MODELS, recompute_rollups

__all__ = [
    "LONG_SPAN_MS",
    "PROJECTION_MODELS",
    "REPEAT_WINDOW_MS",
    "CallCallbackRow",
    "CallHandlingRow",
    "CallRecordRow",
    "CallSpanRow",
    "CallVisitRow",
    "ProjectionMetaRow",
    "Projections",
    "Projector",
    "long_span_condition",
]

log = logging.getLogger(__name__)

REPEAT_WINDOW_MS: Final = 24 * 3600 * 1000
"""docs/metrics.md, Repeat calls: the same caller on the same topic within 24 h."""
_CHUNK: Final = 400
_STALE: Final = -1
_ID = String(64)
_MS = BigInteger


class Projector(Protocol):
    """Turns every event of some calls into projection rows, keyed by table name."""

    def project(
        self, records: Iterable[EventRecord]
    ) -> Mapping[str, Sequence[Mapping[str, Any]]]: ...


class CallRecordRow(Base):
    """One call: its CDR and its facts (docs/metrics.md)."""

    __tablename__ = "call_records"
    __table_args__ = (
        Index("ix_call_records_started_ms", "started_ms"),
        Index("ix_call_records_caller_digits", "caller_digits", "started_ms"),
        Index("ix_call_records_topic", "topic", "started_ms"),
        Index("ix_call_records_operator", "operator_id", "started_ms"),
        Index("ix_call_records_outcome", "outcome", "started_ms"),
        Index("ix_call_records_bucket_ms", "bucket_ms"),
        Index("ix_call_records_repeat", "repeat_key", "arrived_ms"),
    )

    call_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    started_ms: Mapped[int] = mapped_column(_MS)
    answered_ms: Mapped[int | None] = mapped_column(_MS, nullable=True)
    ended_ms: Mapped[int | None] = mapped_column(_MS, nullable=True)
    last_ms: Mapped[int] = mapped_column(_MS)
    caller: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    caller_digits: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    called: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    called_digits: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    trunk: Mapped[str | None] = mapped_column(_ID, nullable=True)
    direction: Mapped[str] = mapped_column(String(8))
    topic: Mapped[str | None] = mapped_column(_ID, nullable=True)
    queues: Mapped[str] = mapped_column(Text)
    queue_outcomes: Mapped[str] = mapped_column(Text)
    operator_id: Mapped[str | None] = mapped_column(_ID, nullable=True)
    operators: Mapped[str] = mapped_column(Text)
    wait_ms: Mapped[int | None] = mapped_column(_MS, nullable=True)
    talk_ms: Mapped[int | None] = mapped_column(_MS, nullable=True)
    hold_ms: Mapped[int | None] = mapped_column(_MS, nullable=True)
    outcome: Mapped[str] = mapped_column(String(24))
    hung_up_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    end_cause: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    recording_path: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    counted: Mapped[bool] = mapped_column(Boolean)
    arrived_ms: Mapped[int | None] = mapped_column(_MS, nullable=True)
    bucket_ms: Mapped[int | None] = mapped_column(_MS, nullable=True)
    fact_direction: Mapped[str | None] = mapped_column(String(8), nullable=True)
    fact_topic: Mapped[str | None] = mapped_column(_ID, nullable=True)
    repeat_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    bot_started: Mapped[bool] = mapped_column(Boolean)
    bot_contained: Mapped[bool] = mapped_column(Boolean)
    ivr_self_served: Mapped[bool] = mapped_column(Boolean)
    outbound_answered: Mapped[bool] = mapped_column(Boolean)
    outbound_failed: Mapped[bool] = mapped_column(Boolean)
    is_repeat: Mapped[bool] = mapped_column(Boolean)


class CallVisitRow(Base):
    """One call in one queue (docs/metrics.md, "Call outcomes in a queue")."""

    __tablename__ = "call_visits"
    __table_args__ = (
        Index("ix_call_visits_bucket_ms", "bucket_ms"),
        Index("ix_call_visits_entered_ms", "entered_ms"),
    )

    call_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[str] = mapped_column(_ID)
    topic: Mapped[str | None] = mapped_column(_ID, nullable=True)
    trunk: Mapped[str | None] = mapped_column(_ID, nullable=True)
    direction: Mapped[str] = mapped_column(String(8))
    entered_ms: Mapped[int] = mapped_column(_MS)
    bucket_ms: Mapped[int] = mapped_column(_MS)
    outcome: Mapped[str] = mapped_column(String(24))
    left_ms: Mapped[int | None] = mapped_column(_MS, nullable=True)
    wait_ms: Mapped[int | None] = mapped_column(_MS, nullable=True)
    operator_id: Mapped[str | None] = mapped_column(_ID, nullable=True)
    tto_ms: Mapped[int | None] = mapped_column(_MS, nullable=True)
    within_norm: Mapped[bool] = mapped_column(Boolean)
    norm_ms: Mapped[int] = mapped_column(_MS)
    short_ms: Mapped[int] = mapped_column(_MS)


class CallHandlingRow(Base):
    """One operator's handling of one call (docs/metrics.md, AHT)."""

    __tablename__ = "call_handlings"
    __table_args__ = (
        Index("ix_call_handlings_bucket_ms", "bucket_ms"),
        Index("ix_call_handlings_operator", "operator_id", "answered_ms"),
    )

    call_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[str] = mapped_column(_ID)
    queue_id: Mapped[str | None] = mapped_column(_ID, nullable=True)
    topic: Mapped[str | None] = mapped_column(_ID, nullable=True)
    trunk: Mapped[str | None] = mapped_column(_ID, nullable=True)
    direction: Mapped[str] = mapped_column(String(8))
    answered_ms: Mapped[int] = mapped_column(_MS)
    bucket_ms: Mapped[int] = mapped_column(_MS)
    ended_ms: Mapped[int | None] = mapped_column(_MS, nullable=True)
    complete: Mapped[bool] = mapped_column(Boolean)
    connected_ms: Mapped[int] = mapped_column(_MS)
    talk_ms: Mapped[int] = mapped_column(_MS)
    hold_ms: Mapped[int] = mapped_column(_MS)
    wrapup_ms: Mapped[int] = mapped_column(_MS)


class CallCallbackRow(Base):
    """A call-back attempt or completion."""

    __tablename__ = "call_callbacks"
    __table_args__ = (Index("ix_call_callbacks_bucket_ms", "bucket_ms"),)

    call_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[str] = mapped_column(_ID)
    topic: Mapped[str | None] = mapped_column(_ID, nullable=True)
    trunk: Mapped[str | None] = mapped_column(_ID, nullable=True)
    at_ms: Mapped[int] = mapped_column(_MS)
    bucket_ms: Mapped[int] = mapped_column(_MS)
    completed: Mapped[bool] = mapped_column(Boolean)


LONG_SPAN_MS: Final = 24 * 3600 * 1000
"""Spans longer than this (or still open) are found by a partial index of their own."""
_LONG_SPAN_SQL: Final = f"to_ms IS NULL OR to_ms - from_ms > {LONG_SPAN_MS}"


class CallSpanRow(Base):
    """An operator's connected or wrap-up time on a call; ``to_ms`` None while open."""

    __tablename__ = "call_spans"
    __table_args__ = (
        Index("ix_call_spans_from_ms", "from_ms"),
        Index(
            "ix_call_spans_long",
            "from_ms",
            postgresql_where=text(_LONG_SPAN_SQL),
            sqlite_where=text(_LONG_SPAN_SQL),
        ),
    )

    call_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[str] = mapped_column(_ID)
    kind: Mapped[str] = mapped_column(String(16))
    from_ms: Mapped[int] = mapped_column(_MS)
    to_ms: Mapped[int | None] = mapped_column(_MS, nullable=True)
    call_last_ms: Mapped[int] = mapped_column(_MS)


class ProjectionMetaRow(Base):
    """Up to which event the projections are current (one row, ``id`` 1)."""

    __tablename__ = "projection_meta"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    projected_seq: Mapped[int] = mapped_column(_MS)


def long_span_condition() -> ColumnElement[bool]:
    """The predicate of ``ix_call_spans_long`` (a query must repeat it to use the index)."""
    return text(f"({_LONG_SPAN_SQL})")  # type: ignore[return-value]


PROJECTION_MODELS: Final = {
    "call_records": CallRecordRow,
    "call_visits": CallVisitRow,
    "call_handlings": CallHandlingRow,
    "call_callbacks": CallCallbackRow,
    "call_spans": CallSpanRow,
}
_LIMITS: Final = {
    name: {
        c.name: c.type.length
        for c in model.__table__.columns
        if isinstance(c.type, String) and c.type.length is not None
    }
    for name, model in PROJECTION_MODELS.items()
}


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _fit(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with every text cut to its column's length (a projection never fails on it)."""
    limits = _LIMITS[table]
    out = dict(row)
    for key, limit in limits.items():
        value = out.get(key)
        if isinstance(value, str) and len(value) > limit:
            out[key] = value[:limit]
    return out


def _events_of(conn: Connection, call_ids: Sequence[str]) -> list[StoredEvent]:
    """Every stored event of these calls, in time order (ties: insertion order)."""
    stmt = (
        select(EventRow.__table__)
        .where(EventRow.call_id.in_(list(call_ids)))
        .order_by(EventRow.ts_ms, EventRow.seq)
    )
    return [
        StoredEvent(
            seq=m["seq"],
            event_id=m["event_id"],
            kind=m["kind"],
            timestamp=from_ms(m["ts_ms"]),
            call_id=m["call_id"],
            queue_id=m["queue_id"],
            operator_id=m["operator_id"],
            topic=m["topic"],
            trunk=m["trunk"],
            direction=m["direction"],
            payload=dict(m["payload"]),
        )
        for m in conn.execute(stmt).mappings()
    ]


def _ids(found: Iterable[str | None]) -> list[str]:
    return [i for i in found if i is not None]


def _max_seq(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(EventRow.seq), 0))).scalar_one())


class Projections:
    """Maintains the projection tables and their rollups for one database."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    # -- the writer's hook ---------------------------------------------------
    @staticmethod
    def seq_before(conn: Connection) -> int:
        """The newest event before a batch insert (pass it to :meth:`after_insert`)."""
        return _max_seq(conn)

    def after_insert(
        self, conn: Connection, rows: Sequence[Mapping[str, Any]], seq_before: int
    ) -> None:
        """Re-project the calls of a just-inserted batch, in the same transaction.

        A connectivity error propagates (the batch is journaled and retried).
        Any other failure of the projection leaves the events stored and marks
        the projections stale (reports fall back to the raw events until
        ``hotline report rebuild``).
        """
        call_ids = sorted({r["call_id"] for r in rows if r.get("call_id")})
        try:
            with conn.begin_nested():
                if call_ids:
                    self.apply(conn, call_ids)
                conn.execute(
                    update(ProjectionMetaRow)
                    .where(
                        ProjectionMetaRow.id == 1,
                        ProjectionMetaRow.projected_seq == seq_before,
                    )
                    .values(projected_seq=select(func.max(EventRow.seq)).scalar_subquery())
                )
        except (OperationalError, InterfaceError):
            raise
        except Exception:  # a projection bug must never cost an event: log, mark, go on
            log.exception("projections: batch not projected, marked stale")
            self.mark_stale(conn)

    # -- re-projecting calls -------------------------------------------------
    def apply(self, conn: Connection, call_ids: Sequence[str]) -> None:
        """Re-project ``call_ids`` from their stored events and refresh the rollups."""
        queue_buckets: set[int] = set()
        call_buckets: set[int] = set()
        repeat_keys: set[str] = set()
        for chunk in _chunks(sorted(set(call_ids))):
            self._old_buckets(conn, chunk, queue_buckets, call_buckets, repeat_keys)
            for model in PROJECTION_MODELS.values():
                conn.execute(delete(model).where(model.__table__.c.call_id.in_(chunk)))
            projected = self.projector.project(_events_of(conn, chunk))
            self._insert(conn, projected)
            for table in ("call_visits", "call_handlings", "call_callbacks"):
                queue_buckets.update(int(r["bucket_ms"]) for r in projected.get(table, ()))
            for r in projected.get("call_records", ()):
                if r.get("bucket_ms") is not None:
                    call_buckets.add(int(r["bucket_ms"]))
                if r.get("repeat_key") is not None:
                    repeat_keys.add(str(r["repeat_key"]))
        call_buckets.update(self.refresh_repeats(conn, sorted(repeat_keys)))
        recompute_rollups(conn, queue_buckets=queue_buckets, call_buckets=call_buckets)

    def _old_buckets(
        self,
        conn: Connection,
        chunk: list[str],
        queue_buckets: set[int],
        call_buckets: set[int],
        repeat_keys: set[str],
    ) -> None:
        for model in (CallVisitRow, CallHandlingRow, CallCallbackRow):
            queue_buckets.update(
                conn.execute(
                    select(model.bucket_ms).where(model.call_id.in_(chunk)).distinct()
                ).scalars()
            )
        for bucket, key in conn.execute(
            select(CallRecordRow.bucket_ms, CallRecordRow.repeat_key).where(
                CallRecordRow.call_id.in_(chunk)
            )
        ):
            if bucket is not None:
                call_buckets.add(int(bucket))
            if key is not None:
                repeat_keys.add(str(key))

    @staticmethod
    def _insert(conn: Connection, projected: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        unknown = set(projected) - set(PROJECTION_MODELS)
        if unknown:
            raise ValueError(f"projector returned unknown tables {sorted(unknown)}")
        for table, model in PROJECTION_MODELS.items():
            rows = [_fit(table, r) for r in projected.get(table, ())]
            if rows:
                conn.execute(insert(model), rows)

    @staticmethod
    def refresh_repeats(conn: Connection, repeat_keys: Sequence[str] | None) -> set[int]:
        """Recompute ``is_repeat`` of the calls with these repeat keys (None: every call).

        docs/metrics.md, Repeat calls: an inbound call is a repeat when the
        same caller called on the same topic at most 24 h before (ties in
        arrival are ordered by call id, as in
        :func:`hotline.reports.metrics_service.repeat_call_ids`).  Returns the
        arrival buckets of the calls whose flag changed.
        """
        changed: set[int] = set()
        keys: list[list[str]] | list[None] = (
            list(_chunks(repeat_keys)) if repeat_keys is not None else [None]
        )
        c = CallRecordRow
        p = aliased(CallRecordRow)
        pg = conn.dialect.name == "postgresql"
        earlier_id = (
            p.call_id.collate("C") < c.call_id.collate("C") if pg else p.call_id < c.call_id
        )
        earlier = exists().where(
            p.repeat_key == c.repeat_key,
            p.arrived_ms >= c.arrived_ms - REPEAT_WINDOW_MS,
            or_(p.arrived_ms < c.arrived_ms, and_(p.arrived_ms == c.arrived_ms, earlier_id)),
        )
        for chunk in keys:
            if chunk == []:
                continue
            where = [c.repeat_key.is_not(None)]
            if chunk is not None:
                where.append(c.repeat_key.in_(chunk))
            found = select(c.call_id, c.bucket_ms, c.is_repeat, earlier.label("now")).where(*where)
            flips: dict[bool, list[str]] = {True: [], False: []}
            for call_id, bucket, was, now in conn.execute(found):
                if bool(was) != bool(now):
                    flips[bool(now)].append(call_id)
                    if bucket is not None:
                        changed.add(int(bucket))
            for value, ids in flips.items():
                for id_chunk in _chunks(ids):
                    conn.execute(
                        update(CallRecordRow)
                        .where(CallRecordRow.call_id.in_(id_chunk))
                        .values(is_repeat=value)
                    )
        return changed

    # -- state ---------------------------------------------------------------
    @staticmethod
    def mark_stale(conn: Connection) -> None:
        conn.execute(
            update(ProjectionMetaRow)
            .where(ProjectionMetaRow.id == 1)
            .values(projected_seq=literal(_STALE))
        )

    @staticmethod
    def is_current(db: Database) -> bool:
        """True when every stored event is reflected in the projections."""
        with db.engine.connect() as conn:
            seq = conn.execute(
                select(ProjectionMetaRow.projected_seq).where(ProjectionMetaRow.id == 1)
            ).scalar()
            return seq is not None and int(seq) == _max_seq(conn)

    # -- rebuild -------------------------------------------------------------
    def rebuild(
        self,
        db: Database,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        chunk_calls: int = 2000,
    ) -> int:
        """Recompute the projections from the raw events; returns how many calls.

        Without a period: everything (tables emptied, every call projected,
        then repeat flags and rollups recomputed in bulk), and the
        projections are marked current.  With a period: the calls with an
        event in ``[start, end)`` are re-projected as the writer does (use it
        after changing a queue's norms); the current/stale mark is kept.
        """
        if start is None and end is None:
            return self._rebuild_all(db, chunk_calls)
        where = []
        if start is not None:
            where.append(EventRow.ts_ms >= to_ms(start))
        if end is not None:
            where.append(EventRow.ts_ms < to_ms(end))
        with db.engine.connect() as conn:
            ids = _ids(
                conn.execute(
                    select(EventRow.call_id)
                    .where(EventRow.call_id.is_not(None), *where)
                    .distinct()
                    .order_by(EventRow.call_id)
                ).scalars()
            )
        for i in range(0, len(ids), chunk_calls):
            with db.engine.begin() as conn:
                self.apply(conn, ids[i : i + chunk_calls])
        return len(ids)

    def _rebuild_all(self, db: Database, chunk_calls: int) -> int:
        with db.engine.begin() as conn:
            self.ensure_meta(conn)
            self.mark_stale(conn)
            seq = _max_seq(conn)
            for model in (*PROJECTION_MODELS.values(), *ROLLUP_MODELS):
                conn.execute(delete(model))
        with db.engine.connect() as conn:
            ids = _ids(
                conn.execute(
                    select(EventRow.call_id)
                    .where(EventRow.call_id.is_not(None), EventRow.seq <= seq)
                    .distinct()
                    .order_by(EventRow.call_id)
                ).scalars()
            )
        for i in range(0, len(ids), chunk_calls):
            chunk = ids[i : i + chunk_calls]
            with db.engine.begin() as conn:
                events: list[StoredEvent] = []
                for part in _chunks(chunk):
                    events.extend(_events_of(conn, part))
                self._insert(conn, self.projector.project(events))
        with db.engine.begin() as conn:
            self.refresh_repeats(conn, None)
            recompute_rollups(conn, queue_buckets=None, call_buckets=None)
            # Events written meanwhile were projected by the writer only if it was current:
            # re-project their calls too, then mark the whole as current.
            late = _ids(
                conn.execute(
                    select(EventRow.call_id)
                    .where(EventRow.seq > seq, EventRow.call_id.is_not(None))
                    .distinct()
                ).scalars()
            )
            if late:
                self.apply(conn, late)
            conn.execute(
                update(ProjectionMetaRow)
                .where(ProjectionMetaRow.id == 1)
                .values(projected_seq=_max_seq(conn))
            )
        return len(ids)

    @staticmethod
    def ensure_meta(conn: Connection) -> None:
        """Create the meta row if missing (stale: a rebuild makes it current)."""
        if conn.execute(select(ProjectionMetaRow.id).where(ProjectionMetaRow.id == 1)).first():
            return
        conn.execute(insert(ProjectionMetaRow).values(id=1, projected_seq=_STALE))
