"""Queue rules on fake time: norms, outcomes, overflow, tiers, fairness, supervisors."""

from __future__ import annotations

from typing import Any, TypeVar

import pytest

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
)
from hotline.acd.model import (
    EmptyPolicy,
    ExitAction,
    ExitKind,
    OperatorProfile,
    Outcome,
    OverflowReason,
    QueueConfig,
    TierRule,
)
from hotline.acd.router import AcdEngine
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId, TopicId

D = TypeVar("D")
Q1, Q2, Q3 = QueueId("q1"), QueueId("q2"), QueueId("q3")


def queue(queue_id: str = "q1", topic: str = "social", **kw: Any) -> QueueConfig:
    kw.setdefault("announce_interval_s", None)
    kw.setdefault("announce_on_entry", False)
    return QueueConfig(queue_id=QueueId(queue_id), name=queue_id, topic=TopicId(topic), **kw)


def profile(operator_id: str, **skills: int) -> OperatorProfile:
    return OperatorProfile(operator_id=OperatorId(operator_id), skills=skills or {"social": 5})


def drain(engine: AcdEngine) -> list[Decision]:
    out: list[Decision] = []
    while (decision := engine.next_decision()) is not None:
        out.append(decision)
    return out


def only(decisions: list[Decision], kind: type[D]) -> list[D]:
    return [d for d in decisions if isinstance(d, kind)]


def left(decisions: list[Decision]) -> list[tuple[str, str, Outcome]]:
    return [(d.call_id, d.queue_id, d.outcome) for d in only(decisions, CallLeftQueue)]


# -- the wait norm -----------------------------------------------------------


def test_the_wait_norm_times_a_call_out_not_abandons_it() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(max_wait_s=120.0), 0.0)
    engine.call_arrived(CallId("c1"), Q1, 3.25)
    assert engine.get_timer() == 123.25
    engine.handle_timer(400.0)  # the driver woke up late
    out = drain(engine)
    leaving = only(out, CallLeftQueue)
    assert len(leaving) == 1
    assert leaving[0].outcome is Outcome.TIMED_OUT
    assert leaving[0].wait_s == pytest.approx(120.0) and leaving[0].at == 123.25
    assert only(out, CallTimedOut) == [
        CallTimedOut(
            CallId("c1"), Q1, ExitAction(ExitKind.MESSAGE_AND_END), leaving[0].wait_s, 123.25
        )
    ]
    with pytest.raises(LocalProtocolError):
        engine.call_abandoned(CallId("c1"), 400.0)  # gone: no second outcome


def test_a_ringing_call_times_out_too() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(max_wait_s=30.0, ring_timeout_s=60.0), 0.0)
    engine.operator_login(profile("a"), 0.0, ready=True)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.handle_timer(30.0)
    out = drain(engine)
    assert only(out, CancelOffer)[0].reason is CancelReason.CALL_TIMED_OUT
    assert left(out) == [("c1", "q1", Outcome.TIMED_OUT)]


def test_timing_out_into_an_overflow_queue_keeps_the_place() -> None:
    engine = AcdEngine()
    overflow = ExitAction(ExitKind.OVERFLOW, "q2")
    engine.add_queue(queue("q1", max_wait_s=60.0, max_wait_action=overflow), 0.0)
    engine.add_queue(queue("q2", topic="backup", max_wait_s=60.0), 0.0)
    engine.call_arrived(CallId("old"), Q1, 0.0)
    engine.call_arrived(CallId("new"), Q2, 30.0)
    drain(engine)
    engine.handle_timer(60.0)
    out = drain(engine)
    assert left(out) == [("old", "q1", Outcome.TIMED_OUT)]
    assert only(out, CallTimedOut)[0].action == overflow
    assert only(out, CallQueued) == [CallQueued(CallId("old"), Q2, 1, 60.0)]
    assert engine.call_status(CallId("new"), 60.0).position == 2
    engine.handle_timer(90.0)  # "new" times out in q2 at 90, "old" at 120 (its q2 norm)
    assert left(drain(engine)) == [("new", "q2", Outcome.TIMED_OUT)]
    engine.handle_timer(120.0)
    assert left(drain(engine)) == [("old", "q2", Outcome.TIMED_OUT)]


def test_timeout_with_callback_action_schedules_a_callback() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(max_wait_s=10.0, max_wait_action=ExitAction(ExitKind.CALLBACK)), 0.0)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.handle_timer(10.0)
    out = drain(engine)
    assert left(out) == [("c1", "q1", Outcome.TIMED_OUT)]
    assert only(out, CallbackScheduled) == [CallbackScheduled(CallId("c1"), Q1, 10.0)]


def test_overflow_loops_are_cut_after_the_hop_limit() -> None:
    engine = AcdEngine()
    to2, to1 = ExitAction(ExitKind.OVERFLOW, "q2"), ExitAction(ExitKind.OVERFLOW, "q1")
    engine.add_queue(queue("q1", max_wait_s=1.0, max_wait_action=to2), 0.0)
    engine.add_queue(queue("q2", max_wait_s=1.0, max_wait_action=to1), 0.0)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.handle_timer(100.0)
    out = drain(engine)
    assert len(only(out, CallTimedOut)) == 8  # EngineLimits.max_overflow_hops
    assert only(out, CallTimedOut)[-1].action == ExitAction(ExitKind.MESSAGE_AND_END)
    assert engine.waiting_calls() == ()


# -- abandons and call-backs ---------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "wait", "outcome"),
    [
        (5.0, 4.999, Outcome.SHORT_ABANDON),
        (5.0, 5.0, Outcome.ABANDONED),
        (5.0, 30.0, Outcome.ABANDONED),
        (10.0, 7.0, Outcome.SHORT_ABANDON),
        (0.0, 0.0, Outcome.ABANDONED),
    ],
)
def test_short_abandon_threshold(threshold: float, wait: float, outcome: Outcome) -> None:
    engine = AcdEngine()
    engine.add_queue(queue(short_abandon_s=threshold), 0.0)
    engine.call_arrived(CallId("c1"), Q1, 100.0)
    engine.call_abandoned(CallId("c1"), 100.0 + wait)
    assert left(drain(engine)) == [("c1", "q1", outcome)]


def test_the_default_short_abandon_threshold_is_five_seconds() -> None:
    assert queue().short_abandon_s == 5.0


def test_abandon_while_ringing_cancels_the_offer() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(), 0.0)
    engine.operator_login(profile("a"), 0.0, ready=True)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.call_abandoned(CallId("c1"), 8.0)
    out = drain(engine)
    assert only(out, CancelOffer)[0].reason is CancelReason.CALLER_LEFT
    assert left(out) == [("c1", "q1", Outcome.ABANDONED)]
    assert engine.operator_status(OperatorId("a")).available


def test_a_caller_asking_for_a_callback_leaves_with_that_outcome() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(), 0.0)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.callback_requested(CallId("c1"), 40.0)
    out = drain(engine)
    assert left(out) == [("c1", "q1", Outcome.CALLBACK)]
    assert only(out, CallbackScheduled) == [CallbackScheduled(CallId("c1"), Q1, 40.0)]


# -- full and empty queues -------------------------------------------------------


def test_a_full_queue_refuses_with_its_action() -> None:
    engine = AcdEngine()
    message = ExitAction(ExitKind.MESSAGE_AND_END, "busy-prompt")
    engine.add_queue(queue(max_length=1, full_action=message), 0.0)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.call_arrived(CallId("c2"), Q1, 1.0)
    out = drain(engine)
    assert left(out) == [("c2", "q1", Outcome.LEFT_FULL)]
    assert only(out, CallRefused) == [
        CallRefused(CallId("c2"), Q1, Outcome.LEFT_FULL, message, 1.0)
    ]
    assert engine.waiting_calls() == ("c1",)


def test_a_full_queue_overflows_to_another() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(max_length=0, full_action=ExitAction(ExitKind.OVERFLOW, "q2")), 0.0)
    engine.add_queue(queue("q2"), 0.0)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    out = drain(engine)
    assert left(out) == [("c1", "q1", Outcome.OVERFLOWED)]
    assert only(out, CallOverflowed) == [
        CallOverflowed(CallId("c1"), Q1, Q2, OverflowReason.FULL, 0.0)
    ]
    assert engine.call_status(CallId("c1"), 0.0).queue_id == "q2"


def test_an_empty_queue_refuses_when_told_to() -> None:
    engine = AcdEngine()
    external = ExitAction(ExitKind.EXTERNAL, "+74950000000")
    engine.add_queue(queue(when_empty=EmptyPolicy.REFUSE, empty_action=external), 0.0)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    out = drain(engine)
    assert only(out, CallRefused) == [
        CallRefused(CallId("c1"), Q1, Outcome.LEFT_EMPTY, external, 0.0)
    ]
    engine.operator_login(profile("a"), 1.0)  # logged in, even NOT_READY: not empty
    engine.call_arrived(CallId("c2"), Q1, 2.0)
    assert only(drain(engine), CallQueued) == [CallQueued(CallId("c2"), Q1, 1, 2.0)]


def test_calls_leave_a_queue_left_without_operators() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(leave_when_empty_s=30.0, max_wait_s=None), 0.0)
    engine.operator_login(profile("a"), 0.0)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.call_arrived(CallId("c2"), Q1, 20.0)
    engine.operator_logout(OperatorId("a"), 10.0 + 20.0)  # queue empty from t=30
    engine.call_arrived(CallId("c3"), Q1, 45.0)
    engine.handle_timer(60.0)
    assert left(drain(engine)) == [
        ("c1", "q1", Outcome.LEFT_EMPTY),
        ("c2", "q1", Outcome.LEFT_EMPTY),
    ]
    engine.operator_login(profile("b"), 70.0)  # staffed again before c3's 30 s
    engine.handle_timer(200.0)
    assert left(drain(engine)) == []
    assert engine.waiting_calls() == ("c3",)


# -- priority, tiers and fair order ----------------------------------------------


def test_priority_and_repeat_callers_go_first() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(repeat_caller_bump=2), 0.0)
    engine.call_arrived(CallId("plain"), Q1, 0.0)
    engine.call_arrived(CallId("repeat"), Q1, 1.0, repeat_caller=True)
    engine.call_arrived(CallId("urgent"), Q1, 2.0, priority=3)
    engine.call_arrived(CallId("p1"), Q1, 3.0, priority=1)
    positions = {c: engine.call_status(c, 4.0).position for c in engine.waiting_calls()}
    assert positions == {"urgent": 1, "repeat": 2, "p1": 3, "plain": 4}
    engine.operator_login(profile("a"), 5.0, ready=True)
    assert only(drain(engine), OfferCall)[0].call_id == "urgent"


def test_a_tier_widens_at_its_time_and_the_call_keeps_its_place() -> None:
    engine = AcdEngine()
    tiers = (TierRule(0.0, 8), TierRule(30.0, 3))
    engine.add_queue(queue(tiers=tiers, max_wait_s=None), 0.0)
    engine.operator_login(profile("junior", social=3), 0.0, ready=True)
    engine.operator_login(profile("trainee", social=1), 0.0, ready=True)
    assert engine.queue_status(Q1, 0.0).logged_in == 1  # level 1 is below every tier
    engine.call_arrived(CallId("c1"), Q1, 10.0)
    engine.call_arrived(CallId("c2"), Q1, 15.0)
    assert only(drain(engine), OfferCall) == []
    assert engine.get_timer() == 40.0
    engine.handle_timer(39.999)
    assert only(drain(engine), OfferCall) == []
    assert engine.call_status(CallId("c1"), 39.999).position == 1
    engine.handle_timer(40.0)
    assert only(drain(engine), OfferCall) == [
        OfferCall(CallId("c1"), OperatorId("junior"), Q1, 20.0, 40.0)
    ]
    assert engine.call_status(CallId("c2"), 40.0).position == 2  # behind the ringing c1


def test_a_free_operator_takes_only_calls_whose_tier_reached_it() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(tiers=(TierRule(0.0, 8), TierRule(30.0, 1)), max_wait_s=None), 0.0)
    engine.call_arrived(CallId("old"), Q1, 0.0, priority=0)
    engine.call_arrived(CallId("vip"), Q1, 20.0, priority=5)
    engine.operator_login(profile("junior", social=2), 35.0, ready=True)
    # vip is first in line but has not waited 30 s; the junior may take "old" only
    assert only(drain(engine), OfferCall)[0].call_id == "old"


def test_a_free_operator_takes_the_best_call_across_queues() -> None:
    engine = AcdEngine()
    engine.add_queue(queue("q1", topic="a", weight=0), 0.0)
    engine.add_queue(queue("q2", topic="b", weight=5), 0.0)
    engine.add_queue(queue("q3", topic="c", weight=1), 0.0)
    engine.call_arrived(CallId("a-early"), Q1, 1.0)
    engine.call_arrived(CallId("b-later"), Q2, 2.0)
    engine.call_arrived(CallId("c-tie"), Q3, 2.0)  # same entry time: the heavier queue first
    engine.call_arrived(CallId("b-urgent"), Q2, 3.0, priority=4)
    engine.operator_login(profile("a", a=5, b=5, c=5), 4.0, ready=True)
    order = []
    now = 5.0
    for _ in range(4):
        offer = only(drain(engine), OfferCall)[0]
        order.append(offer.call_id)
        engine.offer_answered(offer.call_id, offer.operator_id, now)
        engine.call_ended(offer.operator_id, now + 1)
        engine.wrapup_done(offer.operator_id, now + 2)
        now += 3
    assert order == ["b-urgent", "a-early", "b-later", "c-tie"]


def test_required_skills_are_respected() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(), 0.0)
    engine.call_arrived(CallId("english"), Q1, 0.0, required_skills={"lang:en": 3})
    engine.call_arrived(CallId("any"), Q1, 1.0)
    engine.operator_login(profile("ru", social=9), 2.0, ready=True)
    assert only(drain(engine), OfferCall)[0].call_id == "any"
    engine.operator_login(profile("en", social=2, **{"lang:en": 4}), 3.0, ready=True)
    assert only(drain(engine), OfferCall)[0] == OfferCall(
        CallId("english"), OperatorId("en"), Q1, 20.0, 3.0
    )


# -- announcements -----------------------------------------------------------------


def test_position_and_wait_are_announced_on_entry_and_periodically() -> None:
    engine = AcdEngine()
    engine.add_queue(
        queue(announce_interval_s=30.0, announce_on_entry=True, default_handle_s=120.0), 0.0
    )
    engine.operator_login(profile("a"), 0.0)
    engine.operator_login(profile("b"), 0.0)
    engine.set_ready(OperatorId("a"), 0.0)
    engine.set_ready(OperatorId("b"), 0.0)
    engine.call_arrived(CallId("x"), Q1, 0.0)
    engine.call_arrived(CallId("y"), Q1, 0.0)
    engine.offer_answered(CallId("x"), OperatorId("a"), 0.5)
    engine.offer_answered(CallId("y"), OperatorId("b"), 0.5)
    engine.call_arrived(CallId("c1"), Q1, 1.0)
    engine.call_arrived(CallId("c2"), Q1, 2.0)
    engine.handle_timer(2.0)
    assert only(drain(engine), AnnouncePosition) == [  # x and y were offered at once: no words
        AnnouncePosition(CallId("c1"), Q1, 1, 60.0, 1.0),  # 1 x 120 s / 2 staffed
        AnnouncePosition(CallId("c2"), Q1, 2, 120.0, 2.0),
    ]
    engine.handle_timer(32.0)
    assert [a.at for a in only(drain(engine), AnnouncePosition)] == [31.0, 32.0]


def test_announcement_limits_and_switches() -> None:
    engine = AcdEngine()
    engine.add_queue(
        queue(
            announce_interval_s=10.0,
            announce_position_limit=1,
            announce_wait=False,
        ),
        0.0,
    )
    engine.operator_login(profile("a"), 0.0)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.call_arrived(CallId("c2"), Q1, 0.0)
    engine.handle_timer(10.0)
    assert only(drain(engine), AnnouncePosition) == [
        AnnouncePosition(CallId("c1"), Q1, 1, None, 10.0),
        AnnouncePosition(CallId("c2"), Q1, None, None, 10.0),  # past the limit: say nothing
    ]


# -- supervisors --------------------------------------------------------------------


def test_moving_a_call_keeps_its_place() -> None:
    engine = AcdEngine()
    engine.add_queue(queue("q1"), 0.0)
    engine.add_queue(queue("q2", topic="health"), 0.0)
    engine.call_arrived(CallId("a"), Q1, 1.0)
    engine.call_arrived(CallId("b"), Q2, 5.0)
    drain(engine)
    engine.move_call(CallId("a"), Q2, 9.0)
    out = drain(engine)
    assert left(out) == [("a", "q1", Outcome.OVERFLOWED)]
    assert only(out, CallOverflowed) == [
        CallOverflowed(CallId("a"), Q1, Q2, OverflowReason.SUPERVISOR, 9.0)
    ]
    assert only(out, CallQueued) == [CallQueued(CallId("a"), Q2, 1, 9.0)]
    status = engine.call_status(CallId("a"), 10.0)
    assert (status.wait_s, status.total_wait_s) == (1.0, 9.0)
    with pytest.raises(LocalProtocolError, match="already"):
        engine.move_call(CallId("a"), Q2, 10.0)


def test_a_supervisor_changes_priority() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(), 0.0)
    for i in range(3):
        engine.call_arrived(CallId(f"c{i}"), Q1, float(i))
    engine.set_call_priority(CallId("c2"), 9, 5.0)
    assert engine.call_status(CallId("c2"), 5.0).position == 1
    engine.set_call_priority(CallId("c2"), 0, 6.0)
    assert engine.call_status(CallId("c2"), 6.0).position == 3


def test_a_supervisor_assigns_a_call_to_a_named_operator() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(strategy="linear"), 0.0)
    engine.operator_login(profile("a"), 0.0, ready=True)
    engine.operator_login(profile("outsider", health=1), 0.0, ready=True)
    engine.call_arrived(CallId("c1"), Q1, 1.0)
    assert only(drain(engine), OfferCall)[0].operator_id == "a"
    engine.assign_call(CallId("c1"), OperatorId("outsider"), 2.0)
    out = drain(engine)
    assert only(out, CancelOffer) == [
        CancelOffer(CallId("c1"), OperatorId("a"), CancelReason.REASSIGNED, 2.0)
    ]
    assert only(out, OfferCall) == [OfferCall(CallId("c1"), OperatorId("outsider"), Q1, 20.0, 2.0)]
    with pytest.raises(LocalProtocolError, match="not ready"):
        engine.assign_call(CallId("c1"), OperatorId("outsider"), 3.0)


def test_supervisor_sets_operator_states() -> None:
    from hotline.acd.agent import OperatorState

    engine = AcdEngine()
    engine.add_queue(queue(), 0.0)
    engine.operator_login(profile("a"), 0.0)
    engine.set_operator_state(OperatorId("a"), OperatorState.READY, 1.0)
    engine.set_operator_state(OperatorId("a"), OperatorState.NOT_READY, 2.0, "coaching")
    assert engine.operator_status(OperatorId("a")).reason == "coaching"
    engine.set_operator_state(OperatorId("a"), OperatorState.LOGGED_OUT, 3.0)
    assert engine.queue_status(Q1, 3.0).logged_in == 0
    with pytest.raises(LocalProtocolError):
        engine.set_operator_state(OperatorId("a"), OperatorState.TALKING, 4.0)


# -- live configuration ---------------------------------------------------------------


def test_queue_updates_apply_to_waiting_calls() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(max_wait_s=300.0), 0.0)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    engine.update_queue(queue(max_wait_s=60.0), 10.0)
    engine.handle_timer(60.0)
    assert left(drain(engine)) == [("c1", "q1", Outcome.TIMED_OUT)]


def test_a_queue_with_calls_cannot_be_removed() -> None:
    engine = AcdEngine()
    engine.add_queue(queue(), 0.0)
    engine.call_arrived(CallId("c1"), Q1, 0.0)
    with pytest.raises(LocalProtocolError, match="still has"):
        engine.remove_queue(Q1, 1.0)
    engine.call_abandoned(CallId("c1"), 2.0)
    engine.remove_queue(Q1, 3.0)
    with pytest.raises(LocalProtocolError, match="unknown queue"):
        engine.queue_status(Q1, 3.0)


def test_a_new_queue_picks_up_logged_in_operators_and_skill_updates_apply() -> None:
    engine = AcdEngine()
    engine.operator_login(profile("a", social=4), 0.0, ready=True)
    engine.add_queue(queue(), 1.0)
    assert engine.operator_status(OperatorId("a")).queues == {"q1": 4}
    engine.update_operator(profile("a", health=7), 2.0)
    assert engine.operator_status(OperatorId("a")).queues == {}
    assert engine.queue_status(Q1, 2.0).logged_in == 0


def test_calls_widening_at_the_same_instant_are_served_best_placed_first() -> None:
    engine = AcdEngine()
    tiers = (TierRule(0.0, 8), TierRule(30.0, 1))
    engine.add_queue(queue("q1", topic="a", tiers=tiers, max_wait_s=None), 0.0)
    engine.add_queue(queue("q2", topic="b", tiers=tiers, max_wait_s=None), 0.0)
    engine.operator_login(profile("junior", a=2, b=2), 0.0, ready=True)
    engine.call_arrived(CallId("plain"), Q1, 0.0)
    engine.call_arrived(CallId("urgent"), Q2, 0.0, priority=1)
    engine.handle_timer(30.0)  # both tiers widen in one batch of timers
    assert [o.call_id for o in only(drain(engine), OfferCall)] == ["urgent"]
