"""A test user agent above the SIP stack: it answers calls and can place them.

It negotiates SDP with the real offer/answer code but runs no media; the
media engine has tests of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hotline.sdp.negotiation import answer_offer, build_offer, process_answer
from hotline.sdp.parser import parse_sdp
from hotline.sip.dlg_events import DialogConfirmed, DialogTerminated, SessionEvent
from hotline.sip.useragent import Leg, UserAgent

MEDIA_IP = "127.0.0.1"
MEDIA_PORT = 40000


@dataclass
class Answerer:
    """Answers every call with 180 then 200 (or ``reject_with``); records what happened."""

    reject_with: int | None = None
    answered: int = 0
    confirmed: int = 0
    terminated: list[DialogTerminated] = field(default_factory=list)
    events: list[SessionEvent] = field(default_factory=list)
    outgoing_offers: dict[int, bytes] = field(default_factory=dict)

    def on_incoming(self, ua: UserAgent, leg: Leg, offer: bytes | None) -> None:
        if self.reject_with is not None:
            ua.reject(leg, self.reject_with)
            return
        ua.ring(leg)
        if offer is None:
            sdp = bytes(build_offer(MEDIA_IP, MEDIA_PORT, session_id=1, version=1))
        else:
            result = answer_offer(parse_sdp(offer), MEDIA_IP, MEDIA_PORT, session_id=1, version=1)
            sdp = bytes(result.answer)
        ua.answer(leg, sdp)
        self.answered += 1

    def on_event(self, ua: UserAgent, leg: Leg, event: SessionEvent) -> None:
        self.events.append(event)
        if isinstance(event, DialogConfirmed):
            self.confirmed += 1
            if event.body is not None and leg.leg_id in self.outgoing_offers:
                process_answer(parse_sdp(self.outgoing_offers[leg.leg_id]), parse_sdp(event.body))
        elif isinstance(event, DialogTerminated):
            self.terminated.append(event)
