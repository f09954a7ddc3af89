"""Property tests: random operations against the router, checked by an independent model.

The model rebuilds, from the decisions alone, who holds which offer, where
every call waits and each operator's state, and checks after every step:

* no operator ever holds two offers, and offers go only to READY operators
  (so never during wrap-up, in any queue);
* every queue visit ends in exactly one outcome; no call is lost;
* time-outs happen exactly at the queue's wait norm and say ``timed_out``;
* abandons are short exactly below ``short_abandon_s``;
* work conservation: no free operator qualifies for a waiting, non-ringing call;
* fairness: each offer (except a supervisor's assignment) goes to the best-placed
  call the operator qualifies for, by priority, entry time and queue weight,
  across all its queues, with tiers and required skills applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hotline.acd.agent import OperatorState
from hotline.acd.decisions import (
    AnnouncePosition,
    CallLeftQueue,
    CallQueued,
    CallTimedOut,
    CancelOffer,
    Decision,
    OfferCall,
    OfferFailed,
    OperatorStateChanged,
)
from hotline.acd.model import (
    EmptyPolicy,
    ExitAction,
    ExitKind,
    OperatorProfile,
    Outcome,
    QueueConfig,
    RejectReason,
    TierRule,
)
from hotline.acd.router import AcdEngine
from hotline.core.ids import CallId, OperatorId, QueueId, TopicId

S = OperatorState

QUEUES = {
    "qa": QueueConfig(
        queue_id=QueueId("qa"),
        name="A",
        topic=TopicId("a"),
        strategy="longest-idle",
        tiers=(TierRule(0.0, 5), TierRule(20.0, 1)),
        max_wait_s=60.0,
        max_wait_action=ExitAction(ExitKind.OVERFLOW, "qb"),
        wrap_up_s=5.0,
        ring_timeout_s=10.0,
        announce_interval_s=15.0,
    ),
    "qb": QueueConfig(
        queue_id=QueueId("qb"),
        name="B",
        topic=TopicId("b"),
        strategy="ring-all",
        weight=2,
        max_wait_s=90.0,
        max_length=6,
        full_action=ExitAction(ExitKind.OVERFLOW, "qc"),
        wrap_up_s=3.0,
        ring_timeout_s=8.0,
        announce_interval_s=None,
        announce_on_entry=False,
    ),
    "qc": QueueConfig(
        queue_id=QueueId("qc"),
        name="C",
        topic=TopicId("c"),
        strategy="round-robin",
        weight=1,
        when_empty=EmptyPolicy.REFUSE,
        leave_when_empty_s=10.0,
        max_wait_s=45.0,
        max_wait_action=ExitAction(ExitKind.CALLBACK),
        wrap_up_s=0.0,
        ring_timeout_s=12.0,
        tiers=(TierRule(0.0, 4), TierRule(15.0, 2)),
    ),
}


def _profile(name: str, skills: dict[str, int], position: int = 0) -> OperatorProfile:
    return OperatorProfile(
        operator_id=OperatorId(name),
        skills=skills,
        position=position,
        max_no_answer=2,
        no_answer_delay_s=0.0,
        busy_delay_s=3.0,
        reject_delay_s=5.0,
    )


OPERATORS = {
    "o1": _profile("o1", {"a": 7, "b": 3}),
    "o2": _profile("o2", {"a": 2, "c": 5, "en": 5}),
    "o3": _profile("o3", {"b": 6, "c": 2}, position=1),
    "o4": _profile("o4", {"a": 9, "b": 9, "c": 9, "en": 2}),
    "o5": OperatorProfile(
        operator_id=OperatorId("o5"),
        skills={"en": 9, "c": 1},
        queue_levels={QueueId("qa"): 1},
        max_no_answer=0,
    ),
}


def wait_needed(config: QueueConfig, level: int) -> float | None:
    """Written apart from the router: the first tier whose level admits ``level``."""
    for tier in config.tiers:
        if level >= tier.min_level:
            return tier.after_s
    return None


@dataclass
class CallInfo:
    arrived_at: float
    seq: int
    priority: int
    repeat: bool
    needs_en: bool
    entries: int = 0
    refusals: int = 0
    exits: int = 0
    outcomes: list[Outcome] = field(default_factory=list)


class RouterMachine(RuleBasedStateMachine):
    strategies: ClassVar[dict[str, str]] = {
        "qa": "longest-idle",
        "qb": "ring-all",
        "qc": "round-robin",
    }

    def __init__(self) -> None:
        super().__init__()
        self.engine = AcdEngine(seed=42)
        self.now = 0.0
        self.calls: dict[str, CallInfo] = {}
        self.visits: dict[str, str] = {}  # call -> queue it waits in
        self.visit_entered: dict[str, float] = {}
        self.ringing: dict[str, set[str]] = {}
        self.offers: dict[str, str] = {}  # operator -> call
        self.states = {name: S.LOGGED_OUT for name in OPERATORS}
        self.wrap_until: dict[str, float] = {}
        self.assigned: set[tuple[str, str]] = set()
        for name, config in QUEUES.items():
            self.engine.add_queue(replace(config, strategy=self.strategies[name]), 0.0)
        self.absorb()

    # -- the model ---------------------------------------------------------------

    def effective_priority(self, call: str) -> int:
        info = self.calls[call]
        bump = QUEUES[self.visits[call]].repeat_caller_bump if info.repeat else 0
        return min(info.priority + bump, 100)

    def fair_key(self, call: str) -> tuple[int, float, int, int]:
        info = self.calls[call]
        weight = QUEUES[self.visits[call]].weight
        return (-self.effective_priority(call), info.arrived_at, -weight, info.seq)

    def qualifies(self, operator: str, call: str, at: float) -> bool:
        profile = OPERATORS[operator]
        queue = self.visits[call]
        config = QUEUES[queue]
        level = profile.queue_levels.get(QueueId(queue), profile.skills.get(config.topic))
        if level is None:
            return False
        needed = wait_needed(config, level)
        if needed is None or self.calls[call].arrived_at + needed > at:
            return False
        return not self.calls[call].needs_en or profile.skills.get("en", 0) >= 1

    def absorb(self) -> None:
        while (decision := self.engine.next_decision()) is not None:
            self.check(decision)

    def check(self, d: Decision) -> None:
        if isinstance(d, OperatorStateChanged):
            assert self.states[d.operator_id] is d.previous
            if d.state is S.RESERVED:
                assert d.previous is S.READY
            if d.previous is S.WRAP_UP and d.reason == "wrap-up time over":
                assert d.at == self.wrap_until[d.operator_id]
            if d.state is S.WRAP_UP:
                assert d.until is not None
                self.wrap_until[d.operator_id] = d.until
            self.states[d.operator_id] = d.state
        elif isinstance(d, OfferCall):
            assert d.operator_id not in self.offers, "an operator got two offers"
            assert self.states[d.operator_id] is S.RESERVED
            assert self.visits.get(d.call_id) == d.queue_id
            if (d.call_id, d.operator_id) in self.assigned:
                self.assigned.discard((d.call_id, d.operator_id))
            else:
                assert self.qualifies(d.operator_id, d.call_id, d.at)
                mine = self.fair_key(d.call_id)
                for other in self.visits:
                    if other == d.call_id or self.ringing[other]:
                        continue
                    if self.qualifies(d.operator_id, other, d.at):
                        assert mine < self.fair_key(other), f"{other} was better placed"
            self.offers[d.operator_id] = d.call_id
            self.ringing[d.call_id].add(d.operator_id)
        elif isinstance(d, CancelOffer):
            assert self.offers.pop(d.operator_id) == d.call_id
            self.ringing[d.call_id].discard(d.operator_id)
        elif isinstance(d, OfferFailed):
            if self.offers.get(d.operator_id) == d.call_id:
                del self.offers[d.operator_id]
            self.ringing[d.call_id].discard(d.operator_id)
        elif isinstance(d, CallQueued):
            assert d.call_id not in self.visits, "a call waits in two queues"
            self.visits[d.call_id] = d.queue_id
            self.visit_entered[d.call_id] = d.at
            self.ringing[d.call_id] = set()
            self.calls[d.call_id].entries += 1
        elif isinstance(d, CallLeftQueue):
            self.left(d)
        elif isinstance(d, CallTimedOut):
            assert d.wait_s == QUEUES[d.queue_id].max_wait_s or abs(d.wait_s - 60.0) < 1e-9
        elif isinstance(d, AnnouncePosition):
            assert self.visits[d.call_id] == d.queue_id and not self.ringing[d.call_id]

    def left(self, d: CallLeftQueue) -> None:
        info = self.calls[d.call_id]
        info.exits += 1
        info.outcomes.append(d.outcome)
        if self.visits.get(d.call_id) != d.queue_id:  # refused at the door
            assert d.outcome in (Outcome.LEFT_FULL, Outcome.LEFT_EMPTY, Outcome.OVERFLOWED)
            assert d.wait_s == 0.0
            info.refusals += 1
            return
        assert not self.ringing[d.call_id], "left while an offer was still ringing"
        entered = self.visit_entered[d.call_id]
        assert abs(d.wait_s - (d.at - entered)) < 1e-9
        if d.outcome is Outcome.TIMED_OUT:
            norm = QUEUES[d.queue_id].max_wait_s
            assert norm is not None and d.at == entered + norm
        if d.outcome in (Outcome.ABANDONED, Outcome.SHORT_ABANDON):
            short = d.wait_s < QUEUES[d.queue_id].short_abandon_s
            assert (d.outcome is Outcome.SHORT_ABANDON) == short
        del self.visits[d.call_id]

    def pick(self, data: st.DataObject, items: list[str]) -> str:
        return data.draw(st.sampled_from(sorted(items)))

    def in_states(self, *states: S) -> list[str]:
        return [op for op, state in self.states.items() if state in states]

    # -- rules -----------------------------------------------------------------------

    @rule(
        queue=st.sampled_from(sorted(QUEUES)),
        priority=st.integers(0, 3),
        repeat=st.booleans(),
        needs_en=st.booleans(),
    )
    def arrive(self, queue: str, priority: int, repeat: bool, needs_en: bool) -> None:
        call = f"c{len(self.calls)}"
        self.calls[call] = CallInfo(self.now, len(self.calls) + 1, priority, repeat, needs_en)
        skills = {"en": 1} if needs_en else None
        self.engine.call_arrived(
            CallId(call),
            QueueId(queue),
            self.now,
            priority=priority,
            repeat_caller=repeat,
            required_skills=skills,
        )
        self.absorb()

    @rule(dt=st.sampled_from([0.5, 1.0, 3.0, 5.0, 8.0, 12.0, 20.0, 45.0]))
    def tick(self, dt: float) -> None:
        self.now += dt
        self.engine.handle_timer(self.now)
        self.absorb()

    @precondition(lambda self: self.visits)
    @rule(data=st.data(), callback=st.booleans())
    def caller_leaves(self, data: st.DataObject, callback: bool) -> None:
        call = CallId(self.pick(data, list(self.visits)))
        if callback:
            self.engine.callback_requested(call, self.now)
        else:
            self.engine.call_abandoned(call, self.now)
        self.absorb()

    @precondition(lambda self: self.offers)
    @rule(data=st.data())
    def answer(self, data: st.DataObject) -> None:
        operator = self.pick(data, list(self.offers))
        call = self.offers.pop(operator)
        self.ringing[call].discard(operator)
        self.engine.offer_answered(CallId(call), OperatorId(operator), self.now)
        self.absorb()

    @precondition(lambda self: self.offers)
    @rule(data=st.data(), reason=st.sampled_from(list(RejectReason)))
    def reject(self, data: st.DataObject, reason: RejectReason) -> None:
        operator = self.pick(data, list(self.offers))
        call = self.offers[operator]
        self.engine.offer_rejected(CallId(call), OperatorId(operator), reason, self.now)
        self.absorb()

    @precondition(lambda self: self.in_states(S.TALKING, S.HOLD))
    @rule(data=st.data(), hang_up=st.booleans())
    def talk(self, data: st.DataObject, hang_up: bool) -> None:
        operator = OperatorId(self.pick(data, self.in_states(S.TALKING, S.HOLD)))
        if hang_up:
            self.engine.call_ended(operator, self.now)
        elif self.states[operator] is S.TALKING:
            self.engine.call_held(operator, self.now)
        else:
            self.engine.call_resumed(operator, self.now)
        self.absorb()

    @precondition(lambda self: self.in_states(S.WRAP_UP))
    @rule(data=st.data())
    def wrapup_done(self, data: st.DataObject) -> None:
        self.engine.wrapup_done(OperatorId(self.pick(data, self.in_states(S.WRAP_UP))), self.now)
        self.absorb()

    @precondition(lambda self: self.in_states(S.LOGGED_OUT))
    @rule(data=st.data(), ready=st.booleans())
    def login(self, data: st.DataObject, ready: bool) -> None:
        operator = self.pick(data, self.in_states(S.LOGGED_OUT))
        self.engine.operator_login(OPERATORS[operator], self.now, ready=ready)
        self.absorb()

    @precondition(lambda self: self.in_states(S.READY, S.NOT_READY, S.RESERVED, S.WRAP_UP))
    @rule(data=st.data())
    def logout(self, data: st.DataObject) -> None:
        ops = self.in_states(S.READY, S.NOT_READY, S.RESERVED, S.WRAP_UP)
        self.engine.operator_logout(OperatorId(self.pick(data, ops)), self.now)
        self.absorb()

    @precondition(lambda self: self.in_states(S.NOT_READY, S.WRAP_UP))
    @rule(data=st.data())
    def set_ready(self, data: st.DataObject) -> None:
        operator = self.pick(data, self.in_states(S.NOT_READY, S.WRAP_UP))
        self.engine.set_ready(OperatorId(operator), self.now)
        self.absorb()

    @precondition(lambda self: self.in_states(*(set(S) - {S.LOGGED_OUT})))
    @rule(data=st.data())
    def set_not_ready(self, data: st.DataObject) -> None:
        operator = self.pick(data, self.in_states(*(set(S) - {S.LOGGED_OUT})))
        self.engine.set_not_ready(OperatorId(operator), "break", self.now)
        self.absorb()

    @precondition(lambda self: self.visits)
    @rule(data=st.data())
    def move(self, data: st.DataObject) -> None:
        call = self.pick(data, list(self.visits))
        target = self.pick(data, [q for q in QUEUES if q != self.visits[call]])
        self.engine.move_call(CallId(call), QueueId(target), self.now)
        self.absorb()

    @precondition(lambda self: self.visits)
    @rule(data=st.data(), priority=st.integers(0, 5))
    def reprioritise(self, data: st.DataObject, priority: int) -> None:
        call = self.pick(data, list(self.visits))
        self.calls[call].priority = priority
        self.engine.set_call_priority(CallId(call), priority, self.now)
        self.absorb()

    @precondition(lambda self: self.visits and self.in_states(S.READY))
    @rule(data=st.data())
    def assign(self, data: st.DataObject) -> None:
        call = self.pick(data, list(self.visits))
        operator = self.pick(data, self.in_states(S.READY))
        self.assigned.add((call, operator))
        self.engine.assign_call(CallId(call), OperatorId(operator), self.now)
        self.absorb()

    # -- invariants --------------------------------------------------------------

    @invariant()
    def engine_agrees_with_the_model(self) -> None:
        assert set(self.engine.waiting_calls()) == set(self.visits)
        for call, queue in self.visits.items():
            status = self.engine.call_status(CallId(call), self.now)
            assert status.queue_id == queue
            assert set(status.offered_to) == self.ringing[call]
        known = set(self.engine.operators())
        for operator, state in self.states.items():
            if operator not in known:
                assert state is S.LOGGED_OUT
                continue
            op_status = self.engine.operator_status(OperatorId(operator))
            assert op_status.state is state
            assert op_status.offered_call == self.offers.get(operator)

    @invariant()
    def no_free_operator_is_left_idle_next_to_a_call_it_could_take(self) -> None:
        for operator in self.engine.operators():
            if not self.engine.operator_status(operator).available:
                continue
            for call in self.visits:
                if not self.ringing[call]:
                    assert not self.qualifies(operator, call, self.now), (operator, call)

    @invariant()
    def every_visit_so_far_has_at_most_one_outcome(self) -> None:
        for call, info in self.calls.items():
            open_visit = 1 if call in self.visits else 0
            assert info.exits + open_visit == info.entries + info.refusals

    def teardown(self) -> None:
        for call in list(self.visits):
            self.engine.call_abandoned(CallId(call), self.now)
            self.absorb()
        assert not self.visits and not self.engine.waiting_calls()
        for info in self.calls.values():
            assert info.exits >= 1, "a call was lost"
            assert info.exits == info.entries + info.refusals, "a visit was counted twice"


class RouterMachineOtherStrategies(RouterMachine):
    strategies: ClassVar[dict[str, str]] = {
        "qa": "skills-based",
        "qb": "random",
        "qc": "weighted-random",
    }


class RouterMachineMoreStrategies(RouterMachine):
    strategies: ClassVar[dict[str, str]] = {
        "qa": "fewest-calls",
        "qb": "least-talk-time",
        "qc": "linear",
    }


_SETTINGS = settings(
    max_examples=60,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
_FEWER = settings(_SETTINGS, max_examples=25)
RouterMachine.TestCase.settings = _SETTINGS
RouterMachineOtherStrategies.TestCase.settings = _FEWER
RouterMachineMoreStrategies.TestCase.settings = _FEWER
test_router_properties = RouterMachine.TestCase
test_router_properties_other_strategies = RouterMachineOtherStrategies.TestCase
test_router_properties_more_strategies = RouterMachineMoreStrategies.TestCase
