"""Fakes for the call controller's unit tests (no tests here).

The SIP side is real sans-IO: :class:`LoopUA` implements the controller's
``Signalling`` protocol with real :class:`InviteSession` s, and every far end
(the trunk's caller, the operators' phones) is another real InviteSession;
messages travel between them as bytes (serialised and parsed again).  The
media side records commands; the ACD is the real service around the real
engine, on a fake clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hotline.acd.model import OperatorProfile, QueueConfig
from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.calls.controller import CallController
from hotline.calls.ctl_ports import FixedRouting, PhoneContact, Route
from hotline.core.clock import FakeClock
from hotline.core.ids import OperatorId, QueueId, TopicId
from hotline.media.eng_events import LegInfo
from hotline.media.latch import Address
from hotline.media.player import PlaybackItem, TonePart
from hotline.media.tones import DIAL
from hotline.reports.events import CallCentreEvent, EventKind
from hotline.sdp.negotiation import answer_offer
from hotline.sdp.parser import parse_sdp
from hotline.sip.auth import AuthDecision, AuthOutcome
from hotline.sip.dlg_events import SessionEvent
from hotline.sip.dlg_session import InviteSession
from hotline.sip.dlg_session_base import SendRequest, SendResponse, SessionConfig
from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_parse import parse_message
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.uri import SipUri, Uri
from hotline.sip.useragent import Leg

OUR_CONFIG = SessionConfig(via_sent_by="10.0.0.1:5060")
OUR_CONTACT = NameAddr(SipUri("10.0.0.1", "hotline", port=5060))
TRUNK_CONFIG = SessionConfig(via_sent_by="10.0.0.9:5060")
PHONE_CONFIG = SessionConfig(via_sent_by="10.0.0.50:5062")
GREETING = PlaybackItem("greeting", (TonePart(DIAL, duration_ms=200),))
GENERAL = QueueId("general")


def reparse(message: SipRequest | SipResponse) -> SipRequest | SipResponse:
    return parse_message(bytes(message))


def drained(session: InviteSession) -> list[SessionEvent]:
    found = []
    while (event := session.next_event()) is not None:
        found.append(event)
    return found


def caller_offer(codecs: str = "8 101", port: int = 30000) -> bytes:
    rtpmaps = {"8": "PCMA/8000", "0": "PCMU/8000", "18": "G729/8000", "101": "telephone-event/8000"}
    lines = [
        "v=0",
        "o=trunk 1 1 IN IP4 10.0.0.9",
        "s=-",
        "c=IN IP4 10.0.0.9",
        "t=0 0",
        f"m=audio {port} RTP/AVP {codecs}",
        *(f"a=rtpmap:{pt} {rtpmaps[pt]}" for pt in codecs.split()),
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


class LoopUA:
    """The controller's user agent, wired back to back with far-end sessions in memory."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.controller: CallController | None = None
        self._ids = itertools.count(1)
        self.far: dict[int, InviteSession | None] = {}
        self.placed: list[Leg] = []
        self.far_events: dict[int, list[SessionEvent]] = {}

    def _now(self) -> float:
        return self.clock.monotonic()

    # -- the trunk side ----------------------------------------------------------------------

    def incoming(self, offer: bytes | None, *, to: str = "122", caller: str = "79161234567") -> Leg:
        far = InviteSession.outgoing(
            now=self._now(),
            config=TRUNK_CONFIG,
            request_uri=SipUri("10.0.0.1", to, port=5060),
            from_=NameAddr(SipUri("10.0.0.9", caller)),
            to=NameAddr(SipUri("10.0.0.1", to)),
            contact=NameAddr(SipUri("10.0.0.9", "trunk")),
            body=offer,
        )
        (first,) = far.messages_to_send()
        assert isinstance(first, SendRequest)
        request = reparse(first.request)
        assert isinstance(request, SipRequest)
        session = InviteSession.incoming(
            request, now=self._now(), config=OUR_CONFIG, local_contact=OUR_CONTACT
        )
        leg = Leg(
            next(self._ids),
            session,
            Peer(TransportKind.UDP, "10.0.0.9", 5060),
            session.dialog.local_tag if session.dialog else "t",
            AuthDecision(AuthOutcome.TRUSTED, "local-test"),
        )
        session.next_event()  # InviteReceived, as the real UA consumes it
        self.far[leg.leg_id] = far
        assert self.controller is not None
        self.controller.on_incoming(self, leg, offer)
        self.flush(leg)
        return leg

    def far_cancel(self, leg: Leg) -> None:
        """The trunk CANCELs (the transaction layer matched it and answered 200)."""
        leg.session.receive_cancel(self._now())
        self.flush(leg)

    def far_hang_up(self, leg: Leg) -> None:
        far = self.far[leg.leg_id]
        assert far is not None
        far.hang_up(self._now())
        self.flush(leg)

    # -- the phone side ----------------------------------------------------------------------

    def phone_answer(self, leg: Leg, sdp: bytes) -> None:
        far = self.far[leg.leg_id]
        assert far is not None
        far.ring(self._now())
        far.answer(self._now(), sdp)
        self.flush(leg)

    def phone_ring(self, leg: Leg) -> None:
        far = self.far[leg.leg_id]
        assert far is not None
        far.ring(self._now())
        self.flush(leg)

    def phone_reject(self, leg: Leg, status: int) -> None:
        far = self.far[leg.leg_id]
        assert far is not None
        far.reject(self._now(), status)
        self.flush(leg)

    # -- Signalling ----------------------------------------------------------------------------

    def ring(self, leg: Leg) -> None:
        leg.session.ring(self._now())
        self.flush(leg)

    def answer(self, leg: Leg, sdp: bytes) -> None:
        leg.session.answer(self._now(), sdp)
        self.flush(leg)

    def reject(self, leg: Leg, status: int = 486) -> None:
        leg.session.reject(self._now(), status)
        self.flush(leg)

    def hang_up(self, leg: Leg) -> None:
        leg.session.hang_up(self._now())
        self.flush(leg)

    def act(self, leg: Leg) -> None:
        """Flush after the controller used ``leg.session`` directly (NOTIFY of a transfer)."""
        self.flush(leg)

    def call(
        self,
        request_uri: Uri,
        peer: Peer,
        *,
        from_: NameAddr,
        to: NameAddr,
        offer: bytes | None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> Leg:
        session = InviteSession.outgoing(
            now=self._now(),
            config=OUR_CONFIG,
            request_uri=request_uri,
            from_=from_,
            to=to,
            contact=OUR_CONTACT,
            body=offer,
            extra_headers=extra_headers,
        )
        leg = Leg(next(self._ids), session, peer, "uac")
        self.far[leg.leg_id] = None
        self.placed.append(leg)
        self.flush(leg)
        return leg

    # -- moving messages -----------------------------------------------------------------------

    def flush(self, leg: Leg) -> None:
        """Carry messages both ways and hand our session's events up, until all is quiet."""
        ours = leg.session
        moved = True
        while moved:
            moved = False
            for out in ours.messages_to_send():
                moved = True
                self._to_far(leg, out)
            far = self.far.get(leg.leg_id)
            if far is not None:
                self.far_events.setdefault(leg.leg_id, []).extend(drained(far))
                for out in far.messages_to_send():
                    moved = True
                    self._to_ours(ours, out)
            while (event := ours.next_event()) is not None:
                moved = True
                assert self.controller is not None
                self.controller.on_event(self, leg, event)

    def _to_far(self, leg: Leg, out: SendRequest | SendResponse) -> None:
        now = self._now()
        far = self.far.get(leg.leg_id)
        if isinstance(out, SendResponse):
            response = reparse(out.response)
            assert isinstance(response, SipResponse) and far is not None
            far.receive_response(response, now)
            return
        request = reparse(out.request)
        assert isinstance(request, SipRequest)
        if far is None:
            assert request.method == "INVITE"
            far = InviteSession.incoming(
                request,
                now=now,
                config=PHONE_CONFIG,
                local_contact=NameAddr(SipUri("10.0.0.50", "phone", port=5062)),
            )
            self.far[leg.leg_id] = far
        elif request.method == "CANCEL":
            far.receive_cancel(now, request)
        elif request.method == "ACK" and far.finished:
            pass  # the ACK of a non-2xx belongs to the transaction layer
        else:
            far.receive_request(request, now)

    def _to_ours(self, ours: InviteSession, out: SendRequest | SendResponse) -> None:
        now = self._now()
        if isinstance(out, SendResponse):
            response = reparse(out.response)
            assert isinstance(response, SipResponse)
            ours.receive_response(response, now)
            return
        request = reparse(out.request)
        assert isinstance(request, SipRequest)
        if request.method == "CANCEL":
            ours.receive_cancel(now, request)
        elif request.method == "ACK" and ours.finished:
            pass
        else:
            ours.receive_request(request, now)

    def far_of(self, leg: Leg) -> InviteSession:
        far = self.far[leg.leg_id]
        assert far is not None
        return far


@dataclass
class RecordingMedia:
    """The media engine's commands, recorded (ports from 20000 up)."""

    host: str = "10.0.0.1"
    next_port: int = 20000
    legs: dict[str, LegInfo] = field(default_factory=dict)
    remotes: dict[str, Address | None] = field(default_factory=dict)
    played: list[tuple[str, str]] = field(default_factory=list)
    stopped: list[tuple[str, str | None]] = field(default_factory=list)
    bridges: list[tuple[str, str]] = field(default_factory=list)
    recordings: list[tuple[str, str, str]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    fail_create: bool = False

    async def create_leg(
        self,
        leg_id: str | None = None,
        *,
        codec: str = "PCMA",
        payload_type: int | None = None,
        telephone_event_pt: int | None = 101,
        ptime_ms: int = 20,
        remote: Address | None = None,
        remote_rtcp: Address | None = None,
    ) -> LegInfo:
        from hotline.media.eng_events import MediaEngineError

        if self.fail_create:
            raise MediaEngineError("no free port pair")
        leg_id = leg_id or f"m{len(self.legs) + 1}"
        info = LegInfo(
            leg_id, self.host, self.next_port, self.next_port + 1, 1, codec,
            payload_type if payload_type is not None else 8, telephone_event_pt,
        )  # fmt: skip
        self.next_port += 2
        self.legs[leg_id] = info
        self.remotes[leg_id] = remote
        return info

    def set_remote(
        self, leg_id: str, remote: Address | None, *, remote_rtcp: Address | None = None
    ) -> None:
        assert leg_id in self.open_legs()
        self.remotes[leg_id] = remote

    def play(self, leg_id: str, item: PlaybackItem) -> None:
        assert leg_id in self.open_legs()
        self.played.append((leg_id, item.item_id))

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None:
        self.stopped.append((leg_id, item_id))

    def bridge(self, leg_a: str, leg_b: str) -> None:
        assert {leg_a, leg_b} <= set(self.open_legs())
        self.bridges.append((leg_a, leg_b))

    def start_recording(
        self, caller_leg_id: str, operator_leg_id: str, *, recording_id: str | None = None
    ) -> str:
        rec = recording_id or "rec"
        self.recordings.append((caller_leg_id, operator_leg_id, rec))
        return rec

    def close_leg(self, leg_id: str) -> bool:
        if leg_id in self.closed or leg_id not in self.legs:
            return False
        self.closed.append(leg_id)
        return True

    def open_legs(self) -> list[str]:
        return [leg for leg in self.legs if leg not in self.closed]


@dataclass
class Phones:
    """Operators' phones: one contact each while 'registered'."""

    registered: dict[OperatorId, PhoneContact] = field(default_factory=dict)

    def contacts(self, operator_id: OperatorId) -> Sequence[PhoneContact]:
        contact = self.registered.get(operator_id)
        return () if contact is None else (contact,)

    def register(self, operator_id: str) -> None:
        self.registered[OperatorId(operator_id)] = PhoneContact(
            SipUri("10.0.0.50", operator_id, port=5062), Peer(TransportKind.UDP, "10.0.0.50", 5062)
        )


@dataclass
class EventList:
    events: list[CallCentreEvent] = field(default_factory=list)

    def append(self, event: CallCentreEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind.value for e in self.events]

    def of(self, kind: EventKind) -> list[CallCentreEvent]:
        return [e for e in self.events if e.kind is kind]


@dataclass
class Rig:
    clock: FakeClock
    ua: LoopUA
    media: RecordingMedia
    acd: AcdService
    phones: Phones
    events: EventList
    controller: CallController

    def login(self, *operators: str) -> None:
        self.acd.set_operators(
            OperatorProfile(operator_id=OperatorId(op), queue_levels={GENERAL: 5})
            for op in operators
        )
        for op in operators:
            self.phones.register(op)
        self.acd.sync_phones([OperatorId(op) for op in operators])

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.acd.poll()


def make_rig(
    *,
    greeting: PlaybackItem | None = GREETING,
    queue: QueueConfig | None = None,
    max_calls: int = 10,
) -> Rig:
    clock = FakeClock()
    ua = LoopUA(clock)
    media = RecordingMedia()
    acd = AcdService(AcdEngine(seed=1), clock, auto_ready_on_register=True)
    acd.add_queue(
        queue
        or QueueConfig(
            queue_id=GENERAL, name="General", topic=TopicId("general"), ring_timeout_s=15.0
        )
    )
    phones = Phones()
    events = EventList()
    controller = CallController(
        media=media,
        acd=acd,
        phones=phones,
        routing=FixedRouting({"122": Route(GENERAL, TopicId("general"), greeting)}),
        events=events,
        clock=clock,
        max_calls=max_calls,
    )
    controller.attach(ua)
    acd.handler = controller
    ua.controller = controller
    return Rig(clock, ua, media, acd, phones, events, controller)


def phone_answer_to(leg: Leg, port: int = 31000) -> bytes:
    """The phone's SDP answer to the offer in our INVITE on ``leg``."""
    offer = parse_sdp(leg.session.invite.body)
    return bytes(answer_offer(offer, "10.0.0.50", port, session_id=5, version=1).answer)
