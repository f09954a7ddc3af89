"""Operators inside the router: the state table applied, queue memberships, indexes.

The :class:`Roster` owns every :class:`~hotline.acd.records.OperatorRecord`
and keeps three indexes of each queue up to date as operators change state:

* ``members``: logged-in operators who serve the queue at some tier, with
  their level (an operator whose level is below the queue's last tier is no
  member);
* ``idle_by_level``: members who are READY and past any delay, bucketed by
  level, so a call finds the operators it may reach without a scan;
* ``staffed``: members who are not NOT_READY (ready or busy), for the
  estimated wait.

Each transition goes through :func:`~hotline.acd.agent.next_operator_state`
and is reported as an :class:`~hotline.acd.decisions.OperatorStateChanged`.
Operators that become idle are collected in :attr:`Roster.newly_idle`; the
router serves them before anything else when it settles an input.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from hotline.acd.agent import OperatorInput, OperatorState, next_operator_state
from hotline.acd.decisions import Decision, OperatorStateChanged
from hotline.acd.model import EngineLimits, OperatorProfile
from hotline.acd.records import OperatorRecord, QueueRecord
from hotline.acd.timers import TimerHeap, TimerKind
from hotline.core.errors import LimitExceededError, LocalProtocolError
from hotline.core.ids import OperatorId, QueueId, TopicId

__all__ = ["STAFFED_STATES", "Roster"]

STAFFED_STATES = frozenset(
    {
        OperatorState.READY,
        OperatorState.RESERVED,
        OperatorState.TALKING,
        OperatorState.HOLD,
        OperatorState.WRAP_UP,
    }
)


class Roster:
    """All operators known to one router."""

    def __init__(
        self,
        queues: Mapping[QueueId, QueueRecord],
        topics: Mapping[TopicId, dict[QueueId, None]],
        outbox: deque[Decision],
        timers: TimerHeap,
        limits: EngineLimits,
    ) -> None:
        self._queues = queues
        self._topics = topics
        self._outbox = outbox
        self._timers = timers
        self._limits = limits
        self.operators: dict[OperatorId, OperatorRecord] = {}
        self.newly_idle: dict[OperatorId, None] = {}

    def get(self, operator_id: OperatorId) -> OperatorRecord:
        """The operator's record; LocalProtocolError if the router never saw it."""
        op = self.operators.get(operator_id)
        if op is None:
            raise LocalProtocolError(f"unknown operator {operator_id}")
        return op

    def record_for(self, profile: OperatorProfile, now: float) -> OperatorRecord:
        """The existing record for ``profile`` or a new one (bounded)."""
        op = self.operators.get(profile.operator_id)
        if op is None:
            if len(self.operators) >= self._limits.max_operators:
                raise LimitExceededError("too many operators", status_hint=503)
            op = self.operators[profile.operator_id] = OperatorRecord(profile, now)
        return op

    # -- the state table -------------------------------------------------------

    def transition(
        self, op: OperatorRecord, event: OperatorInput, now: float, reason: str = ""
    ) -> None:
        """Take one row of the operator table and report it."""
        old = op.state
        new = next_operator_state(old, event)
        if old is new and new in (OperatorState.TALKING, OperatorState.HOLD):
            return  # a request recorded by the caller (not ready after this call)
        op.state = new
        op.reason = reason
        op.gen += 1
        was_staffed, is_staffed = old in STAFFED_STATES, new in STAFFED_STATES
        if was_staffed != is_staffed:
            delta = 1 if is_staffed else -1
            for queue_id in op.levels:
                self._queues[queue_id].staffed += delta
        until: float | None = None
        if new is OperatorState.READY:
            delayed = op.available_at > now
            self.set_idle(op, idle=not delayed)
            if delayed:
                until = op.available_at
                self._timers.push(op.available_at, TimerKind.DELAY, op.operator_id, op.gen)
        else:
            self.set_idle(op, idle=False)
            if new is OperatorState.WRAP_UP:
                until = now + op.wrap_up_s
        self._outbox.append(OperatorStateChanged(op.operator_id, old, new, reason, now, until))

    def set_idle(self, op: OperatorRecord, *, idle: bool) -> None:
        """Put the operator in (or take it out of) the idle index of every queue it serves."""
        if op.idle == idle:
            return
        op.idle = idle
        for queue_id, level in op.levels.items():
            queue = self._queues[queue_id]
            if idle:
                queue.idle_by_level[level][op.operator_id] = op
                queue.idle_total += 1
            else:
                del queue.idle_by_level[level][op.operator_id]
                queue.idle_total -= 1
        if idle:
            self.newly_idle[op.operator_id] = None

    # -- memberships -----------------------------------------------------------

    def link(self, op: OperatorRecord) -> list[QueueRecord]:
        """Make a logged-in operator a member of every queue its skills reach."""
        levels = {q: lv for q, lv in op.profile.queue_levels.items() if q in self._queues}
        for skill, level in op.profile.skills.items():
            for queue_id in self._topics.get(TopicId(skill), {}):
                levels.setdefault(queue_id, level)
        touched: list[QueueRecord] = []
        for queue_id, level in levels.items():
            queue = self._queues[queue_id]
            if self._add_member(op, queue, level):
                touched.append(queue)
        return touched

    def link_queue(self, queue: QueueRecord) -> None:
        """Make every logged-in operator whose skills reach ``queue`` a member of it."""
        config = queue.config
        for op in self.operators.values():
            if not op.logged_in or config.queue_id in op.levels:
                continue
            level = op.profile.queue_levels.get(config.queue_id)
            if level is None:
                level = op.profile.skills.get(config.topic)
            if level is not None:
                self._add_member(op, queue, level)

    def unlink(self, op: OperatorRecord) -> list[QueueRecord]:
        """Take the operator out of every queue."""
        touched = [self._queues[queue_id] for queue_id in op.levels]
        for queue in touched:
            self._remove_member(op, queue)
        return touched

    def unlink_queue(self, queue: QueueRecord) -> None:
        """Take every member out of ``queue``."""
        for operator_id in list(queue.members):
            self._remove_member(self.operators[operator_id], queue)

    def _add_member(self, op: OperatorRecord, queue: QueueRecord, level: int) -> bool:
        wait_needed = queue.wait_needed[level]
        if wait_needed is None:
            return False
        queue_id = queue.config.queue_id
        op.levels[queue_id] = level
        op.wait_needed[queue_id] = wait_needed
        queue.members[op.operator_id] = level
        if op.state in STAFFED_STATES:
            queue.staffed += 1
        if op.idle:
            queue.idle_by_level[level][op.operator_id] = op
            queue.idle_total += 1
            self.newly_idle[op.operator_id] = None
        return True

    def _remove_member(self, op: OperatorRecord, queue: QueueRecord) -> None:
        queue_id = queue.config.queue_id
        level = op.levels.pop(queue_id)
        del op.wait_needed[queue_id]
        del queue.members[op.operator_id]
        if op.state in STAFFED_STATES:
            queue.staffed -= 1
        if op.idle:
            del queue.idle_by_level[level][op.operator_id]
            queue.idle_total -= 1
