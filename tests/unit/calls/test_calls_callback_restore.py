"""Call-back requests taken back after a restart (CallbackDesk.restore), with the controller fakes."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta

import pytest
from test_calls_controller_fakes import GENERAL, Rig, caller_offer, phone_answer_to
from test_calls_outbound import GENERAL_OP, TRUNK_HOST, make_world, placed_to

from hotline.acd.agent import OperatorState
from hotline.calls.call import CallPhase
from hotline.calls.ctl_callback import CallbackPolicy, CallbackState, RestoreResult
from hotline.calls.ctl_dialout import OutboundDesks
from hotline.core.ids import CallId, QueueId
from hotline.reports.events import EventKind
from hotline.store.callback_queries import OpenCallback, RequestSource

NUMBER = "+79161234567"
OPERATOR_HOST = "10.0.0.50"


def stored(
    rig: Rig,
    call_id: str = "before-restart",
    *,
    waited_s: float = 600.0,
    attempts: int = 0,
    last_attempt_s: float | None = None,
    queue_id: str = GENERAL,
    number: str | None = NUMBER,
    source: RequestSource = RequestSource.CALLER,
) -> OpenCallback:
    """A request placed ``waited_s`` before the rig's wall time (last attempt as long ago)."""
    wall = rig.clock.utcnow()
    placed = wall - timedelta(seconds=waited_s)
    return OpenCallback(
        call_id=call_id,
        queue_id=queue_id,
        topic="general",
        number=number,
        requested_at=placed + timedelta(seconds=30),
        placed_at=placed,
        attempts=attempts,
        last_attempt_at=(
            wall - timedelta(seconds=last_attempt_s) if last_attempt_s is not None else None
        ),
        source=source,
    )


def restore(
    rig: Rig,
    desks: OutboundDesks,
    *items: OpenCallback,
    expired: tuple[OpenCallback, ...] = (),
    fallback: QueueId | None = None,
) -> RestoreResult:
    return desks.callbacks.restore(
        items,
        now=rig.clock.monotonic(),
        wall=rig.clock.utcnow(),
        fallback_queue=fallback,
        expired=expired,
    )


async def operator_ready(rig: Rig) -> None:
    rig.phones.register("1001")
    rig.acd.set_operator_state(GENERAL_OP, OperatorState.READY)
    await rig.controller.settle()
    await asyncio.sleep(0)  # the dialer's task creates the operator's media leg


def completed(rig: Rig) -> list[dict[str, object]]:
    return [dict(e.payload) for e in rig.events.of(EventKind.CALLBACK_COMPLETED)]


async def test_a_restored_request_goes_before_a_call_that_came_later() -> None:
    rig, desks = make_world()
    rig.clock.advance(5000.0)
    leg = rig.ua.incoming(caller_offer(), caller="79035550101")  # arrives after the restart
    await rig.controller.settle()
    (call,) = rig.controller.calls()
    assert call.phase is CallPhase.QUEUED
    assert restore(rig, desks, stored(rig)) == RestoreResult(restored=1)
    restored = CallId("before-restart")
    # Its place is 600 s before now on the monotonic clock, ahead of the new call.
    assert rig.acd.entered_at(restored) == rig.clock.monotonic() - 600.0
    assert set(rig.acd.waiting_calls()) == {restored, call.call_id}
    await operator_ready(rig)
    (op_leg,) = placed_to(rig, OPERATOR_HOST)
    assert "обратный звонок" in str(op_leg.session.invite.from_)
    assert desks.dialer.call(restored) is not None
    assert rig.controller.call(call.call_id) is call and call.phase is CallPhase.QUEUED
    assert not leg.session.finished
    (request,) = desks.callbacks.requests()
    assert request.state is CallbackState.QUEUED and request.number.number == NUMBER


async def test_attempts_are_carried_into_the_next_attempt() -> None:
    rig, desks = make_world(CallbackPolicy(max_attempts=3, retry_interval_s=60.0))
    rig.clock.advance(5000.0)
    item = stored(rig, attempts=2, last_attempt_s=120.0)  # the pause is over
    assert restore(rig, desks, item) == RestoreResult(restored=1)
    await operator_ready(rig)
    (op_leg,) = placed_to(rig, OPERATOR_HOST)
    rig.ua.phone_answer(op_leg, phone_answer_to(op_leg))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    (out_leg,) = placed_to(rig, TRUNK_HOST)
    rig.ua.phone_reject(out_leg, 486)
    (attempt,) = rig.events.of(EventKind.CALLBACK_ATTEMPTED)
    assert attempt.payload["attempt"] == 3 and attempt.text("result") == "busy"
    assert completed(rig) == [{"result": "failed", "attempts": 3}]  # the third was the last
    assert desks.callbacks.requests() == ()


async def test_a_request_that_used_its_attempts_ends_failed() -> None:
    rig, desks = make_world(CallbackPolicy(max_attempts=2))
    assert restore(rig, desks, stored(rig, attempts=2)) == RestoreResult(failed=1)
    assert completed(rig) == [{"result": "failed", "attempts": 2, "reason": "attempts"}]
    (done,) = rig.events.of(EventKind.CALLBACK_COMPLETED)
    assert done.call_id == "before-restart" and done.queue_id == GENERAL
    assert desks.callbacks.requests() == () and rig.acd.waiting_calls() == ()
    assert desks.callbacks.failed == 1


async def test_a_request_in_its_retry_pause_waits_the_rest_of_it() -> None:
    rig, desks = make_world(CallbackPolicy(retry_interval_s=300.0))
    item = stored(rig, attempts=1, last_attempt_s=100.0)
    loop = asyncio.get_running_loop()
    assert restore(rig, desks, item) == RestoreResult(restored=1)
    (request,) = desks.callbacks.requests()
    assert request.state is CallbackState.RETRY_WAIT and request.attempts == 1
    assert rig.acd.waiting_calls() == ()
    assert request.retry is not None
    assert 199.0 < request.retry.when() - loop.time() <= 200.0
    desks.callbacks.close()
    assert request.retry is None or request.retry.cancelled()


async def test_a_removed_queue_parks_in_the_fallback_or_fails() -> None:
    rig, desks = make_world()
    moved = stored(rig, "moved", queue_id="closed-queue")
    lost = stored(rig, "lost", queue_id="closed-queue")
    assert restore(rig, desks, moved, fallback=GENERAL) == RestoreResult(restored=1)
    assert rig.acd.waiting_calls() == (CallId("moved"),)
    (request,) = desks.callbacks.requests()
    assert request.queue_id == GENERAL
    assert restore(rig, desks, lost) == RestoreResult(failed=1)
    assert completed(rig) == [{"result": "failed", "attempts": 0, "reason": "no_queue"}]


async def test_expired_requests_end_failed_and_unknown_numbers_are_skipped() -> None:
    rig, desks = make_world()
    old = stored(rig, "old", waited_s=30 * 3600.0)
    anonymous = stored(rig, "anonymous", number=None)
    result = restore(rig, desks, anonymous, expired=(old,))
    assert result == RestoreResult(failed=1, skipped=1)
    (done,) = rig.events.of(EventKind.CALLBACK_COMPLETED)
    assert done.call_id == "old"
    assert dict(done.payload) == {"result": "failed", "attempts": 0, "reason": "expired"}
    assert desks.callbacks.requests() == () and rig.acd.waiting_calls() == ()


async def test_a_request_already_known_is_not_restored_twice() -> None:
    rig, desks = make_world()
    assert restore(rig, desks, stored(rig)) == RestoreResult(restored=1)
    assert restore(rig, desks, stored(rig)) == RestoreResult(skipped=1)
    assert rig.acd.waiting_calls() == (CallId("before-restart"),)


def test_a_stored_place_in_the_future_is_now() -> None:
    rig, desks = make_world()
    wall: datetime = rig.clock.utcnow()
    item = stored(rig, waited_s=-60.0)  # a wall clock that went back: never a later place
    desks.callbacks.restore([item], now=rig.clock.monotonic(), wall=wall)
    assert rig.acd.entered_at(CallId("before-restart")) == rig.clock.monotonic()


@pytest.mark.parametrize(
    "source", [RequestSource.TIMED_OUT, RequestSource.LEFT_FULL, RequestSource.LEFT_EMPTY], ids=str
)
async def test_a_queue_rule_call_back_is_parked_at_its_refusal(source: RequestSource) -> None:
    rig, desks = make_world()
    rig.clock.advance(5000.0)
    item = stored(rig, "refused", waited_s=900.0, source=source)
    item = dataclasses.replace(item, requested_at=item.placed_at)  # never waited
    assert restore(rig, desks, item) == RestoreResult(restored=1)
    assert rig.acd.entered_at(CallId("refused")) == rig.clock.monotonic() - 900.0
    assert rig.acd.waiting_calls() == (CallId("refused"),)
    (request,) = desks.callbacks.requests()
    assert request.state is CallbackState.QUEUED and request.queue_id == GENERAL
    await operator_ready(rig)
    assert desks.dialer.call(CallId("refused")) is not None
