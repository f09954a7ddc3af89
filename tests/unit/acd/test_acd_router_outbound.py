"""Call-back requests and operator-first outbound calls in the router, on fake time."""

from __future__ import annotations

from typing import Any, TypeVar

import pytest

from hotline.acd.agent import OperatorState
from hotline.acd.decisions import (
    AnnouncePosition,
    CallLeftQueue,
    CallQueued,
    CallRefused,
    CallTimedOut,
    CancelOffer,
    Decision,
    OfferCall,
)
from hotline.acd.model import OperatorProfile, QueueConfig, RejectReason
from hotline.acd.router import AcdEngine
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId, TopicId

D = TypeVar("D")
Q1 = QueueId("q1")
A, B = OperatorId("a"), OperatorId("b")
C1, C2, CB = CallId("c1"), CallId("c2"), CallId("cb")


def queue(**kw: Any) -> QueueConfig:
    kw.setdefault("announce_interval_s", 10.0)
    kw.setdefault("announce_on_entry", False)
    return QueueConfig(queue_id=Q1, name="q1", topic=TopicId("social"), **kw)


def drain(engine: AcdEngine) -> list[Decision]:
    out: list[Decision] = []
    while (decision := engine.next_decision()) is not None:
        out.append(decision)
    return out


def only(decisions: list[Decision], kind: type[D]) -> list[D]:
    return [d for d in decisions if isinstance(d, kind)]


def engine_with_queue(**kw: Any) -> AcdEngine:
    engine = AcdEngine()
    engine.add_queue(queue(**kw), 0.0)
    return engine


def login(engine: AcdEngine, operator_id: OperatorId, now: float) -> None:
    profile = OperatorProfile(operator_id=operator_id, skills={"social": 5})
    engine.operator_login(profile, now, ready=True)


def test_a_callback_request_keeps_the_callers_place() -> None:
    engine = engine_with_queue()
    engine.call_arrived(C1, Q1, 0.0)  # the caller who asks for a call-back
    engine.call_arrived(C2, Q1, 5.0)
    engine.callback_requested(C1, 8.0)
    engine.callback_queued(C1, Q1, 9.0, entered_at=0.0)
    out = drain(engine)
    assert not [d for d in only(out, CallQueued) if d.call_id == C1 and d.at == 9.0]
    assert engine.call_status(C1, 9.0).position == 1
    assert engine.call_status(C2, 9.0).position == 2
    assert engine.is_callback(C1) and not engine.is_callback(C2)
    login(engine, A, 10.0)
    assert only(drain(engine), OfferCall) == [OfferCall(C1, A, Q1, queue().ring_timeout_s, 10.0)]


def test_an_answered_callback_writes_no_second_outcome_and_wraps_up() -> None:
    engine = engine_with_queue(wrap_up_s=30.0)
    engine.callback_queued(CB, Q1, 0.0, entered_at=0.0)
    login(engine, A, 1.0)
    drain(engine)
    engine.offer_answered(CB, A, 2.0)
    assert only(drain(engine), CallLeftQueue) == []
    assert engine.operator_status(A).state is OperatorState.TALKING
    assert engine.waiting_calls() == ()
    engine.call_ended(A, 60.0)
    assert engine.operator_status(A).state is OperatorState.WRAP_UP


def test_a_parked_request_has_no_wait_norm_announcements_or_empty_rule() -> None:
    engine = engine_with_queue(max_wait_s=30.0, leave_when_empty_s=5.0)
    engine.callback_queued(CB, Q1, 0.0, entered_at=0.0)
    engine.handle_timer(1000.0)
    out = drain(engine)
    assert only(out, CallTimedOut) == [] and only(out, AnnouncePosition) == []
    assert only(out, CallRefused) == [] and only(out, CallLeftQueue) == []
    assert engine.waiting_calls() == (CB,)
    assert engine.get_timer() is None


def test_a_request_not_answered_stays_and_is_offered_again() -> None:
    engine = engine_with_queue(ring_timeout_s=10.0)
    engine.callback_queued(CB, Q1, 0.0, entered_at=0.0)
    login(engine, A, 1.0)
    drain(engine)
    engine.offer_rejected(CB, A, RejectReason.BUSY, 2.0)
    login(engine, B, 3.0)
    assert [(d.call_id, d.operator_id) for d in only(drain(engine), OfferCall)] == [(CB, B)]


def test_cancelling_a_request_cancels_its_ringing_offer() -> None:
    engine = engine_with_queue()
    login(engine, A, 0.0)
    engine.callback_queued(CB, Q1, 1.0, entered_at=1.0)
    drain(engine)
    engine.callback_cancelled(CB, 2.0)
    cancels = only(drain(engine), CancelOffer)
    assert [(c.call_id, c.operator_id) for c in cancels] == [(CB, A)]
    assert engine.waiting_calls() == ()
    assert engine.operator_status(A).state is OperatorState.READY


def test_cancel_and_queue_refuse_what_they_do_not_know() -> None:
    engine = engine_with_queue()
    engine.call_arrived(C1, Q1, 0.0)
    with pytest.raises(LocalProtocolError):
        engine.callback_cancelled(C1, 1.0)  # a caller, not a request
    with pytest.raises(LocalProtocolError):
        engine.callback_queued(C1, Q1, 1.0, entered_at=0.0)  # already waiting
    with pytest.raises(LocalProtocolError):
        engine.callback_queued(CB, QueueId("nope"), 1.0, entered_at=0.0)


def test_an_outbound_call_reserves_then_talks_without_wrap_up() -> None:
    engine = engine_with_queue(wrap_up_s=30.0)
    login(engine, A, 0.0)
    engine.outbound_reserve(CB, A, 1.0)
    assert engine.operator_status(A).state is OperatorState.RESERVED
    engine.call_arrived(C1, Q1, 2.0)
    assert only(drain(engine), OfferCall) == []  # a reserved operator gets no offer
    engine.outbound_answered(CB, A, 3.0)
    assert engine.operator_status(A).talking_call == CB
    engine.call_ended(A, 20.0)
    offers = only(drain(engine), OfferCall)
    assert [(o.call_id, o.operator_id) for o in offers] == [(C1, A)]


def test_an_outbound_call_not_answered_makes_the_operator_ready() -> None:
    engine = engine_with_queue()
    login(engine, A, 0.0)
    engine.outbound_reserve(CB, A, 1.0)
    engine.outbound_failed(CB, A, 2.0)
    assert engine.operator_status(A).state is OperatorState.READY
    engine.outbound_failed(CB, A, 3.0)  # again: nothing to do
    with pytest.raises(LocalProtocolError):
        engine.outbound_answered(CB, A, 4.0)


def test_only_a_ready_operator_is_reserved() -> None:
    engine = engine_with_queue()
    engine.operator_login(OperatorProfile(operator_id=A, skills={"social": 5}), 0.0)
    with pytest.raises(LocalProtocolError):
        engine.outbound_reserve(CB, A, 1.0)
