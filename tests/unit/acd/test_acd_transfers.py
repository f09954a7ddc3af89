"""Transfers of a talking call on fake time: to an operator (answered, failed) and to a queue."""

from __future__ import annotations

from typing import Any, TypeVar

import pytest

from hotline.acd.agent import OperatorState
from hotline.acd.decisions import CallLeftQueue, CallQueued, Decision, OfferCall
from hotline.acd.model import OperatorProfile, Outcome, QueueConfig, RejectReason
from hotline.acd.router import AcdEngine
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId, TopicId

D = TypeVar("D")
Q1, Q2 = QueueId("q1"), QueueId("q2")
A, B = OperatorId("a"), OperatorId("b")
C1 = CallId("c1")


def queue(queue_id: str, topic: str, **kw: Any) -> QueueConfig:
    return QueueConfig(queue_id=QueueId(queue_id), name=queue_id, topic=TopicId(topic), **kw)


def drain(engine: AcdEngine) -> list[Decision]:
    out: list[Decision] = []
    while (decision := engine.next_decision()) is not None:
        out.append(decision)
    return out


def only(decisions: list[Decision], kind: type[D]) -> list[D]:
    return [d for d in decisions if isinstance(d, kind)]


def talking_on_c1(**profile_kw: Any) -> AcdEngine:
    """Operator a talks on c1 (queue q1, wrap-up 30 s); b is READY and serves only q2."""
    engine = AcdEngine(seed=3)
    engine.add_queue(queue("q1", "social", wrap_up_s=30.0), 0.0)
    engine.add_queue(queue("q2", "housing", wrap_up_s=10.0), 0.0)
    engine.operator_login(OperatorProfile(operator_id=A, skills={"social": 5}), 0.0, ready=True)
    engine.call_arrived(C1, Q1, 1.0)
    engine.offer_answered(C1, A, 2.0)
    engine.operator_login(
        OperatorProfile(operator_id=B, skills={"housing": 5}, **profile_kw), 3.0, ready=True
    )
    drain(engine)
    return engine


def state(engine: AcdEngine, operator_id: OperatorId) -> OperatorState:
    return engine.operator_status(operator_id).state


def test_transfer_answered_moves_the_call_and_wraps_up_the_first_operator() -> None:
    engine = talking_on_c1()
    engine.transfer_offer(C1, B, 10.0, from_operator=A)
    assert only(drain(engine), OfferCall) == []  # the driver rings the target itself
    assert state(engine, B) is OperatorState.RESERVED
    assert engine.operator_status(B).offered_call == C1
    assert [t.target for t in engine.open_transfers()] == [B]
    engine.transfer_answered(C1, B, 14.0)
    assert state(engine, B) is OperatorState.TALKING
    assert engine.operator_status(B).talking_call == C1
    assert engine.operator_status(B).calls_today == 1
    assert state(engine, A) is OperatorState.WRAP_UP
    assert engine.operator_status(A).talk_today_s == pytest.approx(12.0)
    assert engine.open_transfers() == ()
    engine.handle_timer(44.0)  # a's wrap-up of q1 (30 s) ends
    assert state(engine, A) is OperatorState.READY
    engine.call_ended(B, 50.0)  # b inherits q1's wrap-up time
    assert engine.get_timer() == pytest.approx(80.0)
    assert state(engine, B) is OperatorState.WRAP_UP


def test_transfer_not_answered_takes_the_no_answer_policy_and_keeps_the_call() -> None:
    engine = talking_on_c1(max_no_answer=1)
    engine.transfer_offer(C1, B, 10.0, from_operator=A)
    engine.transfer_failed(C1, B, RejectReason.NO_ANSWER, 25.0)
    assert state(engine, B) is OperatorState.NOT_READY
    assert state(engine, A) is OperatorState.TALKING
    assert engine.operator_status(A).talking_call == C1
    with pytest.raises(LocalProtocolError):
        engine.transfer_answered(C1, B, 26.0)


def test_busy_target_gets_the_busy_delay_and_a_withdrawn_transfer_none() -> None:
    engine = talking_on_c1(busy_delay_s=20.0)
    engine.transfer_offer(C1, B, 10.0, from_operator=A)
    engine.transfer_failed(C1, B, RejectReason.BUSY, 11.0)
    status = engine.operator_status(B)
    assert (status.state, status.available, status.available_at) == (
        OperatorState.READY,
        False,
        31.0,
    )
    engine.handle_timer(31.0)
    engine.transfer_offer(C1, B, 32.0, from_operator=A)
    engine.transfer_failed(C1, B, None, 33.0)
    assert engine.operator_status(B).available is True


def test_transfer_refused_when_target_not_ready_or_caller_not_talking() -> None:
    engine = talking_on_c1()
    with pytest.raises(LocalProtocolError):
        engine.transfer_offer(C1, A, 10.0, from_operator=A)
    with pytest.raises(LocalProtocolError):
        engine.transfer_offer(CallId("other"), B, 10.0, from_operator=A)
    engine.set_not_ready(B, "lunch", 11.0)
    with pytest.raises(LocalProtocolError):
        engine.transfer_offer(C1, B, 12.0, from_operator=A)
    assert state(engine, A) is OperatorState.TALKING


def test_target_logging_out_while_reserved_leaves_no_offer() -> None:
    engine = talking_on_c1()
    engine.transfer_offer(C1, B, 10.0, from_operator=A)
    engine.operator_logout(B, 11.0)
    engine.transfer_failed(C1, B, RejectReason.NO_ANSWER, 12.0)  # stale: nothing changes
    assert state(engine, B) is OperatorState.LOGGED_OUT
    assert engine.open_transfers() == ()


def test_transfer_to_queue_keeps_the_id_and_enters_now() -> None:
    engine = talking_on_c1()
    engine.set_not_ready(B, "away", 4.0)
    drain(engine)
    engine.transfer_to_queue(C1, Q2, A, 20.0)
    out = drain(engine)
    assert [(d.call_id, d.queue_id) for d in only(out, CallQueued)] == [(C1, Q2)]
    assert state(engine, A) is OperatorState.WRAP_UP
    status = engine.call_status(C1, 25.0)
    assert (status.queue_id, status.wait_s, status.total_wait_s) == (Q2, 5.0, 5.0)
    engine.set_ready(B, 26.0)
    offers = only(drain(engine), OfferCall)
    assert [(o.call_id, o.operator_id, o.queue_id) for o in offers] == [(C1, B, Q2)]
    engine.offer_answered(C1, B, 27.0)
    left = only(drain(engine), CallLeftQueue)
    assert [(x.call_id, x.outcome) for x in left] == [(C1, Outcome.ANSWERED)]


def test_transfer_to_queue_needs_the_talking_operator() -> None:
    engine = talking_on_c1()
    with pytest.raises(LocalProtocolError):
        engine.transfer_to_queue(C1, Q2, B, 20.0)
    with pytest.raises(LocalProtocolError):
        engine.transfer_to_queue(C1, QueueId("nope"), A, 20.0)
    assert state(engine, A) is OperatorState.TALKING
