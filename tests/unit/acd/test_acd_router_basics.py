"""The router on fake time: offers, answers, wrap-up, ring-all, refusals and delays."""

from __future__ import annotations

from typing import Any, TypeVar

import pytest

from hotline.acd.agent import OperatorState
from hotline.acd.decisions import (
    CallLeftQueue,
    CallQueued,
    CancelOffer,
    CancelReason,
    Decision,
    OfferCall,
    OfferFailed,
    OperatorStateChanged,
)
from hotline.acd.model import OperatorProfile, Outcome, QueueConfig, RejectReason
from hotline.acd.router import AcdEngine
from hotline.core.errors import LimitExceededError, LocalProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId, TopicId

D = TypeVar("D")
Q1 = QueueId("q1")


def queue(queue_id: str = "q1", topic: str = "social", **kw: Any) -> QueueConfig:
    return QueueConfig(queue_id=QueueId(queue_id), name=queue_id, topic=TopicId(topic), **kw)


def profile(operator_id: str, level: int = 5, topic: str = "social", **kw: Any) -> OperatorProfile:
    return OperatorProfile(operator_id=OperatorId(operator_id), skills={topic: level}, **kw)


def drain(engine: AcdEngine) -> list[Decision]:
    out: list[Decision] = []
    while (decision := engine.next_decision()) is not None:
        out.append(decision)
    return out


def only(decisions: list[Decision], kind: type[D]) -> list[D]:
    return [d for d in decisions if isinstance(d, kind)]


def engine_with(*ops: str, now: float = 0.0, **queue_kw: Any) -> AcdEngine:
    engine = AcdEngine(seed=7)
    engine.add_queue(queue(**queue_kw), now)
    for op in ops:
        engine.operator_login(profile(op), now, ready=True)
    drain(engine)
    return engine


def test_a_call_meets_a_ready_operator_and_is_answered() -> None:
    engine = engine_with("a", ring_timeout_s=15.0)
    engine.call_arrived(CallId("c1"), Q1, 10.0)
    out = drain(engine)
    assert only(out, CallQueued) == [CallQueued(CallId("c1"), Q1, 1, 10.0)]
    assert only(out, OfferCall) == [OfferCall(CallId("c1"), OperatorId("a"), Q1, 15.0, 10.0)]
    assert engine.operator_status(OperatorId("a")).state is OperatorState.RESERVED
    engine.offer_answered(CallId("c1"), OperatorId("a"), 13.5)
    out = drain(engine)
    assert only(out, CallLeftQueue) == [
        CallLeftQueue(CallId("c1"), Q1, Outcome.ANSWERED, 3.5, 13.5, OperatorId("a"))
    ]
    assert engine.operator_status(OperatorId("a")).state is OperatorState.TALKING
    assert engine.waiting_calls() == ()


def test_wrap_up_holds_and_ends_on_its_timer() -> None:
    engine = engine_with("a", wrap_up_s=30.0)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.offer_answered(CallId("c1"), OperatorId("a"), 1.0)
    engine.call_ended(OperatorId("a"), 100.0)
    states = only(drain(engine), OperatorStateChanged)
    assert states[-1].state is OperatorState.WRAP_UP and states[-1].until == 130.0
    engine.call_arrived(CallId("c2"), Q1, 110.0)
    assert only(drain(engine), OfferCall) == []  # wrap-up: no call, even if one waits
    assert engine.get_timer() == 110.0  # the entry announcement comes first
    engine.handle_timer(110.0)
    drain(engine)
    assert engine.get_timer() == 130.0
    engine.handle_timer(135.0)  # late wake-up: things happen at the deadline anyway
    out = drain(engine)
    ready = only(out, OperatorStateChanged)[0]
    assert (ready.state, ready.at, ready.reason) == (
        OperatorState.READY,
        130.0,
        "wrap-up time over",
    )
    assert only(out, OfferCall) == [OfferCall(CallId("c2"), OperatorId("a"), Q1, 20.0, 130.0)]
    status = engine.queue_status(Q1, 135.0)
    assert status.aht_s == 129.0  # talk 99 s + wrap-up 30 s


def test_early_wrapup_done_and_zero_wrap_up() -> None:
    engine = engine_with("a", wrap_up_s=0.0)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.call_arrived(CallId("c2"), Q1, 0.5)
    engine.offer_answered(CallId("c1"), OperatorId("a"), 1.0)
    drain(engine)
    engine.call_ended(OperatorId("a"), 5.0)
    out = drain(engine)
    assert [s.state for s in only(out, OperatorStateChanged)] == [
        OperatorState.WRAP_UP,
        OperatorState.READY,
        OperatorState.RESERVED,
    ]
    assert only(out, OfferCall)[0].call_id == "c2"
    with pytest.raises(LocalProtocolError):
        engine.wrapup_done(OperatorId("a"), 6.0)


def test_ring_all_first_answer_wins_and_the_others_are_cancelled() -> None:
    engine = engine_with("a", "b", "c", strategy="ring-all")
    engine.call_arrived(CallId("c1"), Q1, 1.0)
    offers = only(drain(engine), OfferCall)
    assert [o.operator_id for o in offers] == ["a", "b", "c"]
    engine.offer_answered(CallId("c1"), OperatorId("b"), 2.0)
    out = drain(engine)
    assert only(out, CancelOffer) == [
        CancelOffer(CallId("c1"), OperatorId("a"), CancelReason.ANSWERED_ELSEWHERE, 2.0),
        CancelOffer(CallId("c1"), OperatorId("c"), CancelReason.ANSWERED_ELSEWHERE, 2.0),
    ]
    assert engine.operator_status(OperatorId("a")).available
    assert engine.operator_status(OperatorId("c")).available
    with pytest.raises(LocalProtocolError, match="no offer"):
        engine.offer_answered(CallId("c1"), OperatorId("a"), 2.1)  # the race after a cancel


def test_ring_all_reject_keeps_the_round_until_everyone_refused() -> None:
    engine = engine_with("a", "b", strategy="ring-all")
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    drain(engine)
    engine.offer_rejected(CallId("c1"), OperatorId("a"), RejectReason.REJECT, 1.0)
    assert engine.call_status(CallId("c1"), 1.0).offered_to == ("b",)
    engine.offer_rejected(CallId("c1"), OperatorId("b"), RejectReason.BUSY, 2.0)
    assert engine.call_status(CallId("c1"), 2.0).offered_to == ()


def test_ring_timeout_cancels_delays_and_moves_on() -> None:
    engine = engine_with("a", "b", ring_timeout_s=10.0, strategy="linear")
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    assert only(drain(engine), OfferCall)[0].operator_id == "a"
    engine.handle_timer(10.0)
    out = drain(engine)
    assert only(out, CancelOffer) == [
        CancelOffer(CallId("c1"), OperatorId("a"), CancelReason.RING_TIMEOUT, 10.0)
    ]
    assert only(out, OfferFailed) == [
        OfferFailed(CallId("c1"), OperatorId("a"), RejectReason.NO_ANSWER, 10.0, 10.0)
    ]
    a_state = [s for s in only(out, OperatorStateChanged) if s.operator_id == "a"][-1]
    assert (a_state.state, a_state.until) == (OperatorState.READY, 15.0)  # no-answer delay 5 s
    assert only(out, OfferCall)[0].operator_id == "b"


@pytest.mark.parametrize(
    ("reason", "delay"),
    [(RejectReason.BUSY, 7.0), (RejectReason.REJECT, 9.0), (RejectReason.NO_ANSWER, 3.0)],
)
def test_each_refusal_has_its_own_delay(reason: RejectReason, delay: float) -> None:
    engine = AcdEngine()
    engine.add_queue(queue(), 0.0)
    engine.operator_login(
        profile("a", busy_delay_s=7.0, reject_delay_s=9.0, no_answer_delay_s=3.0), 0.0, ready=True
    )
    engine.call_arrived(CallId("c1"), Q1, 1.0)
    engine.offer_rejected(CallId("c1"), OperatorId("a"), reason, 2.0)
    drain(engine)
    assert engine.operator_status(OperatorId("a")).available_at == 2.0 + delay
    engine.handle_timer(2.0 + delay - 0.01)
    assert only(drain(engine), OfferCall) == []
    engine.handle_timer(2.0 + delay)
    assert only(drain(engine), OfferCall)[0].at == 2.0 + delay


def test_consecutive_no_answers_make_the_operator_not_ready() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(ring_timeout_s=10.0), 0.0)
    engine.operator_login(profile("a", max_no_answer=2, no_answer_delay_s=0.0), 0.0, ready=True)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.handle_timer(10.0)  # first no answer, offered again at once (no delay)
    engine.offer_rejected(CallId("c1"), OperatorId("a"), RejectReason.NO_ANSWER, 12.0)
    last = only(drain(engine), OperatorStateChanged)[-1]
    assert (last.state, last.reason, last.at) == (OperatorState.NOT_READY, "no answer", 12.0)
    assert engine.operator_status(OperatorId("a")).state is OperatorState.NOT_READY


def test_an_answer_resets_the_no_answer_count() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(ring_timeout_s=10.0, wrap_up_s=0.0), 0.0)
    engine.operator_login(profile("a", max_no_answer=2, no_answer_delay_s=0.0), 0.0, ready=True)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.handle_timer(10.0)  # one no-answer
    engine.offer_answered(CallId("c1"), OperatorId("a"), 11.0)
    engine.call_ended(OperatorId("a"), 20.0)
    engine.call_arrived(CallId("c2"), Q1, 21.0)
    engine.handle_timer(31.0)  # one no-answer again: not two in a row
    assert engine.operator_status(OperatorId("a")).state is OperatorState.RESERVED


def test_hold_and_resume_are_states() -> None:
    engine = engine_with("a")
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.offer_answered(CallId("c1"), OperatorId("a"), 1.0)
    engine.call_held(OperatorId("a"), 2.0)
    assert engine.operator_status(OperatorId("a")).state is OperatorState.HOLD
    engine.call_resumed(OperatorId("a"), 3.0)
    engine.call_held(OperatorId("a"), 4.0)
    engine.call_ended(OperatorId("a"), 5.0)
    assert engine.operator_status(OperatorId("a")).state is OperatorState.WRAP_UP
    assert engine.operator_status(OperatorId("a")).talk_today_s == 4.0


def test_not_ready_while_talking_applies_after_wrap_up() -> None:
    engine = engine_with("a", wrap_up_s=10.0)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.offer_answered(CallId("c1"), OperatorId("a"), 1.0)
    engine.set_not_ready(OperatorId("a"), "lunch", 2.0)
    engine.call_arrived(CallId("c2"), Q1, 3.0)
    engine.call_ended(OperatorId("a"), 4.0)
    engine.handle_timer(14.0)
    status = engine.operator_status(OperatorId("a"))
    assert (status.state, status.reason) == (OperatorState.NOT_READY, "lunch")
    assert [o.call_id for o in only(drain(engine), OfferCall)] == ["c1"]


def test_operators_in_wrap_up_may_go_not_ready_or_ready_early() -> None:
    engine = engine_with("a", wrap_up_s=60.0)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.offer_answered(CallId("c1"), OperatorId("a"), 1.0)
    engine.call_ended(OperatorId("a"), 2.0)
    engine.set_ready(OperatorId("a"), 5.0)
    assert engine.operator_status(OperatorId("a")).available
    assert engine.get_timer() is None  # the wrap-up timer is dead


def test_logout_of_a_ringing_operator_passes_the_call_on() -> None:
    engine = engine_with("a", "b", strategy="linear")
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    drain(engine)
    engine.operator_logout(OperatorId("a"), 1.0)
    out = drain(engine)
    assert only(out, CancelOffer) == [
        CancelOffer(CallId("c1"), OperatorId("a"), CancelReason.OPERATOR_UNAVAILABLE, 1.0)
    ]
    assert only(out, OfferCall)[0].operator_id == "b"
    assert engine.queue_status(Q1, 1.0).logged_in == 1


def test_logout_while_talking_is_refused() -> None:
    engine = engine_with("a")
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.offer_answered(CallId("c1"), OperatorId("a"), 1.0)
    with pytest.raises(LocalProtocolError, match="not allowed"):
        engine.operator_logout(OperatorId("a"), 2.0)


def test_login_restores_the_days_counters() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(), 0.0)
    engine.operator_login(profile("a"), 0.0, calls_today=12, talk_today_s=3600.0)
    status = engine.operator_status(OperatorId("a"))
    assert (status.calls_today, status.talk_today_s, status.state) == (
        12,
        3600.0,
        OperatorState.NOT_READY,
    )
    engine.reset_daily_counters(1.0)
    assert engine.operator_status(OperatorId("a")).calls_today == 0
    with pytest.raises(LocalProtocolError):
        engine.operator_login(profile("a"), 2.0)  # already logged in


def test_time_never_goes_back() -> None:
    engine = engine_with("a", now=10.0)
    with pytest.raises(LocalProtocolError, match="backwards"):
        engine.call_arrived(CallId("c1"), Q1, 9.0)


def test_unknown_things_are_errors() -> None:
    engine = engine_with("a")
    with pytest.raises(LocalProtocolError, match="unknown queue"):
        engine.call_arrived(CallId("c1"), QueueId("nope"), 1.0)
    with pytest.raises(LocalProtocolError, match="not waiting"):
        engine.call_abandoned(CallId("zzz"), 1.0)
    with pytest.raises(LocalProtocolError, match="unknown operator"):
        engine.set_ready(OperatorId("x"), 1.0)
    engine.call_arrived(CallId("c1"), Q1, 1.0)
    with pytest.raises(LocalProtocolError, match="already"):
        engine.call_arrived(CallId("c1"), Q1, 1.0)
    with pytest.raises(LocalProtocolError, match="priority"):
        engine.call_arrived(CallId("c2"), Q1, 1.0, priority=101)
    with pytest.raises(LocalProtocolError, match="levels"):
        engine.call_arrived(CallId("c2"), Q1, 1.0, required_skills={"en": 11})


def test_limits_are_enforced() -> None:
    from hotline.acd.model import EngineLimits

    engine = AcdEngine(limits=EngineLimits(max_waiting_calls=2, max_required_skills=1))
    engine.add_queue(queue(), 0.0)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.call_arrived(CallId("c2"), Q1, 0.0)
    with pytest.raises(LimitExceededError) as info:
        engine.call_arrived(CallId("c3"), Q1, 0.0)
    assert info.value.status_hint == 503
    with pytest.raises(LimitExceededError):
        engine.call_arrived(CallId("c4"), Q1, 0.0, required_skills={"en": 1, "de": 1})


def test_the_same_inputs_give_the_same_decisions() -> None:
    def run(seed: int) -> list[Decision]:
        engine = AcdEngine(seed=seed)
        engine.add_queue(queue(strategy="random", wrap_up_s=0.0), 0.0)
        for name in "abcdef":
            engine.operator_login(profile(name), 0.0, ready=True)
        seen: list[Decision] = []
        for i in range(40):
            call = CallId(f"c{i}")
            engine.call_arrived(call, Q1, float(i))
            seen += drain(engine)
            offer = only(seen, OfferCall)[-1]
            engine.offer_answered(call, offer.operator_id, i + 0.5)
            engine.call_ended(offer.operator_id, i + 0.7)
        engine.handle_timer(100.0)
        return seen + drain(engine)

    assert run(1) == run(1)
    assert run(1) != run(2)
