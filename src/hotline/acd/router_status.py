"""The router's snapshots: queue, call and operator status (layer L1, sans-IO).

:class:`RouterStatus` is the read-only part of
:class:`hotline.acd.router.AcdEngine` (its base class): it holds the engine's
views of the :class:`~hotline.acd.dispatch.Dispatcher` state and answers the
status queries the supervisor desk and the voice announcements ask.  The
snapshots are exact after ``handle_timer(now)`` (see the router's module
docstring, "Races with the driver").
"""

from __future__ import annotations

from collections import deque

from hotline.acd.agent import OperatorState
from hotline.acd.decisions import Decision
from hotline.acd.dispatch import Dispatcher
from hotline.acd.model import MAX_PRIORITY, MIN_PRIORITY, EngineLimits
from hotline.acd.records import CallRecord, QueueRecord
from hotline.acd.roster import Roster
from hotline.acd.sla import estimated_wait_s
from hotline.acd.status import CallStatus, OperatorStatus, QueueStatus
from hotline.acd.strategies import StrategyRegistry
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId, TopicId

__all__ = ["RouterStatus"]


class RouterStatus:
    """The engine's state views, lookups and snapshots (base of ``AcdEngine``)."""

    _limits: EngineLimits
    _registry: StrategyRegistry
    _core: Dispatcher
    _queues: dict[QueueId, QueueRecord]
    _topics: dict[TopicId, dict[QueueId, None]]
    _calls: dict[CallId, CallRecord]
    _outbox: deque[Decision]
    _roster: Roster

    # == queries ================================================================

    def queue_status(self, queue_id: QueueId, now: float) -> QueueStatus:
        """A snapshot of one queue (call ``handle_timer`` first to be current)."""
        queue = self._queue(queue_id)
        oldest = min((c.queue_entered_at for c in queue.calls.values()), default=None)
        aht = queue.handle.mean_s
        return QueueStatus(
            queue_id=queue_id,
            waiting=len(queue.calls),
            ringing=len(queue.calls) - queue.line.dispatchable,
            logged_in=len(queue.members),
            staffed=queue.staffed,
            idle=queue.idle_total,
            oldest_wait_s=None if oldest is None else now - oldest,
            aht_s=aht,
            estimated_wait_s=estimated_wait_s(len(queue.calls) + 1, aht, queue.staffed),
        )

    def call_status(self, call_id: CallId, now: float) -> CallStatus:
        """A snapshot of one waiting call."""
        call = self._call(call_id)
        return CallStatus(
            call_id=call_id,
            queue_id=call.queue_id,
            position=self._queues[call.queue_id].line.position(call.key()),
            wait_s=now - call.queue_entered_at,
            total_wait_s=now - call.entered_at,
            priority=call.priority,
            offered_to=tuple(call.offered_to),
            required_skills=dict(call.required_skills),
            flags=call.flags,
        )

    def operator_status(self, operator_id: OperatorId) -> OperatorStatus:
        """A snapshot of one operator."""
        op = self._roster.get(operator_id)
        delayed = op.state is OperatorState.READY and not op.idle
        return OperatorStatus(
            operator_id=operator_id,
            state=op.state,
            reason=op.reason,
            available=op.idle,
            available_at=op.available_at if delayed else None,
            offered_call=op.offer_call,
            talking_call=op.talk_call,
            calls_today=op.calls_today,
            talk_today_s=op.talk_today_s,
            queues=dict(op.levels),
        )

    def waiting_calls(self) -> tuple[CallId, ...]:
        """Every call in the router, in arrival order."""
        return tuple(self._calls)

    def operators(self) -> tuple[OperatorId, ...]:
        """Every operator the router knows, logged in or not."""
        return tuple(self._roster.operators)

    # == lookups ================================================================

    def _queue(self, queue_id: QueueId) -> QueueRecord:
        queue = self._queues.get(queue_id)
        if queue is None:
            raise LocalProtocolError(f"unknown queue {queue_id}")
        return queue

    def _call(self, call_id: CallId) -> CallRecord:
        call = self._calls.get(call_id)
        if call is None:
            raise LocalProtocolError(f"call {call_id} is not waiting in any queue")
        return call

    @staticmethod
    def _check_priority(priority: int) -> None:
        if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
            raise LocalProtocolError(f"priority must be {MIN_PRIORITY}..{MAX_PRIORITY}")
