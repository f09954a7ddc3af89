"""The transfer in progress on a live call (LiveCall.transfer), read from each transfer's owner.

Blind to an operator (CallTransfers.pending), to an organisation
(OrganisationTransfers.dialling) and consultations (AttendedTransfers.consultation)
on the controller fakes; LiveActions turns them into TransferInProgress and
back to None when the transfer fails or completes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from test_calls_controller_fakes import Rig, phone_answer_to
from test_calls_org_transfer import MFC, OrgRig
from test_calls_transfer import HOUSING, OP1, OP2, make_rig, refer, talking_with_1001

from hotline.acd.agent import OperatorState
from hotline.calls.actions import LiveActions
from hotline.calls.api import (
    LiveCall,
    TargetKind,
    TransferInProgress,
    TransferMode,
    TransferTarget,
)
from hotline.calls.call import Call, CallPhase
from hotline.calls.ctl_attended import AttendedTransfers
from hotline.calls.ctl_consult import ConsultState
from hotline.calls.ctl_org_transfer import OrgDialling
from hotline.calls.ctl_transfer import CallTransfers
from hotline.core.ids import CallId

TO_1002 = TransferTarget(TargetKind.OPERATOR, "1002")
TO_HOUSING = TransferTarget(TargetKind.QUEUE, HOUSING)


def actions_of(rig: Rig) -> LiveActions:
    return LiveActions(
        controller=rig.controller, acd=rig.acd, clock=rig.clock, consult=rig.controller.attended
    )


def transfers_of(rig: Rig) -> CallTransfers:
    found = rig.controller.transfers
    assert found is not None
    return found


def attended_of(rig: Rig) -> AttendedTransfers:
    found = rig.controller.attended
    assert found is not None
    return found


def live(actions: LiveActions, call: Call) -> LiveCall:
    found = actions.live_call(call.call_id)
    assert found is not None
    return found


def pending_of(actions: LiveActions, call: Call) -> TransferInProgress | None:
    return live(actions, call).transfer


def phase_of(call: Call) -> CallPhase:
    return call.phase


def test_a_live_call_made_without_a_transfer_has_none() -> None:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    call = LiveCall(
        CallId("c1"), "talking", "inbound", "79161234567", None, None, None, started, None,
        False, None, None,
    )  # fmt: skip
    assert call.transfer is None


# -- blind to an operator --------------------------------------------------------------------


async def test_a_desk_transfer_to_an_operator_is_pending_while_it_rings_then_none_on_refusal() -> (
    None
):
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    assert pending_of(actions, call) is None
    started_wall, started = rig.clock.utcnow(), rig.clock.monotonic()
    actions.transfer_blind(call.call_id, TO_1002)
    await rig.controller.settle()
    ringing = transfers_of(rig).pending(call.call_id)
    assert ringing is not None and (ringing.target, ringing.since) == (OP2, started)
    rig.ua.phone_ring(rig.ua.placed[-1])
    rig.clock.advance(7.0)  # the start stays the start
    assert pending_of(actions, call) == TransferInProgress(
        TransferMode.BLIND, TO_1002, started_wall, answered=False
    )
    assert [c.transfer for c in actions.live_calls()] == [pending_of(actions, call)]
    rig.ua.phone_reject(rig.ua.placed[-1], 486)
    assert transfers_of(rig).pending(call.call_id) is None
    assert pending_of(actions, call) is None
    assert call.operator_id == OP1 and phase_of(call) is CallPhase.TALKING


async def test_a_transfer_from_the_phone_shows_too_and_a_ring_time_out_clears_it() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, op_leg, call = await talking_with_1001(rig)
    refer(rig, op_leg, "1002")
    await rig.controller.settle()
    pending = pending_of(actions, call)
    assert pending is not None and pending.mode is TransferMode.BLIND
    assert pending.target == TO_1002
    rig.clock.advance(20.0)
    transfers_of(rig).ring_timed_out(call.call_id)
    assert pending_of(actions, call) is None
    assert rig.acd.operator_state(OP1) is OperatorState.TALKING


async def test_the_field_clears_when_the_target_answers() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    actions.transfer_blind(call.call_id, TO_1002)
    await rig.controller.settle()
    assert pending_of(actions, call) is not None
    target = rig.ua.placed[-1]
    rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    after = live(actions, call)
    assert after.transfer is None and after.operator_id == OP2


async def test_a_blind_transfer_to_a_queue_takes_effect_at_once_and_is_never_pending() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    actions.transfer_blind(call.call_id, TO_HOUSING)
    after = live(actions, call)
    assert (after.phase, after.transfer) == ("queued", None)


# -- blind to an organisation ----------------------------------------------------------------


async def test_an_organisation_being_dialled_is_pending_until_it_refuses() -> None:
    o = OrgRig()
    started_wall, started = o.rig.clock.utcnow(), o.rig.clock.monotonic()
    _caller, _op_leg, call, org = await o.transferring()
    assert o.orgs.dialling(call.call_id) == OrgDialling("mfc", f"{call.call_id}-2", started, OP1)
    assert o.orgs.pending(call.call_id)
    o.rig.clock.advance(3.0)
    assert pending_of(o.actions, call) == TransferInProgress(TransferMode.BLIND, MFC, started_wall)
    o.rig.ua.phone_reject(org, 486)
    await o.settle()
    assert o.orgs.dialling(call.call_id) is None and pending_of(o.actions, call) is None
    assert call.operator_id == OP1


async def test_an_organisation_answering_clears_the_field() -> None:
    o = OrgRig()
    _caller, _op_leg, call, org = await o.transferring()
    assert pending_of(o.actions, call) is not None
    o.rig.ua.phone_answer(org, phone_answer_to(org))
    assert o.orgs.dialling(call.call_id) is None
    after = live(o.actions, call)
    assert after.transfer is None and after.operator_id is None


# -- consultations ---------------------------------------------------------------------------


async def test_a_consultation_rings_then_talks_then_completes() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    started_wall, started = rig.clock.utcnow(), rig.clock.monotonic()
    actions.consult(call.call_id, TO_1002)
    consult = attended_of(rig).consultation(call.call_id)
    assert consult is not None and consult.since == started
    await rig.controller.settle()
    rig.clock.advance(4.0)
    ringing = TransferInProgress(TransferMode.CONSULT, TO_1002, started_wall, answered=False)
    assert pending_of(actions, call) == ringing
    target = rig.ua.placed[-1]
    rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    assert consult.state is ConsultState.TALKING
    talking = pending_of(actions, call)
    assert talking is not None and talking.answered and talking.since == started_wall
    actions.complete_transfer(call.call_id)
    after = live(actions, call)
    assert after.transfer is None and after.operator_id == OP2


async def test_a_consultation_not_answered_clears_the_field() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    actions.consult(call.call_id, TO_1002)
    await rig.controller.settle()
    rig.ua.phone_ring(rig.ua.placed[-1])
    assert pending_of(actions, call) is not None
    attended_of(rig).ring_timed_out(call.call_id)
    assert pending_of(actions, call) is None
    assert call.operator_id == OP1 and rig.acd.operator_state(OP1) is OperatorState.TALKING


async def test_a_cancelled_consultation_clears_the_field() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    actions.consult(call.call_id, TO_1002)
    await rig.controller.settle()
    assert pending_of(actions, call) is not None
    actions.cancel_consult(call.call_id)
    assert pending_of(actions, call) is None


async def test_a_consultation_with_a_queue_is_answered_at_once() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    actions.consult(call.call_id, TO_HOUSING)
    pending = pending_of(actions, call)
    assert pending is not None
    assert (pending.mode, pending.target, pending.answered) == (
        TransferMode.CONSULT,
        TO_HOUSING,
        True,
    )
    actions.complete_transfer(call.call_id)
    assert pending_of(actions, call) is None and phase_of(call) is CallPhase.QUEUED


async def test_a_consult_port_without_the_query_shows_no_consultation() -> None:
    """A ConsultPort that cannot tell its consultations (a bare port) leaves the field None."""

    class BarePort:
        def consult(self, call_id: CallId, target: TransferTarget) -> None:
            attended_of(rig).consult(call_id, target)

        def complete(self, call_id: CallId) -> None:
            attended_of(rig).complete(call_id)

        def cancel(self, call_id: CallId) -> None:
            attended_of(rig).cancel(call_id)

    rig = make_rig()
    actions = LiveActions(
        controller=rig.controller, acd=rig.acd, clock=rig.clock, consult=BarePort()
    )
    _caller, _op_leg, call = await talking_with_1001(rig)
    actions.consult(call.call_id, TO_1002)
    assert attended_of(rig).consultation(call.call_id) is not None
    assert pending_of(actions, call) is None
