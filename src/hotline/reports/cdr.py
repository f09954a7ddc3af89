"""Call detail records (CDR): one line per call, projected from its events.

A :class:`CallDetailRecord` is what a supervisor searches by period, number,
topic, operator and outcome.  Queue outcomes come from the same derivation as
the metrics (:func:`hotline.reports.metrics_calls.derive_calls`), so a CDR
and a report never disagree about what happened (docs/metrics.md, "Call
outcomes in a queue (mutually exclusive)").

The call's :class:`CdrOutcome`:

* ``answered`` when an operator answered it in any queue it visited;
* otherwise the outcome of the *last* queue it visited (``timed_out`` stays
  its own outcome, never folded into ``abandoned``; a short abandon is
  ``short_abandon``); every visit is kept in ``queue_outcomes``;
* with no queue visit: ``outbound_answered`` / ``outbound_failed`` for an
  outbound call, ``self_service`` for a call that ended in the IVR or with the
  voice assistant, ``in_progress`` while the call has not ended.

The caller's number is personal data: the record holds it raw *and* masked
(:func:`mask_number`); exports show the masked form unless told otherwise.

Layer L1: pure (events in, records out; no clock, no I/O).
"""

from __future__ import annotations

import enum
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from hotline.reports.events import CallCentreEvent, Direction, EventKind, HungUpBy
from hotline.reports.metrics_calls import derive_calls
from hotline.reports.metrics_config import MetricsConfig
from hotline.reports.metrics_facts import CallFacts, HandledCall, QueueOutcome, QueueVisit

__all__ = [
    "CallDetailRecord",
    "CdrFilter",
    "CdrOutcome",
    "build_cdrs",
    "cdr_from_projection",
    "mask_number",
]

_K = EventKind
_KEEP_DIGITS: Final = 2
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class CdrOutcome(enum.StrEnum):
    """How a call ended as a whole (see the module docstring)."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    SHORT_ABANDON = "short_abandon"
    TIMED_OUT = "timed_out"
    OVERFLOWED = "overflowed"
    CALLBACK = "callback"
    LEFT_EMPTY = "left_empty"
    LEFT_FULL = "left_full"
    UNRESOLVED = "unresolved"
    SELF_SERVICE = "self_service"
    OUTBOUND_ANSWERED = "outbound_answered"
    OUTBOUND_FAILED = "outbound_failed"
    IN_PROGRESS = "in_progress"


_FROM_QUEUE: Final = {q: CdrOutcome(q.value) for q in QueueOutcome}


def mask_number(number: str | None) -> str | None:
    """``number`` with every digit but the first and the last two replaced by ``*``.

    ``+79161234567`` → ``+7********67``; a number of at most three digits
    (a short service number such as ``122``) is left as it is.
    """
    if number is None:
        return None
    digits = [i for i, c in enumerate(number) if c.isdigit()]
    if len(digits) <= _KEEP_DIGITS + 1:
        return number
    hidden = set(digits[1:-_KEEP_DIGITS])
    return "".join("*" if i in hidden else c for i, c in enumerate(number))


@dataclass(frozen=True, slots=True)
class CallDetailRecord:
    """One call, start to end.  Times are aware UTC datetimes; durations seconds.

    ``caller``/``called`` are the raw numbers (personal data);
    ``caller_masked``/``called_masked`` the forms to show by default.
    ``wait_s`` is the total wait in queues, ``talk_s`` the total talk (hold
    excluded) of every operator handling; ``operator_id`` is the first
    operator who answered, ``operators`` all of them in order.
    """

    call_id: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    caller: str | None
    caller_masked: str | None
    called: str | None
    called_masked: str | None
    trunk: str | None
    direction: Direction
    topic: str | None
    queues: tuple[str, ...]
    queue_outcomes: tuple[tuple[str, QueueOutcome], ...]
    operator_id: str | None
    operators: tuple[str, ...]
    wait_s: float | None
    talk_s: float | None
    hold_s: float | None
    outcome: CdrOutcome
    hung_up_by: HungUpBy | None
    end_cause: str | None
    recording_path: str | None

    @property
    def duration_s(self) -> float | None:
        """From the first event of the call to its end; None while it lasts."""
        if self.ended_at is None:
            return None
        return max((self.ended_at - self.started_at).total_seconds(), 0.0)


@dataclass(frozen=True, slots=True)
class CdrFilter:
    """A CDR search: every given criterion must match (None = any).

    ``number`` matches the digits of the caller's or the called number
    anywhere (``9161234567`` finds ``+79161234567``).
    """

    start: datetime | None = None
    end: datetime | None = None
    number: str | None = None
    topic: str | None = None
    operator_id: str | None = None
    outcome: CdrOutcome | None = None

    def matches(self, cdr: CallDetailRecord) -> bool:
        if self.start is not None and cdr.started_at < self.start:
            return False
        if self.end is not None and cdr.started_at >= self.end:
            return False
        if self.topic is not None and cdr.topic != self.topic:
            return False
        if self.operator_id is not None and self.operator_id not in cdr.operators:
            return False
        if self.outcome is not None and cdr.outcome is not self.outcome:
            return False
        if self.number is not None:
            wanted = _digits(self.number)
            numbers = (_digits(cdr.caller or ""), _digits(cdr.called or ""))
            if not wanted or not any(wanted in n for n in numbers):
                return False
        return True


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


@dataclass(slots=True)
class _Raw:
    """What the CDR reads straight from a call's events."""

    first_at: datetime
    called: str | None = None
    caller: str | None = None
    trunk: str | None = None
    topic: str | None = None
    direction: Direction = Direction.INBOUND
    ended_at: datetime | None = None
    hung_up_by: HungUpBy | None = None
    end_cause: str | None = None
    recording_path: str | None = None
    outbound_answered: bool = False
    outbound_failed: bool = False


def _scan(events: Sequence[CallCentreEvent]) -> _Raw:
    raw = _Raw(first_at=events[0].timestamp)
    for e in events:
        raw.trunk = raw.trunk or e.trunk
        raw.topic = raw.topic or e.topic
        if e.direction is Direction.OUTBOUND:
            raw.direction = Direction.OUTBOUND
        match e.kind:
            case _K.CALL_ARRIVED:
                raw.caller = e.text("caller")
                raw.called = e.text("called")
            case _K.OUTBOUND_DIALED:
                raw.called = e.text("number")
            case _K.OUTBOUND_ANSWERED:
                raw.outbound_answered = True
            case _K.OUTBOUND_FAILED:
                raw.outbound_failed = True
            case _K.CALL_ENDED if raw.ended_at is None:
                raw.ended_at = e.timestamp
                raw.hung_up_by = HungUpBy(e.text("who_hung_up") or HungUpBy.SYSTEM.value)
                raw.end_cause = e.text("cause")
            case _K.RECORDING_STORED:
                raw.recording_path = e.text("path")
            case _:
                pass
    return raw


def _outcome(raw: _Raw, visits: Sequence[QueueVisit]) -> CdrOutcome:
    if any(v.outcome is QueueOutcome.ANSWERED for v in visits):
        return CdrOutcome.ANSWERED
    if visits:
        last = max(visits, key=lambda v: v.entered_at)
        return _FROM_QUEUE[last.outcome]
    if raw.direction is Direction.OUTBOUND:
        if raw.outbound_answered:
            return CdrOutcome.OUTBOUND_ANSWERED
        if raw.outbound_failed:
            return CdrOutcome.OUTBOUND_FAILED
    if raw.ended_at is None:
        return CdrOutcome.IN_PROGRESS
    if raw.direction is Direction.OUTBOUND:
        return CdrOutcome.OUTBOUND_FAILED
    return CdrOutcome.SELF_SERVICE


def _record(
    call_id: str,
    events: Sequence[CallCentreEvent],
    visits: Sequence[QueueVisit],
    handled: Sequence[HandledCall],
    facts: CallFacts | None,
) -> CallDetailRecord:
    raw = _scan(events)
    started = facts.arrived_at if facts is not None else raw.first_at
    visits = sorted(visits, key=lambda v: v.entered_at)
    handled = sorted(handled, key=lambda h: h.answered_at)
    waits = [v.wait_ms for v in visits if v.wait_ms is not None]
    operators = tuple(dict.fromkeys(h.operator_id for h in handled))
    caller = raw.caller if raw.direction is Direction.INBOUND else None
    return CallDetailRecord(
        call_id=call_id,
        started_at=started,
        answered_at=handled[0].answered_at if handled else None,
        ended_at=raw.ended_at,
        caller=caller,
        caller_masked=mask_number(caller),
        called=raw.called,
        called_masked=mask_number(raw.called),
        trunk=raw.trunk,
        direction=raw.direction,
        topic=raw.topic or next((v.topic for v in visits if v.topic), None),
        queues=tuple(dict.fromkeys(v.queue_id for v in visits)),
        queue_outcomes=tuple((v.queue_id, v.outcome) for v in visits),
        operator_id=operators[0] if operators else None,
        operators=operators,
        # Whole milliseconds, like every report sum (and the store's call records).
        wait_s=sum(waits) / 1000 if waits else None,
        talk_s=sum(h.talk_ms for h in handled) / 1000 if handled else None,
        hold_s=sum(h.hold_ms for h in handled) / 1000 if handled else None,
        outcome=_outcome(raw, visits),
        hung_up_by=raw.hung_up_by,
        end_cause=raw.end_cause,
        recording_path=raw.recording_path,
    )


def _opt_time(ms: object) -> datetime | None:
    return None if ms is None else _EPOCH + timedelta(milliseconds=int(str(ms)))


def _opt_s(ms: object) -> float | None:
    return None if ms is None else int(str(ms)) / 1000


def cdr_from_projection(row: Mapping[str, object]) -> CallDetailRecord:
    """The record of one row of the store's ``call_records`` projection.

    Equal to what :func:`build_cdrs` makes from the call's events (the row
    was made from that very record by :mod:`hotline.reports.projection`).
    """
    started = _opt_time(row["started_ms"])
    assert started is not None
    caller = _opt_text(row["caller"])
    called = _opt_text(row["called"])
    hung_up = _opt_text(row["hung_up_by"])
    queue_outcomes = json.loads(str(row["queue_outcomes"]))
    return CallDetailRecord(
        call_id=str(row["call_id"]),
        started_at=started,
        answered_at=_opt_time(row["answered_ms"]),
        ended_at=_opt_time(row["ended_ms"]),
        caller=caller,
        caller_masked=mask_number(caller),
        called=called,
        called_masked=mask_number(called),
        trunk=_opt_text(row["trunk"]),
        direction=Direction(str(row["direction"])),
        topic=_opt_text(row["topic"]),
        queues=tuple(str(q) for q in json.loads(str(row["queues"]))),
        queue_outcomes=tuple((str(q), QueueOutcome(str(o))) for q, o in queue_outcomes),
        operator_id=_opt_text(row["operator_id"]),
        operators=tuple(str(o) for o in json.loads(str(row["operators"]))),
        wait_s=_opt_s(row["wait_ms"]),
        talk_s=_opt_s(row["talk_ms"]),
        hold_s=_opt_s(row["hold_ms"]),
        outcome=CdrOutcome(str(row["outcome"])),
        hung_up_by=HungUpBy(hung_up) if hung_up is not None else None,
        end_cause=_opt_text(row["end_cause"]),
        recording_path=_opt_text(row["recording_path"]),
    )


def _opt_text(value: object) -> str | None:
    return None if value is None else str(value)


def build_cdrs(
    events: Iterable[CallCentreEvent],
    *,
    end: datetime,
    config: MetricsConfig | None = None,
    where: CdrFilter | None = None,
) -> tuple[CallDetailRecord, ...]:
    """One record per call in ``events`` that matches ``where``, ordered by start.

    Pass every event of each call (``EventQueries.for_report`` does);
    ``end`` closes what is still open, as in
    :func:`~hotline.reports.metrics.compute_report`.
    """
    config = config or MetricsConfig()
    by_call: dict[str, list[CallCentreEvent]] = defaultdict(list)
    for e in events:
        if e.call_id is not None:
            by_call[e.call_id].append(e)
    for call_events in by_call.values():
        call_events.sort(key=lambda e: e.timestamp)
    derived = derive_calls([e for evs in by_call.values() for e in evs], config, end=end)
    visits: dict[str, list[QueueVisit]] = defaultdict(list)
    for v in derived.visits:
        visits[v.call_id].append(v)
    handled: dict[str, list[HandledCall]] = defaultdict(list)
    for h in derived.handled:
        handled[h.call_id].append(h)
    facts = {c.call_id: c for c in derived.calls}
    records = [
        _record(cid, evs, visits[cid], handled[cid], facts.get(cid)) for cid, evs in by_call.items()
    ]
    if where is not None:
        records = [r for r in records if where.matches(r)]
    records.sort(key=lambda r: (r.started_at, r.call_id))
    return tuple(records)
