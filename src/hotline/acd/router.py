"""The ACD router: a pure, deterministic, sans-IO engine (architecture.md, L1).

Shape (aioquic/h11 style): inputs are method calls that take ``now``
(monotonic seconds, never decreasing); outputs are
:mod:`~hotline.acd.decisions` read with :meth:`AcdEngine.next_decision` until
None; timers are data: :meth:`AcdEngine.get_timer` gives the next deadline and
:meth:`AcdEngine.handle_timer` fires what is due.  Every input first fires the
timers due at or before its ``now``, each at its own deadline, so the result
never depends on how late the driver woke up.  The same inputs, seed and
times always give the same decisions (the random strategies draw from a
:class:`random.Random` the engine owns; no set is ever iterated).

Fair order
    A call's place is ``(-priority, entered_at)``: the highest priority
    first, then the longest wait (``entered_at`` is the first time the call
    joined any queue; it is kept when a supervisor or an overflow rule moves
    the call and when a tier widens, so the call never loses its place).
    When an operator who serves several queues becomes free, it takes, among
    the calls it qualifies for in all those queues, the first by
    ``(-priority, entered_at, -queue weight, arrival order)``: the queue's
    weight only breaks ties.  When a call meets several free operators, the
    queue's strategy (:mod:`~hotline.acd.strategies`) chooses.

Qualifying
    An operator qualifies for a call if it is READY and past any
    no-answer/busy/reject delay, holds every skill the call requires at the
    level asked, and its level for the queue is allowed by the queue's tier
    for the call's waiting time (measured from ``entered_at``).  Wrap-up,
    talking, hold and ringing operators never qualify, in any queue.

Invariants (checked by the property tests)
    * an operator holds at most one offer; a call rings at most one round of
      operators (several at once only for ring-all; the first answer wins and
      the others get :class:`~hotline.acd.decisions.CancelOffer`);
    * after every input no free operator qualifies for a waiting call that is
      not ringing (work conservation), and each offer goes to a call that no
      better-placed call could have taken;
    * every queue visit ends in exactly one
      :class:`~hotline.acd.decisions.CallLeftQueue` with one
      :class:`~hotline.acd.model.Outcome`; the wait norm yields ``timed_out``
      at exactly ``max_wait_s``, never ``abandoned``.

Cost per event
    Joining, leaving and re-prioritising are O(log n) searches plus a list
    ``memmove`` (:mod:`~hotline.acd.waiting`).  A free operator looks at the
    head of each priority bucket of each queue it serves.  A call meeting
    free operators reads the idle index of its queue by level, then the
    strategy looks at those candidates only.  Timers are one heap with lazy
    deletion (:mod:`~hotline.acd.timers`).

Modules
    The supervisor controls live in :mod:`~hotline.acd.router_control`, the
    snapshots in :mod:`~hotline.acd.router_status`, call-backs and
    operator-first outbound calls in :mod:`~hotline.acd.router_outbound` (the
    engine's base classes); the mechanism in :mod:`~hotline.acd.dispatch`.

Races with the driver
    After a :class:`~hotline.acd.decisions.CancelOffer` the offer does not
    exist any more: an answer or refusal for it raises
    :class:`~hotline.core.errors.LocalProtocolError`, and the driver hangs up
    the operator's leg.  Likewise an input made stale by a timer due at its
    ``now`` (``wrapup_done`` after the wrap-up time ran out, ``call_abandoned``
    after the wait norm took the call out) raises LocalProtocolError and
    changes nothing but the timers it fired; the snapshots
    (:meth:`AcdEngine.operator_status` ...) are exact after ``handle_timer(now)``.

Counting
    Every attempt to put a call in a queue (arrival, overflow, move) ends in
    exactly one :class:`~hotline.acd.decisions.CallLeftQueue`; a call refused at
    the door (full, or empty with ``EmptyPolicy.REFUSE``) gets no
    :class:`~hotline.acd.decisions.CallQueued` and leaves with ``wait_s == 0``.
    Overflow chains stop after ``EngineLimits.max_overflow_hops`` queue
    entries (supervisor moves included): the action becomes MESSAGE_AND_END.
"""

from __future__ import annotations

from collections.abc import Mapping

from hotline.acd.agent import OperatorInput, OperatorState, next_operator_state
from hotline.acd.decisions import (
    CallbackScheduled,
    CancelReason,
    Decision,
    OfferFailed,
)
from hotline.acd.dispatch import CALLBACK_FLAG, Dispatcher
from hotline.acd.model import (
    MAX_LEVEL,
    MIN_LEVEL,
    EngineLimits,
    OperatorProfile,
    Outcome,
    QueueConfig,
    RejectReason,
)
from hotline.acd.records import CallRecord, OperatorRecord, QueueRecord
from hotline.acd.router_outbound import RouterOutbound
from hotline.acd.sla import abandon_outcome
from hotline.acd.strategies import StrategyRegistry, default_registry
from hotline.acd.transfers import OpenTransfer, TransferBook
from hotline.core.errors import LimitExceededError, LocalProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId

__all__ = ["AcdEngine"]

_I = OperatorInput
_S = OperatorState


class AcdEngine(RouterOutbound):
    """Routes waiting calls to operators; see the module docstring for the rules."""

    def __init__(
        self,
        *,
        seed: int = 0,
        limits: EngineLimits | None = None,
        registry: StrategyRegistry | None = None,
    ) -> None:
        self._limits = limits or EngineLimits()
        self._registry = registry or default_registry()
        self._core = core = Dispatcher(seed=seed, limits=self._limits)
        self._queues = core.queues
        self._topics = core.topics
        self._calls = core.calls
        self._outbox = core.outbox
        self._roster = core.roster
        self._transfers = TransferBook(core)

    # == outputs and timers =====================================================

    def next_decision(self) -> Decision | None:
        """The next decision, oldest first; None when all have been read."""
        return self._outbox.popleft() if self._outbox else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` should be called next (None: no timer)."""
        return self._core.timers.earliest(self._core.is_live)

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at or before ``now``."""
        self._core.advance(now)

    # == configuration ==========================================================

    def add_queue(self, config: QueueConfig, now: float) -> None:
        """Create a queue; logged-in operators whose skills reach it join it at once."""
        self._core.advance(now)
        if config.queue_id in self._queues:
            raise LocalProtocolError(f"queue {config.queue_id} exists; use update_queue")
        if len(self._queues) >= self._limits.max_queues:
            raise LimitExceededError("too many queues", status_hint=503)
        strategy = self._registry.create(config.strategy, config.strategy_params)
        queue = QueueRecord(config, strategy, now)
        self._queues[config.queue_id] = queue
        self._topics.setdefault(config.topic, {})[config.queue_id] = None
        self._roster.link_queue(queue)
        self._core.check_empty(queue, now)
        self._core.settle(now)

    def update_queue(self, config: QueueConfig, now: float) -> None:
        """Apply a new configuration to a live queue; waiting calls keep their places."""
        self._core.advance(now)
        queue = self._queue(config.queue_id)
        old = queue.config
        strategy = queue.strategy
        if (old.strategy, dict(old.strategy_params)) != (
            config.strategy,
            dict(config.strategy_params),
        ):
            strategy = self._registry.create(config.strategy, config.strategy_params)
        if old.topic != config.topic:
            del self._topics[old.topic][old.queue_id]
            if not self._topics[old.topic]:
                del self._topics[old.topic]
            self._topics.setdefault(config.topic, {})[config.queue_id] = None
        self._roster.unlink_queue(queue)
        queue.configure(config, strategy)
        self._roster.link_queue(queue)
        for call in queue.calls.values():
            if CALLBACK_FLAG in call.flags:
                continue  # a parked call-back request has no timers
            call.timer_gen = self._core.next_gen()
            self._core.arm_call_timers(call, config, now, entering=False)
            if call.dispatchable:
                self._core.newly_dispatchable[call.call_id] = None
        queue.empty_deadline = None
        queue.empty_gen = self._core.next_gen()
        self._core.check_empty(queue, now)
        self._core.settle(now)

    def remove_queue(self, queue_id: QueueId, now: float) -> None:
        """Delete an empty queue (move or end its waiting calls first)."""
        self._core.advance(now)
        queue = self._queue(queue_id)
        if queue.calls:
            raise LocalProtocolError(f"queue {queue_id} still has {len(queue.calls)} calls")
        self._roster.unlink_queue(queue)
        del self._queues[queue_id]
        topic = queue.config.topic
        del self._topics[topic][queue_id]
        if not self._topics[topic]:
            del self._topics[topic]
        self._core.settle(now)

    # == calls ==================================================================

    def call_arrived(
        self,
        call_id: CallId,
        queue_id: QueueId,
        now: float,
        *,
        priority: int = 0,
        repeat_caller: bool = False,
        required_skills: Mapping[str, int] | None = None,
        flags: frozenset[str] = frozenset(),
    ) -> None:
        """A call asks to join ``queue_id``.

        ``repeat_caller`` (the same number on the same topic within 24 h, as
        the caller's history says) adds the queue's ``repeat_caller_bump`` to
        ``priority``.  ``required_skills`` maps skill names to a minimum level.
        """
        self._core.advance(now)
        required = dict(required_skills or {})
        self._check_priority(priority)
        if len(required) > self._limits.max_required_skills:
            raise LimitExceededError("too many required skills")
        if len(flags) > self._limits.max_flags:
            raise LimitExceededError("too many call flags")
        if any(not MIN_LEVEL <= level <= MAX_LEVEL for level in required.values()):
            raise LocalProtocolError(f"required skill levels must be {MIN_LEVEL}..{MAX_LEVEL}")
        if call_id in self._calls:
            raise LocalProtocolError(f"call {call_id} is already in a queue")
        queue = self._queue(queue_id)
        if len(self._calls) >= self._limits.max_waiting_calls:
            raise LimitExceededError("too many waiting calls", status_hint=503)
        self._core.seq += 1
        call = CallRecord(
            call_id,
            priority=priority,
            repeat_caller=repeat_caller,
            entered_at=now,
            seq=self._core.seq,
            required_skills=required,
            flags=flags,
        )
        self._calls[call_id] = call
        self._core.enter(call, queue, now, forced=False)
        self._core.settle(now)

    def call_abandoned(self, call_id: CallId, now: float) -> None:
        """The caller hung up while waiting (ringing operators are cancelled)."""
        self._core.advance(now)
        call = self._call(call_id)
        queue = self._queues[call.queue_id]
        wait_s = self._core.take_out(call, now, CancelReason.CALLER_LEFT)
        outcome = abandon_outcome(wait_s, queue.config.short_abandon_s)
        self._core.emit_left(call, queue, outcome, wait_s, now)
        del self._calls[call_id]
        self._core.settle(now)

    def callback_requested(self, call_id: CallId, now: float) -> None:
        """The caller chose to be called back and leaves the queue."""
        self._core.advance(now)
        call = self._call(call_id)
        queue = self._queues[call.queue_id]
        wait_s = self._core.take_out(call, now, CancelReason.CALL_LEFT_QUEUE)
        self._core.emit_left(call, queue, Outcome.CALLBACK, wait_s, now)
        self._outbox.append(CallbackScheduled(call_id, queue.config.queue_id, now))
        del self._calls[call_id]
        self._core.settle(now)

    def offer_answered(self, call_id: CallId, operator_id: OperatorId, now: float) -> None:
        """The operator answered: the call leaves its queue, other ringing offers stop."""
        self._core.advance(now)
        call, op = self._offer_of(call_id, operator_id)
        queue = self._queues[call.queue_id]
        del call.offered_to[operator_id]
        op.offer_call = None
        op.no_answer_count = 0
        op.calls_today += 1
        op.answered_at = now
        op.talk_call = call_id
        op.talk_queue = queue.config.queue_id
        op.wrap_up_s = queue.config.wrap_up_s
        self._roster.transition(op, _I.ANSWER, now, call_id)
        wait_s = self._core.take_out(call, now, CancelReason.ANSWERED_ELSEWHERE)
        if CALLBACK_FLAG not in call.flags:  # a call-back's visit had its outcome already
            self._core.emit_left(call, queue, Outcome.ANSWERED, wait_s, now, operator_id)
        del self._calls[call_id]
        self._core.settle(now)

    def offer_rejected(
        self, call_id: CallId, operator_id: OperatorId, reason: RejectReason, now: float
    ) -> None:
        """The offer failed (busy, rejected, not answered); the call keeps its place."""
        self._core.advance(now)
        call, op = self._offer_of(call_id, operator_id)
        del call.offered_to[operator_id]
        op.offer_call = None
        self._outbox.append(
            OfferFailed(call_id, operator_id, reason, now - call.ring_started_at, now)
        )
        self._core.decline(op, reason, now)
        if not call.offered_to:
            self._core.release(call)
        self._core.settle(now)

    def call_held(self, operator_id: OperatorId, now: float) -> None:
        """The operator put the caller on hold."""
        self._simple(operator_id, _I.HOLD, now, "hold")

    def call_resumed(self, operator_id: OperatorId, now: float) -> None:
        """The operator took the caller off hold."""
        self._simple(operator_id, _I.RESUME, now, "resume")

    def call_ended(self, operator_id: OperatorId, now: float) -> None:
        """The operator's conversation ended: wrap-up starts (for every queue)."""
        self._core.advance(now)
        self._core.end_talk(self._roster.get(operator_id), now)
        self._core.settle(now)

    # == transfers of a talking call (acd.transfers) ============================

    def transfer_offer(
        self, call_id: CallId, operator_id: OperatorId, now: float, *, from_operator: OperatorId
    ) -> None:
        """Reserve the READY ``operator_id`` for a call ``from_operator`` talks on."""
        self._core.advance(now)
        self._transfers.offer(call_id, operator_id, from_operator, now)
        self._core.settle(now)

    def transfer_answered(self, call_id: CallId, operator_id: OperatorId, now: float) -> None:
        """The transfer's target answered (TALKING); the first operator starts wrap-up."""
        self._core.advance(now)
        first = self._transfers.answered(call_id, operator_id, now)
        self._core.end_talk(first, now)
        self._core.settle(now)

    def transfer_failed(
        self, call_id: CallId, operator_id: OperatorId, reason: RejectReason | None, now: float
    ) -> None:
        """The target did not answer (the offer policy) or the transfer was withdrawn (None)."""
        self._core.advance(now)
        self._transfers.failed(call_id, operator_id, reason, now)
        self._core.settle(now)

    def transfer_to_queue(
        self, call_id: CallId, queue_id: QueueId, operator_id: OperatorId, now: float
    ) -> None:
        """Blind transfer to a queue: the operator wraps up, the call joins ``queue_id``.

        The call keeps its id; its entry time is ``now`` (a caller already
        served does not jump ahead of those still waiting for a first answer).
        """
        self._core.advance(now)
        self._queue(queue_id)
        if call_id in self._calls:
            raise LocalProtocolError(f"call {call_id} is already in a queue")
        self._core.end_talk(self._transfers.talking(call_id, operator_id), now)
        self._core.settle(now)
        self.call_arrived(call_id, queue_id, now)

    def open_transfers(self) -> tuple[OpenTransfer, ...]:
        """Transfers whose target is still reserved (ringing)."""
        return self._transfers.open_transfers()

    def wrapup_done(self, operator_id: OperatorId, now: float) -> None:
        """The operator finished wrap-up early."""
        self._core.advance(now)
        op = self._roster.get(operator_id)
        next_operator_state(op.state, _I.WRAP_UP_DONE)
        self._core.end_wrap_up(op, _I.WRAP_UP_DONE, now, "wrap-up done")
        self._core.settle(now)

    # == operators ==============================================================

    def operator_login(
        self,
        profile: OperatorProfile,
        now: float,
        *,
        ready: bool = False,
        calls_today: int | None = None,
        talk_today_s: float | None = None,
    ) -> None:
        """Log an operator in (NOT_READY, or READY with ``ready``).

        ``calls_today``/``talk_today_s`` restore the day's counters from the
        event store so that a restart resets nothing.
        """
        self._core.advance(now)
        known = self._roster.operators.get(profile.operator_id)
        if known is not None:
            next_operator_state(known.state, _I.LOGIN)
        op = self._roster.record_for(profile, now)
        self._set_profile(op, profile)
        if calls_today is not None:
            op.calls_today = calls_today
        if talk_today_s is not None:
            op.talk_today_s = talk_today_s
        op.available_at = op.idle_since = now
        op.no_answer_count = 0
        op.pending_not_ready = None
        self._roster.transition(op, _I.LOGIN, now, "login")
        for queue in self._roster.link(op):
            self._core.check_empty(queue, now)
        if ready:
            self._roster.transition(op, _I.SET_READY, now, "ready")
        self._core.settle(now)

    def operator_logout(self, operator_id: OperatorId, now: float) -> None:
        """Log an operator out (a ringing offer is cancelled; not while talking)."""
        self._core.advance(now)
        op = self._roster.get(operator_id)
        next_operator_state(op.state, _I.LOGOUT)
        self._core.leave_state(op, now)
        self._roster.transition(op, _I.LOGOUT, now, "logout")
        op.pending_not_ready = None
        for queue in self._roster.unlink(op):
            self._core.check_empty(queue, now)
        self._core.settle(now)

    def set_ready(self, operator_id: OperatorId, now: float) -> None:
        """The operator is ready (from NOT_READY, or ending wrap-up early)."""
        self._core.advance(now)
        op = self._roster.get(operator_id)
        next_operator_state(op.state, _I.SET_READY)
        op.pending_not_ready = None
        if op.state is _S.WRAP_UP:
            self._core.end_wrap_up(op, _I.SET_READY, now, "ready")
        else:
            op.available_at = op.idle_since = now
            op.no_answer_count = 0
            self._roster.transition(op, _I.SET_READY, now, "ready")
        self._core.settle(now)

    def set_not_ready(self, operator_id: OperatorId, reason: str, now: float) -> None:
        """The operator is not ready; while talking, from the end of this call on."""
        self._core.advance(now)
        op = self._roster.get(operator_id)
        next_operator_state(op.state, _I.SET_NOT_READY)
        if op.state in (_S.TALKING, _S.HOLD):
            op.pending_not_ready = reason
        else:
            self._core.leave_state(op, now)
            self._roster.transition(op, _I.SET_NOT_READY, now, reason)
        self._core.settle(now)

    def update_operator(self, profile: OperatorProfile, now: float) -> None:
        """New skills or routing settings for an operator, applied at once."""
        self._core.advance(now)
        op = self._roster.get(profile.operator_id)
        touched = self._roster.unlink(op) if op.logged_in else []
        self._set_profile(op, profile)
        if op.logged_in:
            touched += self._roster.link(op)
        for queue in touched:
            self._core.check_empty(queue, now)
        self._core.settle(now)

    def reset_daily_counters(self, now: float) -> None:
        """Start a new day for fewest-calls and least-talk-time (the driver calls it)."""
        self._core.advance(now)
        for op in self._roster.operators.values():
            op.calls_today = 0
            op.talk_today_s = 0.0
        self._core.settle(now)

    # == supervisor actions =====================================================

    def set_operator_state(
        self, operator_id: OperatorId, state: OperatorState, now: float, reason: str = "supervisor"
    ) -> None:
        """A supervisor sets an operator READY, NOT_READY(reason) or LOGGED_OUT."""
        if state is _S.READY:
            self.set_ready(operator_id, now)
        elif state is _S.NOT_READY:
            self.set_not_ready(operator_id, reason, now)
        elif state is _S.LOGGED_OUT:
            self.operator_logout(operator_id, now)
        else:
            raise LocalProtocolError(f"a supervisor cannot set state {state.value}")

    # == helpers ================================================================

    def _offer_of(
        self, call_id: CallId, operator_id: OperatorId
    ) -> tuple[CallRecord, OperatorRecord]:
        call = self._calls.get(call_id)
        op = self._roster.get(operator_id)
        if call is None or operator_id not in call.offered_to:
            raise LocalProtocolError(f"no offer of call {call_id} to operator {operator_id}")
        return call, op

    def _simple(
        self, operator_id: OperatorId, event: OperatorInput, now: float, reason: str
    ) -> None:
        self._core.advance(now)
        self._roster.transition(self._roster.get(operator_id), event, now, reason)
        self._core.settle(now)

    @staticmethod
    def _set_profile(op: OperatorRecord, profile: OperatorProfile) -> None:
        op.profile = profile
        op.position = profile.position
        op.weight = profile.weight
