"""Facts derived from the event log, one step before the formulas.

The metric formulas of docs/metrics.md count things ("calls that entered the
queue", "answered within T", "talk + hold + wrap-up"); these dataclasses are
those things, rebuilt from raw events by :mod:`hotline.reports.metrics_calls`
and :mod:`hotline.reports.metrics_operators`:

* :class:`QueueVisit`: one call in one queue, with its single outcome
  (docs/metrics.md, "Call outcomes in a queue (mutually exclusive)").
* :class:`HandledCall`: one operator's handling of one call (talk, hold, wrap-up).
* :class:`CallFacts`: what happened to one call as a whole (bot, IVR, caller).
* :class:`CallbackFact`: a call-back attempt or completion (reported apart).
* :class:`OperatorSpan`: a stretch of an operator's time in one category.

Layer L1: pure.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from hotline.reports.events import Direction

__all__ = [
    "CallFacts",
    "CallbackFact",
    "HandledCall",
    "OperatorSpan",
    "QueueOutcome",
    "QueueVisit",
    "SpanKind",
]


class QueueOutcome(enum.StrEnum):
    """The mutually exclusive outcomes of docs/metrics.md, plus "no outcome yet"."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    SHORT_ABANDON = "short_abandon"
    TIMED_OUT = "timed_out"
    OVERFLOWED = "overflowed"
    CALLBACK = "callback"
    LEFT_EMPTY = "left_empty"
    LEFT_FULL = "left_full"
    UNRESOLVED = "unresolved"  # still waiting, or the log holds no outcome


@dataclass(frozen=True, slots=True)
class QueueVisit:
    """One call in one queue: offered once however often it entered (docs/metrics.md, Offered).

    ``wait_s`` is the wait the ACD reported (answered, abandoned, timed out)
    or the time from entry to the outcome; None while unresolved.
    ``time_to_operator_s`` is set on the visit in which the call first reached
    an operator, when the log holds the call's arrival.
    """

    call_id: str
    queue_id: str
    topic: str | None
    trunk: str | None
    direction: Direction
    entered_at: datetime
    outcome: QueueOutcome
    left_at: datetime | None
    wait_s: float | None
    operator_id: str | None
    norm_s: float
    time_to_operator_s: float | None = None

    @property
    def wait_ms(self) -> int | None:
        """The wait in whole milliseconds (the unit every additive report sum uses)."""
        return None if self.wait_s is None else round(self.wait_s * 1000)

    @property
    def time_to_operator_ms(self) -> int | None:
        if self.time_to_operator_s is None:
            return None
        return round(self.time_to_operator_s * 1000)

    @property
    def answered_within_norm(self) -> bool:
        """Answered after a wait of at most the queue's norm T (docs/metrics.md, SL(T))."""
        return (
            self.outcome is QueueOutcome.ANSWERED
            and self.wait_s is not None
            and self.wait_s <= self.norm_s
        )


@dataclass(frozen=True, slots=True)
class HandledCall:
    """One operator's handling of one call: connected from ``answered_at`` to ``ended_at``.

    ``hold_s`` lies inside the connected time, so talk = connected − hold.
    ``wrapup_s`` is None when no wrap-up followed.  A handling is complete
    when both the connection and any wrap-up have ended.
    """

    call_id: str
    operator_id: str
    queue_id: str | None
    topic: str | None
    trunk: str | None
    direction: Direction
    answered_at: datetime
    ended_at: datetime | None
    hold_s: float
    wrapup_s: float | None
    wrapup_open: bool

    @property
    def complete(self) -> bool:
        return self.ended_at is not None and not self.wrapup_open

    @property
    def connected_s(self) -> float:
        if self.ended_at is None:
            return 0.0
        return max((self.ended_at - self.answered_at).total_seconds(), 0.0)

    @property
    def talk_s(self) -> float:
        return max(self.connected_s - self.hold_s, 0.0)

    @property
    def handle_s(self) -> float:
        """Talk + hold + wrap-up (docs/metrics.md, AHT)."""
        return self.connected_s + (self.wrapup_s or 0.0)

    # Whole milliseconds: event times are whole milliseconds, so these are exact,
    # and sums of them do not depend on the order they are added in.
    @property
    def connected_ms(self) -> int:
        return round(self.connected_s * 1000)

    @property
    def hold_ms(self) -> int:
        return round(self.hold_s * 1000)

    @property
    def talk_ms(self) -> int:
        return max(self.connected_ms - self.hold_ms, 0)

    @property
    def wrapup_ms(self) -> int:
        return round((self.wrapup_s or 0.0) * 1000)


@dataclass(frozen=True, slots=True)
class CallFacts:
    """One call as a whole: arrival, bot, IVR, queues, operator, end."""

    call_id: str
    arrived_at: datetime
    direction: Direction
    trunk: str | None
    topic: str | None
    caller: str | None
    bot_started: bool
    bot_resolved: bool
    entered_queue: bool
    reached_operator: bool
    ivr_info_message: bool
    ended: bool
    outbound_answered: bool
    outbound_failed: bool

    @property
    def bot_contained(self) -> bool:
        """A bot call resolved without an operator (docs/metrics.md, Bot containment)."""
        return self.bot_started and self.bot_resolved and not self.reached_operator

    @property
    def ivr_self_served(self) -> bool:
        """Ended in the IVR after an information message (docs/metrics.md, IVR self-service)."""
        return (
            self.ended
            and self.ivr_info_message
            and not self.bot_started
            and not self.entered_queue
            and not self.reached_operator
        )


@dataclass(frozen=True, slots=True)
class CallbackFact:
    """A call-back attempt (``completed`` False) or completion (True) at ``at``."""

    call_id: str
    queue_id: str
    topic: str | None
    trunk: str | None
    at: datetime
    completed: bool


class SpanKind(enum.StrEnum):
    """Categories of operator time (docs/metrics.md, Occupancy and Utilisation)."""

    CONNECTED = "connected"  # talk + hold
    HOLD = "hold"  # inside CONNECTED
    WRAP_UP = "wrap_up"
    READY_IDLE = "ready_idle"  # ready (or ringing) and not handling a call
    LOGGED_IN = "logged_in"


@dataclass(frozen=True, slots=True)
class OperatorSpan:
    """``[start, end)`` of ``operator_id``'s time in one category."""

    operator_id: str
    kind: SpanKind
    start: datetime
    end: datetime
    #: Still running when the log ends: ``end`` is the report's end, not an event.
    open: bool = False
    #: The call the span belongs to (None for login and ready-idle time).
    call_id: str | None = None

    @property
    def seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)
