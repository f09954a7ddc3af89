"""Rebuild queue visits, handled calls and call facts from the event log.

Rules (docs/metrics.md, "Call outcomes in a queue" and "Service metrics"):

* A call counts once per queue it entered: a transfer or overflow into a
  second queue makes a second visit; entering the *same* queue again does
  not make it offered twice.  A visit's outcome is "answered" if any of its
  entries was answered, otherwise the outcome of its last entry.
* The first outcome event closes an entry (``queue.answered``,
  ``queue.abandoned``, ``queue.timed_out``, ``queue.overflowed``,
  ``queue.callback_requested``, ``queue.left_empty``, ``queue.left_full``);
  later ones for the same entry are ignored.  An outcome with no entry
  before it (a call refused at the door) makes a visit entered at that time.
* An abandon after less than the queue's ``short_abandon_s`` is a short
  abandon (the ACD's rule: ``wait_s < short_abandon_s``).
* A handling starts at ``queue.answered``, ``outbound.answered`` or a
  transfer to an operator (``to_type`` operator), and its connected time ends
  at the operator's ``wrapup.started``, a transfer or external redirect by
  that operator (or by nobody named), the call entering a queue again, or
  ``call.ended``.  Holds (``call.held`` … ``call.resumed``) lie inside it.
* Time to operator runs from ``call.arrived`` to the first ``queue.answered``.

Layer L1: pure.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from hotline.reports.events import (
    BotResult,
    CallCentreEvent,
    Direction,
    EventKind,
    TransferTarget,
)
from hotline.reports.metrics_config import MetricsConfig
from hotline.reports.metrics_facts import (
    CallbackFact,
    CallFacts,
    HandledCall,
    OperatorSpan,
    QueueOutcome,
    QueueVisit,
    SpanKind,
)

__all__ = ["CallDerivation", "derive_calls", "seconds_between"]

_K = EventKind
_STICKY: Final = frozenset({QueueOutcome.ANSWERED, QueueOutcome.TIMED_OUT})
"""Visit outcomes a later entry into the same queue does not replace."""
_OUTCOME_OF: Final = {
    _K.QUEUE_ANSWERED: QueueOutcome.ANSWERED,
    _K.QUEUE_ABANDONED: QueueOutcome.ABANDONED,
    _K.QUEUE_TIMED_OUT: QueueOutcome.TIMED_OUT,
    _K.QUEUE_OVERFLOWED: QueueOutcome.OVERFLOWED,
    _K.QUEUE_CALLBACK_REQUESTED: QueueOutcome.CALLBACK,
    _K.QUEUE_LEFT_EMPTY: QueueOutcome.LEFT_EMPTY,
    _K.QUEUE_LEFT_FULL: QueueOutcome.LEFT_FULL,
}
_REPORTED_WAIT: Final = frozenset({_K.QUEUE_ANSWERED, _K.QUEUE_ABANDONED, _K.QUEUE_TIMED_OUT})


def seconds_between(start: datetime, end: datetime) -> float:
    """``end - start`` in seconds, never negative."""
    return max((end - start).total_seconds(), 0.0)


@dataclass(frozen=True, slots=True)
class CallDerivation:
    """Everything :func:`derive_calls` rebuilt from the call events."""

    visits: tuple[QueueVisit, ...]
    handled: tuple[HandledCall, ...]
    calls: tuple[CallFacts, ...]
    callbacks: tuple[CallbackFact, ...]
    spans: tuple[OperatorSpan, ...]


@dataclass(slots=True)
class _Visit:
    queue_id: str
    topic: str | None
    entered_at: datetime
    entry_at: datetime
    open: bool = True
    outcome: QueueOutcome = QueueOutcome.UNRESOLVED
    left_at: datetime | None = None
    wait_s: float | None = None
    operator_id: str | None = None
    tto_s: float | None = None


@dataclass(slots=True)
class _Handling:
    operator_id: str
    queue_id: str | None
    topic: str | None
    answered_at: datetime
    ended_at: datetime | None = None
    hold_from: datetime | None = None
    holds: list[tuple[datetime, datetime]] = field(default_factory=list)
    wrapup_from: datetime | None = None
    wrapup_to: datetime | None = None


class _Call:
    """The state of one call while its events are replayed in time order."""

    def __init__(self, call_id: str, config: MetricsConfig) -> None:
        self.call_id = call_id
        self.config = config
        self.arrived: CallCentreEvent | None = None
        self.first_at: datetime | None = None
        self.direction: Direction | None = None
        self.trunk: str | None = None
        self.topic: str | None = None
        self.first_topic: str | None = None
        self.visits: dict[str, _Visit] = {}
        self.handlings: list[_Handling] = []
        self.open: dict[str, _Handling] = {}
        self.callbacks: list[CallbackFact] = []
        self.loose_wrapups: dict[str, datetime] = {}
        self.loose_spans: list[OperatorSpan] = []
        self.dialer: str | None = None
        self.bot_started = False
        self.bot_resolved = False
        self.ivr_info = False
        self.ended = False
        self.outbound_answered = False
        self.outbound_failed = False
        self.first_answer_seen = False

    def feed(self, e: CallCentreEvent) -> None:
        if self.first_at is None:
            self.first_at = e.timestamp
        if self.direction is None and e.direction is not None:
            self.direction = e.direction
        if self.trunk is None and e.trunk is not None:
            self.trunk = e.trunk
        if e.topic is not None:
            self.topic = e.topic
            if self.first_topic is None:
                self.first_topic = e.topic
        kind = e.kind
        if kind in _OUTCOME_OF:
            self._outcome(e)
        else:
            handler = _HANDLERS.get(kind)
            if handler is not None:
                handler(self, e)

    # -- queue visits ------------------------------------------------------
    def _entered(self, e: CallCentreEvent) -> None:
        assert e.queue_id is not None
        self._end_all(e.timestamp)
        visit = self.visits.get(e.queue_id)
        if visit is None:
            self.visits[e.queue_id] = _Visit(e.queue_id, self.topic, e.timestamp, e.timestamp)
        elif not visit.open:
            visit.open = True
            visit.entry_at = e.timestamp

    def _outcome(self, e: CallCentreEvent) -> None:
        assert e.queue_id is not None
        visit = self.visits.get(e.queue_id)
        if visit is None:
            visit = _Visit(e.queue_id, self.topic, e.timestamp, e.timestamp)
            self.visits[e.queue_id] = visit
        elif not visit.open:
            return
        visit.open = False
        answered = e.kind is EventKind.QUEUE_ANSWERED
        if answered:
            assert e.operator_id is not None
            self._start(e.operator_id, e.queue_id, e.timestamp)
        if visit.outcome in _STICKY:
            # An earlier entry was answered, or passed the wait norm (the decree counts that
            # call as timed out even if the assistant handed it back and an operator took it
            # later): the visit keeps its outcome; the time to operator still counts.
            if answered and not self.first_answer_seen and self.arrived is not None:
                visit.tto_s = seconds_between(self.arrived.timestamp, e.timestamp)
            self.first_answer_seen = self.first_answer_seen or answered
            return
        wait = e.number("wait_s") if e.kind in _REPORTED_WAIT else None
        if wait is None:
            wait = seconds_between(visit.entry_at, e.timestamp)
        outcome = _OUTCOME_OF[e.kind]
        if outcome is QueueOutcome.ABANDONED and (
            wait < self.config.norms(e.queue_id).short_abandon_s
        ):
            outcome = QueueOutcome.SHORT_ABANDON
        visit.outcome = outcome
        visit.left_at = e.timestamp
        visit.wait_s = wait
        if answered:
            visit.operator_id = e.operator_id
            if not self.first_answer_seen and self.arrived is not None:
                visit.tto_s = seconds_between(self.arrived.timestamp, e.timestamp)
            self.first_answer_seen = True

    # -- handlings ---------------------------------------------------------
    def _start(self, operator_id: str, queue_id: str | None, at: datetime) -> None:
        self._end(operator_id, at)
        handling = _Handling(operator_id, queue_id, self.topic, at)
        self.handlings.append(handling)
        self.open[operator_id] = handling

    def _end(self, operator_id: str, at: datetime) -> None:
        handling = self.open.pop(operator_id, None)
        if handling is None:
            return
        handling.ended_at = at
        if handling.hold_from is not None:
            handling.holds.append((handling.hold_from, at))
            handling.hold_from = None

    def _end_all(self, at: datetime) -> None:
        for operator_id in list(self.open):
            self._end(operator_id, at)

    def _end_named(self, e: CallCentreEvent) -> None:
        if e.operator_id is None:
            self._end_all(e.timestamp)
        else:
            self._end(e.operator_id, e.timestamp)

    def _transferred(self, e: CallCentreEvent) -> None:
        self._end_named(e)
        target = e.text("to")
        if e.text("to_type") == TransferTarget.OPERATOR.value and target is not None:
            self._start(target, None, e.timestamp)

    def _held(self, e: CallCentreEvent) -> None:
        assert e.operator_id is not None
        handling = self.open.get(e.operator_id)
        if handling is not None and handling.hold_from is None:
            handling.hold_from = e.timestamp

    def _resumed(self, e: CallCentreEvent) -> None:
        assert e.operator_id is not None
        handling = self.open.get(e.operator_id)
        if handling is not None and handling.hold_from is not None:
            handling.holds.append((handling.hold_from, e.timestamp))
            handling.hold_from = None

    def _wrapup_started(self, e: CallCentreEvent) -> None:
        assert e.operator_id is not None
        self._end(e.operator_id, e.timestamp)
        handling = self._last_handling(e.operator_id)
        if handling is not None and handling.wrapup_from is None:
            handling.wrapup_from = e.timestamp
        else:
            self.loose_wrapups.setdefault(e.operator_id, e.timestamp)

    def _wrapup_ended(self, e: CallCentreEvent) -> None:
        assert e.operator_id is not None
        loose = self.loose_wrapups.pop(e.operator_id, None)
        if loose is not None:
            self.loose_spans.append(
                OperatorSpan(
                    e.operator_id, SpanKind.WRAP_UP, loose, e.timestamp, call_id=self.call_id
                )
            )
            return
        handling = self._last_handling(e.operator_id)
        if handling is not None and handling.wrapup_from is not None and handling.wrapup_to is None:
            handling.wrapup_to = e.timestamp

    def _last_handling(self, operator_id: str) -> _Handling | None:
        for handling in reversed(self.handlings):
            if handling.operator_id == operator_id:
                return handling
        return None

    # -- the call as a whole -----------------------------------------------
    def _arrived(self, e: CallCentreEvent) -> None:
        if self.arrived is None:
            self.arrived = e
            self.direction = e.direction

    def _ivr_choice(self, e: CallCentreEvent) -> None:
        if e.flag("info_message"):
            self.ivr_info = True

    def _bot_started(self, e: CallCentreEvent) -> None:
        self.bot_started = True

    def _bot_ended(self, e: CallCentreEvent) -> None:
        self.bot_resolved = e.text("result") == BotResult.RESOLVED.value

    def _ended(self, e: CallCentreEvent) -> None:
        self._end_all(e.timestamp)
        self.ended = True

    def _callback(self, e: CallCentreEvent) -> None:
        assert e.queue_id is not None
        completed = e.kind is EventKind.CALLBACK_COMPLETED
        self.callbacks.append(
            CallbackFact(self.call_id, e.queue_id, self.topic, self.trunk, e.timestamp, completed)
        )

    def _dialed(self, e: CallCentreEvent) -> None:
        self.direction = Direction.OUTBOUND
        if self.dialer is None:
            self.dialer = e.operator_id

    def _outbound_answered(self, e: CallCentreEvent) -> None:
        self.outbound_answered = True
        operator_id = e.operator_id or self.dialer
        if operator_id is not None:
            self._start(operator_id, None, e.timestamp)

    def _outbound_failed(self, e: CallCentreEvent) -> None:
        self.outbound_failed = True

    # -- results -----------------------------------------------------------
    def results(self, end: datetime, into: _Results) -> None:
        direction = self.direction or Direction.INBOUND
        for visit in self.visits.values():
            into.visits.append(
                QueueVisit(
                    call_id=self.call_id,
                    queue_id=visit.queue_id,
                    topic=visit.topic,
                    trunk=self.trunk,
                    direction=direction,
                    entered_at=visit.entered_at,
                    outcome=visit.outcome,
                    left_at=visit.left_at,
                    wait_s=visit.wait_s,
                    operator_id=visit.operator_id,
                    norm_s=self.config.norms(visit.queue_id).norm_s,
                    time_to_operator_s=visit.tto_s,
                )
            )
        for h in self.handlings:
            into.handled.append(self._handled(h, direction))
            into.spans.extend(_spans_of(h, end, self.call_id))
        for operator_id, since in self.loose_wrapups.items():
            into.spans.append(
                OperatorSpan(
                    operator_id,
                    SpanKind.WRAP_UP,
                    since,
                    max(since, end),
                    open=True,
                    call_id=self.call_id,
                )
            )
        into.spans.extend(self.loose_spans)
        into.callbacks.extend(self.callbacks)
        arrival = self.arrived.timestamp if self.arrived is not None else self.first_at
        if arrival is None or (self.arrived is None and direction is Direction.INBOUND):
            return  # the log holds no arrival for this inbound call: not counted as a call
        into.calls.append(
            CallFacts(
                call_id=self.call_id,
                arrived_at=arrival,
                direction=direction,
                trunk=self.trunk,
                topic=self.first_topic,
                caller=self.arrived.text("caller") if self.arrived is not None else None,
                bot_started=self.bot_started,
                bot_resolved=self.bot_resolved,
                entered_queue=bool(self.visits),
                reached_operator=bool(self.handlings),
                ivr_info_message=self.ivr_info,
                ended=self.ended,
                outbound_answered=self.outbound_answered,
                outbound_failed=self.outbound_failed,
            )
        )

    def _handled(self, h: _Handling, direction: Direction) -> HandledCall:
        hold_s = math.fsum(seconds_between(a, b) for a, b in h.holds)
        wrapup_s = None
        if h.wrapup_from is not None and h.wrapup_to is not None:
            wrapup_s = seconds_between(h.wrapup_from, h.wrapup_to)
        return HandledCall(
            call_id=self.call_id,
            operator_id=h.operator_id,
            queue_id=h.queue_id,
            topic=h.topic,
            trunk=self.trunk,
            direction=direction,
            answered_at=h.answered_at,
            ended_at=h.ended_at,
            hold_s=hold_s,
            wrapup_s=wrapup_s,
            wrapup_open=h.wrapup_from is not None and h.wrapup_to is None,
        )


def _spans_of(h: _Handling, end: datetime, call_id: str) -> list[OperatorSpan]:
    """Connected, hold and wrap-up spans of one handling; open ones run to ``end``."""
    op = h.operator_id
    connected_to = h.ended_at if h.ended_at is not None else max(h.answered_at, end)
    spans = [
        OperatorSpan(
            op,
            SpanKind.CONNECTED,
            h.answered_at,
            connected_to,
            open=h.ended_at is None,
            call_id=call_id,
        )
    ]
    spans.extend(OperatorSpan(op, SpanKind.HOLD, a, b, call_id=call_id) for a, b in h.holds)
    if h.hold_from is not None:
        spans.append(
            OperatorSpan(
                op, SpanKind.HOLD, h.hold_from, max(h.hold_from, end), open=True, call_id=call_id
            )
        )
    if h.wrapup_from is not None:
        wrapup_to = h.wrapup_to if h.wrapup_to is not None else max(h.wrapup_from, end)
        spans.append(
            OperatorSpan(
                op,
                SpanKind.WRAP_UP,
                h.wrapup_from,
                wrapup_to,
                open=h.wrapup_to is None,
                call_id=call_id,
            )
        )
    return spans


_HANDLERS: Final = {
    _K.CALL_ARRIVED: _Call._arrived,
    _K.CALL_IVR_CHOICE: _Call._ivr_choice,
    _K.CALL_BOT_STARTED: _Call._bot_started,
    _K.CALL_BOT_ENDED: _Call._bot_ended,
    _K.QUEUE_ENTERED: _Call._entered,
    _K.CALLBACK_ATTEMPTED: _Call._callback,
    _K.CALLBACK_COMPLETED: _Call._callback,
    _K.CALL_HELD: _Call._held,
    _K.CALL_RESUMED: _Call._resumed,
    _K.CALL_TRANSFERRED: _Call._transferred,
    _K.CALL_REDIRECTED_EXTERNAL: _Call._end_named,
    _K.CALL_ENDED: _Call._ended,
    _K.OUTBOUND_DIALED: _Call._dialed,
    _K.OUTBOUND_ANSWERED: _Call._outbound_answered,
    _K.OUTBOUND_FAILED: _Call._outbound_failed,
    _K.WRAPUP_STARTED: _Call._wrapup_started,
    _K.WRAPUP_ENDED: _Call._wrapup_ended,
}


@dataclass(slots=True)
class _Results:
    visits: list[QueueVisit] = field(default_factory=list)
    handled: list[HandledCall] = field(default_factory=list)
    calls: list[CallFacts] = field(default_factory=list)
    callbacks: list[CallbackFact] = field(default_factory=list)
    spans: list[OperatorSpan] = field(default_factory=list)


def derive_calls(
    events: Iterable[CallCentreEvent], config: MetricsConfig, *, end: datetime
) -> CallDerivation:
    """Replay every call's events in time order (ties keep log order).

    ``end`` closes what is still open (a call still talking, a wrap-up not
    finished) for the operator-time spans; such handlings are not complete
    and do not count towards AHT.
    """
    by_call: dict[str, list[CallCentreEvent]] = defaultdict(list)
    for e in events:
        if e.call_id is not None:
            by_call[e.call_id].append(e)
    out = _Results()
    for call_id, call_events in by_call.items():
        call = _Call(call_id, config)
        for e in sorted(call_events, key=_by_time):
            call.feed(e)
        call.results(end, out)
    return CallDerivation(
        visits=tuple(out.visits),
        handled=tuple(out.handled),
        calls=tuple(out.calls),
        callbacks=tuple(out.callbacks),
        spans=tuple(out.spans),
    )


def _by_time(e: CallCentreEvent) -> datetime:
    return e.timestamp
