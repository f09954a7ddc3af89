"""Call-backs and operator-first outbound calls in the router (layer L1, sans-IO).

:class:`RouterOutbound` is the part of :class:`hotline.acd.router.AcdEngine`
(its base class) for calls that the node places itself (issue 6, items 3 and 9):

Call-back requests
    The caller's queue visit ends with outcome ``callback`` (metrics.md) when
    it asks (:meth:`~hotline.acd.router.AcdEngine.callback_requested`); the
    driver then parks a *call-back request* under the same call id with
    :meth:`RouterOutbound.callback_queued`, at the caller's old place
    (``entered_at``), so the request keeps its place.  A request is a
    waiting call flagged :data:`~hotline.acd.dispatch.CALLBACK_FLAG`: it is
    offered in fair order like any call (``OfferCall``, ring timeout,
    ``offer_rejected``), but has no wait norm, no announcements, no full or
    empty rule, writes no ``CallQueued`` and, when the operator answers, no
    second ``CallLeftQueue`` (its visit had its outcome).  The driver then
    dials the caller; a failed attempt parks the request again (retry), and
    :meth:`RouterOutbound.callback_cancelled` drops it.

Operator-first outbound (click-to-call)
    A READY operator is reserved for the call (RESERVED, as a transfer's
    target), goes TALKING when its phone answers and to wrap-up (none) when
    the call ends (``call_ended``); a phone that does not answer makes the
    operator READY again.  A NOT_READY operator may dial too: the router is
    not involved (the operator stays NOT_READY).
"""

from __future__ import annotations

from hotline.acd.agent import OperatorInput, OperatorState
from hotline.acd.decisions import CancelReason
from hotline.acd.dispatch import CALLBACK_FLAG
from hotline.acd.records import CallRecord, OperatorRecord
from hotline.acd.router_control import RouterControls
from hotline.core.errors import LimitExceededError, LocalProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId

__all__ = ["RouterOutbound"]


class RouterOutbound(RouterControls):
    """Call-back requests and outbound reservations."""

    # == call-back requests =====================================================

    def callback_queued(
        self,
        call_id: CallId,
        queue_id: QueueId,
        now: float,
        *,
        entered_at: float,
        priority: int = 0,
    ) -> None:
        """Park a call-back request for ``call_id`` in ``queue_id`` at the place ``entered_at``."""
        self._core.advance(now)
        self._check_priority(priority)
        queue = self._queue(queue_id)
        if call_id in self._calls:
            raise LocalProtocolError(f"call {call_id} is already in a queue")
        if len(self._calls) >= self._limits.max_waiting_calls:
            raise LimitExceededError("too many waiting calls", status_hint=503)
        self._core.seq += 1
        call = CallRecord(
            call_id,
            priority=priority,
            repeat_caller=False,
            entered_at=min(entered_at, now),
            seq=self._core.seq,
            required_skills={},
            flags=frozenset({CALLBACK_FLAG}),
        )
        self._calls[call_id] = call
        self._core.park_callback(call, queue)
        self._core.settle(now)

    def callback_cancelled(self, call_id: CallId, now: float) -> None:
        """Drop a parked call-back request (a ringing operator is cancelled)."""
        self._core.advance(now)
        call = self._call(call_id)
        if CALLBACK_FLAG not in call.flags:
            raise LocalProtocolError(f"call {call_id} is not a call-back request")
        self._core.take_out(call, now, CancelReason.CALL_LEFT_QUEUE)
        del self._calls[call_id]
        self._core.settle(now)

    def is_callback(self, call_id: CallId) -> bool:
        """True when ``call_id`` is a parked call-back request."""
        call = self._calls.get(call_id)
        return call is not None and CALLBACK_FLAG in call.flags

    # == operator-first outbound calls ==========================================

    def outbound_reserve(self, call_id: CallId, operator_id: OperatorId, now: float) -> None:
        """Reserve the READY ``operator_id`` for its own outbound call ``call_id``."""
        self._core.advance(now)
        op = self._roster.get(operator_id)
        if op.state is not OperatorState.READY:
            raise LocalProtocolError(f"operator {operator_id} is {op.state.value}, not ready")
        if call_id in self._calls:
            raise LocalProtocolError(f"call {call_id} is waiting in a queue")
        op.offer_call = call_id
        self._roster.transition(op, OperatorInput.OFFER, now, f"outbound {call_id}")
        self._core.settle(now)

    def outbound_answered(self, call_id: CallId, operator_id: OperatorId, now: float) -> None:
        """The operator's phone answered its outbound call: TALKING (no wrap-up after it)."""
        self._core.advance(now)
        op = self._reserved(call_id, operator_id)
        op.offer_call = None
        op.answered_at = now
        op.talk_call = call_id
        op.talk_queue = None
        op.wrap_up_s = 0.0
        self._roster.transition(op, OperatorInput.ANSWER, now, call_id)
        self._core.settle(now)

    def outbound_failed(self, call_id: CallId, operator_id: OperatorId, now: float) -> None:
        """The outbound call ended before the operator answered: READY again."""
        self._core.advance(now)
        op = self._roster.get(operator_id)
        if op.state is OperatorState.RESERVED and op.offer_call == call_id:
            op.offer_call = None
            self._roster.transition(op, OperatorInput.CANCEL, now, "outbound not answered")
        self._core.settle(now)

    def _reserved(self, call_id: CallId, operator_id: OperatorId) -> OperatorRecord:
        op = self._roster.get(operator_id)
        if op.state is not OperatorState.RESERVED or op.offer_call != call_id:
            raise LocalProtocolError(f"operator {operator_id} is not reserved for {call_id}")
        return op
