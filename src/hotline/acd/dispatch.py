"""The router's mechanism: matching, offers, queue entry and exit, timers.

:class:`Dispatcher` holds all of the router's state and does the work;
:class:`hotline.acd.router.AcdEngine` is its public face (validation, the
input methods, snapshots).  The rules it implements (fair order, qualifying,
invariants) are documented in :mod:`hotline.acd.router`.

Settling
    Work conservation is restored after each input (and after each batch of
    timers sharing one deadline) by :meth:`Dispatcher.settle`: first every
    operator that became free takes the best call it qualifies for across
    its queues; then every call that became offerable (joined, offer ended,
    tier widened) is matched, best-placed first, with the free operators its
    queue's strategy picks.  Serving operators first and calls in fair order
    is what makes every offer go to a call no better-placed call could take.
"""

from __future__ import annotations

from collections import deque
from random import Random
from typing import Final

from hotline.acd.agent import OperatorInput, OperatorState, next_operator_state
from hotline.acd.decisions import (
    AnnouncePosition,
    CallbackScheduled,
    CallLeftQueue,
    CallOverflowed,
    CallQueued,
    CallRefused,
    CallTimedOut,
    CancelOffer,
    CancelReason,
    Decision,
    OfferCall,
    OfferFailed,
)
from hotline.acd.model import (
    MAX_LEVEL,
    MAX_PRIORITY,
    MIN_LEVEL,
    EmptyPolicy,
    EngineLimits,
    ExitAction,
    ExitKind,
    Outcome,
    OverflowReason,
    QueueConfig,
    RejectReason,
)
from hotline.acd.records import CallRecord, OperatorRecord, QueueRecord
from hotline.acd.roster import Roster
from hotline.acd.sla import estimated_wait_s
from hotline.acd.timers import Timer, TimerHeap, TimerKind
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId, TopicId

__all__ = ["CALLBACK_FLAG", "Dispatcher"]

CALLBACK_FLAG: Final = "callback"
"""A call flag: the record is a parked call-back request (router_outbound), not a caller."""

_END = ExitAction(ExitKind.MESSAGE_AND_END)
_I = OperatorInput
_S = OperatorState


class Dispatcher:
    """State and mechanism of one router (package-internal)."""

    def __init__(self, *, seed: int, limits: EngineLimits) -> None:
        self.limits = limits
        self.rng = Random(seed)
        self.now = float("-inf")
        self.seq = 0
        self._gen = 0
        self.queues: dict[QueueId, QueueRecord] = {}
        self.topics: dict[TopicId, dict[QueueId, None]] = {}
        self.calls: dict[CallId, CallRecord] = {}
        self.outbox: deque[Decision] = deque()
        self.timers = TimerHeap()
        self.roster = Roster(self.queues, self.topics, self.outbox, self.timers, limits)
        self.newly_dispatchable: dict[CallId, None] = {}

    def next_gen(self) -> int:
        """A fresh generation number for timers (unique across the router's life)."""
        self._gen += 1
        return self._gen

    # == time ===================================================================

    def advance(self, now: float) -> None:
        """Fire, in order and each at its own deadline, every timer due by ``now``."""
        if not now >= self.now:
            raise LocalProtocolError(f"time went backwards: {now} < {self.now}")
        while True:
            due = self.timers.pop_due(now, self.is_live)
            if not due:
                break
            at = max(due[0][0], self.now)
            self.now = at
            for timer in due:
                if self.is_live(timer):
                    self._fire(timer, at)
            self.settle(at)
        self.now = now

    def is_live(self, timer: Timer) -> bool:
        """Whether a timer still means something (its subject's generation matches)."""
        _, _, kind, subject, gen = timer
        if kind is TimerKind.WRAP_UP or kind is TimerKind.DELAY:
            op = self.roster.operators.get(OperatorId(subject))
            wanted = _S.WRAP_UP if kind is TimerKind.WRAP_UP else _S.READY
            return op is not None and op.gen == gen and op.state is wanted
        if kind is TimerKind.EMPTY:
            queue = self.queues.get(QueueId(subject))
            return queue is not None and queue.empty_gen == gen
        call = self.calls.get(CallId(subject))
        if call is None:
            return False
        if kind is TimerKind.RING:
            return call.ring_gen == gen and bool(call.offered_to)
        return call.timer_gen == gen

    def _fire(self, timer: Timer, now: float) -> None:
        _, _, kind, subject, _ = timer
        if kind is TimerKind.WRAP_UP:
            op = self.roster.operators[OperatorId(subject)]
            self.end_wrap_up(op, _I.WRAP_UP_DONE, now, "wrap-up time over")
        elif kind is TimerKind.DELAY:
            self.roster.set_idle(self.roster.operators[OperatorId(subject)], idle=True)
        elif kind is TimerKind.EMPTY:
            self._empty_timer(self.queues[QueueId(subject)], now)
        else:
            call = self.calls[CallId(subject)]
            if kind is TimerKind.MAX_WAIT:
                self._time_out(call, now)
            elif kind is TimerKind.RING:
                self._ring_timeout(call, now)
            elif kind is TimerKind.TIER:
                self._next_tier(call, now)
            else:
                self._announce(call, now)

    # == matching ===============================================================

    def settle(self, now: float) -> None:
        """Serve operators that became free, then calls that became offerable."""
        roster = self.roster
        while roster.newly_idle or self.newly_dispatchable:
            while roster.newly_idle:
                operator_id = next(iter(roster.newly_idle))
                del roster.newly_idle[operator_id]
                op = roster.operators[operator_id]
                if op.idle:
                    self._serve_operator(op, now)
            pending = [self.calls[c] for c in self.newly_dispatchable if c in self.calls]
            self.newly_dispatchable.clear()
            pending.sort(key=self._fair_key)
            for call in pending:
                if call.call_id in self.calls and call.dispatchable:
                    self._serve_call(call, now)

    def _fair_key(self, call: CallRecord) -> tuple[int, float, int, int]:
        weight = self.queues[call.queue_id].config.weight
        return (-call.priority, call.entered_at, -weight, call.seq)

    def _serve_operator(self, op: OperatorRecord, now: float) -> None:
        skills = op.profile.skills
        calls = self.calls

        def qualifies(call_id: str) -> bool:
            required = calls[CallId(call_id)].required_skills
            return not required or all(skills.get(s, 0) >= lv for s, lv in required.items())

        best: tuple[int, float, int, int] | None = None
        best_call: str | None = None
        for queue_id, wait_needed in op.wait_needed.items():
            queue = self.queues[queue_id]
            if not queue.line.dispatchable:
                continue
            min_priority = None if best is None else -best[0]
            key = queue.line.first_eligible(now, wait_needed, qualifies, min_priority)
            if key is None:
                continue
            fair = (key[0], key[1], -queue.config.weight, key[2])
            if best is None or fair < best:
                best, best_call = fair, key[3]
        if best_call is not None:
            self.offer(calls[CallId(best_call)], [op], now)

    def _serve_call(self, call: CallRecord, now: float) -> None:
        queue = self.queues[call.queue_id]
        if not queue.idle_total:
            return
        required = call.required_skills
        candidates: list[OperatorRecord] = []
        for level in range(MAX_LEVEL, MIN_LEVEL - 1, -1):
            wait_needed = queue.wait_needed[level]
            if wait_needed is None or call.entered_at + wait_needed > now:
                break
            bucket = queue.idle_by_level[level]
            if not bucket:
                continue
            if required:
                candidates.extend(
                    op
                    for op in bucket.values()
                    if all(op.profile.skills.get(s, 0) >= lv for s, lv in required.items())
                )
            else:
                candidates.extend(bucket.values())
        if not candidates:
            return
        chosen = queue.strategy.select(queue.config.queue_id, candidates, self.rng)
        by_id = {op.operator_id: op for op in candidates}
        picked: list[OperatorRecord] = []
        for view in chosen:
            op = by_id.pop(view.operator_id, None)
            if op is None:
                raise LocalProtocolError(f"strategy {queue.config.strategy} chose a non-candidate")
            picked.append(op)
        if not picked:
            raise LocalProtocolError(f"strategy {queue.config.strategy} chose nobody")
        self.offer(call, picked, now)

    # == offers =================================================================

    def offer(self, call: CallRecord, ops: list[OperatorRecord], now: float) -> None:
        """Ring ``ops`` with ``call`` (one round, one ring timer)."""
        queue = self.queues[call.queue_id]
        self.hold(call)
        call.ring_gen = self.next_gen()
        call.ring_started_at = now
        ring_s = queue.config.ring_timeout_s
        for op in ops:
            op.offer_call = call.call_id
            self.roster.transition(op, _I.OFFER, now, call.call_id)
            call.offered_to[op.operator_id] = None
            queue.strategy.note_offer(op)
            self.outbox.append(
                OfferCall(call.call_id, op.operator_id, queue.config.queue_id, ring_s, now)
            )
        self.timers.push(now + ring_s, TimerKind.RING, call.call_id, call.ring_gen)

    def release(self, call: CallRecord) -> None:
        """The call's offers are over: it may be offered again, in its place."""
        self.queues[call.queue_id].line.release(call.key())
        call.dispatchable = True
        self.newly_dispatchable[call.call_id] = None

    def hold(self, call: CallRecord) -> None:
        """The call may not be offered now (an offer rings, or it is leaving)."""
        if call.dispatchable:
            self.queues[call.queue_id].line.hold(call.key())
            call.dispatchable = False

    def withdraw(self, call: CallRecord, now: float, reason: CancelReason) -> None:
        """Cancel every ringing offer of ``call``; the call stays held."""
        for operator_id in call.offered_to:
            op = self.roster.operators[operator_id]
            op.offer_call = None
            self.outbox.append(CancelOffer(call.call_id, operator_id, reason, now))
            self.roster.transition(op, _I.CANCEL, now, reason.value)
        call.offered_to.clear()

    def decline(self, op: OperatorRecord, reason: RejectReason, now: float) -> None:
        """An offer to ``op`` failed: a delay, or NOT_READY after too many no-answers."""
        profile = op.profile
        if reason is RejectReason.NO_ANSWER:
            op.no_answer_count += 1
            if profile.max_no_answer and op.no_answer_count >= profile.max_no_answer:
                op.no_answer_count = 0
                self.roster.transition(op, _I.DECLINE_LIMIT, now, "no answer")
                return
        op.available_at = max(op.available_at, now + profile.delay_after(reason))
        self.roster.transition(op, _I.DECLINE, now, reason.value)

    def _ring_timeout(self, call: CallRecord, now: float) -> None:
        ring_s = now - call.ring_started_at
        for operator_id in list(call.offered_to):
            op = self.roster.operators[operator_id]
            op.offer_call = None
            self.outbox.append(
                CancelOffer(call.call_id, operator_id, CancelReason.RING_TIMEOUT, now)
            )
            self.outbox.append(
                OfferFailed(call.call_id, operator_id, RejectReason.NO_ANSWER, ring_s, now)
            )
            self.decline(op, RejectReason.NO_ANSWER, now)
        call.offered_to.clear()
        self.release(call)

    # == operators leaving a state ==============================================

    def leave_state(self, op: OperatorRecord, now: float) -> None:
        """Before logout or not-ready: drop a ringing offer, close a wrap-up."""
        if op.state is _S.RESERVED and op.offer_call not in self.calls:
            op.offer_call = None  # a transfer's reservation (acd.transfers): nothing queued
        elif op.state is _S.RESERVED and op.offer_call is not None:
            call = self.calls[op.offer_call]
            del call.offered_to[op.operator_id]
            self.outbox.append(
                CancelOffer(call.call_id, op.operator_id, CancelReason.OPERATOR_UNAVAILABLE, now)
            )
            op.offer_call = None
            if not call.offered_to:
                self.release(call)
        elif op.state is _S.WRAP_UP:
            self._record_handle(op, now)

    def end_talk(self, op: OperatorRecord, now: float) -> None:
        """The operator's conversation ended (hang-up or transfer): wrap-up starts."""
        next_operator_state(op.state, _I.HANG_UP)
        op.talk_today_s += now - op.answered_at
        self.roster.transition(op, _I.HANG_UP, now, "call ended")
        if op.wrap_up_s <= 0:
            self.end_wrap_up(op, _I.WRAP_UP_DONE, now, "no wrap-up")
        else:
            self.timers.push(now + op.wrap_up_s, TimerKind.WRAP_UP, op.operator_id, op.gen)

    def end_wrap_up(
        self, op: OperatorRecord, event: OperatorInput, now: float, reason: str
    ) -> None:
        """Wrap-up is over (timer, early end or ready): READY, or a pending NOT_READY."""
        self._record_handle(op, now)
        op.idle_since = now
        if event is _I.WRAP_UP_DONE and op.pending_not_ready is not None:
            reason, op.pending_not_ready = op.pending_not_ready, None
            self.roster.transition(op, _I.SET_NOT_READY, now, reason)
        else:
            self.roster.transition(op, event, now, reason)

    def _record_handle(self, op: OperatorRecord, now: float) -> None:
        queue = self.queues.get(op.talk_queue) if op.talk_queue is not None else None
        if queue is not None:
            queue.handle.add(now - op.answered_at)
        op.talk_call = None
        op.talk_queue = None

    # == queue entry and exit ===================================================

    def effective_priority(self, call: CallRecord, config: QueueConfig) -> int:
        """The call's priority in a queue, with the repeat-caller bump."""
        bump = config.repeat_caller_bump if call.repeat_caller else 0
        return min(call.base_priority + bump, MAX_PRIORITY)

    def enter(self, call: CallRecord, queue: QueueRecord, now: float, *, forced: bool) -> None:
        """The call joins ``queue`` or is refused by its full/empty rules (unless ``forced``)."""
        config = queue.config
        call.hops += 1
        if not forced:
            if config.max_length is not None and len(queue.line) >= config.max_length:
                self._exit_by_rule(call, queue, Outcome.LEFT_FULL, config.full_action, 0.0, now)
                return
            if not queue.members and config.when_empty is EmptyPolicy.REFUSE:
                self._exit_by_rule(call, queue, Outcome.LEFT_EMPTY, config.empty_action, 0.0, now)
                return
        call.queue_id = config.queue_id
        call.queue_entered_at = now
        call.priority = self.effective_priority(call, config)
        call.timer_gen = self.next_gen()
        queue.calls[call.call_id] = call
        key = call.key()
        queue.line.add(key)
        self.release(call)
        self.outbox.append(CallQueued(call.call_id, config.queue_id, queue.line.position(key), now))
        self.arm_call_timers(call, config, now, entering=True)
        if not queue.members:
            self.check_empty(queue, now)

    def park_callback(self, call: CallRecord, queue: QueueRecord) -> None:
        """Put a call-back request in ``queue`` at its place: no events, no timers, no rules."""
        call.flags = call.flags | {CALLBACK_FLAG}
        call.queue_id = queue.config.queue_id
        call.priority = self.effective_priority(call, queue.config)
        call.timer_gen = self.next_gen()
        queue.calls[call.call_id] = call
        queue.line.add(call.key())
        self.release(call)

    def take_out(self, call: CallRecord, now: float, reason: CancelReason) -> float:
        """Remove the call from its queue (cancelling offers); returns its wait there."""
        queue = self.queues[call.queue_id]
        self.hold(call)
        self.withdraw(call, now, reason)
        queue.line.remove(call.key())
        del queue.calls[call.call_id]
        call.timer_gen = self.next_gen()
        return now - call.queue_entered_at

    def emit_left(
        self,
        call: CallRecord,
        queue: QueueRecord,
        outcome: Outcome,
        wait_s: float,
        now: float,
        operator_id: OperatorId | None = None,
    ) -> None:
        """Report the one outcome of this queue visit."""
        self.outbox.append(
            CallLeftQueue(call.call_id, queue.config.queue_id, outcome, wait_s, now, operator_id)
        )

    def _overflow_target(self, call: CallRecord, action: ExitAction) -> QueueRecord | None:
        if action.kind is not ExitKind.OVERFLOW or action.target is None:
            return None
        if call.hops >= self.limits.max_overflow_hops:
            return None
        return self.queues.get(QueueId(action.target))

    def _exit_by_rule(
        self,
        call: CallRecord,
        queue: QueueRecord,
        outcome: Outcome,
        action: ExitAction,
        wait_s: float,
        now: float,
    ) -> None:
        """Full or empty: overflow to the action's queue, or leave with ``outcome``."""
        reason = OverflowReason.FULL if outcome is Outcome.LEFT_FULL else OverflowReason.EMPTY
        target = self._overflow_target(call, action)
        queue_id = queue.config.queue_id
        if target is not None:
            self.emit_left(call, queue, Outcome.OVERFLOWED, wait_s, now)
            self.outbox.append(
                CallOverflowed(call.call_id, queue_id, target.config.queue_id, reason, now)
            )
            self.enter(call, target, now, forced=False)
            return
        if action.kind is ExitKind.OVERFLOW:
            action = _END
        self.emit_left(call, queue, outcome, wait_s, now)
        self.outbox.append(CallRefused(call.call_id, queue_id, outcome, action, now))
        if action.kind is ExitKind.CALLBACK:
            self.outbox.append(CallbackScheduled(call.call_id, queue_id, now))
        del self.calls[call.call_id]

    def _time_out(self, call: CallRecord, now: float) -> None:
        queue = self.queues[call.queue_id]
        wait_s = self.take_out(call, now, CancelReason.CALL_TIMED_OUT)
        action = queue.config.max_wait_action
        target = self._overflow_target(call, action)
        if target is None and action.kind is ExitKind.OVERFLOW:
            action = _END
        queue_id = queue.config.queue_id
        self.emit_left(call, queue, Outcome.TIMED_OUT, wait_s, now)
        self.outbox.append(CallTimedOut(call.call_id, queue_id, action, wait_s, now))
        if target is not None:
            self.enter(call, target, now, forced=False)
            return
        if action.kind is ExitKind.CALLBACK:
            self.outbox.append(CallbackScheduled(call.call_id, queue_id, now))
        del self.calls[call.call_id]

    # == per-call timers ========================================================

    def arm_call_timers(
        self, call: CallRecord, config: QueueConfig, now: float, *, entering: bool
    ) -> None:
        """Arm the wait-norm, tier and announcement timers of the call's current visit."""
        gen, call_id = call.timer_gen, call.call_id
        if config.max_wait_s is not None:
            deadline = max(call.queue_entered_at + config.max_wait_s, now)
            self.timers.push(deadline, TimerKind.MAX_WAIT, call_id, gen)
        tiers = config.tiers
        index = 0
        while index < len(tiers) and call.entered_at + tiers[index].after_s <= now:
            index += 1
        call.tier_next = index
        if index < len(tiers):
            self.timers.push(call.entered_at + tiers[index].after_s, TimerKind.TIER, call_id, gen)
        if entering and config.announce_on_entry:
            self.timers.push(now, TimerKind.ANNOUNCE, call_id, gen)
        elif config.announce_interval_s is not None:
            self.timers.push(now + config.announce_interval_s, TimerKind.ANNOUNCE, call_id, gen)

    def _next_tier(self, call: CallRecord, now: float) -> None:
        tiers = self.queues[call.queue_id].config.tiers
        call.tier_next += 1
        if call.tier_next < len(tiers):
            deadline = call.entered_at + tiers[call.tier_next].after_s
            self.timers.push(deadline, TimerKind.TIER, call.call_id, call.timer_gen)
        if call.dispatchable:
            self.newly_dispatchable[call.call_id] = None

    def _announce(self, call: CallRecord, now: float) -> None:
        queue = self.queues[call.queue_id]
        config = queue.config
        if not call.offered_to:
            position = queue.line.position(call.key())
            estimate = estimated_wait_s(position, queue.handle.mean_s, queue.staffed)
            limit_p, limit_w = config.announce_position_limit, config.announce_wait_limit_s
            say_position = config.announce_position and (limit_p is None or position <= limit_p)
            say_wait = (
                config.announce_wait
                and estimate is not None
                and (limit_w is None or estimate <= limit_w)
            )
            self.outbox.append(
                AnnouncePosition(
                    call.call_id,
                    config.queue_id,
                    position if say_position else None,
                    estimate if say_wait else None,
                    now,
                )
            )
        if config.announce_interval_s is not None:
            deadline = now + config.announce_interval_s
            self.timers.push(deadline, TimerKind.ANNOUNCE, call.call_id, call.timer_gen)

    # == queues without operators ===============================================

    def check_empty(self, queue: QueueRecord, now: float) -> None:
        """Track whether a queue has operators; arm its leave-when-empty timer."""
        if queue.members:
            if queue.empty_since is not None:
                queue.empty_since = None
                queue.empty_deadline = None
                queue.empty_gen = self.next_gen()
            return
        if queue.empty_since is None:
            queue.empty_since = now
        self._arm_empty(queue, now)

    def _arm_empty(self, queue: QueueRecord, now: float) -> None:
        leave_s, since = queue.config.leave_when_empty_s, queue.empty_since
        if leave_s is None or since is None or queue.empty_deadline is not None:
            return
        waiting = [c for c in queue.calls.values() if CALLBACK_FLAG not in c.flags]
        if not waiting:
            return
        deadline = min(max(c.queue_entered_at, since) + leave_s for c in waiting)
        queue.empty_deadline = deadline
        queue.empty_gen = self.next_gen()
        self.timers.push(
            max(deadline, now), TimerKind.EMPTY, queue.config.queue_id, queue.empty_gen
        )

    def _empty_timer(self, queue: QueueRecord, now: float) -> None:
        queue.empty_deadline = None
        config = queue.config
        leave_s, since = config.leave_when_empty_s, queue.empty_since
        if queue.members or leave_s is None or since is None:
            return
        for call in list(queue.calls.values()):
            if CALLBACK_FLAG in call.flags:
                continue  # a call-back request waits for an operator, however long
            if max(call.queue_entered_at, since) + leave_s <= now:
                wait_s = self.take_out(call, now, CancelReason.CALL_LEFT_QUEUE)
                self._exit_by_rule(
                    call, queue, Outcome.LEFT_EMPTY, config.empty_action, wait_s, now
                )
        self._arm_empty(queue, now)
