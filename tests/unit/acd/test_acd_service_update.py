"""Live configuration of the ACD service: queues changed and removed, operators' profiles,
with a real AcdService and router on a fake clock."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

import pytest

from hotline.acd.agent import OperatorState
from hotline.acd.decisions import CallOverflowed, CallTimedOut, Decision, OfferCall
from hotline.acd.model import ExitAction, ExitKind, OperatorProfile, OverflowReason, QueueConfig
from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.core.clock import FakeClock
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId, TopicId

D = TypeVar("D", bound=Decision)
GENERAL, SOCIAL, HEALTH = QueueId("general"), QueueId("social"), QueueId("health")


class Decisions:
    def __init__(self) -> None:
        self.seen: list[Decision] = []

    def on_decision(self, decision: Decision) -> None:
        self.seen.append(decision)

    def of(self, kind: type[D]) -> list[D]:
        return [d for d in self.seen if isinstance(d, kind)]


def queue(queue_id: QueueId, **changes: Any) -> QueueConfig:
    return replace(
        QueueConfig(queue_id=queue_id, name=queue_id, topic=TopicId(queue_id)), **changes
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def handler() -> Decisions:
    return Decisions()


@pytest.fixture
def acd(clock: FakeClock, handler: Decisions) -> AcdService:
    service = AcdService(AcdEngine(), clock)
    service.handler = handler
    for config in (queue(GENERAL), queue(SOCIAL), queue(HEALTH)):
        service.add_queue(config)
    return service


def waiting(acd: AcdService) -> list[tuple[str, str, float]]:
    """(call, queue, total wait) of every waiting call, by position within its queue."""
    found = [acd.call_status(c) for c in acd.waiting_calls()]
    found.sort(key=lambda s: (s.queue_id, s.position))
    return [(s.call_id, s.queue_id, s.total_wait_s) for s in found]


def test_update_queue_keeps_places_and_the_shorter_norm_applies_to_waiting_calls(
    acd: AcdService, clock: FakeClock, handler: Decisions
) -> None:
    acd.call_arrived(CallId("c1"), SOCIAL)
    clock.advance(30.0)
    acd.call_arrived(CallId("c2"), SOCIAL)
    clock.advance(10.0)
    acd.update_queue(queue(SOCIAL, max_wait_s=60.0, sl_norm_s=15.0))
    assert waiting(acd) == [("c1", "social", 40.0), ("c2", "social", 10.0)]
    assert acd.queue_configs()[1] == queue(SOCIAL, max_wait_s=60.0, sl_norm_s=15.0)
    assert [c.queue_id for c in acd.queue_configs()] == [GENERAL, SOCIAL, HEALTH]
    clock.advance(20.0)  # c1 has waited 60 s: the new norm, counted from its entry
    acd.poll()
    assert [d.call_id for d in handler.of(CallTimedOut)] == [CallId("c1")]
    assert waiting(acd) == [("c2", "social", 30.0)]


def test_update_queue_of_an_unknown_queue_is_refused_and_changes_nothing(
    acd: AcdService,
) -> None:
    with pytest.raises(LocalProtocolError):
        acd.update_queue(queue(QueueId("nowhere")))
    assert [c.queue_id for c in acd.queue_configs()] == [GENERAL, SOCIAL, HEALTH]


def test_removing_a_queue_moves_its_calls_to_its_overflow_target_keeping_their_places(
    acd: AcdService, clock: FakeClock, handler: Decisions
) -> None:
    acd.update_queue(queue(SOCIAL, full_action=ExitAction(ExitKind.OVERFLOW, "health")))
    acd.call_arrived(CallId("h1"), HEALTH)
    clock.advance(5.0)
    acd.call_arrived(CallId("s1"), SOCIAL)
    clock.advance(5.0)
    acd.call_arrived(CallId("s2"), SOCIAL)
    clock.advance(5.0)
    assert acd.remove_queue(SOCIAL, fallback=GENERAL) == HEALTH
    assert not acd.has_queue(SOCIAL)
    assert [c.queue_id for c in acd.queue_configs()] == [GENERAL, HEALTH]
    # s1 entered before s2 and after h1: the order of entry is kept in the new queue.
    assert waiting(acd) == [("h1", "health", 15.0), ("s1", "health", 10.0), ("s2", "health", 5.0)]
    moves = handler.of(CallOverflowed)
    assert [(m.call_id, m.from_queue, m.to_queue) for m in moves] == [
        ("s1", "social", "health"),
        ("s2", "social", "health"),
    ]
    assert {m.reason for m in moves} == {OverflowReason.SUPERVISOR}


def test_without_an_overflow_target_the_calls_go_to_the_general_queue(
    acd: AcdService, clock: FakeClock
) -> None:
    acd.call_arrived(CallId("s1"), SOCIAL)
    clock.advance(3.0)
    assert acd.remove_queue(SOCIAL, fallback=GENERAL) == GENERAL
    assert waiting(acd) == [("s1", "general", 3.0)]


def test_an_overflow_target_that_is_gone_falls_back_to_the_general_queue(
    acd: AcdService,
) -> None:
    acd.update_queue(queue(SOCIAL, max_wait_action=ExitAction(ExitKind.OVERFLOW, "health")))
    acd.remove_queue(HEALTH, fallback=GENERAL)  # empty: just removed
    acd.call_arrived(CallId("s1"), SOCIAL)
    assert acd.remove_queue(SOCIAL, fallback=GENERAL) == GENERAL
    assert waiting(acd) == [("s1", "general", 0.0)]


def test_an_empty_queue_is_removed_and_its_calls_had_nowhere_to_go(acd: AcdService) -> None:
    assert acd.remove_queue(HEALTH, fallback=GENERAL) is None
    assert not acd.has_queue(HEALTH)


def test_the_general_queue_with_calls_cannot_be_removed_into_itself(acd: AcdService) -> None:
    acd.call_arrived(CallId("g1"), GENERAL)
    with pytest.raises(LocalProtocolError):
        acd.remove_queue(GENERAL, fallback=GENERAL)
    assert acd.has_queue(GENERAL) and waiting(acd) == [("g1", "general", 0.0)]
    with pytest.raises(LocalProtocolError):
        acd.remove_queue(QueueId("nowhere"), fallback=GENERAL)


def test_a_parked_call_back_request_is_parked_again_at_its_old_place(
    acd: AcdService, clock: FakeClock
) -> None:
    acd.call_arrived(CallId("s0"), SOCIAL)
    clock.advance(4.0)
    acd.callback_queued(CallId("cb"), SOCIAL, entered_at=clock.monotonic() - 50.0)
    acd.remove_queue(SOCIAL, fallback=GENERAL)
    assert acd.engine.is_callback(CallId("cb"))
    assert waiting(acd) == [("cb", "general", 50.0), ("s0", "general", 4.0)]


def test_new_skills_reach_a_logged_in_operator_at_once(acd: AcdService, handler: Decisions) -> None:
    anna = OperatorId("1001")
    acd.set_operators([OperatorProfile(operator_id=anna, skills={"social": 5})])
    acd.operator_login(anna, ready=True)
    acd.call_arrived(CallId("h1"), HEALTH)
    assert handler.of(OfferCall) == []  # no health skill yet
    acd.update_operators([OperatorProfile(operator_id=anna, skills={"health": 7})], reason="admin")
    (offer,) = handler.of(OfferCall)
    assert (offer.call_id, offer.operator_id, offer.queue_id) == ("h1", anna, HEALTH)
    assert acd.operator_status(anna).queues == {HEALTH: 7}


def test_a_disabled_operator_is_logged_out_or_not_ready_after_the_call(
    acd: AcdService, handler: Decisions
) -> None:
    idle, busy = OperatorId("1001"), OperatorId("1002")
    acd.set_operators(
        [OperatorProfile(operator_id=idle, skills={"social": 5}), OperatorProfile(operator_id=busy)]
    )
    acd.operator_login(idle, ready=True)
    acd.operator_login(busy, ready=True)
    acd.call_arrived(CallId("g1"), GENERAL)
    general_too = OperatorProfile(operator_id=busy, queue_levels={GENERAL: 5})
    acd.update_operators(
        [OperatorProfile(operator_id=idle, skills={"social": 5}), general_too], reason="admin"
    )
    assert acd.operator_state(idle) is OperatorState.READY  # unchanged profile, untouched
    (offer,) = handler.of(OfferCall)
    acd.offer_answered(CallId("g1"), offer.operator_id)
    assert offer.operator_id == busy
    acd.update_operators([], reason="disabled by the administrator")
    assert acd.operator_state(idle) is OperatorState.LOGGED_OUT
    assert acd.operator_state(busy) is OperatorState.TALKING  # the call goes on
    acd.call_ended(busy)
    acd.wrapup_done(busy)
    status = acd.operator_status(busy)
    assert (status.state, status.reason) == (
        OperatorState.NOT_READY,
        "disabled by the administrator",
    )
    with pytest.raises(LocalProtocolError):
        acd.operator_login(idle, ready=True)  # no longer a known operator


def test_calls_routed_to_a_removed_queue_wait_where_its_calls_went(
    acd: AcdService, clock: FakeClock
) -> None:
    acd.update_queue(queue(SOCIAL, empty_action=ExitAction(ExitKind.OVERFLOW, "health")))
    acd.remove_queue(SOCIAL, fallback=GENERAL)  # empty, its target noted
    acd.call_arrived(CallId("late"), SOCIAL)  # a menu that still names it
    assert waiting(acd) == [("late", "health", 0.0)]
    acd.remove_queue(HEALTH, fallback=GENERAL)
    acd.call_arrived(CallId("later"), SOCIAL)  # social → health → general
    assert waiting(acd) == [("late", "general", 0.0), ("later", "general", 0.0)]
    acd.add_queue(queue(SOCIAL))  # enabled again: its own calls again
    acd.call_arrived(CallId("back"), SOCIAL)
    assert waiting(acd)[-1] == ("back", "social", 0.0)
