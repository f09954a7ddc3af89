"""Transfer on hang-up: the first operator hangs up while the consulted operator talks.

From the phone (its BYE on the caller's dialog) or the desk (the API's hang-up):
the attended transfer completes instead of the call ending.  While the target
still rings, the hang-up ends the whole call as before.
"""

from __future__ import annotations

from test_calls_attended import TO_1002, attended_of, consult_from_phone
from test_calls_controller_fakes import phone_answer_to
from test_calls_transfer import (
    OP1,
    OP2,
    Rig,
    TransferringMedia,
    far_ended,
    make_rig,
    talking_with_1001,
)

from hotline.acd.agent import OperatorState
from hotline.calls.actions import LiveActions
from hotline.calls.call import Call, CallPhase
from hotline.reports.events import EventKind
from hotline.sip.useragent import Leg


def desk(rig: Rig) -> LiveActions:
    return LiveActions(
        controller=rig.controller, acd=rig.acd, clock=rig.clock, consult=rig.controller.attended
    )


async def consulting_1002(rig: Rig, *, answer: bool = True) -> tuple[Leg, Leg, Call, Leg]:
    caller, op_leg, call = await talking_with_1001(rig)
    attended_of(rig).consult(call.call_id, TO_1002)
    await rig.controller.settle()
    target = rig.ua.placed[-1]
    if answer:
        rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    else:
        rig.ua.phone_ring(target)
    return caller, op_leg, call, target


def handed_to_1002(rig: Rig, call: Call, op_leg: Leg, target: Leg) -> None:
    media = rig.media
    assert isinstance(media, TransferringMedia)
    assert call.phase is CallPhase.TALKING and rig.controller.active() == 1
    assert call.operator_id == OP2 and call.operator_leg is target and not far_ended(rig, target)
    assert far_ended(rig, op_leg)
    assert media.bridges[-1] == (call.caller_media, call.operator_media)
    assert [r[2] for r in media.recordings] == [call.call_id, f"{call.call_id}-2"]
    assert rig.acd.operator_state(OP1) is OperatorState.WRAP_UP
    assert rig.acd.operator_state(OP2) is OperatorState.TALKING
    (moved,) = rig.events.of(EventKind.CALL_TRANSFERRED)
    assert dict(moved.payload) == {"kind": "attended", "to": "1002", "to_type": "operator"}
    assert rig.events.of(EventKind.CALL_ENDED) == []
    assert attended_of(rig).active() == 0 and attended_of(rig).legs() == 0


async def test_the_phone_hanging_up_during_a_talking_consultation_completes_it() -> None:
    rig = make_rig()
    caller, op_leg, call, target = await consulting_1002(rig)
    rig.ua.far_hang_up(op_leg)  # 1001's phone: BYE on the caller's dialog
    handed_to_1002(rig, call, op_leg, target)
    rig.ua.far_hang_up(caller)
    assert rig.controller.active() == 0 and rig.media.open_legs() == [] and far_ended(rig, target)
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.operator_id == OP2 and ended.text("who_hung_up") == "caller"


async def test_the_desk_hanging_up_during_a_talking_consultation_completes_it() -> None:
    rig = make_rig()
    _caller, op_leg, call, target = await consulting_1002(rig)
    desk(rig).hang_up(call.call_id)
    handed_to_1002(rig, call, op_leg, target)


async def test_a_phone_consultation_completes_when_the_phone_hangs_up_the_held_call() -> None:
    rig = make_rig()
    _caller, op_leg, call, inbound, target = await consult_from_phone(rig)
    rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    rig.ua.far_hang_up(op_leg)
    handed_to_1002(rig, call, op_leg, target)
    assert far_ended(rig, inbound)  # the phone's consultation call is over too


async def test_hanging_up_while_the_target_still_rings_ends_the_call() -> None:
    rig = make_rig()
    caller, op_leg, call, target = await consulting_1002(rig, answer=False)
    rig.ua.far_hang_up(op_leg)
    assert rig.controller.active() == 0 and far_ended(rig, caller) and far_ended(rig, target)
    assert rig.events.of(EventKind.CALL_TRANSFERRED) == []
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "operator"
    assert rig.acd.operator_state(OP2) is OperatorState.READY
    assert rig.media.open_legs() == [] and call.ended


async def test_the_desk_hanging_up_a_held_call_without_consultation_ends_it() -> None:
    rig = make_rig()
    caller, _op_leg, call = await talking_with_1001(rig)
    actions = desk(rig)
    actions.hold(call.call_id)
    actions.hang_up(call.call_id)
    assert rig.controller.active() == 0 and far_ended(rig, caller)
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.payload == {"who_hung_up": "operator", "cause": "desk_hang_up"}
