"""Operator-first outbound calls: ring the operator, then dial out through a trunk (R8b; L3).

Click-to-call (issue 6 item 9) and the call-back (item 3) place the same
kind of call, the "agent-first" preview dial of contact-centre practice:

1. the operator's phone is rung first (an INVITE to its registered contact,
   RFC 3261 §13.2) showing who will be called: ``P-Asserted-Identity``
   (RFC 3325 §9.1) and the From display name carry the number and a label
   («обратный звонок», «исходящий звонок»); ``X-Hotline-Call`` names the kind
   and ``X-Hotline-Topic`` the topic when there is one;
2. when the operator answers (RFC 3264 §6 answer applied) the operator hears
   ringback and the number is dialled through the trunk that
   :class:`~hotline.calls.trunk_outbound.OutboundAttempt` picks, presenting
   the caller id 122 (From and P-Asserted-Identity of the trunk); a 5xx, a
   408 or no final answer (Timer B, RFC 3261 §17.1.1.2) fails over to the
   next trunk;
3. when the called party answers the two media legs are bridged and
   recorded (stereo WAV: the called party left, the operator right);
4. either side's BYE ends both legs (§15); every failure closes whatever
   was opened (no leaked leg, port or trunk slot).

:class:`OutboundDialer` reports each step to the :class:`OutboundListener`
given with the request (the call-back desk, the click-to-call desk), which
talks to the ACD and writes the events.  The controller passes on the SIP
events of legs it does not know and the media events it does not own.
"""

from __future__ import annotations

import asyncio
import enum
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import structlog

from hotline.calls.ctl_offer import CODECS, media_remote
from hotline.calls.ctl_ports import MediaPort, PhoneDirectory, Signalling
from hotline.calls.numbers import PhoneNumber
from hotline.calls.trunk_outbound import AttemptState, OutboundAttempt, TrunkTarget
from hotline.calls.trunks import TrunkTable
from hotline.core.errors import HotlineError, LocalProtocolError, RemoteProtocolError
from hotline.core.ids import CallId, OperatorId, TopicId
from hotline.media.eng_events import CallRecordingStored, MediaEvent, RecordingFailed
from hotline.media.player import PlaybackItem, TonePart
from hotline.media.recorder import RecordingStored
from hotline.media.timeouts import MediaTimeout
from hotline.media.tones import RINGBACK
from hotline.reports.events import HungUpBy
from hotline.sdp.negotiation import build_offer, process_answer
from hotline.sdp.parser import parse_sdp
from hotline.sip.dlg_events import (
    DialogConfirmed,
    DialogTerminated,
    ProvisionalReceived,
    SessionEvent,
    TerminationReason,
)
from hotline.sip.hdr_types import NameAddr
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.uri import SipUri
from hotline.sip.useragent import Leg

__all__ = [
    "OutboundCall",
    "OutboundDialer",
    "OutboundKind",
    "OutboundListener",
    "OutboundRefused",
    "OutboundRequest",
]

log = structlog.get_logger("hotline.calls.outbound")

_TIMEOUT_STATUS: Final = 408
_ERROR_STATUS: Final = 503
_CANCELLABLE: Final = frozenset({AttemptState.READY, AttemptState.TRYING})


class OutboundKind(enum.Enum):
    """Why the node places the call; the ``X-Hotline-Call`` header value."""

    CLICK_TO_CALL = "outbound"
    CALLBACK = "callback"


_LABELS: Final = {
    OutboundKind.CLICK_TO_CALL: "исходящий звонок",
    OutboundKind.CALLBACK: "обратный звонок",
}


class OutboundRefused(HotlineError):
    """The call cannot even start (no registered phone for the operator)."""


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """One operator-first call: who rings first, whom to dial, for how long."""

    call_id: CallId
    kind: OutboundKind
    operator_id: OperatorId
    number: PhoneNumber
    topic: TopicId | None = None
    recording_id: str | None = None  # default: the call id
    operator_ring_s: float = 20.0
    dial_ring_s: float = 40.0
    codec: str = "PCMA"


class OutboundListener(Protocol):
    """Who hears how an outbound call goes (each method called at most once, in this order)."""

    def operator_answered(self, call: OutboundCall) -> bool:
        """The operator's phone answered; False: do not dial (the call is closed)."""
        ...

    def dialled(self, call: OutboundCall) -> None:
        """The first INVITE to the number went out through ``call.trunk``."""
        ...

    def answered(self, call: OutboundCall) -> None:
        """The called party answered: bridged and recorded."""
        ...

    def finished(self, call: OutboundCall) -> None:
        """The call is over; ``call.outcome`` says how (see :class:`OutboundCall`)."""
        ...

    def recording_stored(self, call: OutboundCall, stored: RecordingStored) -> None: ...


@dataclass(slots=True, eq=False)
class OutboundCall:
    """An outbound call in progress.

    ``outcome`` when finished: ``operator_no_answer``/``operator_busy``/
    ``operator_rejected`` (the phone did not take it), ``no_answer``, ``busy``,
    ``rejected``, ``failed`` (the number was not reached; ``status`` is the
    final SIP status), ``completed`` (a conversation took place; ``who``
    hung up) or ``cancelled``.
    """

    request: OutboundRequest
    listener: OutboundListener
    started_at: float
    operator_media: str | None = None
    operator_leg: Leg | None = None
    operator_sdp: bytes | None = None
    operator_up: bool = False
    attempt: OutboundAttempt | None = None
    trunk: str | None = None
    out_media: str | None = None
    out_leg: Leg | None = None
    out_sdp: bytes | None = None
    answered_at: float | None = None
    recording_id: str | None = None
    outcome: str | None = None
    status: int | None = None
    who: HungUpBy | None = None
    done: bool = False
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def call_id(self) -> CallId:
        return self.request.call_id


def _state(attempt: OutboundAttempt) -> AttemptState:
    """The attempt's state now (a call, so the type checker keeps no old narrowing)."""
    return attempt.state


def _peer(target: TrunkTarget) -> Peer:
    trunk = target.trunk
    return Peer(TransportKind(trunk.transport.upper()), trunk.host, trunk.port)


def _refusal(status: int | None, prefix: str = "") -> str:
    if status in (486, 600):
        return f"{prefix}busy"
    if status in (603, 403):
        return f"{prefix}rejected"
    if status in (None, 408, 480, 487):
        return f"{prefix}no_answer"
    return "failed" if not prefix else f"{prefix}no_answer"


class OutboundDialer:
    """Every operator-first outbound call of the node (see the module docstring)."""

    def __init__(
        self,
        *,
        media: MediaPort,
        phones: PhoneDirectory,
        trunks: TrunkTable,
        now: Callable[[], float],
        sig: Callable[[], Signalling],
    ) -> None:
        self._media = media
        self._phones = phones
        self.trunks = trunks
        self._now = now  # monotonic seconds
        self._get_sig = sig  # the controller's user agent, attached later
        self._calls: dict[CallId, OutboundCall] = {}
        self._by_leg: dict[int, OutboundCall] = {}
        self._by_media: dict[str, OutboundCall] = {}
        self._recordings: dict[str, OutboundCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.placed = 0
        self.failed = 0

    @property
    def sig(self) -> Signalling:
        return self._get_sig()

    def active(self) -> int:
        return len(self._calls)

    def call(self, call_id: CallId) -> OutboundCall | None:
        return self._calls.get(call_id)

    def calls(self) -> tuple[OutboundCall, ...]:
        return tuple(self._calls.values())

    async def settle(self) -> None:
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- starting ------------------------------------------------------------------------------

    def start(self, request: OutboundRequest, listener: OutboundListener) -> OutboundCall:
        """Ring the operator; :class:`OutboundRefused` when its phone is not registered."""
        if request.call_id in self._calls:
            raise LocalProtocolError(f"outbound call {request.call_id} exists")
        if request.codec not in CODECS:
            raise OutboundRefused(f"codec {request.codec} cannot be offered")
        if not self._phones.contacts(request.operator_id):
            raise OutboundRefused(f"operator {request.operator_id} has no registered phone")
        call = OutboundCall(request, listener, self._now())
        self._calls[request.call_id] = call
        self.placed += 1
        self._spawn(self._ring_operator(call), f"outbound-{request.call_id}")
        return call

    async def _ring_operator(self, call: OutboundCall) -> None:
        request = call.request
        try:
            info = await self._media.create_leg(codec=request.codec)
        except HotlineError as exc:
            log.warning("no media for the operator", call_id=call.call_id, error=str(exc))
            self._finish(call, "operator_busy")
            return
        if call.done:
            self._media.close_leg(info.leg_id)
            return
        call.operator_media = info.leg_id
        self._by_media[info.leg_id] = call
        contacts = self._phones.contacts(request.operator_id)
        if not contacts:
            self._finish(call, "operator_busy")
            return
        contact, host = contacts[0], self._media.host
        number = request.number.number
        sdp = bytes(
            build_offer(
                host, info.rtp_port, secrets.randbelow(2**31), 1, codecs=(CODECS[request.codec],)
            )
        )
        call.operator_sdp = sdp
        headers = [
            ("P-Asserted-Identity", f"<sip:{number}@{host}>"),
            ("X-Hotline-Call", request.kind.value),
        ]
        if request.topic is not None:
            headers.append(("X-Hotline-Topic", request.topic))
        display = f"{_LABELS[request.kind]} {number}"
        leg = self.sig.call(
            contact.uri,
            contact.peer,
            from_=NameAddr(SipUri(host=host, user=number), display),
            to=NameAddr(SipUri(host=contact.peer.host, user=request.operator_id)),
            offer=sdp,
            extra_headers=headers,
        )
        if leg.session.finished:
            self._finish(call, "operator_busy")
            return
        call.operator_leg = leg
        self._by_leg[leg.leg_id] = call
        call.timer = asyncio.get_running_loop().call_later(
            request.operator_ring_s, self._ring_timeout, call
        )

    def _ring_timeout(self, call: OutboundCall) -> None:
        call.timer = None
        if call.done:
            return
        if not call.operator_up:
            self._finish(call, "operator_no_answer", status=_TIMEOUT_STATUS)
        elif call.answered_at is None:
            self._finish(call, "no_answer", status=_TIMEOUT_STATUS)

    # -- SIP events (passed on by the controller) ------------------------------------------------

    def on_sip_event(self, leg: Leg, event: SessionEvent) -> bool:
        """An event of one of our legs (True), or not ours (False)."""
        call = self._by_leg.get(leg.leg_id)
        if call is None:
            return False
        if isinstance(event, DialogTerminated):
            del self._by_leg[leg.leg_id]
        if call.done:
            if isinstance(event, DialogConfirmed):
                self.sig.hang_up(leg)  # answered after we gave up: BYE (§15)
            return True
        try:
            if leg is call.operator_leg:
                self._operator_event(call, event)
            elif leg is call.out_leg:
                self._out_event(call, event)
        except HotlineError as exc:
            log.error("outbound step failed", call_id=call.call_id, error=repr(exc))
            self._finish(call, "failed")
        return True

    def _operator_event(self, call: OutboundCall, event: SessionEvent) -> None:
        if isinstance(event, DialogConfirmed) and not call.operator_up:
            self._operator_answered(call, event)
        elif isinstance(event, DialogTerminated):
            call.operator_leg = None
            if call.operator_up:
                who = HungUpBy.OPERATOR if event.by_remote else HungUpBy.SYSTEM
                if call.answered_at is not None:
                    self._finish(call, "completed", who=who)
                else:
                    self._finish(call, "cancelled", who=who)
            else:
                self._finish(call, _refusal(event.status, "operator_"), status=event.status)

    def _apply_answer(self, leg_id: str, offer: bytes, body: bytes | None, codec: str) -> None:
        if body is None:
            raise RemoteProtocolError("2xx without an SDP answer", status_hint=488)
        media = process_answer(parse_sdp(offer), parse_sdp(body), codecs=(CODECS[codec],))
        remote, remote_rtcp = media_remote(media)
        self._media.set_remote(leg_id, remote, remote_rtcp=remote_rtcp)

    def _operator_answered(self, call: OutboundCall, event: DialogConfirmed) -> None:
        assert call.operator_media is not None and call.operator_sdp is not None
        self._cancel_timer(call)
        try:
            self._apply_answer(
                call.operator_media, call.operator_sdp, event.body, call.request.codec
            )
        except RemoteProtocolError as exc:
            log.info("operator's answer refused", call_id=call.call_id, error=str(exc))
            self._finish(call, "operator_rejected")
            return
        call.operator_up = True
        if not call.listener.operator_answered(call):
            self._finish(call, "cancelled")
            return
        ringback = PlaybackItem(f"ringback-{call.call_id}", (TonePart(RINGBACK),), loop=True)
        self._media.play(call.operator_media, ringback)
        call.attempt = OutboundAttempt(self.trunks, call.request.number)
        self._spawn(self._dial(call), f"dial-{call.call_id}")

    async def _dial(self, call: OutboundCall) -> None:
        try:
            info = await self._media.create_leg(codec=call.request.codec)
        except HotlineError as exc:
            log.warning("no media for the outbound leg", call_id=call.call_id, error=str(exc))
            self._finish(call, "failed", status=_ERROR_STATUS)
            return
        if call.done:
            self._media.close_leg(info.leg_id)
            return
        call.out_media = info.leg_id
        self._by_media[info.leg_id] = call
        codec = CODECS[call.request.codec]
        call.out_sdp = bytes(
            build_offer(
                self._media.host, info.rtp_port, secrets.randbelow(2**31), 1, codecs=(codec,)
            )
        )
        call.timer = asyncio.get_running_loop().call_later(
            call.request.dial_ring_s, self._ring_timeout, call
        )
        self._dial_next(call)

    def _dial_next(self, call: OutboundCall) -> None:
        """INVITE through the next trunk; when none is left, the call failed."""
        attempt = call.attempt
        assert attempt is not None and call.out_sdp is not None
        while (target := attempt.next_target()) is not None:
            headers: list[tuple[str, str]] = []
            if target.p_asserted_identity is not None:
                headers.append(("P-Asserted-Identity", target.p_asserted_identity))
            try:
                leg = self.sig.call(
                    target.request_uri,
                    _peer(target),
                    from_=NameAddr(target.from_uri),
                    to=NameAddr(target.request_uri),
                    offer=call.out_sdp,
                    extra_headers=headers,
                )
            except HotlineError as exc:
                log.warning("outbound INVITE not sent", call_id=call.call_id, error=str(exc))
                attempt.transport_error()
                continue
            if leg.session.finished:
                attempt.transport_error()
                continue
            call.out_leg = leg
            self._by_leg[leg.leg_id] = call
            first = call.trunk is None
            call.trunk = target.trunk.name
            log.info("outbound INVITE sent", call_id=call.call_id, trunk=call.trunk)
            if first:
                call.listener.dialled(call)
            return
        self._finish(call, "failed", status=attempt.final_status)

    def _out_event(self, call: OutboundCall, event: SessionEvent) -> None:
        attempt = call.attempt
        assert attempt is not None
        if isinstance(event, ProvisionalReceived):
            if attempt.state is AttemptState.TRYING:
                attempt.result(event.status)
        elif isinstance(event, DialogConfirmed) and call.answered_at is None:
            self._out_answered(call, event)
        elif isinstance(event, DialogTerminated):
            call.out_leg = None
            if call.answered_at is not None:
                who = HungUpBy.CALLER if event.by_remote else HungUpBy.SYSTEM
                self._finish(call, "completed", who=who)
                return
            if attempt.state is AttemptState.TRYING:
                if event.reason is TerminationReason.REQUEST_TIMEOUT:
                    attempt.result(_TIMEOUT_STATUS)
                else:
                    attempt.result(event.status if event.status is not None else _ERROR_STATUS)
                if _state(attempt) is AttemptState.READY:
                    self._dial_next(call)  # failover (5xx, 408)
                    return
            status = event.status if event.status is not None else attempt.final_status
            self._finish(call, _refusal(status), status=status)

    def _out_answered(self, call: OutboundCall, event: DialogConfirmed) -> None:
        attempt = call.attempt
        assert attempt is not None and call.out_media is not None and call.out_sdp is not None
        assert call.operator_media is not None
        attempt.result(200)
        self._cancel_timer(call)
        try:
            self._apply_answer(call.out_media, call.out_sdp, event.body, call.request.codec)
        except RemoteProtocolError as exc:
            log.info("called party's answer refused", call_id=call.call_id, error=str(exc))
            self._finish(call, "failed", status=488)
            return
        call.answered_at = self._now()
        self._media.stop_playback(call.operator_media)
        self._media.bridge(call.out_media, call.operator_media)
        call.recording_id = self._media.start_recording(
            call.out_media,
            call.operator_media,
            recording_id=call.request.recording_id or call.call_id,
        )
        self._recordings[call.recording_id] = call
        log.info(
            "outbound call answered", call_id=call.call_id, number=call.request.number.masked()
        )
        call.listener.answered(call)

    # -- endings -----------------------------------------------------------------------------------

    def hang_up(self, call_id: CallId, who: HungUpBy = HungUpBy.OPERATOR) -> bool:
        """End an outbound call from our side (the desk); False when there is none."""
        call = self._calls.get(call_id)
        if call is None:
            return False
        outcome = "completed" if call.answered_at is not None else "cancelled"
        self._finish(call, outcome, who=who)
        return True

    async def close(self) -> None:
        for call in list(self._calls.values()):
            self._finish(call, "cancelled", who=HungUpBy.SYSTEM)
        await self.settle()

    def _cancel_timer(self, call: OutboundCall) -> None:
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None

    def _finish(
        self, call: OutboundCall, outcome: str, *, status: int | None = None,
        who: HungUpBy | None = None,
    ) -> None:  # fmt: skip
        """Close every leg of ``call`` (CANCEL/BYE, media, trunk slot) and tell the listener."""
        if call.done:
            return
        call.done = True
        call.outcome, call.status, call.who = outcome, status, who
        self._cancel_timer(call)
        self._calls.pop(call.call_id, None)
        attempt = call.attempt
        if attempt is not None:
            if attempt.state in _CANCELLABLE:
                attempt.cancel()
            elif attempt.state is AttemptState.ANSWERED:
                attempt.hang_up()
        for leg in (call.out_leg, call.operator_leg):
            if leg is not None:
                self._by_leg.pop(leg.leg_id, None)
                self.sig.hang_up(leg)
        call.out_leg = call.operator_leg = None
        for leg_id in (call.out_media, call.operator_media):
            if leg_id is not None:
                self._by_media.pop(leg_id, None)
                self._media.close_leg(leg_id)
        if outcome != "completed":
            self.failed += 1
        log.info("outbound call over", call_id=call.call_id, outcome=outcome, status=status)
        call.listener.finished(call)

    # -- media events (passed on by the controller) ------------------------------------------------

    def on_media_event(self, event: MediaEvent) -> bool:
        """Handle a media event of ours; False: not ours."""
        if isinstance(event, CallRecordingStored):
            call = self._recordings.pop(event.recording_id, None)
            if call is None:
                return False
            call.listener.recording_stored(call, event.stored)
            return True
        if isinstance(event, RecordingFailed):
            return self._recordings.pop(event.recording_id, None) is not None
        if isinstance(event, MediaTimeout):
            call = self._by_media.get(event.leg_id)
            if call is None:
                return False
            self._finish(call, "completed" if call.answered_at else "failed", who=HungUpBy.SYSTEM)
            return True
        return False
