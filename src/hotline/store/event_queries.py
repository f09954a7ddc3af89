"""Reading the event table for reports: plain dataclasses out, ORM rows stay here.

:meth:`EventQueries.for_report` returns what
:func:`hotline.reports.metrics.compute_report` needs for a period: every
event of every call that has an event in the period or in the look-back
before it (repeat calls look 24 h back, and a call that started before the
period is still whole), the operators' events of the same span, and each
operator's last login/logout/state event before it, so that their state at
the start of the period is known.

Results are ordered by time, then by insertion order.  ``hotline.reports``
turns each :class:`StoredEvent` into a validated event with
``hotline.reports.events.event_from_record``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, RowMapping, Select, and_, func, or_, select

from hotline.store.db import Database
from hotline.store.events import EventRow, from_ms, to_ms

__all__ = ["DEFAULT_LOOKBACK", "EventQueries", "StoredEvent"]

DEFAULT_LOOKBACK: Final = timedelta(hours=24)
_OPERATOR_KINDS: Final = ("operator.login", "operator.logout", "operator.state")
_IN_CHUNK: Final = 500


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One stored event, as read back (``timestamp`` is aware UTC, millisecond precision)."""

    seq: int
    event_id: str
    kind: str
    timestamp: datetime
    call_id: str | None
    queue_id: str | None
    operator_id: str | None
    topic: str | None
    trunk: str | None
    direction: str | None
    payload: Mapping[str, str | int | float | bool | None]


def _stored_row(m: RowMapping) -> StoredEvent:
    return StoredEvent(
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


class EventQueries:
    """Read-only access to the ``events`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def count(self) -> int:
        with self._db.session() as s:
            return int(s.scalar(select(func.count()).select_from(EventRow)) or 0)

    def between(
        self,
        start: datetime,
        end: datetime,
        *,
        queue_id: str | None = None,
        topic: str | None = None,
        operator_id: str | None = None,
        call_id: str | None = None,
        kinds: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """Events with ``start <= timestamp < end`` matching every filter given."""
        stmt = select(EventRow).where(*self._window(start, end))
        if queue_id is not None:
            stmt = stmt.where(EventRow.queue_id == queue_id)
        if topic is not None:
            stmt = stmt.where(EventRow.topic == topic)
        if operator_id is not None:
            stmt = stmt.where(EventRow.operator_id == operator_id)
        if call_id is not None:
            stmt = stmt.where(EventRow.call_id == call_id)
        if kinds is not None:
            stmt = stmt.where(EventRow.kind.in_(list(kinds)))
        stmt = stmt.order_by(EventRow.ts_ms, EventRow.seq)
        if limit is not None:
            stmt = stmt.limit(limit)
        return self._run(stmt)

    def of_calls(self, call_ids: Iterable[str]) -> list[StoredEvent]:
        """Every event of the given calls."""
        ids = sorted(set(call_ids))
        out: list[StoredEvent] = []
        for i in range(0, len(ids), _IN_CHUNK):
            chunk = ids[i : i + _IN_CHUNK]
            out.extend(self._run(select(EventRow).where(EventRow.call_id.in_(chunk))))
        out.sort(key=lambda e: (e.timestamp, e.seq))
        return out

    def for_report(
        self,
        start: datetime,
        end: datetime,
        *,
        lookback: timedelta = DEFAULT_LOOKBACK,
        queue_id: str | None = None,
        topic: str | None = None,
        operator_id: str | None = None,
    ) -> list[StoredEvent]:
        """The events a report on ``[start, end)`` needs (see the module docstring).

        ``queue_id``, ``topic`` and ``operator_id`` narrow the calls to those
        with an event of that queue, topic or operator in the span, and the
        operator events to that operator.
        """
        since = start - lookback
        # Each filter may match a different event of the call (the topic is set on
        # queue.entered, the operator on queue.answered): one subquery per filter.
        filters = [
            column == value
            for column, value in (
                (EventRow.queue_id, queue_id),
                (EventRow.topic, topic),
                (EventRow.operator_id, operator_id),
            )
            if value is not None
        ]
        if not filters:
            filters = [EventRow.call_id.is_not(None)]
        of_calls = and_(
            *(
                EventRow.call_id.in_(
                    select(EventRow.call_id)
                    .where(*self._window(since, end), EventRow.call_id.is_not(None), condition)
                    .distinct()
                    .scalar_subquery()
                )
                for condition in filters
            )
        )
        operator_events: ColumnElement[bool] = and_(
            *self._window(since, end), EventRow.kind.in_(_OPERATOR_KINDS)
        )
        if operator_id is not None:
            operator_events = and_(operator_events, EventRow.operator_id == operator_id)
        stmt = select(EventRow).where(or_(of_calls, operator_events))
        found = self._run(stmt.order_by(EventRow.ts_ms, EventRow.seq))
        before = self.last_operator_events(since, operator_id=operator_id)
        merged = {e.seq: e for e in (*before, *found)}
        return sorted(merged.values(), key=lambda e: (e.timestamp, e.seq))

    def operator_events_for_report(self, start: datetime, end: datetime) -> list[StoredEvent]:
        """The operator events (login, logout, state) of ``[start, end)`` and each
        operator's last one of each kind before ``start``.

        What a report summed from the projections needs for operator time: an
        operator's state at ``start`` is that of their last event before it,
        which this includes, so the operator time inside ``[start, end)`` is
        the same as from :meth:`for_report`'s longer look-back.
        """
        found = self.between(start, end, kinds=_OPERATOR_KINDS)
        before = self.last_operator_events(start)
        merged = {e.seq: e for e in (*before, *found)}
        return sorted(merged.values(), key=lambda e: (e.timestamp, e.seq))

    def last_operator_events(
        self, before: datetime, *, operator_id: str | None = None
    ) -> list[StoredEvent]:
        """Each operator's last event of each operator kind strictly before ``before``."""
        latest = (
            select(
                EventRow.operator_id,
                EventRow.kind,
                func.max(EventRow.ts_ms).label("ts_ms"),
            )
            .where(EventRow.kind.in_(_OPERATOR_KINDS), EventRow.ts_ms < to_ms(before))
            .group_by(EventRow.operator_id, EventRow.kind)
        )
        if operator_id is not None:
            latest = latest.where(EventRow.operator_id == operator_id)
        sub = latest.subquery()
        stmt = (
            select(EventRow)
            .join(
                sub,
                and_(
                    EventRow.operator_id == sub.c.operator_id,
                    EventRow.kind == sub.c.kind,
                    EventRow.ts_ms == sub.c.ts_ms,
                ),
            )
            .order_by(EventRow.ts_ms, EventRow.seq)
        )
        return self._run(stmt)

    @staticmethod
    def _window(start: datetime, end: datetime) -> tuple[ColumnElement[bool], ...]:
        return (EventRow.ts_ms >= to_ms(start), EventRow.ts_ms < to_ms(end))

    def _run(self, stmt: Select[EventRow]) -> list[StoredEvent]:
        # Plain rows rather than ORM objects: reports read many thousands of events.
        core = stmt.with_only_columns(*EventRow.__table__.columns)
        with self._db.engine.connect() as conn:
            return [_stored_row(m) for m in conn.execute(core).mappings()]
