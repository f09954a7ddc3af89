"""Attended transfer (ctl_attended): through the API and from the phone, on the controller fakes."""

from __future__ import annotations

import itertools

import pytest
from test_calls_controller_fakes import (
    OUR_CONFIG,
    OUR_CONTACT,
    Rig,
    caller_offer,
    phone_answer_to,
    reparse,
)
from test_calls_transfer import (
    HOUSING,
    OP1,
    OP2,
    TransferringMedia,
    far_ended,
    make_rig,
    notifies,
    talking_with_1001,
)

from hotline.acd.agent import OperatorState
from hotline.calls.api import ActionRefusal, CallActionError, TargetKind, TransferTarget
from hotline.calls.call import Call, CallPhase
from hotline.calls.ctl_attended import AttendedTransfers
from hotline.calls.ctl_consult import ConsultState
from hotline.core.ids import CallId
from hotline.reports.events import EventKind
from hotline.sip.auth import AuthDecision, AuthOutcome
from hotline.sip.dlg_events import DialogConfirmed, DialogTerminated
from hotline.sip.dlg_headers import Replaces, build_refer_to
from hotline.sip.dlg_session import InviteSession
from hotline.sip.dlg_session_base import SendRequest, SessionConfig
from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipRequest
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.uri import SipUri
from hotline.sip.useragent import Leg

TO_1002 = TransferTarget(TargetKind.OPERATOR, "1002")
PHONE_1001 = SessionConfig(via_sent_by="10.0.0.50:5062")
_LEG_IDS = itertools.count(900)


def attended_of(rig: Rig) -> AttendedTransfers:
    """The controller's own attended transfers (wired by the controller)."""
    found = rig.controller.attended
    assert found is not None
    return found


def state_of(rig: Rig, call: Call) -> ConsultState | None:
    consult = attended_of(rig).consultation(call.call_id)
    return None if consult is None else consult.state


def phase_of(call: Call) -> CallPhase:
    return call.phase


# -- through the API -------------------------------------------------------------------------


async def test_consult_holds_the_caller_rings_the_target_and_complete_hands_over() -> None:
    rig = make_rig()
    media = rig.media
    assert isinstance(media, TransferringMedia)
    att = attended_of(rig)
    caller, op_leg, call = await talking_with_1001(rig)
    first_media = call.operator_media
    att.consult(call.call_id, TO_1002)
    assert media.unbridged[-1] == call.caller_media
    assert media.played[-1] == (call.caller_media, f"consult-{call.call_id}")
    assert rig.acd.operator_state(OP2) is OperatorState.RESERVED
    await rig.controller.settle()
    target = rig.ua.placed[-1]
    invite = target.session.invite
    assert invite.headers.get("X-Hotline-Consult") == call.call_id
    assert invite.from_.uri == SipUri("10.0.0.1", "1001")
    with pytest.raises(CallActionError) as early:
        att.complete(call.call_id)
    assert early.value.refusal is ActionRefusal.WRONG_STATE
    rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    assert state_of(rig, call) is ConsultState.TALKING
    consult = att.consultation(call.call_id)
    assert consult is not None
    assert media.bridges[-1] == (first_media, consult.out.media_leg_id)
    assert rig.acd.operator_state(OP1) is OperatorState.TALKING
    att.complete(call.call_id)
    assert att.active() == 0 and att.legs() == 0
    assert call.operator_id == OP2 and call.operator_leg is target
    assert far_ended(rig, op_leg) and not far_ended(rig, target)
    assert first_media in media.closed
    assert media.stopped[-1] == (call.caller_media, f"consult-{call.call_id}")
    assert media.bridges[-1] == (call.caller_media, call.operator_media)
    assert [r[2] for r in media.recordings] == [call.call_id, f"{call.call_id}-2"]
    assert rig.acd.operator_state(OP1) is OperatorState.WRAP_UP
    assert rig.acd.operator_state(OP2) is OperatorState.TALKING
    assert rig.acd.engine.open_transfers() == ()
    (moved,) = rig.events.of(EventKind.CALL_TRANSFERRED)
    assert moved.operator_id == OP1 and moved.call_id == call.call_id
    assert dict(moved.payload) == {"kind": "attended", "to": "1002", "to_type": "operator"}
    rig.ua.far_hang_up(caller)
    assert rig.controller.active() == 0 and media.open_legs() == []
    assert far_ended(rig, target)
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.operator_id == OP2 and ended.text("who_hung_up") == "caller"


async def test_cancel_drops_the_target_and_resumes_the_caller() -> None:
    rig = make_rig()
    media = rig.media
    att = attended_of(rig)
    caller, _op_leg, call = await talking_with_1001(rig)
    att.consult(call.call_id, TO_1002)
    await rig.controller.settle()
    target = rig.ua.placed[-1]
    rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    att.cancel(call.call_id)
    assert far_ended(rig, target) and att.active() == 0 and att.legs() == 0
    assert media.bridges[-1] == (call.caller_media, call.operator_media)
    assert (call.caller_media, f"consult-{call.call_id}") in media.stopped
    assert call.operator_id == OP1 and rig.acd.operator_state(OP1) is OperatorState.TALKING
    assert rig.acd.operator_state(OP2) is OperatorState.READY
    assert rig.acd.engine.operator_status(OP2).available is True  # withdrawn: no penalty
    assert rig.events.of(EventKind.CALL_TRANSFERRED) == []
    assert len(media.open_legs()) == 2
    with pytest.raises(CallActionError) as again:
        att.cancel(call.call_id)
    assert again.value.refusal is ActionRefusal.WRONG_STATE
    rig.ua.far_hang_up(caller)
    assert rig.controller.active() == 0 and media.open_legs() == []


async def test_target_not_answering_resumes_the_caller_with_the_no_answer_policy() -> None:
    rig = make_rig()
    att = attended_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    att.consult(call.call_id, TO_1002)
    await rig.controller.settle()
    target = rig.ua.placed[-1]
    rig.ua.phone_ring(target)
    att.ring_timed_out(call.call_id)
    assert far_ended(rig, target) and att.active() == 0
    assert rig.media.bridges[-1] == (call.caller_media, call.operator_media)
    assert rig.acd.engine.operator_status(OP2).available is False  # the no-answer delay


async def test_busy_target_ends_the_consultation() -> None:
    rig = make_rig()
    att = attended_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    att.consult(call.call_id, TO_1002)
    await rig.controller.settle()
    rig.ua.phone_reject(rig.ua.placed[-1], 486)
    assert att.active() == 0 and call.operator_id == OP1
    assert rig.media.bridges[-1] == (call.caller_media, call.operator_media)


async def test_caller_leaving_during_the_consultation_ends_everything() -> None:
    rig = make_rig()
    att = attended_of(rig)
    caller, _op_leg, call = await talking_with_1001(rig)
    att.consult(call.call_id, TO_1002)
    await rig.controller.settle()
    target = rig.ua.placed[-1]
    rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    rig.ua.far_hang_up(caller)
    assert far_ended(rig, target) and att.active() == 0 and att.legs() == 0
    assert rig.controller.active() == 0 and rig.media.open_legs() == []
    assert rig.acd.operator_state(OP2) is OperatorState.READY
    assert rig.acd.operator_state(OP1) is OperatorState.WRAP_UP


async def test_consulting_a_queue_waits_then_requeues_the_call_as_attended() -> None:
    rig = make_rig()
    att = attended_of(rig)
    _caller, op_leg, call = await talking_with_1001(rig)
    rig.acd.engine.set_not_ready(OP2, "away", rig.clock.monotonic())
    att.consult(call.call_id, TransferTarget(TargetKind.QUEUE, "housing"))
    assert state_of(rig, call) is ConsultState.TALKING
    att.complete(call.call_id)
    assert phase_of(call) is CallPhase.QUEUED and call.queue_id == HOUSING
    assert far_ended(rig, op_leg) and rig.acd.operator_state(OP1) is OperatorState.WRAP_UP
    (moved,) = rig.events.of(EventKind.CALL_TRANSFERRED)
    assert dict(moved.payload) == {"kind": "attended", "to": "queue:housing", "to_type": "queue"}


async def test_refusals_name_their_reason() -> None:
    rig = make_rig()
    att = attended_of(rig)
    _caller, _op_leg, call = await talking_with_1001(rig)
    cases = [
        (CallId("nope"), TO_1002, ActionRefusal.NOT_FOUND),
        (call.call_id, TransferTarget(TargetKind.OPERATOR, "1001"), ActionRefusal.TARGET_UNAVAILABLE),
        (call.call_id, TransferTarget(TargetKind.OPERATOR, "1099"), ActionRefusal.TARGET_UNAVAILABLE),
        (call.call_id, TransferTarget(TargetKind.QUEUE, "nope"), ActionRefusal.NOT_FOUND),
        (call.call_id, TransferTarget(TargetKind.ORGANISATION, "pfr"), ActionRefusal.NOT_ALLOWED),
    ]  # fmt: skip
    for call_id, target, refusal in cases:
        with pytest.raises(CallActionError) as refused:
            att.consult(call_id, target)
        assert refused.value.refusal is refusal, target
    assert att.active() == 0 and rig.acd.operator_state(OP2) is OperatorState.READY
    rig.acd.engine.set_not_ready(OP2, "away", rig.clock.monotonic())
    with pytest.raises(CallActionError) as busy:
        att.consult(call.call_id, TO_1002)
    assert busy.value.refusal is ActionRefusal.TARGET_UNAVAILABLE
    with pytest.raises(CallActionError) as none:
        att.complete(call.call_id)
    assert none.value.refusal is ActionRefusal.WRONG_STATE


async def test_a_queued_call_cannot_be_consulted() -> None:
    rig = make_rig()
    att = attended_of(rig)
    rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    (call,) = rig.controller.calls()
    with pytest.raises(CallActionError) as refused:
        att.consult(call.call_id, TO_1002)
    assert refused.value.refusal is ActionRefusal.WRONG_STATE


# -- from the operator's phone ------------------------------------------------------------------


def phone_dials(
    rig: Rig,
    user: str,
    *,
    by: str = "1001",
    admitted: AuthDecision | None = None,
    source_port: int = 5062,
    expect: bool = True,
) -> Leg:
    """1001's phone INVITEs ``user`` (digest-authenticated as ``by``); returns our inbound leg."""
    clock = rig.clock
    far = InviteSession.outgoing(
        now=clock.monotonic(),
        config=PHONE_1001,
        request_uri=SipUri("10.0.0.1", user, port=5060),
        from_=NameAddr(SipUri("10.0.0.1", by)),
        to=NameAddr(SipUri("10.0.0.1", user)),
        contact=NameAddr(SipUri("10.0.0.50", by, port=5062)),
        body=caller_offer(port=34000),
    )
    (first,) = far.messages_to_send()
    assert isinstance(first, SendRequest)
    request = reparse(first.request)
    assert isinstance(request, SipRequest)
    session = InviteSession.incoming(
        request, now=clock.monotonic(), config=OUR_CONFIG, local_contact=OUR_CONTACT
    )
    leg = Leg(
        next(_LEG_IDS),
        session,
        Peer(TransportKind.UDP, "10.0.0.50", source_port),
        session.dialog.local_tag if session.dialog else "t",
        admitted or AuthDecision(AuthOutcome.AUTHENTICATED, by),
    )
    session.next_event()
    rig.ua.far[leg.leg_id] = far
    rig.controller.on_incoming(rig.ua, leg, request.body)
    assert (attended_of(rig).consultation(rig.controller.calls()[0].call_id) is not None) is expect
    rig.ua.flush(leg)
    return leg


def replaces_of(leg: Leg) -> Replaces:
    """What 1001's phone puts in Refer-To for its consultation dialog (RFC 5589 §7)."""
    dialog = leg.session.dialog
    if dialog is None:  # still ringing: our tag as the Leg knows it
        return Replaces(leg.call_id, leg.local_tag, leg.session.invite.from_.tag or "")
    return Replaces(leg.call_id, dialog.id.local_tag, dialog.id.remote_tag)


def refer_replacing(rig: Rig, op_leg: Leg, target: str, replaces: Replaces) -> None:
    far = rig.ua.far_of(op_leg)
    far.refer(
        rig.clock.monotonic(),
        build_refer_to(SipUri("10.0.0.1", target), replaces=replaces),
    )
    rig.ua.flush(op_leg)


async def consult_from_phone(rig: Rig) -> tuple[Leg, Leg, Call, Leg, Leg]:
    caller, op_leg, call = await talking_with_1001(rig)
    inbound = phone_dials(rig, "1002")
    await rig.controller.settle()
    target = rig.ua.placed[-1]
    assert target.session.invite.uri == SipUri("10.0.0.50", "1002", port=5062)
    return caller, op_leg, call, inbound, target


async def test_phone_consultation_then_refer_with_replaces_completes_the_transfer() -> None:
    rig = make_rig()
    media = rig.media
    assert isinstance(media, TransferringMedia)
    caller, op_leg, call, inbound, target = await consult_from_phone(rig)
    assert rig.acd.operator_state(OP2) is OperatorState.RESERVED
    assert media.played[-1] == (call.caller_media, f"consult-{call.call_id}")  # not held yet
    rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    far_in = rig.ua.far_events[inbound.leg_id]
    assert any(isinstance(e, DialogConfirmed) for e in far_in)  # the phone's call is answered
    consult = attended_of(rig).consultation(call.call_id)
    assert consult is not None and consult.inbound_media is not None
    assert media.bridges[-1] == (consult.inbound_media, consult.out.media_leg_id)
    refer_replacing(rig, op_leg, "1002", replaces_of(inbound))
    assert notifies(rig, op_leg) == [(100, False), (200, True)]
    assert far_ended(rig, op_leg) and far_ended(rig, inbound) and not far_ended(rig, target)
    assert call.operator_id == OP2 and call.operator_leg is target
    assert media.bridges[-1] == (call.caller_media, call.operator_media)
    assert rig.acd.operator_state(OP1) is OperatorState.WRAP_UP
    assert rig.acd.operator_state(OP2) is OperatorState.TALKING
    (moved,) = rig.events.of(EventKind.CALL_TRANSFERRED)
    assert dict(moved.payload) == {"kind": "attended", "to": "1002", "to_type": "operator"}
    assert attended_of(rig).legs() == 0 and attended_of(rig).active() == 0
    rig.ua.far_hang_up(target)
    assert rig.controller.active() == 0 and media.open_legs() == []
    assert far_ended(rig, caller)
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.operator_id == OP2 and ended.text("who_hung_up") == "operator"


async def test_refer_naming_another_dialog_gets_481_and_nothing_changes() -> None:
    rig = make_rig()
    _caller, op_leg, call, inbound, target = await consult_from_phone(rig)
    rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    refer_replacing(rig, op_leg, "1002", Replaces("other-call", "a", "b"))
    assert notifies(rig, op_leg) == [(100, False), (481, True)]
    assert call.operator_id == OP1 and not far_ended(rig, inbound)


async def test_refer_while_the_target_still_rings_gets_491() -> None:
    rig = make_rig()
    _caller, op_leg, call, inbound, target = await consult_from_phone(rig)
    rig.ua.phone_ring(target)
    refer_replacing(rig, op_leg, "1002", replaces_of(inbound))
    assert notifies(rig, op_leg) == [(100, False), (491, True)]
    assert call.operator_id == OP1


async def test_phone_hanging_up_the_consultation_frees_the_target() -> None:
    rig = make_rig()
    media = rig.media
    _caller, _op_leg, call, inbound, target = await consult_from_phone(rig)
    rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    rig.ua.far_hang_up(inbound)
    assert far_ended(rig, target) and attended_of(rig).active() == 0
    assert rig.acd.operator_state(OP2) is OperatorState.READY
    assert call.operator_id == OP1 and len(media.open_legs()) == 2
    assert media.bridges[-1] == (call.caller_media, call.operator_media)


async def test_target_busy_rejects_the_phones_consultation_invite() -> None:
    rig = make_rig()
    _caller, _op_leg, _call, inbound, target = await consult_from_phone(rig)
    rig.ua.phone_reject(target, 486)
    ended = [e for e in rig.ua.far_events[inbound.leg_id] if isinstance(e, DialogTerminated)]
    assert [e.status for e in ended] == [486]
    assert attended_of(rig).active() == 0 and attended_of(rig).legs() == 0


async def test_invites_that_are_not_consultations_are_left_to_the_routing() -> None:
    rig = make_rig()
    att = attended_of(rig)
    rig.ua.incoming(caller_offer())  # a trunk's call: trusted, not an operator
    (call,) = rig.controller.calls()
    assert att.active() == 0 and call.phase is not CallPhase.TALKING


async def test_unregistered_extension_gets_480() -> None:
    rig = make_rig()
    _caller, _op_leg, _call = await talking_with_1001(rig)
    inbound = phone_dials(rig, "1099", expect=False)
    ended = [e for e in rig.ua.far_events[inbound.leg_id] if isinstance(e, DialogTerminated)]
    assert [e.status for e in ended] == [480]


async def test_a_phone_on_a_trusted_network_is_known_by_its_registered_address() -> None:
    rig = make_rig()
    _caller, _op_leg, _call = await talking_with_1001(rig)
    trusted = AuthDecision(AuthOutcome.TRUSTED, "local-test")
    stranger = phone_dials(rig, "1002", admitted=trusted, source_port=5999, expect=False)
    ended = [e for e in rig.ua.far_events[stranger.leg_id] if isinstance(e, DialogTerminated)]
    assert [e.status for e in ended] == [404]  # not 1001's phone: the routing knows no 1002
    phone_dials(rig, "1002", admitted=trusted)  # 1001's registered address: a consultation
    await rig.controller.settle()
    assert rig.ua.placed[-1].session.invite.uri == SipUri("10.0.0.50", "1002", port=5062)


async def test_refer_on_the_consultation_dialog_naming_the_callers_also_transfers() -> None:
    rig = make_rig()
    caller, op_leg, call, inbound, target = await consult_from_phone(rig)
    rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    far = rig.ua.far_of(inbound)  # the phone's end of its consultation call (it is the UAC)
    far.refer(
        rig.clock.monotonic(),
        build_refer_to(SipUri("10.0.0.1", "122"), replaces=replaces_of(op_leg)),
    )
    rig.ua.flush(inbound)
    assert notifies(rig, inbound) == [(100, False), (200, True)]
    assert far_ended(rig, inbound) and far_ended(rig, op_leg) and not far_ended(rig, caller)
    assert call.operator_id == OP2 and call.operator_leg is target
    (moved,) = rig.events.of(EventKind.CALL_TRANSFERRED)
    assert moved.text("kind") == "attended"
    assert attended_of(rig).active() == 0 and attended_of(rig).legs() == 0


async def test_phone_consulting_a_queue_hears_music_then_the_refer_requeues_the_call() -> None:
    rig = make_rig()
    media = rig.media
    _caller, op_leg, call = await talking_with_1001(rig)
    rig.acd.engine.set_not_ready(OP2, "away", rig.clock.monotonic())
    inbound = phone_dials(rig, "queue-housing")
    await rig.controller.settle()
    assert any(isinstance(e, DialogConfirmed) for e in rig.ua.far_events[inbound.leg_id])
    consult = attended_of(rig).consultation(call.call_id)
    assert consult is not None and consult.state is ConsultState.TALKING
    assert media.played[-1] == (consult.inbound_media, f"consult-q-{call.call_id}")
    refer_replacing(rig, op_leg, "queue-housing", replaces_of(inbound))
    assert notifies(rig, op_leg) == [(100, False), (200, True)]
    assert far_ended(rig, op_leg) and far_ended(rig, inbound)
    assert phase_of(call) is CallPhase.QUEUED and call.queue_id == HOUSING
    (moved,) = rig.events.of(EventKind.CALL_TRANSFERRED)
    assert dict(moved.payload) == {"kind": "attended", "to": "queue:housing", "to_type": "queue"}
    assert attended_of(rig).legs() == 0 and len(media.open_legs()) == 1  # the caller's only


async def test_caller_leaving_during_a_phone_consultation_ends_both_of_its_legs() -> None:
    rig = make_rig()
    caller, _op_leg, _call, inbound, target = await consult_from_phone(rig)
    rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    rig.ua.far_hang_up(caller)
    assert far_ended(rig, inbound) and far_ended(rig, target)
    assert attended_of(rig).active() == 0 and attended_of(rig).legs() == 0
    assert rig.controller.active() == 0 and rig.media.open_legs() == []
    assert rig.acd.operator_state(OP2) is OperatorState.READY
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller"
