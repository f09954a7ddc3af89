"""What the router hands back: commands for the call layer and facts for metrics.

Read them with :meth:`hotline.acd.router.AcdEngine.next_decision` until it
returns None.  Every decision carries ``at``, the monotonic time (seconds) at
which it happened: for inputs the ``now`` passed in, for timers the timer's own
deadline (so a time-out always says ``wait_s == max_wait_s``).

Commands (imperative names) ask the driver to act: :class:`OfferCall`,
:class:`CancelOffer`, :class:`AnnouncePosition`.  Facts (past tense) tell what
the router did; those that take a call out of the router's hands
(:class:`CallTimedOut`, :class:`CallRefused`, :class:`CallbackScheduled`) carry
the :class:`~hotline.acd.model.ExitAction` the driver carries out.  For the
metrics, every queue visit opens with at most one :class:`CallQueued` (none if
the call was refused at the door) and closes with exactly one
:class:`CallLeftQueue` and its :class:`~hotline.acd.model.Outcome`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hotline.acd.agent import OperatorState
from hotline.acd.model import ExitAction, Outcome, OverflowReason, RejectReason
from hotline.core.ids import CallId, OperatorId, QueueId

__all__ = [
    "AnnouncePosition",
    "CallLeftQueue",
    "CallOverflowed",
    "CallQueued",
    "CallRefused",
    "CallTimedOut",
    "CallbackScheduled",
    "CancelOffer",
    "CancelReason",
    "Decision",
    "OfferCall",
    "OfferFailed",
    "OperatorStateChanged",
]


class CancelReason(enum.Enum):
    """Why the router withdrew an offer that was ringing."""

    ANSWERED_ELSEWHERE = "answered_elsewhere"  # ring-all: another operator was first
    CALLER_LEFT = "caller_left"
    RING_TIMEOUT = "ring_timeout"
    CALL_TIMED_OUT = "call_timed_out"
    CALL_LEFT_QUEUE = "call_left_queue"  # call-back asked, queue emptied of operators
    CALL_MOVED = "call_moved"
    REASSIGNED = "reassigned"  # a supervisor gave the call to a named operator
    OPERATOR_UNAVAILABLE = "operator_unavailable"  # logged out or set not ready


@dataclass(frozen=True, slots=True)
class OfferCall:
    """Ring ``operator_id`` with ``call_id``; report the answer or refusal back."""

    call_id: CallId
    operator_id: OperatorId
    queue_id: QueueId
    ring_timeout_s: float
    at: float


@dataclass(frozen=True, slots=True)
class CancelOffer:
    """Stop ringing ``operator_id``; the offer no longer exists in the router."""

    call_id: CallId
    operator_id: OperatorId
    reason: CancelReason
    at: float


@dataclass(frozen=True, slots=True)
class AnnouncePosition:
    """Tell the waiting caller its position and estimated wait (None: do not say it)."""

    call_id: CallId
    queue_id: QueueId
    position: int | None
    estimated_wait_s: float | None
    at: float


@dataclass(frozen=True, slots=True)
class CallQueued:
    """The call joined ``queue_id`` at ``position`` (1 = next); metrics: queue.entered."""

    call_id: CallId
    queue_id: QueueId
    position: int
    at: float


@dataclass(frozen=True, slots=True)
class CallLeftQueue:
    """The call left ``queue_id`` with ``outcome`` after ``wait_s`` in it (one per visit)."""

    call_id: CallId
    queue_id: QueueId
    outcome: Outcome
    wait_s: float
    at: float
    operator_id: OperatorId | None = None


@dataclass(frozen=True, slots=True)
class CallTimedOut:
    """The wait norm was reached; the driver carries out ``action`` (OVERFLOW: already done)."""

    call_id: CallId
    queue_id: QueueId
    action: ExitAction
    wait_s: float
    at: float


@dataclass(frozen=True, slots=True)
class CallOverflowed:
    """The router moved the call from ``from_queue`` to ``to_queue`` by ``reason``."""

    call_id: CallId
    from_queue: QueueId
    to_queue: QueueId
    reason: OverflowReason
    at: float


@dataclass(frozen=True, slots=True)
class CallRefused:
    """The queue was full or had no operators; the driver carries out ``action``."""

    call_id: CallId
    queue_id: QueueId
    outcome: Outcome
    action: ExitAction
    at: float


@dataclass(frozen=True, slots=True)
class CallbackScheduled:
    """Call the caller back for ``queue_id``; the call itself leaves the router."""

    call_id: CallId
    queue_id: QueueId
    at: float


@dataclass(frozen=True, slots=True)
class OfferFailed:
    """An offer ended unanswered after ``ring_s``; metrics: queue.ring_noanswer."""

    call_id: CallId
    operator_id: OperatorId
    reason: RejectReason
    ring_s: float
    at: float


@dataclass(frozen=True, slots=True)
class OperatorStateChanged:
    """One row of the operator table was taken; metrics: operator.state.

    ``until`` is the end of wrap-up for WRAP_UP, and for READY the end of a
    no-answer/busy/reject delay (None: available at once).
    """

    operator_id: OperatorId
    previous: OperatorState
    state: OperatorState
    reason: str
    at: float
    until: float | None = None


Decision = (
    OfferCall
    | CancelOffer
    | AnnouncePosition
    | CallQueued
    | CallLeftQueue
    | CallTimedOut
    | CallOverflowed
    | CallRefused
    | CallbackScheduled
    | OfferFailed
    | OperatorStateChanged
)
