"""Blind transfer by REFER from the operator's phone (ctl_transfer), on the controller fakes."""

from __future__ import annotations

from dataclasses import dataclass, field

from test_calls_controller_fakes import (
    GENERAL,
    EventList,
    LoopUA,
    Phones,
    RecordingMedia,
    Rig,
    caller_offer,
    phone_answer_to,
)

from hotline.acd.agent import OperatorState
from hotline.acd.model import OperatorProfile, QueueConfig
from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.calls.call import Call, CallPhase
from hotline.calls.controller import CallController
from hotline.calls.ctl_ports import FixedRouting, Route
from hotline.calls.ctl_transfer import next_recording_id
from hotline.core.clock import FakeClock
from hotline.core.ids import CallId, OperatorId, QueueId, TopicId
from hotline.reports.events import EventKind
from hotline.sip.dlg_events import DialogTerminated, NotifyReceived, ReferAnswered
from hotline.sip.dlg_headers import ReferTo
from hotline.sip.hdr_types import NameAddr
from hotline.sip.uri import SipUri
from hotline.sip.useragent import Leg

OP1, OP2 = OperatorId("1001"), OperatorId("1002")
HOUSING = QueueId("housing")


@dataclass
class TransferringMedia(RecordingMedia):
    """The recording fake plus hold, unbridge and stop_recording."""

    held: set[str] = field(default_factory=set)
    unbridged: list[str] = field(default_factory=list)
    stopped_recordings: list[str] = field(default_factory=list)

    def hold(self, leg_id: str) -> None:
        self.held.add(leg_id)

    def unhold(self, leg_id: str) -> None:
        self.held.discard(leg_id)

    def unbridge(self, leg_id: str) -> None:
        assert leg_id in self.open_legs()
        self.unbridged.append(leg_id)

    def stop_recording(self, recording_id: str) -> None:
        self.stopped_recordings.append(recording_id)


def make_rig() -> Rig:
    clock = FakeClock()
    ua = LoopUA(clock)
    media = TransferringMedia()
    acd = AcdService(AcdEngine(seed=1), clock, auto_ready_on_register=True)
    for queue_id in (GENERAL, HOUSING):
        acd.add_queue(
            QueueConfig(
                queue_id=queue_id, name=queue_id, topic=TopicId(queue_id), ring_timeout_s=15
            )
        )
    events, phones = EventList(), Phones()
    controller = CallController(
        media=media,
        acd=acd,
        phones=phones,
        routing=FixedRouting({"122": Route(GENERAL, TopicId("general"), None)}),
        events=events,
        clock=clock,
    )
    controller.attach(ua)
    acd.handler = controller
    ua.controller = controller
    return Rig(clock, ua, media, acd, phones, events, controller)


def sign_in(rig: Rig, *operators: OperatorId) -> None:
    rig.acd.set_operators(
        OperatorProfile(operator_id=op, queue_levels={GENERAL: 5, HOUSING: 5}) for op in operators
    )
    for op in operators:
        rig.phones.register(op)
    rig.acd.sync_phones(list(operators))


async def talking_with_1001(rig: Rig) -> tuple[Leg, Leg, Call]:
    caller = rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    sign_in(rig, OP1)
    await rig.controller.settle()
    (op_leg,) = rig.ua.placed
    rig.ua.phone_answer(op_leg, phone_answer_to(op_leg))
    (call,) = rig.controller.calls()
    assert call.phase is CallPhase.TALKING and call.operator_id == OP1
    sign_in(rig, OP1, OP2)  # 1002's phone registers: READY
    assert rig.acd.operator_state(OP2) is OperatorState.READY
    return caller, op_leg, call


def phase_of(call: Call) -> CallPhase:
    """The call's phase now (a function, so mypy does not narrow across controller steps)."""
    return call.phase


def refer(rig: Rig, op_leg: Leg, user: str) -> None:
    far = rig.ua.far_of(op_leg)
    far.refer(rig.clock.monotonic(), ReferTo(NameAddr(SipUri("10.0.0.1", user))))
    rig.ua.flush(op_leg)


def notifies(rig: Rig, leg: Leg) -> list[tuple[int, bool]]:
    found = [e for e in rig.ua.far_events[leg.leg_id] if isinstance(e, NotifyReceived)]
    return [(n.sipfrag.status, n.terminated) for n in found]


def far_ended(rig: Rig, leg: Leg) -> bool:
    return any(isinstance(e, DialogTerminated) for e in rig.ua.far_events[leg.leg_id])


async def test_blind_transfer_to_an_operator_bridges_the_caller_and_byes_the_first() -> None:
    rig = make_rig()
    media = rig.media
    assert isinstance(media, TransferringMedia)
    caller, op_leg, call = await talking_with_1001(rig)
    first_media = call.operator_media
    refer(rig, op_leg, "1002")
    answered = [e for e in rig.ua.far_events[op_leg.leg_id] if isinstance(e, ReferAnswered)]
    assert [e.status for e in answered] == [202]
    await rig.controller.settle()
    assert rig.acd.operator_state(OP2) is OperatorState.RESERVED
    target_leg = rig.ua.placed[-1]
    invite = target_leg.session.invite
    assert invite.headers.get("X-Hotline-Topic") == "general"
    assert "79161234567" in (invite.headers.get("P-Asserted-Identity") or "")
    rig.ua.phone_answer(target_leg, phone_answer_to(target_leg, 32000))
    assert notifies(rig, op_leg) == [(100, False), (200, True)]
    assert far_ended(rig, op_leg)
    assert call.operator_id == OP2 and call.operator_leg is target_leg
    assert rig.acd.operator_state(OP1) is OperatorState.WRAP_UP
    assert rig.acd.operator_state(OP2) is OperatorState.TALKING
    assert first_media in media.closed
    assert media.bridges[-1] == (call.caller_media, call.operator_media)
    assert media.stopped_recordings == [call.call_id]
    assert [r[2] for r in media.recordings] == [call.call_id, f"{call.call_id}-2"]
    (moved,) = rig.events.of(EventKind.CALL_TRANSFERRED)
    assert moved.operator_id == OP1
    assert dict(moved.payload) == {"kind": "blind", "to": "1002", "to_type": "operator"}
    rig.ua.far_hang_up(caller)
    assert rig.controller.active() == 0 and media.open_legs() == []
    assert rig.controller.transfers is not None and rig.controller.transfers.legs() == 0
    assert rig.acd.operator_state(OP2) is OperatorState.WRAP_UP
    assert far_ended(rig, target_leg)
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.operator_id == OP2


async def test_target_not_answering_keeps_the_caller_with_the_first_operator() -> None:
    rig = make_rig()
    media = rig.media
    caller, op_leg, call = await talking_with_1001(rig)
    refer(rig, op_leg, "1002")
    await rig.controller.settle()
    target_leg = rig.ua.placed[-1]
    rig.ua.phone_ring(target_leg)
    transfers = rig.controller.transfers
    assert transfers is not None
    transfers.ring_timed_out(call.call_id)
    assert notifies(rig, op_leg) == [(100, False), (408, True)]
    assert far_ended(rig, target_leg) and not far_ended(rig, op_leg)
    assert call.operator_id == OP1 and call.phase is CallPhase.TALKING
    assert rig.acd.operator_state(OP1) is OperatorState.TALKING
    assert rig.acd.engine.operator_status(OP2).state is OperatorState.READY
    assert rig.acd.engine.operator_status(OP2).available is False  # the no-answer delay
    assert transfers.legs() == 0 and transfers.pending(call.call_id) is None
    assert rig.events.of(EventKind.CALL_TRANSFERRED) == []
    assert len(media.open_legs()) == 2  # the caller's and 1001's media only
    rig.ua.far_hang_up(caller)
    assert rig.controller.active() == 0 and media.open_legs() == []


async def test_busy_target_gets_a_486_notify() -> None:
    rig = make_rig()
    _caller, op_leg, call = await talking_with_1001(rig)
    refer(rig, op_leg, "1002")
    await rig.controller.settle()
    rig.ua.phone_reject(rig.ua.placed[-1], 486)
    assert notifies(rig, op_leg) == [(100, False), (486, True)]
    assert call.operator_id == OP1 and rig.acd.operator_state(OP1) is OperatorState.TALKING


async def test_caller_leaving_while_the_target_rings_stops_the_ringing() -> None:
    rig = make_rig()
    caller, op_leg, _call = await talking_with_1001(rig)
    refer(rig, op_leg, "1002")
    await rig.controller.settle()
    target_leg = rig.ua.placed[-1]
    rig.ua.phone_ring(target_leg)
    rig.ua.far_hang_up(caller)
    assert far_ended(rig, target_leg)
    assert rig.controller.active() == 0 and rig.media.open_legs() == []
    assert rig.acd.engine.operator_status(OP2).available is True  # withdrawn: no penalty
    assert rig.acd.operator_state(OP1) is OperatorState.WRAP_UP


async def test_unknown_or_unregistered_target_gets_480_and_nothing_changes() -> None:
    rig = make_rig()
    _caller, op_leg, call = await talking_with_1001(rig)
    refer(rig, op_leg, "1099")
    assert notifies(rig, op_leg) == [(100, False), (480, True)]
    assert call.operator_id == OP1 and rig.ua.placed == [op_leg]


async def test_blind_transfer_to_a_queue_keeps_the_call_id_and_offers_it_again() -> None:
    rig = make_rig()
    media = rig.media
    caller, op_leg, call = await talking_with_1001(rig)
    rig.acd.engine.set_not_ready(OP2, "away", rig.clock.monotonic())
    refer(rig, op_leg, "queue-housing")
    assert notifies(rig, op_leg) == [(100, False), (200, True)]
    assert far_ended(rig, op_leg)
    assert call.phase is CallPhase.QUEUED and call.queue_id == HOUSING and call.in_acd
    assert call.operator_id is None and rig.acd.operator_state(OP1) is OperatorState.WRAP_UP
    assert rig.acd.call_position(call.call_id) == 1
    assert media.played[-1] == (call.caller_media, f"moh-{call.call_id}")
    (moved,) = rig.events.of(EventKind.CALL_TRANSFERRED)
    assert dict(moved.payload) == {"kind": "blind", "to": "queue:housing", "to_type": "queue"}
    rig.acd.engine.set_ready(OP2, rig.clock.monotonic())
    rig.acd.poll()
    await rig.controller.settle()
    new_leg = rig.ua.placed[-1]
    rig.ua.phone_answer(new_leg, phone_answer_to(new_leg, 33000))
    assert (phase_of(call), call.operator_leg is new_leg) == (CallPhase.TALKING, True)
    assert call.recording_id == f"{call.call_id}-2"
    rig.ua.far_hang_up(caller)
    assert rig.controller.active() == 0 and media.open_legs() == []


async def test_refer_to_an_unknown_queue_gets_404() -> None:
    rig = make_rig()
    _caller, op_leg, call = await talking_with_1001(rig)
    refer(rig, op_leg, "queue-nope")
    assert notifies(rig, op_leg) == [(100, False), (404, True)]
    assert call.phase is CallPhase.TALKING and not far_ended(rig, op_leg)


def test_recording_segments_are_numbered_after_the_call_id() -> None:
    c = CallId("c9")
    assert next_recording_id(c, None) == "c9"
    assert next_recording_id(c, "c9") == "c9-2"
    assert next_recording_id(c, "c9-2") == "c9-3"
