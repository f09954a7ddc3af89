"""How the last transfer of a live call ended (LiveCall.last_transfer), noted by each owner.

The record itself (bounded, expiring), then each owner on the controller fakes:
blind to an operator (ctl_transfer), to an organisation (ctl_org_transfer),
consultations from the desk and from the phone (ctl_attended); LiveActions
shows an outcome while the call is with the operator who started the transfer.
"""

from __future__ import annotations

import pytest
from test_calls_attended import consult_from_phone
from test_calls_controller_fakes import phone_answer_to
from test_calls_org_transfer import MFC, OrgRig
from test_calls_transfer import HOUSING, OP1, OP2, make_rig, refer, talking_with_1001
from test_calls_transfer_pending import TO_1002, actions_of, attended_of, live, transfers_of

from hotline.acd.model import RejectReason
from hotline.calls.api import (
    TargetKind,
    TransferFailure,
    TransferMode,
    TransferOutcome,
    TransferResult,
    TransferTarget,
)
from hotline.calls.transfer_outcomes import (
    OUTCOME_KEEP_S,
    RecordedOutcome,
    TransferOutcomes,
    failure_of_reason,
    failure_of_status,
    failure_of_text,
)
from hotline.core.errors import ConfigurationError
from hotline.core.ids import CallId, OperatorId

TO_HOUSING = TransferTarget(TargetKind.QUEUE, HOUSING)


def note(
    outcomes: TransferOutcomes, call_id: str, now: float, result: TransferResult
) -> RecordedOutcome:
    return outcomes.record(
        CallId(call_id),
        mode=TransferMode.BLIND,
        target=TO_1002,
        result=result,
        reason=TransferFailure.BUSY,
        from_operator=OperatorId("1001"),
        now=now,
    )


# -- the record ------------------------------------------------------------------------------


def test_an_outcome_is_kept_for_the_keep_time_then_forgotten() -> None:
    outcomes = TransferOutcomes()
    noted = note(outcomes, "c1", 100.0, TransferResult.FAILED)
    assert noted.reason is TransferFailure.BUSY and noted.at == 100.0
    assert outcomes.last(CallId("c1"), 100.0 + OUTCOME_KEEP_S - 0.001) == noted
    assert outcomes.last(CallId("c1"), 100.0 + OUTCOME_KEEP_S) is None
    assert len(outcomes) == 0
    assert OUTCOME_KEEP_S == 30.0


def test_the_latest_outcome_wins_and_only_failures_carry_a_reason() -> None:
    outcomes = TransferOutcomes()
    note(outcomes, "c1", 1.0, TransferResult.FAILED)
    later = note(outcomes, "c1", 2.0, TransferResult.CANCELLED)
    assert later.reason is None
    assert outcomes.last(CallId("c1"), 3.0) == later and len(outcomes) == 1
    outcomes.forget(CallId("c1"))
    assert outcomes.last(CallId("c1"), 3.0) is None


def test_the_record_is_bounded_and_drops_expired_and_oldest_calls() -> None:
    outcomes = TransferOutcomes(keep_s=10.0, limit=3)
    for i in range(5):
        note(outcomes, f"c{i}", float(i), TransferResult.FAILED)
    assert len(outcomes) == 3
    assert [outcomes.last(CallId(f"c{i}"), 5.0) is not None for i in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]
    note(outcomes, "late", 13.5, TransferResult.FAILED)  # c2 and c3 have expired by now
    assert len(outcomes) == 2
    assert outcomes.last(CallId("c4"), 13.5) is not None


def test_a_bad_record_configuration_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        TransferOutcomes(keep_s=0.0)
    with pytest.raises(ConfigurationError):
        TransferOutcomes(limit=0)


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        (408, TransferFailure.NO_ANSWER),
        (487, TransferFailure.NO_ANSWER),
        (486, TransferFailure.BUSY),
        (600, TransferFailure.BUSY),
        (603, TransferFailure.REJECTED),
        (403, TransferFailure.REJECTED),
        (480, TransferFailure.UNAVAILABLE),
        (404, TransferFailure.UNAVAILABLE),
        (488, TransferFailure.ERROR),
        (503, TransferFailure.ERROR),
    ],
)
def test_sip_statuses_map_to_failure_reasons(status: int, failure: TransferFailure) -> None:
    assert failure_of_status(status) is failure


def test_reasons_from_the_acd_and_the_redirector() -> None:
    assert failure_of_reason(RejectReason.BUSY, 503) is TransferFailure.ERROR  # no media leg
    assert failure_of_reason(RejectReason.BUSY, 486) is TransferFailure.BUSY
    assert failure_of_reason(None, 480) is TransferFailure.UNAVAILABLE
    assert failure_of_text("destination answered 486") is TransferFailure.BUSY
    assert failure_of_text("no trunk carried the call (status 503)") is TransferFailure.ERROR
    assert failure_of_text("INVITE ended: local-cancel") is TransferFailure.NO_ANSWER
    assert failure_of_text("no organisation in the directory") is TransferFailure.UNAVAILABLE
    assert failure_of_text("no media leg: boom") is TransferFailure.ERROR
    assert failure_of_text("x" * 10_000 + " 486") is TransferFailure.ERROR  # bounded scan


# -- blind to an operator (ctl_transfer) -----------------------------------------------------


async def test_a_refused_blind_transfer_is_shown_as_failed_busy_then_expires() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    assert live(actions, call).last_transfer is None
    actions.transfer_blind(call.call_id, TO_1002)
    await rig.controller.settle()
    rig.ua.phone_ring(rig.ua.placed[-1])
    assert live(actions, call).last_transfer is None  # in progress: no outcome yet
    rig.clock.advance(2.0)
    ended_wall = rig.clock.utcnow()
    rig.ua.phone_reject(rig.ua.placed[-1], 486)
    rig.clock.advance(5.0)
    assert live(actions, call).last_transfer == TransferOutcome(
        TransferMode.BLIND, TO_1002, TransferResult.FAILED, TransferFailure.BUSY, ended_wall
    )
    assert [c.last_transfer for c in actions.live_calls()] == [live(actions, call).last_transfer]
    rig.clock.advance(OUTCOME_KEEP_S)
    assert live(actions, call).last_transfer is None


async def test_a_ring_time_out_from_the_phones_refer_is_no_answer() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, op_leg, call = await talking_with_1001(rig)
    refer(rig, op_leg, "1002")
    await rig.controller.settle()
    transfers_of(rig).ring_timed_out(call.call_id)
    last = live(actions, call).last_transfer
    assert last is not None
    assert (last.result, last.reason) == (TransferResult.FAILED, TransferFailure.NO_ANSWER)


async def test_a_completed_blind_transfer_is_noted_but_never_shown_to_the_new_operator() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    actions.transfer_blind(call.call_id, TO_1002)
    await rig.controller.settle()
    target = rig.ua.placed[-1]
    rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    noted = transfers_of(rig).outcomes.last(call.call_id, rig.clock.monotonic())
    assert noted is not None and noted.result is TransferResult.COMPLETED
    assert noted.from_operator == OP1
    after = live(actions, call)
    assert after.operator_id == OP2 and after.last_transfer is None


async def test_a_blind_transfer_to_a_queue_is_completed_and_not_shown() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    actions.transfer_blind(call.call_id, TO_HOUSING)
    noted = transfers_of(rig).outcomes.last(call.call_id, rig.clock.monotonic())
    assert noted is not None
    assert (noted.result, noted.target, noted.reason) == (
        TransferResult.COMPLETED,
        TO_HOUSING,
        None,
    )
    assert live(actions, call).last_transfer is None


# -- blind to an organisation (ctl_org_transfer) ---------------------------------------------


async def test_an_organisation_refusing_is_shown_as_failed() -> None:
    o = OrgRig()
    _caller, _op_leg, call, org = await o.transferring()
    o.rig.ua.phone_reject(org, 486)
    await o.settle()
    last = live(o.actions, call).last_transfer
    assert last is not None
    assert (last.mode, last.target, last.result) == (
        TransferMode.BLIND,
        MFC,
        TransferResult.FAILED,
    )
    assert last.reason is not None
    assert call.operator_id == OP1


async def test_an_organisation_answering_is_completed_and_not_shown() -> None:
    o = OrgRig()
    _caller, _op_leg, call, org = await o.transferring()
    o.rig.ua.phone_answer(org, phone_answer_to(org))
    noted = transfers_of(o.rig).outcomes.last(call.call_id, o.rig.clock.monotonic())
    assert noted is not None and noted.result is TransferResult.COMPLETED
    assert (noted.target, noted.from_operator) == (MFC, OP1)
    assert live(o.actions, call).last_transfer is None


# -- consultations (ctl_attended) ------------------------------------------------------------


async def test_a_consultation_not_answered_is_failed_no_answer() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    actions.consult(call.call_id, TO_1002)
    await rig.controller.settle()
    rig.ua.phone_ring(rig.ua.placed[-1])
    assert live(actions, call).last_transfer is None
    rig.clock.advance(30.0)
    ended_wall = rig.clock.utcnow()
    attended_of(rig).ring_timed_out(call.call_id)
    assert live(actions, call).last_transfer == TransferOutcome(
        TransferMode.CONSULT, TO_1002, TransferResult.FAILED, TransferFailure.NO_ANSWER, ended_wall
    )


async def test_a_busy_consulted_operator_is_failed_busy() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    actions.consult(call.call_id, TO_1002)
    await rig.controller.settle()
    rig.ua.phone_reject(rig.ua.placed[-1], 486)
    last = live(actions, call).last_transfer
    assert last is not None and last.reason is TransferFailure.BUSY


async def test_a_consultation_cancelled_from_the_desk_is_cancelled_not_failed() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    actions.consult(call.call_id, TO_1002)
    await rig.controller.settle()
    target = rig.ua.placed[-1]
    rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    actions.cancel_consult(call.call_id)
    last = live(actions, call).last_transfer
    assert last is not None
    assert (last.mode, last.result, last.reason) == (
        TransferMode.CONSULT,
        TransferResult.CANCELLED,
        None,
    )


async def test_a_consultation_hung_up_from_the_phone_is_cancelled_not_failed() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call, inbound, target = await consult_from_phone(rig)
    rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    rig.ua.far_hang_up(inbound)
    last = live(actions, call).last_transfer
    assert last is not None
    assert (last.target, last.result, last.reason) == (TO_1002, TransferResult.CANCELLED, None)
    assert call.operator_id == OP1


async def test_a_phone_consultation_dropped_while_ringing_is_cancelled_too() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call, inbound, target = await consult_from_phone(rig)
    rig.ua.phone_ring(target)
    rig.ua.far_hang_up(inbound)  # the phone CANCELs its consultation INVITE
    last = live(actions, call).last_transfer
    assert last is not None and last.result is TransferResult.CANCELLED


async def test_a_completed_consultation_is_noted_and_not_shown() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    actions.consult(call.call_id, TO_1002)
    await rig.controller.settle()
    target = rig.ua.placed[-1]
    rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    actions.complete_transfer(call.call_id)
    noted = transfers_of(rig).outcomes.last(call.call_id, rig.clock.monotonic())
    assert noted is not None
    assert (noted.mode, noted.result) == (TransferMode.CONSULT, TransferResult.COMPLETED)
    assert live(actions, call).last_transfer is None


async def test_a_new_transfer_in_progress_hides_the_last_outcome() -> None:
    rig = make_rig()
    actions = actions_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    actions.consult(call.call_id, TO_1002)
    await rig.controller.settle()
    rig.ua.phone_reject(rig.ua.placed[-1], 486)
    assert live(actions, call).last_transfer is not None
    rig.clock.advance(1.0)
    actions.consult(call.call_id, TO_HOUSING)
    now = live(actions, call)
    assert now.transfer is not None and now.last_transfer is None
    actions.cancel_consult(call.call_id)
    last = live(actions, call).last_transfer
    assert last is not None and (last.target, last.result) == (
        TO_HOUSING,
        TransferResult.CANCELLED,
    )
    assert last.at == rig.clock.utcnow()
