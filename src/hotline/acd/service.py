"""The ACD on the event loop: one router, one timer, decisions to one handler (layer L3).

:class:`AcdService` is the asyncio driver of the sans-IO
:class:`~hotline.acd.router.AcdEngine` (architecture.md, "Sans-IO
contract"): every input is a method call that reads the clock once and
passes ``now``; after it, the decisions are handed in order to the
:class:`DecisionHandler` (the call controller), and the one loop timer is
re-armed at :meth:`~hotline.acd.router.AcdEngine.get_timer`.  A handler may
call back into the service while a decision is being delivered (an offer
refused at once); the decisions that follow are delivered by the outer
loop, in order, never re-entrantly.

Operators' phones: with ``auto_ready_on_register`` an operator whose phone
registers is logged in READY (the demo: a newcomer with a softphone gets
calls at once), and logged out when the last binding goes (set NOT_READY
instead while a call is in progress).  :meth:`AcdService.sync_phones` takes
the set of operators with a live binding; the app calls it when bindings
change or on a short period.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Iterable
from typing import Protocol

import structlog

from hotline.acd.agent import OperatorState
from hotline.acd.decisions import Decision, OperatorStateChanged
from hotline.acd.model import ExitKind, OperatorProfile, QueueConfig, RejectReason
from hotline.acd.router import AcdEngine
from hotline.acd.status import CallStatus, OperatorStatus, QueueStatus
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId

__all__ = ["PHONE_GONE", "AcdService", "DecisionHandler", "MonotonicClock"]

log = structlog.get_logger("hotline.acd.service")

PHONE_GONE = "phone unregistered"
"""The NOT_READY reason set when an operator's phone disappears mid-call."""


class MonotonicClock(Protocol):
    """Monotonic seconds (the event loop's time base)."""

    def monotonic(self) -> float: ...


class DecisionHandler(Protocol):
    """Who carries out the ACD's decisions (the call controller)."""

    def on_decision(self, decision: Decision) -> None: ...


class AcdService:
    """Drives one :class:`AcdEngine` on the running loop; a node component."""

    name = "acd"

    def __init__(
        self,
        engine: AcdEngine,
        clock: MonotonicClock,
        *,
        auto_ready_on_register: bool = False,
    ) -> None:
        self.engine = engine
        self.handler: DecisionHandler | None = None
        self.auto_ready_on_register = auto_ready_on_register
        self._clock = clock
        self._last_now = float("-inf")
        self._profiles: dict[OperatorId, OperatorProfile] = {}
        self._configs: dict[QueueId, QueueConfig] = {}
        self._removed: dict[QueueId, QueueId] = {}  # a removed queue → where its calls go now
        self._since: dict[OperatorId, float] = {}
        self._phones_up: set[OperatorId] = set()
        self._pumping = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._running = False
        self.decisions_total = 0
        self.handler_errors = 0

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._running = True
        self._arm()

    def refuse_new(self) -> None:
        """Nothing to refuse: new calls are refused by the call controller."""

    def active(self) -> int:
        """Calls waiting in queues."""
        return len(self.engine.waiting_calls())

    async def stop(self) -> None:
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = None

    # -- configuration ------------------------------------------------------------------------

    def add_queue(self, config: QueueConfig) -> None:
        self.engine.add_queue(config, self._now())
        self._configs[config.queue_id] = config
        self._removed.pop(config.queue_id, None)
        self._pump()

    def update_queue(self, config: QueueConfig) -> None:
        """A new configuration for a live queue, at once; waiting calls keep their places.

        New timers (a shorter maximum wait, tiers, announcements) count from
        each call's entry, so a call already past a new norm leaves at once.
        """
        try:
            self.engine.update_queue(config, self._now())
            self._configs[config.queue_id] = config
        finally:
            self._pump()

    def remove_queue(self, queue_id: QueueId, *, fallback: QueueId) -> QueueId | None:
        """Take a queue out of routing (deleted or disabled); return where its calls went.

        Its waiting calls keep their places (entry times) and move to the
        queue's overflow target (the first ``overflow`` exit among
        ``max_wait_action``, ``full_action`` and ``empty_action`` that names a
        live queue), else to ``fallback`` (the general queue); a parked
        call-back request is re-parked there at its old place.  Calls routed
        to it afterwards (a voice menu that still names it) go there too
        (:meth:`call_arrived`), until it is added again.  Returns None when
        the queue had no calls.  LocalProtocolError: an unknown queue, or
        calls with nowhere to go (``fallback`` is the queue itself).
        """
        config = self._configs.get(queue_id)
        if config is None and not self.has_queue(queue_id):
            raise LocalProtocolError(f"unknown queue {queue_id}")
        now = self._now()
        calls = [
            status
            for status in (self.engine.call_status(c, now) for c in self.engine.waiting_calls())
            if status.queue_id == queue_id
        ]
        target = self._move_target(config, queue_id, fallback) if calls else None
        try:
            if target is not None:
                for status in calls:
                    self._move_out(status.call_id, target, now)
            self.engine.remove_queue(queue_id, now)
            self._configs.pop(queue_id, None)
        finally:
            self._pump()
        with contextlib.suppress(LocalProtocolError):  # the general queue itself: no mapping
            self._removed[queue_id] = target or self._move_target(config, queue_id, fallback)
        log.info("queue removed", queue=queue_id, calls_moved=len(calls), to=target)
        return target

    def _move_target(
        self, config: QueueConfig | None, queue_id: QueueId, fallback: QueueId
    ) -> QueueId:
        actions = (
            ()
            if config is None
            else (config.max_wait_action, config.full_action, config.empty_action)
        )
        for action in actions:
            target = QueueId(action.target or "")
            usable = action.kind is ExitKind.OVERFLOW and target not in ("", queue_id)
            if usable and self.has_queue(target):
                return target
        if fallback == queue_id or not self.has_queue(fallback):
            raise LocalProtocolError(f"queue {queue_id}: its calls have nowhere to go")
        return fallback

    def _move_out(self, call_id: CallId, target: QueueId, now: float) -> None:
        if self.engine.is_callback(call_id):
            entered_at = now - self.engine.call_status(call_id, now).total_wait_s
            self.engine.callback_cancelled(call_id, now)
            self.engine.callback_queued(call_id, target, now, entered_at=entered_at)
        else:
            self.engine.move_call(call_id, target, now)

    def set_operators(self, profiles: Iterable[OperatorProfile]) -> None:
        """The operators the node knows (logged in when their phone registers, if automatic)."""
        self._profiles = {p.operator_id: p for p in profiles}

    def update_operators(self, profiles: Iterable[OperatorProfile], *, reason: str) -> None:
        """New operator profiles, applied at once to the logged-in operators.

        A logged-in operator whose skills or queue levels changed is re-routed
        at once (router ``update_operator``); one no longer among ``profiles``
        (disabled, deleted) is logged out, or set NOT_READY (``reason``) while
        a call is in progress.
        """
        old, self._profiles = self._profiles, {p.operator_id: p for p in profiles}
        now = self._now()
        try:
            for operator_id in self.engine.operators():
                if self.operator_state(operator_id) is OperatorState.LOGGED_OUT:
                    continue
                profile = self._profiles.get(operator_id)
                if profile is None:
                    self._retire(operator_id, reason, now)
                elif profile != old.get(operator_id):
                    self.engine.update_operator(profile, now)
        finally:
            self._pump()

    def _retire(self, operator_id: OperatorId, reason: str, now: float) -> None:
        try:
            if self.operator_state(operator_id) in (OperatorState.TALKING, OperatorState.HOLD):
                self.engine.set_not_ready(operator_id, reason, now)  # from the call's end
            else:
                self.engine.operator_logout(operator_id, now)
        except LocalProtocolError as exc:
            log.warning("operator not taken out of routing", operator=operator_id, error=str(exc))

    def operator_login(self, operator_id: OperatorId, *, ready: bool) -> None:
        profile = self._profiles.get(operator_id)
        if profile is None:
            raise LocalProtocolError(f"unknown operator {operator_id}")
        self.engine.operator_login(profile, self._now(), ready=ready)
        self._pump()

    def operator_state(self, operator_id: OperatorId) -> OperatorState:
        """The operator's state (LOGGED_OUT when the router never saw it)."""
        try:
            return self.engine.operator_status(operator_id).state
        except LocalProtocolError:
            return OperatorState.LOGGED_OUT

    # -- calls (the call controller's inputs) ----------------------------------------------------

    def call_arrived(self, call_id: CallId, queue_id: QueueId) -> None:
        """A call joins ``queue_id`` (a removed queue: where its calls were moved)."""
        for _ in range(len(self._removed)):  # a chain: social → health, then health removed
            if queue_id not in self._removed:
                break
            queue_id = self._removed[queue_id]
        self.engine.call_arrived(call_id, queue_id, self._now())
        self._pump()

    def call_abandoned(self, call_id: CallId) -> None:
        try:
            self.engine.call_abandoned(call_id, self._now())
        finally:
            self._pump()

    def call_position(self, call_id: CallId) -> int | None:
        """The call's place in its queue now (1 = next), None when it is not waiting."""
        try:
            return self.engine.call_status(call_id, self._now()).position
        except LocalProtocolError:
            return None

    def offer_answered(self, call_id: CallId, operator_id: OperatorId) -> None:
        try:
            self.engine.offer_answered(call_id, operator_id, self._now())
        finally:
            self._pump()

    def offer_rejected(
        self, call_id: CallId, operator_id: OperatorId, reason: RejectReason
    ) -> None:
        try:
            self.engine.offer_rejected(call_id, operator_id, reason, self._now())
        finally:
            self._pump()

    def call_ended(self, operator_id: OperatorId) -> None:
        try:
            self.engine.call_ended(operator_id, self._now())
        finally:
            self._pump()

    def transfer_offer(
        self, call_id: CallId, operator_id: OperatorId, from_operator: OperatorId
    ) -> None:
        """Reserve a READY operator for a talking call (LocalProtocolError: not ready)."""
        try:
            self.engine.transfer_offer(
                call_id, operator_id, self._now(), from_operator=from_operator
            )
        finally:
            self._pump()

    def has_queue(self, queue_id: QueueId) -> bool:
        """True when the router has ``queue_id`` (a transfer target check)."""
        try:
            self.engine.queue_status(queue_id, self._now())
        except LocalProtocolError:
            return False
        return True

    def transfer_answered(self, call_id: CallId, operator_id: OperatorId) -> None:
        try:
            self.engine.transfer_answered(call_id, operator_id, self._now())
        finally:
            self._pump()

    def transfer_failed(
        self, call_id: CallId, operator_id: OperatorId, reason: RejectReason | None
    ) -> None:
        try:
            self.engine.transfer_failed(call_id, operator_id, reason, self._now())
        finally:
            self._pump()

    def transfer_to_queue(
        self, call_id: CallId, queue_id: QueueId, operator_id: OperatorId
    ) -> None:
        try:
            self.engine.transfer_to_queue(call_id, queue_id, operator_id, self._now())
        finally:
            self._pump()

    def call_held(self, operator_id: OperatorId) -> None:
        """The operator put the caller on hold (TALKING → HOLD)."""
        try:
            self.engine.call_held(operator_id, self._now())
        finally:
            self._pump()

    def call_resumed(self, operator_id: OperatorId) -> None:
        """The operator took the caller off hold (HOLD → TALKING)."""
        try:
            self.engine.call_resumed(operator_id, self._now())
        finally:
            self._pump()

    # -- call-backs and outbound calls (router_outbound) -------------------------------------

    def entered_at(self, call_id: CallId) -> float | None:
        """When the waiting call first joined a queue (its place), None when not waiting."""
        now = self._now()
        try:
            return now - self.engine.call_status(call_id, now).total_wait_s
        except LocalProtocolError:
            return None

    def callback_requested(self, call_id: CallId) -> None:
        """The waiting caller asked for a call-back: its visit ends (outcome callback)."""
        try:
            self.engine.callback_requested(call_id, self._now())
        finally:
            self._pump()

    def callback_queued(self, call_id: CallId, queue_id: QueueId, *, entered_at: float) -> None:
        """Park a call-back request at the place ``entered_at`` (monotonic seconds)."""
        try:
            self.engine.callback_queued(call_id, queue_id, self._now(), entered_at=entered_at)
        finally:
            self._pump()

    def callback_cancelled(self, call_id: CallId) -> None:
        try:
            self.engine.callback_cancelled(call_id, self._now())
        finally:
            self._pump()

    def outbound_reserve(self, call_id: CallId, operator_id: OperatorId) -> None:
        """Reserve a READY operator for its click-to-call (LocalProtocolError: not ready)."""
        try:
            self.engine.outbound_reserve(call_id, operator_id, self._now())
        finally:
            self._pump()

    def outbound_answered(self, call_id: CallId, operator_id: OperatorId) -> None:
        try:
            self.engine.outbound_answered(call_id, operator_id, self._now())
        finally:
            self._pump()

    def outbound_failed(self, call_id: CallId, operator_id: OperatorId) -> None:
        try:
            self.engine.outbound_failed(call_id, operator_id, self._now())
        finally:
            self._pump()

    # -- supervisor controls and snapshots (calls.actions) -------------------------------------

    def move_call(self, call_id: CallId, queue_id: QueueId) -> None:
        try:
            self.engine.move_call(call_id, queue_id, self._now())
        finally:
            self._pump()

    def set_call_priority(self, call_id: CallId, priority: int) -> None:
        try:
            self.engine.set_call_priority(call_id, priority, self._now())
        finally:
            self._pump()

    def assign_call(self, call_id: CallId, operator_id: OperatorId) -> None:
        try:
            self.engine.assign_call(call_id, operator_id, self._now())
        finally:
            self._pump()

    def set_operator_state(
        self, operator_id: OperatorId, state: OperatorState, reason: str = "supervisor"
    ) -> None:
        """READY, NOT_READY(reason) or LOGGED_OUT; a logged-out operator is logged in first."""
        try:
            now = self._now()
            known = self.operator_state(operator_id)
            if known is OperatorState.LOGGED_OUT and state is not OperatorState.LOGGED_OUT:
                profile = self._profiles.get(operator_id)
                if profile is None:
                    raise LocalProtocolError(f"unknown operator {operator_id}")
                self.engine.operator_login(profile, now, ready=state is OperatorState.READY)
                if state is OperatorState.NOT_READY:
                    self.engine.set_not_ready(operator_id, reason, now)
                return
            self.engine.set_operator_state(operator_id, state, now, reason)
        finally:
            self._pump()

    def wrapup_done(self, operator_id: OperatorId) -> None:
        try:
            self.engine.wrapup_done(operator_id, self._now())
        finally:
            self._pump()

    def queue_configs(self) -> tuple[QueueConfig, ...]:
        """The queues added through this service, in order."""
        return tuple(self._configs.values())

    def queue_status(self, queue_id: QueueId) -> QueueStatus:
        return self.engine.queue_status(queue_id, self._now())

    def call_status(self, call_id: CallId) -> CallStatus:
        return self.engine.call_status(call_id, self._now())

    def operator_status(self, operator_id: OperatorId) -> OperatorStatus:
        return self.engine.operator_status(operator_id)

    def operator_ids(self) -> tuple[OperatorId, ...]:
        """Operators the node knows (configured or seen by the router)."""
        return tuple(dict.fromkeys((*self._profiles, *self.engine.operators())))

    def waiting_calls(self) -> tuple[CallId, ...]:
        return self.engine.waiting_calls()

    def state_since(self, operator_id: OperatorId) -> float | None:
        """When (monotonic seconds) the operator's state last changed, None if never seen."""
        return self._since.get(operator_id)

    def monotonic(self) -> float:
        """The service's time base now."""
        return self._now()

    # -- phones ---------------------------------------------------------------------------------

    def sync_phones(self, registered: Collection[OperatorId]) -> None:
        """Operators with a live phone binding now; logs in/out the ones that changed."""
        now_up = {op for op in registered if op in self._profiles}
        for operator_id in sorted(now_up - self._phones_up):
            self._phone_registered(operator_id)
        for operator_id in sorted(self._phones_up - now_up):
            self._phone_unregistered(operator_id)
        self._phones_up = now_up

    def _phone_registered(self, operator_id: OperatorId) -> None:
        if not self.auto_ready_on_register:
            return
        state = self.operator_state(operator_id)
        now = self._now()
        try:
            if state is OperatorState.LOGGED_OUT:
                self.engine.operator_login(self._profiles[operator_id], now, ready=True)
            elif state is OperatorState.NOT_READY:
                status = self.engine.operator_status(operator_id)
                if status.reason == PHONE_GONE:
                    self.engine.set_ready(operator_id, now)
        except LocalProtocolError as exc:
            log.warning("auto-ready failed", operator=operator_id, error=str(exc))
        finally:
            self._pump()
        log.info("operator phone registered", operator=operator_id)

    def _phone_unregistered(self, operator_id: OperatorId) -> None:
        if not self.auto_ready_on_register:
            return
        state = self.operator_state(operator_id)
        now = self._now()
        try:
            if state in (OperatorState.TALKING, OperatorState.HOLD):
                self.engine.set_not_ready(operator_id, PHONE_GONE, now)
            elif state is not OperatorState.LOGGED_OUT:
                self.engine.operator_logout(operator_id, now)
        except LocalProtocolError as exc:
            log.warning("auto-logout failed", operator=operator_id, error=str(exc))
        finally:
            self._pump()
        log.info("operator phone gone", operator=operator_id)

    # -- the driver -------------------------------------------------------------------------------

    def _now(self) -> float:
        """The clock, never going back (the router refuses a decreasing ``now``)."""
        self._last_now = max(self._last_now, self._clock.monotonic())
        return self._last_now

    def _pump(self) -> None:
        """Deliver every pending decision in order (once, even when called re-entrantly)."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while (decision := self.engine.next_decision()) is not None:
                self.decisions_total += 1
                if isinstance(decision, OperatorStateChanged):
                    self._since[decision.operator_id] = decision.at
                if self.handler is None:
                    continue
                try:
                    self.handler.on_decision(decision)
                except Exception:  # a handler bug must not stop routing for everyone
                    self.handler_errors += 1
                    log.exception("decision handler failed", decision=type(decision).__name__)
        finally:
            self._pumping = False
        self._arm()

    def _arm(self) -> None:
        if not self._running:
            return
        when = self.engine.get_timer()
        if when == self._timer_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            delay = max(0.0, when - self._clock.monotonic())
            self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def poll(self) -> None:
        """Fire the router's timers that are due now (the loop timer does it when started)."""
        self.engine.handle_timer(self._now())
        self._pump()

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self.poll()
