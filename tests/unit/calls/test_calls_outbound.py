"""Call-backs and click-to-call through the controller, with SIP sessions and media in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from test_calls_controller_fakes import GENERAL, Rig, caller_offer, phone_answer_to
from test_calls_dialog_hold import make_hold_rig

from hotline.acd.agent import OperatorState
from hotline.acd.model import OperatorProfile
from hotline.calls.call import CallPhase
from hotline.calls.ctl_callback import CallbackPolicy, CallbackState
from hotline.calls.ctl_dialout import DialOutRefusal, DialOutRefused, OutboundDesks, wire_outbound
from hotline.calls.ctl_outbound import OutboundKind
from hotline.calls.trunks import TrunkConfig, TrunkTable
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, OperatorId
from hotline.media.dtmf import DtmfReceived, DtmfSource
from hotline.media.eng_events import LegDtmfReceived
from hotline.reports.events import Direction, EventKind
from hotline.sip.uri import SipUri
from hotline.sip.useragent import Leg

GENERAL_OP = OperatorId("1001")
TRUNK_HOST = "10.0.0.60"


def make_world(policy: CallbackPolicy | None = None) -> tuple[Rig, OutboundDesks]:
    rig = make_hold_rig()
    trunks = TrunkTable([TrunkConfig(name="local-test", host=TRUNK_HOST, port=5060)])
    desks = wire_outbound(
        rig.controller,
        acd=rig.acd,
        media=rig.media,
        phones=rig.phones,
        trunks=trunks,
        clock=rig.clock,
        policies={GENERAL: policy or CallbackPolicy()},
    )
    rig.acd.set_operators([OperatorProfile(operator_id=GENERAL_OP, queue_levels={GENERAL: 5})])
    return rig, desks


def placed_to(rig: Rig, host: str) -> list[Leg]:
    found = []
    for leg in rig.ua.placed:
        uri = leg.session.invite.uri
        if isinstance(uri, SipUri) and uri.host == host:
            found.append(leg)
    return found


def header(leg: Leg, name: str) -> str | None:
    return leg.session.invite.headers.get(name)


async def queued_then_key_1(rig: Rig) -> CallId:
    leg = rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    (call,) = rig.controller.calls()
    assert call.phase is CallPhase.QUEUED
    assert call.caller_media is not None
    dtmf = DtmfReceived("1", 100, DtmfSource.RFC4733)
    rig.controller.on_media_event(LegDtmfReceived(call.caller_media, dtmf))
    # No prompts rendered: the confirmation is skipped and the call ends at once.
    assert rig.controller.call(call.call_id) is None
    assert leg.session.finished
    return call.call_id


async def operator_answers(rig: Rig) -> Leg:
    rig.phones.register("1001")
    rig.acd.set_operator_state(GENERAL_OP, OperatorState.READY)
    await rig.controller.settle()
    await asyncio.sleep(0)  # the dialer's task creates the operator's media leg
    (op_leg,) = placed_to(rig, "10.0.0.50")
    rig.ua.phone_answer(op_leg, phone_answer_to(op_leg))
    await asyncio.sleep(0)  # the trunk leg's media
    await asyncio.sleep(0)
    return op_leg


async def test_key_1_parks_a_request_that_rings_the_operator_then_the_caller() -> None:
    rig, desks = make_world()
    call_id = await queued_then_key_1(rig)
    (request,) = desks.callbacks.requests()
    assert request.state is CallbackState.QUEUED and request.number.number == "+79161234567"
    assert rig.acd.waiting_calls() == (call_id,)  # keeps its place in the ACD
    op_leg = await operator_answers(rig)
    assert "обратный звонок" in str(op_leg.session.invite.from_)
    assert rig.acd.operator_state(GENERAL_OP) is OperatorState.TALKING
    (out_leg,) = placed_to(rig, TRUNK_HOST)
    assert out_leg.session.invite.from_.uri.user == "122"  # type: ignore[union-attr]
    rig.ua.phone_answer(out_leg, phone_answer_to(out_leg, port=32000))
    assert request.state is CallbackState.DIALLING and rig.media.recordings[-1][2] == call_id
    rig.ua.far_hang_up(out_leg)  # the citizen hangs up
    assert op_leg.session.finished and desks.dialer.active() == 0
    assert rig.acd.operator_state(GENERAL_OP) is OperatorState.WRAP_UP
    (attempt,) = rig.events.of(EventKind.CALLBACK_ATTEMPTED)
    assert attempt.payload["attempt"] == 1 and attempt.text("result") == "answered"
    (done,) = rig.events.of(EventKind.CALLBACK_COMPLETED)
    assert done.payload == {"result": "completed", "attempts": 1}
    assert desks.callbacks.requests() == () and rig.events.of(EventKind.QUEUE_ANSWERED) == []
    assert rig.media.open_legs() == []


async def test_a_busy_caller_is_retried_up_to_the_limit_then_fails() -> None:
    rig, desks = make_world(CallbackPolicy(max_attempts=2, retry_interval_s=0.0))
    call_id = await queued_then_key_1(rig)
    for attempt in (1, 2):
        op_leg = await operator_answers(rig) if attempt == 1 else await _again(rig)
        out_leg = placed_to(rig, TRUNK_HOST)[-1]
        rig.ua.phone_reject(out_leg, 486)
        assert op_leg.session.finished
        rig.acd.wrapup_done(GENERAL_OP)
    results = [
        (a.payload["attempt"], a.text("result"))
        for a in rig.events.of(EventKind.CALLBACK_ATTEMPTED)
    ]
    assert results == [(1, "busy"), (2, "busy")]
    (done,) = rig.events.of(EventKind.CALLBACK_COMPLETED)
    assert done.call_id == call_id and done.payload == {"result": "failed", "attempts": 2}
    assert desks.callbacks.requests() == () and rig.acd.waiting_calls() == ()


async def _again(rig: Rig) -> Leg:
    """The request parked again (a zero retry interval) rings the operator once more."""
    for _ in range(50):  # loop turns only: the retry timer, then the dialer's task
        if len(placed_to(rig, "10.0.0.50")) == 2:
            break
        await asyncio.sleep(0)
    op_leg = placed_to(rig, "10.0.0.50")[-1]
    rig.ua.phone_answer(op_leg, phone_answer_to(op_leg))
    for _ in range(50):
        if len(placed_to(rig, TRUNK_HOST)) == 2:
            break
        await asyncio.sleep(0)
    return op_leg


async def test_an_operator_who_refuses_leaves_the_request_in_its_place() -> None:
    rig, desks = make_world()
    await queued_then_key_1(rig)
    rig.phones.register("1001")
    rig.acd.set_operator_state(GENERAL_OP, OperatorState.READY)
    await asyncio.sleep(0)
    (op_leg,) = placed_to(rig, "10.0.0.50")
    rig.ua.phone_reject(op_leg, 486)
    (request,) = desks.callbacks.requests()
    assert request.state is CallbackState.QUEUED and request.attempts == 0
    assert rig.events.of(EventKind.CALLBACK_ATTEMPTED) == []
    assert placed_to(rig, TRUNK_HOST) == []


async def test_an_anonymous_caller_cannot_ask_for_a_callback() -> None:
    rig, desks = make_world()
    rig.ua.incoming(caller_offer(), caller="anonymous")
    await rig.controller.settle()
    (call,) = rig.controller.calls()
    with pytest.raises(LocalProtocolError):
        desks.callbacks.callback_requested(call.call_id)
    assert call.in_acd and desks.callbacks.requests() == ()


async def test_click_to_call_events_and_operator_states() -> None:
    rig, desks = make_world()
    rig.phones.register("1001")
    rig.acd.set_operator_state(GENERAL_OP, OperatorState.READY)
    call_id = desks.dial_out.dial_out(GENERAL_OP, "8 916 123 45 67")
    assert rig.acd.operator_state(GENERAL_OP) is OperatorState.RESERVED
    await asyncio.sleep(0)
    (op_leg,) = placed_to(rig, "10.0.0.50")
    assert header(op_leg, "X-Hotline-Call") == OutboundKind.CLICK_TO_CALL.value
    rig.ua.phone_answer(op_leg, phone_answer_to(op_leg))
    await asyncio.sleep(0)
    assert rig.acd.operator_state(GENERAL_OP) is OperatorState.TALKING
    (out_leg,) = placed_to(rig, TRUNK_HOST)
    rig.ua.phone_answer(out_leg, phone_answer_to(out_leg, port=32000))
    rig.ua.far_hang_up(op_leg)  # the operator hangs up
    assert out_leg.session.finished
    assert rig.acd.operator_state(GENERAL_OP) is OperatorState.READY  # no wrap-up
    kinds = [e.kind for e in rig.events.events if e.call_id == call_id]
    assert kinds == [EventKind.OUTBOUND_DIALED, EventKind.OUTBOUND_ANSWERED, EventKind.CALL_ENDED]
    assert all(
        e.direction is Direction.OUTBOUND
        for e in rig.events.events
        if e.call_id == call_id and e.kind is not EventKind.CALL_ENDED
    )
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "operator"
    assert rig.media.open_legs() == []


async def test_click_to_call_not_answered_by_the_operator_frees_it() -> None:
    rig, desks = make_world()
    rig.phones.register("1001")
    rig.acd.set_operator_state(GENERAL_OP, OperatorState.READY)
    call_id = desks.dial_out.dial_out(GENERAL_OP, "+79161234567")
    await asyncio.sleep(0)
    (op_leg,) = placed_to(rig, "10.0.0.50")
    rig.ua.phone_reject(op_leg, 603)
    assert rig.acd.operator_state(GENERAL_OP) is OperatorState.READY
    (failed,) = rig.events.of(EventKind.OUTBOUND_FAILED)
    assert failed.call_id == call_id and failed.text("cause") == "operator_rejected"
    assert placed_to(rig, TRUNK_HOST) == [] and rig.media.open_legs() == []


async def test_click_to_call_refusals() -> None:
    rig, desks = make_world()
    with pytest.raises(DialOutRefused) as bad:
        desks.dial_out.dial_out(GENERAL_OP, "12ab")
    assert bad.value.refusal is DialOutRefusal.BAD_NUMBER
    with pytest.raises(DialOutRefused) as emergency:
        desks.dial_out.dial_out(GENERAL_OP, "112")
    assert emergency.value.refusal is DialOutRefusal.BAD_NUMBER
    with pytest.raises(DialOutRefused) as logged_out:
        desks.dial_out.dial_out(GENERAL_OP, "+79161234567")
    assert logged_out.value.refusal is DialOutRefusal.OPERATOR_BUSY
    rig.acd.set_operator_state(GENERAL_OP, OperatorState.NOT_READY, "break")
    with pytest.raises(DialOutRefused) as no_phone:
        desks.dial_out.dial_out(GENERAL_OP, "+79161234567")
    assert no_phone.value.refusal is DialOutRefusal.NO_PHONE
    desks.dialer.trunks.reconfigure([])
    with pytest.raises(DialOutRefused) as no_route:
        desks.dial_out.dial_out(GENERAL_OP, "+79161234567")
    assert no_route.value.refusal is DialOutRefusal.NO_ROUTE
    assert rig.events.of(EventKind.OUTBOUND_DIALED) == []


async def turns(until: Callable[[], bool], limit: int = 50) -> None:
    """Let the loop turn (zero-delay timers, tasks) until ``until()`` holds; no sleeping."""
    for _ in range(limit):
        if until():
            return
        await asyncio.sleep(0)


async def test_an_operator_phone_that_rings_out_is_cancelled() -> None:
    rig, desks = make_world()
    rig.phones.register("1001")
    rig.acd.set_operator_state(GENERAL_OP, OperatorState.READY)
    desks.dial_out.operator_ring_s = 0.0
    call_id = desks.dial_out.dial_out(GENERAL_OP, "+79161234567")
    await turns(lambda: bool(rig.events.of(EventKind.OUTBOUND_FAILED)))
    (op_leg,) = placed_to(rig, "10.0.0.50")
    rig.ua.phone_ring(op_leg)  # CANCEL waits for a provisional response (RFC 3261 §9.1)
    assert op_leg.session.finished
    (failed,) = rig.events.of(EventKind.OUTBOUND_FAILED)
    assert failed.call_id == call_id and failed.text("cause") == "operator_no_answer"
    assert rig.acd.operator_state(GENERAL_OP) is OperatorState.READY
    assert desks.dialer.active() == 0 and rig.media.open_legs() == []


async def test_a_number_that_rings_out_fails_and_frees_the_trunk() -> None:
    rig, desks = make_world()
    rig.phones.register("1001")
    rig.acd.set_operator_state(GENERAL_OP, OperatorState.READY)
    desks.dial_out.dial_ring_s = 0.0
    desks.dial_out.dial_out(GENERAL_OP, "+79161234567")
    await turns(lambda: bool(placed_to(rig, "10.0.0.50")))
    (op_leg,) = placed_to(rig, "10.0.0.50")
    rig.ua.phone_answer(op_leg, phone_answer_to(op_leg))
    await turns(lambda: bool(rig.events.of(EventKind.OUTBOUND_FAILED)))
    (out_leg,) = placed_to(rig, TRUNK_HOST)
    assert op_leg.session.finished  # BYE to the operator
    rig.ua.phone_ring(out_leg)  # then the pending CANCEL goes out (RFC 3261 §9.1)
    assert out_leg.session.finished
    (failed,) = rig.events.of(EventKind.OUTBOUND_FAILED)
    assert failed.text("cause") == "no_answer"
    assert desks.dialer.trunks.active_calls("local-test") == 0
    assert rig.acd.operator_state(GENERAL_OP) is OperatorState.READY


def test_callback_policy_limits() -> None:
    with pytest.raises(LocalProtocolError):
        CallbackPolicy(max_attempts=0)
    with pytest.raises(LocalProtocolError):
        CallbackPolicy(retry_interval_s=-1.0)
    with pytest.raises(LocalProtocolError):
        CallbackPolicy(dial_ring_s=1.0)
    assert CallbackPolicy().max_attempts == 3
