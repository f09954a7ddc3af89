"""What the call controller needs from the layers around it, as protocols.

The controller (:mod:`hotline.calls.controller`) never names a concrete
driver: the SIP user agent, the media engine, the ACD service, the phone
directory, the event store and the entry routing are passed in.  The real
classes satisfy these protocols as they are
(:class:`~hotline.sip.useragent.UserAgent`,
:class:`~hotline.media.engine.MediaEngine`,
:class:`~hotline.acd.service.AcdService`,
:class:`~hotline.store.events.EventStore`); unit tests pass fakes that
implement the same methods, so a shifted argument fails type checking.

:class:`EntryRouting` is the seam for the voice menu: :class:`FixedRouting`
sends a called number to a :class:`Route`: a queue (``122`` → ``general``),
optionally after a greeting, or a :class:`CallMenu` (the voice-menu runner,
:class:`~hotline.ivr.runner.IvrRunner`) that decides the queue and the topic
and reports back through the controller's ``menu_*`` methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from hotline.acd.model import RejectReason
from hotline.core.ids import CallId, OperatorId, QueueId, TopicId
from hotline.media.eng_events import LegInfo, MediaEvent
from hotline.media.latch import Address
from hotline.media.player import PlaybackItem
from hotline.reports.events import CallCentreEvent
from hotline.sip.hdr_types import NameAddr
from hotline.sip.peer import Peer
from hotline.sip.uri import Uri
from hotline.sip.useragent import Leg

__all__ = [
    "AcdPort",
    "CallMenu",
    "Clock",
    "EntryRouting",
    "EventSink",
    "FixedRouting",
    "MediaPort",
    "PhoneContact",
    "PhoneDirectory",
    "Route",
    "Signalling",
]


class Clock(Protocol):
    """Monotonic seconds for durations, aware UTC for event timestamps."""

    def monotonic(self) -> float: ...

    def utcnow(self) -> datetime: ...


class Signalling(Protocol):
    """The SIP side: :class:`~hotline.sip.useragent.UserAgent`."""

    def ring(self, leg: Leg) -> None: ...

    def answer(self, leg: Leg, sdp: bytes) -> None: ...

    def reject(self, leg: Leg, status: int = 486) -> None: ...

    def hang_up(self, leg: Leg) -> None: ...

    def call(
        self,
        request_uri: Uri,
        peer: Peer,
        *,
        from_: NameAddr,
        to: NameAddr,
        offer: bytes | None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> Leg: ...


class MediaPort(Protocol):
    """The media side: :class:`~hotline.media.engine.MediaEngine`."""

    host: str

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
    ) -> LegInfo: ...

    def set_remote(
        self, leg_id: str, remote: Address | None, *, remote_rtcp: Address | None = None
    ) -> None: ...

    def play(self, leg_id: str, item: PlaybackItem) -> None: ...

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None: ...

    def bridge(self, leg_a: str, leg_b: str) -> None: ...

    def start_recording(
        self, caller_leg_id: str, operator_leg_id: str, *, recording_id: str | None = None
    ) -> str: ...

    def close_leg(self, leg_id: str) -> bool: ...


class AcdPort(Protocol):
    """The queue side: :class:`~hotline.acd.service.AcdService` (it reads the clock itself).

    Its decisions come back to the controller's ``on_decision``.
    """

    def call_arrived(self, call_id: CallId, queue_id: QueueId) -> None: ...

    def call_abandoned(self, call_id: CallId) -> None: ...

    def call_position(self, call_id: CallId) -> int | None: ...

    def set_call_priority(self, call_id: CallId, priority: int) -> None: ...

    def offer_answered(self, call_id: CallId, operator_id: OperatorId) -> None: ...

    def offer_rejected(
        self, call_id: CallId, operator_id: OperatorId, reason: RejectReason
    ) -> None: ...

    def call_ended(self, operator_id: OperatorId) -> None: ...


@dataclass(frozen=True, slots=True)
class PhoneContact:
    """Where to send an INVITE for an operator: Request-URI and next hop."""

    uri: Uri
    peer: Peer


class PhoneDirectory(Protocol):
    """Operators' phones (the registrar's live bindings, or fixed URIs)."""

    def contacts(self, operator_id: OperatorId) -> Sequence[PhoneContact]: ...


class EventSink(Protocol):
    """Where call-centre events go: :class:`~hotline.store.events.EventStore` (O(1) append)."""

    def append(self, event: CallCentreEvent) -> None: ...


class CallMenu(Protocol):
    """A voice menu that takes answered calls (:class:`~hotline.ivr.runner.IvrRunner`).

    It answers through the controller's ``menu_topic``, ``menu_choice``,
    ``menu_to_queue`` and ``menu_hang_up``.
    """

    def start(self, call_id: CallId, leg_id: str, codec: str) -> None: ...

    def on_media_event(self, call_id: CallId, event: MediaEvent) -> None: ...

    def end(self, call_id: CallId) -> None: ...


@dataclass(frozen=True, slots=True)
class Route:
    """Where an inbound call goes once answered: a queue (with its topic) after a greeting.

    With ``menu`` the call goes through the voice menu first; ``queue_id`` and
    ``topic`` are then only the defaults until the menu routes the call.
    """

    queue_id: QueueId
    topic: TopicId
    greeting: PlaybackItem | None = None
    menu: CallMenu | None = None


class EntryRouting(Protocol):
    """Decides the route of a new inbound call (the IVR plugs in here)."""

    def route(self, called: str, caller: str) -> Route | None:
        """None: nobody serves ``called`` (the INVITE gets 404)."""
        ...


@dataclass(frozen=True, slots=True)
class FixedRouting:
    """Called number → route, without a menu (the slice before the IVR interpreter)."""

    routes: Mapping[str, Route] = field(default_factory=dict)

    def route(self, called: str, caller: str) -> Route | None:
        return self.routes.get(called)
