"""Hold and resume of a talking call from either side (re-INVITE, RFC 3264 §8.4)."""

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
from hotline.acd.model import QueueConfig
from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.calls.call import Call, CallPhase
from hotline.calls.controller import CallController
from hotline.calls.ctl_ports import FixedRouting, Route
from hotline.core.clock import FakeClock
from hotline.core.ids import OperatorId, TopicId
from hotline.media.player import PlaybackItem
from hotline.media.timeouts import MediaTimeout
from hotline.reports.events import EventKind
from hotline.sdp.parser import parse_sdp
from hotline.sip.dlg_events import (
    DialogTerminated,
    ModifyCompleted,
    NotifyReceived,
    ReferAnswered,
)
from hotline.sip.dlg_headers import ReferTo
from hotline.sip.hdr_types import NameAddr
from hotline.sip.uri import SipUri
from hotline.sip.useragent import Leg


@dataclass
class HoldingMedia(RecordingMedia):
    """The recording fake plus the engine's hold, unhold and unbridge."""

    held: set[str] = field(default_factory=set)
    unbridged: list[str] = field(default_factory=list)

    def hold(self, leg_id: str) -> None:
        assert leg_id in self.open_legs()
        self.held.add(leg_id)

    def unhold(self, leg_id: str) -> None:
        assert leg_id in self.held
        self.held.discard(leg_id)

    def unbridge(self, leg_id: str) -> None:
        assert leg_id in self.open_legs()
        self.unbridged.append(leg_id)

    def close_leg(self, leg_id: str) -> bool:
        self.held.discard(leg_id)  # the engine forgets a closed leg's hold
        return super().close_leg(leg_id)


class HoldingAcd(AcdService):
    """The real ACD service plus the engine's hold inputs (not in AcdService yet)."""

    def call_held(self, operator_id: OperatorId) -> None:
        self.engine.call_held(operator_id, self._clock.monotonic())

    def call_resumed(self, operator_id: OperatorId) -> None:
        self.engine.call_resumed(operator_id, self._clock.monotonic())


def make_hold_rig(greeting: PlaybackItem | None = None) -> Rig:
    clock = FakeClock()
    ua = LoopUA(clock)
    media = HoldingMedia()
    acd = HoldingAcd(AcdEngine(seed=1), clock, auto_ready_on_register=True)
    acd.add_queue(
        QueueConfig(queue_id=GENERAL, name="General", topic=TopicId("general"), ring_timeout_s=15)
    )
    events = EventList()
    phones = Phones()
    controller = CallController(
        media=media,
        acd=acd,
        phones=phones,
        routing=FixedRouting({"122": Route(GENERAL, TopicId("general"), greeting)}),
        events=events,
        clock=clock,
    )
    controller.attach(ua)
    acd.handler = controller
    ua.controller = controller
    return Rig(clock, ua, media, acd, phones, events, controller)


def hold_sdp(port: int, host: str, direction: str, version: int = 2) -> bytes:
    lines = [
        "v=0",
        f"o=peer 1 {version} IN IP4 {host}",
        "s=-",
        f"c=IN IP4 {host}",
        "t=0 0",
        f"m=audio {port} RTP/AVP 8 101",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        f"a={direction}",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


async def talking(rig: Rig) -> tuple[Leg, Leg, Call]:
    """A caller bridged with operator 1001: (caller leg, operator leg, call)."""
    leg = rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    rig.login("1001")
    await rig.controller.settle()
    (op_leg,) = rig.ua.placed
    rig.ua.phone_answer(op_leg, phone_answer_to(op_leg))
    (call,) = rig.controller.calls()
    assert call.phase is CallPhase.TALKING
    return leg, op_leg, call


def reinvite(rig: Rig, leg: Leg, sdp: bytes) -> bytes:
    """The far end of ``leg`` re-INVITEs with ``sdp``; returns our 200's SDP answer."""
    far = rig.ua.far_of(leg)
    far.reinvite(rig.clock.monotonic(), sdp)
    rig.ua.flush(leg)
    done = [e for e in rig.ua.far_events[leg.leg_id] if isinstance(e, ModifyCompleted)]
    assert done and done[-1].status == 200 and done[-1].answer is not None
    return done[-1].answer


def direction(sdp: bytes) -> str:
    names = {"sendrecv", "sendonly", "recvonly", "inactive"}
    found = [a.name for a in parse_sdp(sdp).media[0].attributes if a.name in names]
    return found[0] if found else "sendrecv"


async def test_operator_holds_caller_hears_music_and_resumes() -> None:
    rig = make_hold_rig()
    media = rig.media
    assert isinstance(media, HoldingMedia)
    _caller, op_leg, call = await talking(rig)
    assert call.caller_media == "m1" and call.operator_media == "m2"

    answer = reinvite(rig, op_leg, hold_sdp(31000, "10.0.0.50", "sendonly"))
    assert direction(answer) == "recvonly"
    assert parse_sdp(answer).media[0].port == 20002  # the operator media leg's port
    assert media.unbridged == ["m1"]
    assert media.played[-1] == ("m1", f"hold-{call.call_id}")
    assert media.held == {"m2"}
    assert rig.acd.operator_state(OperatorId("1001")) is OperatorState.HOLD
    (held,) = rig.events.of(EventKind.CALL_HELD)
    assert held.operator_id == "1001" and held.payload["by"] == "operator"
    assert rig.controller.dialogs is not None
    assert rig.controller.dialogs.held_by(call.call_id) is not None

    answer = reinvite(rig, op_leg, hold_sdp(31000, "10.0.0.50", "sendrecv", version=3))
    assert direction(answer) == "sendrecv"
    assert media.stopped[-1] == ("m1", f"hold-{call.call_id}")
    assert media.held == set()
    assert media.bridges[-1] == ("m1", "m2")
    assert rig.acd.operator_state(OperatorId("1001")) is OperatorState.TALKING
    (resumed,) = rig.events.of(EventKind.CALL_RESUMED)
    assert resumed.payload["by"] == "operator"


async def test_caller_holds_with_null_address_operator_hears_music() -> None:
    rig = make_hold_rig()
    media = rig.media
    assert isinstance(media, HoldingMedia)
    caller, _op_leg, call = await talking(rig)

    answer = reinvite(rig, caller, hold_sdp(30000, "0.0.0.0", "sendrecv"))
    assert direction(answer) == "recvonly"  # the peer receives nothing: we only receive
    assert media.remotes["m1"] == ("10.0.0.9", 30000)  # a null address is not latched
    assert media.played[-1] == ("m2", f"hold-{call.call_id}")
    assert media.held == {"m1"}
    # the caller's hold does not change the operator's ACD state
    assert rig.acd.operator_state(OperatorId("1001")) is OperatorState.TALKING
    assert rig.events.of(EventKind.CALL_HELD)[0].payload["by"] == "caller"

    # an RTP timeout cannot fire on a held leg in the engine; resume with a new address
    answer = reinvite(rig, caller, hold_sdp(30010, "10.0.0.9", "sendrecv", version=3))
    assert direction(answer) == "sendrecv"
    assert media.remotes["m1"] == ("10.0.0.9", 30010)
    assert media.bridges[-1] == ("m1", "m2") and media.held == set()


async def test_inactive_hold_then_caller_hangs_up_leaves_nothing() -> None:
    rig = make_hold_rig()
    media = rig.media
    assert isinstance(media, HoldingMedia)
    caller, op_leg, call = await talking(rig)
    answer = reinvite(rig, op_leg, hold_sdp(31000, "10.0.0.50", "inactive"))
    assert direction(answer) == "inactive"
    rig.ua.far_hang_up(caller)
    assert rig.controller.active() == 0
    assert media.open_legs() == []
    assert any(isinstance(e, DialogTerminated) for e in rig.ua.far_events[op_leg.leg_id])
    assert rig.acd.operator_state(OperatorId("1001")) is OperatorState.WRAP_UP
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.payload["who_hung_up"] == "caller"
    assert rig.controller.dialogs is not None
    assert rig.controller.dialogs.held_by(call.call_id) is None


async def test_media_timeout_on_held_call_still_ends_it_cleanly() -> None:
    rig = make_hold_rig()
    _caller, op_leg, _call = await talking(rig)
    reinvite(rig, op_leg, hold_sdp(31000, "10.0.0.50", "sendonly"))
    rig.controller.on_media_event(MediaTimeout("m1", 30.0))
    assert rig.controller.active() == 0 and rig.media.open_legs() == []


async def test_reinvite_without_sdp_is_refused_and_call_goes_on() -> None:
    rig = make_hold_rig()
    _caller, op_leg, call = await talking(rig)
    far = rig.ua.far_of(op_leg)
    far.reinvite(rig.clock.monotonic(), None)
    rig.ua.flush(op_leg)
    done = [e for e in rig.ua.far_events[op_leg.leg_id] if isinstance(e, ModifyCompleted)]
    assert done and done[-1].status == 488
    assert call.phase is CallPhase.TALKING and rig.controller.active() == 1
    assert rig.events.of(EventKind.CALL_HELD) == []


async def test_hold_by_the_other_party_while_held_changes_no_media() -> None:
    rig = make_hold_rig()
    media = rig.media
    assert isinstance(media, HoldingMedia)
    caller, op_leg, _call = await talking(rig)
    reinvite(rig, op_leg, hold_sdp(31000, "10.0.0.50", "sendonly"))
    reinvite(rig, caller, hold_sdp(30000, "10.0.0.9", "sendonly"))
    assert media.held == {"m2"} and len(rig.events.of(EventKind.CALL_HELD)) == 1
    reinvite(rig, caller, hold_sdp(30000, "10.0.0.9", "sendrecv", version=3))
    assert media.held == {"m2"} and rig.events.of(EventKind.CALL_RESUMED) == []


async def test_refer_from_the_operator_phone_is_refused_with_a_final_notify() -> None:
    rig = make_hold_rig()
    _caller, op_leg, call = await talking(rig)
    far = rig.ua.far_of(op_leg)
    far.refer(rig.clock.monotonic(), ReferTo(NameAddr(SipUri("10.0.0.1", "1002"))))
    rig.ua.flush(op_leg)
    far_events = rig.ua.far_events[op_leg.leg_id]
    answered = [e for e in far_events if isinstance(e, ReferAnswered)]
    assert [e.status for e in answered] == [202]
    notifies = [e for e in far_events if isinstance(e, NotifyReceived)]
    assert [(n.sipfrag.status, n.terminated) for n in notifies] == [(100, False), (501, True)]
    assert call.phase is CallPhase.TALKING and rig.controller.active() == 1
    assert rig.events.of(EventKind.CALL_TRANSFERRED) == []
