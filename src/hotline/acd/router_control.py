"""The router's supervisor controls: move, re-prioritise, assign (layer L1, sans-IO).

:class:`RouterControls` is the part of :class:`hotline.acd.router.AcdEngine`
(its base class) that a supervisor drives from the desk.  Each control first
fires the timers due at ``now`` and settles afterwards, as every engine
input does (router module docstring).
"""

from __future__ import annotations

from hotline.acd.agent import OperatorState
from hotline.acd.decisions import CallOverflowed, CancelReason
from hotline.acd.model import Outcome, OverflowReason
from hotline.acd.router_status import RouterStatus
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId

__all__ = ["RouterControls"]


class RouterControls(RouterStatus):
    """Supervisor actions on waiting calls."""

    def move_call(self, call_id: CallId, queue_id: QueueId, now: float) -> None:
        """Move a waiting call to another queue; it keeps its place (entry time)."""
        self._core.advance(now)
        call = self._call(call_id)
        target = self._queue(queue_id)
        if call.queue_id == queue_id:
            raise LocalProtocolError(f"call {call_id} is already in queue {queue_id}")
        queue = self._queues[call.queue_id]
        wait_s = self._core.take_out(call, now, CancelReason.CALL_MOVED)
        self._core.emit_left(call, queue, Outcome.OVERFLOWED, wait_s, now)
        self._outbox.append(
            CallOverflowed(call_id, call.queue_id, queue_id, OverflowReason.SUPERVISOR, now)
        )
        self._core.enter(call, target, now, forced=True)
        self._core.settle(now)

    def set_call_priority(self, call_id: CallId, priority: int, now: float) -> None:
        """Change a waiting call's priority (the repeat-caller bump still applies)."""
        self._core.advance(now)
        self._check_priority(priority)
        call = self._call(call_id)
        queue = self._queues[call.queue_id]
        dispatchable = call.dispatchable
        self._core.hold(call)
        queue.line.remove(call.key())
        call.base_priority = priority
        call.priority = self._core.effective_priority(call, queue.config)
        queue.line.add(call.key())
        if dispatchable:
            self._core.release(call)
        self._core.settle(now)

    def assign_call(self, call_id: CallId, operator_id: OperatorId, now: float) -> None:
        """Offer a waiting call to a named READY operator (skills and delays aside)."""
        self._core.advance(now)
        call = self._call(call_id)
        op = self._roster.get(operator_id)
        if op.state is not OperatorState.READY:
            raise LocalProtocolError(f"operator {operator_id} is {op.state.value}, not ready")
        self._core.hold(call)
        self._core.withdraw(call, now, CancelReason.REASSIGNED)
        self._core.offer(call, [op], now)
        self._core.settle(now)
