"""Interval rollups: the counters of docs/metrics.md per 15-minute bucket.

``rollup_queue``: per bucket × queue × topic × trunk × direction (× the
queue's SL norm and short-abandon limit in force when projected), the
additive counters of queue visits (by entry), complete handlings (by answer)
and call-backs; ``rollup_calls``: per bucket × topic × trunk × direction, the
counters of whole calls (by arrival).  Every column is an integer (durations
in whole milliseconds), so the sums of any set of buckets are exact: a day or
a month for any queue or topic is the sum of its buckets, equal to what
:func:`hotline.reports.metrics.compute_report` computes from the raw events
(the counters are :class:`hotline.reports.metrics_counters.QueueCounters` and
``CallCounters`` field for field).

:func:`recompute_rollups` rebuilds the rows of given buckets (or of all) from
the projection tables with one ``INSERT … SELECT … GROUP BY``; the writer
calls it in the same transaction as the events, and the benchmark's bulk load
calls it once for everything.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Index,
    Integer,
    Select,
    String,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Mapped, mapped_column

from hotline.store.models import Base

__all__ = [
    "CALL_COUNTERS",
    "QUEUE_COUNTERS",
    "ROLLUP_MODELS",
    "RollupCallsRow",
    "RollupQueueRow",
    "recompute_rollups",
]

QUEUE_COUNTERS: Final = (
    "offered",
    "answered",
    "answered_within_norm",
    "abandoned",
    "short_abandoned",
    "timed_out",
    "overflowed",
    "callback",
    "left_empty",
    "left_full",
    "unresolved",
    "answered_wait_ms",
    "max_wait_ms",
    "callback_attempts",
    "callbacks_completed",
    "handled",
    "connected_ms",
    "talk_ms",
    "hold_ms",
    "wrapup_ms",
)
CALL_COUNTERS: Final = (
    "calls",
    "outbound_calls",
    "bot_calls",
    "bot_contained",
    "ivr_self_served",
    "ivr_self_served_inbound",
    "repeat_calls",
    "outbound_answered",
    "outbound_failed",
)
_OUTCOMES: Final = {
    "answered": "answered",
    "abandoned": "abandoned",
    "short_abandoned": "short_abandon",
    "timed_out": "timed_out",
    "overflowed": "overflowed",
    "callback": "callback",
    "left_empty": "left_empty",
    "left_full": "left_full",
    "unresolved": "unresolved",
}
_CHUNK: Final = 400
_ID = String(64)


def _counter() -> Mapped[int]:
    return mapped_column(BigInteger, default=0)


class RollupQueueRow(Base):
    """Queue counters of one 15-minute bucket and group."""

    __tablename__ = "rollup_queue"
    __table_args__ = (Index("ix_rollup_queue_bucket_ms", "bucket_ms"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    bucket_ms: Mapped[int] = mapped_column(BigInteger)
    queue_id: Mapped[str | None] = mapped_column(_ID, nullable=True)
    topic: Mapped[str | None] = mapped_column(_ID, nullable=True)
    trunk: Mapped[str | None] = mapped_column(_ID, nullable=True)
    direction: Mapped[str | None] = mapped_column(String(8), nullable=True)
    norm_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    short_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    offered: Mapped[int] = _counter()
    answered: Mapped[int] = _counter()
    answered_within_norm: Mapped[int] = _counter()
    abandoned: Mapped[int] = _counter()
    short_abandoned: Mapped[int] = _counter()
    timed_out: Mapped[int] = _counter()
    overflowed: Mapped[int] = _counter()
    callback: Mapped[int] = _counter()
    left_empty: Mapped[int] = _counter()
    left_full: Mapped[int] = _counter()
    unresolved: Mapped[int] = _counter()
    answered_wait_ms: Mapped[int] = _counter()
    max_wait_ms: Mapped[int] = _counter()
    callback_attempts: Mapped[int] = _counter()
    callbacks_completed: Mapped[int] = _counter()
    handled: Mapped[int] = _counter()
    connected_ms: Mapped[int] = _counter()
    talk_ms: Mapped[int] = _counter()
    hold_ms: Mapped[int] = _counter()
    wrapup_ms: Mapped[int] = _counter()


class RollupCallsRow(Base):
    """Whole-call counters of one 15-minute bucket and group."""

    __tablename__ = "rollup_calls"
    __table_args__ = (Index("ix_rollup_calls_bucket_ms", "bucket_ms"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    bucket_ms: Mapped[int] = mapped_column(BigInteger)
    topic: Mapped[str | None] = mapped_column(_ID, nullable=True)
    trunk: Mapped[str | None] = mapped_column(_ID, nullable=True)
    direction: Mapped[str | None] = mapped_column(String(8), nullable=True)
    calls: Mapped[int] = _counter()
    outbound_calls: Mapped[int] = _counter()
    bot_calls: Mapped[int] = _counter()
    bot_contained: Mapped[int] = _counter()
    ivr_self_served: Mapped[int] = _counter()
    ivr_self_served_inbound: Mapped[int] = _counter()
    repeat_calls: Mapped[int] = _counter()
    outbound_answered: Mapped[int] = _counter()
    outbound_failed: Mapped[int] = _counter()


ROLLUP_MODELS: Final = (RollupQueueRow, RollupCallsRow)


def _n(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """How many rows satisfy ``condition`` (an integer on every dialect)."""
    return func.sum(case((condition, 1), else_=0))


def _zero() -> ColumnElement[Any]:
    return cast(literal(0), BigInteger)


def _none(type_: Any = BigInteger) -> ColumnElement[Any]:
    return cast(null(), type_)


def _queue_select(buckets: Sequence[int] | None) -> Select[Any]:
    from hotline.store.projections import CallCallbackRow, CallHandlingRow, CallVisitRow

    v, h, c = CallVisitRow, CallHandlingRow, CallCallbackRow
    answered = v.outcome == "answered"
    visit_cols: dict[str, ColumnElement[Any]] = {
        "offered": func.count(),
        "answered_within_norm": _n(v.within_norm.is_(True)),
        "answered_wait_ms": func.sum(case((answered, func.coalesce(v.wait_ms, 0)), else_=0)),
        "max_wait_ms": func.coalesce(func.max(v.wait_ms), -1),
    }
    for name, outcome in _OUTCOMES.items():
        visit_cols[name] = _n(v.outcome == outcome)
    done = h.complete.is_(True)
    handled_cols: dict[str, ColumnElement[Any]] = {
        "handled": _n(done),
        "connected_ms": func.sum(case((done, h.connected_ms), else_=0)),
        "talk_ms": func.sum(case((done, h.talk_ms), else_=0)),
        "hold_ms": func.sum(case((done, h.hold_ms), else_=0)),
        "wrapup_ms": func.sum(case((done, h.wrapup_ms), else_=0)),
    }
    callback_cols: dict[str, ColumnElement[Any]] = {
        "callback_attempts": _n(c.completed.is_(False)),
        "callbacks_completed": _n(c.completed.is_(True)),
    }

    def counters(given: dict[str, ColumnElement[Any]]) -> list[ColumnElement[Any]]:
        out: list[ColumnElement[Any]] = []
        for name in QUEUE_COUNTERS:
            if name in given:
                out.append(given[name])
            elif name == "max_wait_ms":
                out.append(cast(literal(-1), BigInteger))
            else:
                out.append(_zero())
        return out

    visits = select(
        v.bucket_ms,
        v.queue_id,
        v.topic,
        v.trunk,
        v.direction,
        v.norm_ms,
        v.short_ms,
        *counters(visit_cols),
    ).group_by(v.bucket_ms, v.queue_id, v.topic, v.trunk, v.direction, v.norm_ms, v.short_ms)
    handled = select(
        h.bucket_ms,
        h.queue_id,
        h.topic,
        h.trunk,
        h.direction,
        _none(),
        _none(),
        *counters(handled_cols),
    ).group_by(h.bucket_ms, h.queue_id, h.topic, h.trunk, h.direction)
    callbacks = select(
        c.bucket_ms,
        c.queue_id,
        c.topic,
        c.trunk,
        cast(literal("inbound"), String(8)),
        _none(),
        _none(),
        *counters(callback_cols),
    ).group_by(c.bucket_ms, c.queue_id, c.topic, c.trunk)
    if buckets is not None:
        visits = visits.where(v.bucket_ms.in_(buckets))
        handled = handled.where(h.bucket_ms.in_(buckets))
        callbacks = callbacks.where(c.bucket_ms.in_(buckets))
    return select(union_all(visits, handled, callbacks).subquery())


def _calls_select(buckets: Sequence[int] | None) -> Select[Any]:
    from hotline.store.projections import CallRecordRow

    r = CallRecordRow
    inbound = r.fact_direction == "inbound"
    cols = {
        "calls": _n(inbound),
        "outbound_calls": _n(r.fact_direction == "outbound"),
        "bot_calls": _n(r.bot_started.is_(True)),
        "bot_contained": _n(r.bot_contained.is_(True)),
        "ivr_self_served": _n(r.ivr_self_served.is_(True)),
        "ivr_self_served_inbound": _n(r.ivr_self_served.is_(True) & inbound),
        "repeat_calls": _n(r.is_repeat.is_(True)),
        "outbound_answered": _n(r.outbound_answered.is_(True)),
        "outbound_failed": _n(r.outbound_failed.is_(True)),
    }
    stmt = (
        select(
            r.bucket_ms, r.fact_topic, r.trunk, r.fact_direction, *(cols[n] for n in CALL_COUNTERS)
        )
        .where(r.counted.is_(True), r.bucket_ms.is_not(None))
        .group_by(r.bucket_ms, r.fact_topic, r.trunk, r.fact_direction)
    )
    if buckets is not None:
        stmt = stmt.where(r.bucket_ms.in_(buckets))
    return stmt


_QUEUE_KEYS: Final = ("bucket_ms", "queue_id", "topic", "trunk", "direction", "norm_ms", "short_ms")
_CALL_KEYS: Final = ("bucket_ms", "topic", "trunk", "direction")


def _chunks(items: Sequence[int]) -> Iterator[list[int]]:
    for i in range(0, len(items), _CHUNK):
        yield list(items[i : i + _CHUNK])


def recompute_rollups(
    conn: Connection,
    *,
    queue_buckets: Collection[int] | None,
    call_buckets: Collection[int] | None,
) -> None:
    """Rebuild the rollup rows of these buckets (None: of every bucket) from the projections."""
    for model, buckets, make, keys, counters in (
        (RollupQueueRow, queue_buckets, _queue_select, _QUEUE_KEYS, QUEUE_COUNTERS),
        (RollupCallsRow, call_buckets, _calls_select, _CALL_KEYS, CALL_COUNTERS),
    ):
        columns = [*keys, *counters]
        if buckets is None:
            conn.execute(delete(model))
            conn.execute(insert(model).from_select(columns, make(None)))
            continue
        for chunk in _chunks(sorted(buckets)):
            conn.execute(delete(model).where(model.bucket_ms.in_(chunk)))
            conn.execute(insert(model).from_select(columns, make(chunk)))
