"""The B2BUA call controller: caller leg → greeting or voice menu → queue → operator leg (L3).

The sippy B2BUA shape (style.md): every SIP leg is its own state machine
(:class:`~hotline.sip.dlg_session.InviteSession` driven by the user agent),
every media leg lives in the media engine, and one :class:`CallController`
moves each :class:`~hotline.calls.call.Call` through its phases by passing
typed events between them.  It is the user agent's
:class:`~hotline.sip.useragent.LegHandler`, the media engine's event
callback and the ACD service's decision handler; all three call it on the
event loop, one at a time, possibly re-entrantly (a hang-up reports the
leg's end at once), so every step first checks where the call stands.

Inbound (RFC 3261 §13.3, RFC 3264 §6)
    A new INVITE is routed by :class:`~hotline.calls.ctl_ports.EntryRouting`
    (404 when nothing serves the number, 503 at ``max_calls`` or while
    draining), its offer is negotiated (488 when no codec is common), the
    capacity gate admits it (:mod:`hotline.calls.capacity_gate`: else the
    busy announcement or 503), 180 goes out, a media leg is created (an
    owned task), and 200 carries our answer.  On the ACK the greeting plays, then the call joins its queue
    with music on hold.

Voice menu
    A route with a :class:`~hotline.calls.ctl_ports.CallMenu` gets the call on
    the ACK instead (phase ``GREETING``) with the caller leg's media events; it
    answers through the ``menu_*`` methods (topic, ``call.ivr_choice``, queue, end).

Offers (the ACD's ``OfferCall``; :mod:`hotline.calls.ctl_offer`)
    An INVITE to the operator's phone with the caller's codec,
    ``P-Asserted-Identity`` and ``X-Hotline-Topic``; the ACD's ring timeout
    CANCELs it; the 2xx bridges and records the call.

Waiting (:mod:`hotline.calls.ctl_queue`)
    The ACD's ``AnnouncePosition`` is said between stretches of music on hold;
    a time-out, a refusal (full, empty) or a call-back plays the queue's
    message, and the call ends when it has played.  An OVERFLOW time-out
    needs nothing here: the router moves the call and the music goes on.

Endings
    BYE or CANCEL from the caller, BYE from the operator, a media timeout or
    the queue's exit action end the call: the ACD is told (``call_abandoned``
    while queued, which cancels a ringing phone; ``call_ended`` while talking,
    which starts wrap-up), every SIP leg is hung up, every media leg closed
    (ports released), and ``call.ended`` names who hung up.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable, Coroutine
from typing import Any, Final

import structlog

from hotline.acd.decisions import (
    AnnouncePosition,
    CallbackScheduled,
    CallLeftQueue,
    CallQueued,
    CallRefused,
    CallTimedOut,
    CancelOffer,
    Decision,
    OfferCall,
)
from hotline.acd.model import ExitAction, ExitKind, Outcome
from hotline.calls.api import CallActionError
from hotline.calls.call import Call, CallPhase, Party
from hotline.calls.capacity_gate import CapacityGate
from hotline.calls.ctl_attended import wire_attended
from hotline.calls.ctl_callback import CallbackDesk
from hotline.calls.ctl_dialog import RTP_PORT_KEY, CallDialogs, DialogMedia
from hotline.calls.ctl_events import CallEventWriter
from hotline.calls.ctl_external import ExternalRedirector
from hotline.calls.ctl_menu import MenuAnswers
from hotline.calls.ctl_monitor import wire_monitors
from hotline.calls.ctl_offer import OperatorOffers, arrived_call, create_answer_leg
from hotline.calls.ctl_outbound import OutboundDialer
from hotline.calls.ctl_ports import (
    AcdPort,
    Clock,
    EntryRouting,
    EventSink,
    MediaPort,
    PhoneDirectory,
    Signalling,
)
from hotline.calls.ctl_queue import ExitReason, QueueVoice
from hotline.calls.ctl_queue_bot import QueueBot
from hotline.calls.ctl_queue_external import QueueExternal
from hotline.calls.ctl_transfer import CallTransfers, TransferHooks
from hotline.core.errors import HotlineError, LocalProtocolError, RemoteProtocolError
from hotline.core.ids import CallId
from hotline.media.eng_events import (
    CallRecordingStored,
    LegClosed,
    LegDtmfReceived,
    MediaEvent,
    RecordingFailed,
)
from hotline.media.player import PlaybackFinished, PlaybackItem, TonePart
from hotline.media.timeouts import MediaTimeout
from hotline.media.tones import RINGBACK
from hotline.reports.events import HungUpBy
from hotline.sdp.negotiation import answer_offer
from hotline.sdp.parser import parse_sdp
from hotline.sip.dlg_events import DialogConfirmed, DialogTerminated, SessionEvent
from hotline.sip.uri import SipUri, TelUri, Uri
from hotline.sip.useragent import Leg

__all__ = ["CallController", "default_music_on_hold"]

log = structlog.get_logger("hotline.calls")

_NUMBER_CHARS: Final = frozenset("0123456789+*#")
_MAX_NUMBER: Final = 32
_PLACEHOLDER_PORT: Final = 9  # discard port: only to learn the codec before binding


def default_music_on_hold(item_id: str) -> PlaybackItem:
    """The slice's music on hold: the ringback cadence in a loop."""
    return PlaybackItem(item_id, (TonePart(RINGBACK),), loop=True)


def _number(uri: Uri) -> str:
    """The dialable number of a From/Request-URI ("anonymous" when it is not one)."""
    raw = uri.user if isinstance(uri, SipUri) else uri.number if isinstance(uri, TelUri) else None
    if not raw or len(raw) > _MAX_NUMBER or not set(raw) <= _NUMBER_CHARS:
        return "anonymous"
    return raw


class CallController(MenuAnswers):
    """Every call of the node; see the module docstring."""

    def __init__(
        self,
        *,
        media: MediaPort,
        acd: AcdPort,
        phones: PhoneDirectory,
        routing: EntryRouting,
        events: EventSink,
        clock: Clock,
        max_calls: int = 500,
        music_on_hold: Callable[[str], PlaybackItem] = default_music_on_hold,
    ) -> None:
        self._sig: Signalling | None = None
        self._media = media
        self._acd = acd
        self._phones = phones
        self._routing = routing
        self._clock = clock
        self._max_calls = max_calls
        self._moh = music_on_hold
        self.voice = QueueVoice(media, music_on_hold)
        self._calls: dict[CallId, Call] = {}
        self._by_sip: dict[int, tuple[Call, Party]] = {}
        self._by_media: dict[str, Call] = {}
        self._recordings: dict[str, CallId] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._refusing = False
        self._sink = events
        self.events = CallEventWriter(events, clock, self._calls.get)
        self.dialogs: CallDialogs | None = None  # hold/resume need a DialogMedia engine
        self.external: ExternalRedirector | None = None  # R7 redirects (ctl_external), wired in
        self.transfers: CallTransfers | None = None  # blind transfers by REFER (ctl_transfer)
        self.outbound: OutboundDialer | None = None  # operator-first calls (ctl_outbound)
        self.callbacks: CallbackDesk | None = None  # call-back requests (ctl_callback)
        self.capacity: CapacityGate | None = None  # admission of new calls (capacity_gate)
        self.queue_bot: QueueBot | None = None  # queue exits to the assistant (ctl_queue_bot)
        self.queue_external: QueueExternal | None = None  # exits to a number (ctl_queue_external)
        if isinstance(media, DialogMedia):
            self.dialogs = CallDialogs(
                media=media, acd=acd, events=self.events, music_on_hold=music_on_hold,
                now=clock.monotonic,
            )  # fmt: skip
        self.hooks = self._make_hooks()
        self.offers = OperatorOffers(
            media=media, acd=acd, phones=phones, hush=self._hush, hooks=self.hooks
        )
        if self.dialogs is not None:
            self.transfers = CallTransfers(
                media=media, acd=acd, phones=phones, events=self.events, hooks=self.hooks,
                music_on_hold=music_on_hold,
            )  # fmt: skip
            self.dialogs.on_refer = self.transfers.on_refer
        # Attended transfers and supervisor monitoring (ctl_attended, ctl_monitor).
        self.attended = wire_attended(self.transfers, self.dialogs, self)
        self.monitors = wire_monitors(self.transfers, self.dialogs, self, clock)
        self.calls_total = 0
        self.calls_refused = 0
        self.internal_errors = 0

    # -- wiring and lifecycle --------------------------------------------------------------

    def attach(self, signalling: Signalling) -> None:
        """Give the controller its user agent (made with the controller as its handler)."""
        self._sig = signalling

    def _make_hooks(self) -> TransferHooks:
        """The controller's bookkeeping, lent to offers and transfers (its maps stay private)."""
        dialogs = self.dialogs

        def track(call: Call, leg: Leg) -> None:
            self._by_sip[leg.leg_id] = (call, Party.OPERATOR)

        def untrack(leg: Leg) -> None:
            self._by_sip.pop(leg.leg_id, None)

        def note_recording(recording_id: str, call_id: CallId) -> None:
            self._recordings[recording_id] = call_id

        def release_hold(call: Call) -> None:
            if dialogs is not None:
                dialogs.release_hold(call)

        return TransferHooks(
            track=track,
            untrack=untrack,
            own_media=self._own_media,
            close_media=self._close_media,
            spawn=self._spawn,
            note_recording=note_recording,
            release_hold=release_hold,
            sig=lambda: self.sig,
            now=self._clock.monotonic,
        )

    def _hush(self, call_id: CallId, leg_id: str) -> None:
        self.voice.hush(call_id, leg_id)  # ``voice`` may be replaced (prompts, tests)

    @property
    def sig(self) -> Signalling:
        if self._sig is None:
            raise LocalProtocolError("call controller has no user agent attached")
        return self._sig

    def active(self) -> int:
        """Calls in progress."""
        return len(self._calls)

    def call(self, call_id: CallId) -> Call | None:
        return self._calls.get(call_id)

    def calls(self) -> tuple[Call, ...]:
        return tuple(self._calls.values())

    def refuse_new(self) -> None:
        """New INVITEs get 503 from now on; calls in progress go on."""
        self._refusing = True

    async def settle(self) -> None:
        """Wait until no task of the controller is running (tests, shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self) -> None:
        """End every call (system hang-up), then wait for the tasks to finish."""
        self._refusing = True
        if self.capacity is not None:
            self.capacity.close()
        for call in list(self._calls.values()):
            self._end(call, HungUpBy.SYSTEM, "shutdown")
        await self.settle()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.internal_errors += 1
            log.error("call task failed", task=task.get_name(), error=repr(exc))

    # -- SIP: LegHandler -----------------------------------------------------------------------

    def on_incoming(self, ua: Signalling, leg: Leg, offer: bytes | None) -> None:
        """A new INVITE (RFC 3261 §13.3.1): refuse, or ring and answer once media is ready."""
        request = leg.session.invite
        called = _number(request.uri)
        caller = _number(request.from_.uri)
        if self._refusing or (self.capacity is None and len(self._calls) >= self._max_calls):
            self.calls_refused += 1
            ua.reject(leg, 503)
            return
        if self.attended is not None and self.attended.on_incoming(leg, offer):
            return  # an operator's consultation call (ctl_attended)
        route = self._routing.route(called, caller)
        if route is None:
            ua.reject(leg, 404)
            return
        if offer is None:  # late offer (offer in our 200, answer in the ACK): not in this slice
            ua.reject(leg, 488)
            return
        try:
            probe = answer_offer(
                parse_sdp(offer), self._media.host, _PLACEHOLDER_PORT, session_id=0, version=0
            )
        except RemoteProtocolError as exc:
            log.info("offer refused", called=called, error=str(exc))
            ua.reject(leg, 488)
            return
        ticket = None
        if self.capacity is not None:  # the guard: accept, busy announcement or 503
            ticket = self.capacity.admit(
                leg, offer, probe.media.codec_name, route=route, caller=caller, called=called
            )
            if ticket is None:
                return
        call = arrived_call(
            self._clock,
            leg,
            route=route,
            caller=caller,
            called=called,
            codec=probe.media.codec_name,
        )
        self._calls[call.call_id] = call
        if self.capacity is not None and ticket is not None:
            self.capacity.hold(call.call_id, ticket)
        self._by_sip[leg.leg_id] = (call, Party.CALLER)
        self.calls_total += 1
        self.events.arrived(call)
        log.info("call arrived", call_id=call.call_id, caller=caller, called=called)
        ua.ring(leg)
        self._spawn(self._answer(call, offer), f"answer-{call.call_id}")

    async def _answer(self, call: Call, offer: bytes) -> None:
        parsed = parse_sdp(offer)
        probe = answer_offer(parsed, self._media.host, _PLACEHOLDER_PORT, session_id=0, version=0)
        try:
            info = await create_answer_leg(self._media, probe.media)
        except HotlineError as exc:  # no ports, engine refusing
            log.warning("no media for the call", call_id=call.call_id, error=str(exc))
            if not call.ended:
                self.sig.reject(call.caller_leg, 503)
            return
        if call.ended:
            self._media.close_leg(info.leg_id)
            return
        self._own_media(call, info.leg_id)
        call.caller_media = info.leg_id
        session_id = secrets.randbelow(2**31)
        answer = answer_offer(
            parsed, self._media.host, info.rtp_port, session_id=session_id, version=1
        )
        call.caller_leg.user_data[RTP_PORT_KEY] = info.rtp_port
        self.sig.answer(call.caller_leg, bytes(answer.answer))

    def on_event(self, ua: Signalling, leg: Leg, event: SessionEvent) -> None:
        """Anything else a leg reports: confirmed, terminated (the rest waits for later slices)."""
        entry = self._by_sip.get(leg.leg_id)
        if entry is None:
            if self.capacity is not None and self.capacity.on_sip_event(leg, event):
                return  # a busy announcement (capacity_gate)
            if self.outbound is not None and self.outbound.on_sip_event(leg, event):
                return  # a click-to-call or call-back leg (ctl_outbound)
            if self.transfers is not None and self.transfers.on_leg_event(leg, event):
                return  # a transfer target's leg (ctl_transfer)
            if self.external is not None:  # an organisation's leg (R7), or a stale one
                self.external.on_sip_event(leg, event)
            return
        call, party = entry
        if isinstance(event, DialogTerminated):
            self._by_sip.pop(leg.leg_id, None)
        try:
            if self.dialogs is not None and self.dialogs.handles(event):
                self.dialogs.on_event(call, party, leg, event)
            elif party is Party.CALLER:
                self._caller_event(call, event)
            else:
                self._operator_event(call, leg, event)
        except HotlineError as exc:
            self.internal_errors += 1
            log.error("call step failed", call_id=call.call_id, error=repr(exc))
            self._end(call, HungUpBy.SYSTEM, "internal_error")

    def _caller_event(self, call: Call, event: SessionEvent) -> None:
        if isinstance(event, DialogConfirmed):
            if call.phase is CallPhase.ANSWERING:
                self._after_answer(call)
        elif isinstance(event, DialogTerminated):
            who = HungUpBy.CALLER if event.by_remote else HungUpBy.SYSTEM
            self._end(call, who, event.reason.value)

    def _operator_event(self, call: Call, leg: Leg, event: SessionEvent) -> None:
        if call.operator_leg is leg:
            if isinstance(event, DialogTerminated):
                if event.by_remote and self._transfer_on_hang_up(call):
                    return  # the consulted party has the caller now (ctl_attended)
                who = HungUpBy.OPERATOR if event.by_remote else HungUpBy.SYSTEM
                self._end(call, who, event.reason.value)
            return
        self.offers.on_event(call, leg, event)  # a ringing offer (ctl_offer)

    def _transfer_on_hang_up(self, call: Call) -> bool:
        """The operator hung up while the consulted party talks: complete the attended transfer."""
        if self.attended is None or self.attended.consultation(call.call_id) is None:
            return False
        try:
            self.attended.complete(call.call_id)
        except CallActionError:  # the target still rings, or the ACD refused: the call ends
            return False
        return True

    # -- phases --------------------------------------------------------------------------------

    def _after_answer(self, call: Call) -> None:
        menu = call.route.menu
        if menu is not None and call.caller_media is not None:
            call.move(CallPhase.GREETING)
            menu.start(call.call_id, call.caller_media, call.codec)
            return
        greeting = call.route.greeting
        if greeting is None or call.caller_media is None:
            self._enter_queue(call)
            return
        call.move(CallPhase.GREETING)
        self._media.play(call.caller_media, greeting)

    def _enter_queue(self, call: Call) -> None:
        if call.phase is not CallPhase.QUEUED:  # QUEUED: back from the assistant (ctl_queue_bot)
            call.move(CallPhase.QUEUED)
        call.queue_id = call.route.queue_id
        if call.caller_media is not None:
            call.moh_item = f"moh-{call.call_id}"
            self._media.play(call.caller_media, self._moh(call.moh_item))
        call.in_acd = True
        try:
            self._acd.call_arrived(call.call_id, call.route.queue_id)
        except HotlineError as exc:  # unknown queue, router full
            call.in_acd = False
            log.warning("queue refused the call", call_id=call.call_id, error=str(exc))
            self._end(call, HungUpBy.SYSTEM, "queue_unavailable")

    # -- the ACD's decisions -----------------------------------------------------------------------

    def on_decision(self, decision: Decision) -> None:
        """A decision of the ACD service (facts become events; commands are carried out)."""
        if self.callbacks is not None and self.callbacks.on_decision(decision):
            return  # about a parked call-back request (ctl_callback)
        self.events.decision(decision)
        call = self._calls.get(decision.call_id) if hasattr(decision, "call_id") else None
        if call is None or call.ended:
            return
        match decision:
            case OfferCall(operator_id=operator_id, queue_id=queue_id):
                self.offers.offer(call, operator_id, queue_id)
            case CancelOffer(operator_id=operator_id):
                offer = call.offers.get(operator_id)
                if offer is not None:
                    self.offers.drop(call, offer)
            case CallQueued(queue_id=queue_id):
                call.in_acd = True
                call.queue_id = queue_id
            case CallLeftQueue():
                call.in_acd = False
            case AnnouncePosition() if call.phase is CallPhase.QUEUED and call.caller_media:
                self.voice.announce(
                    call.call_id, call.caller_media, call.codec, call.moh_item, decision,
                    caller_number=call.caller_number,
                )  # fmt: skip
            case CallTimedOut(action=action) if action.kind is not ExitKind.OVERFLOW:
                self._leave(call, ExitReason.TIMED_OUT, action)
            case CallRefused(outcome=outcome, action=action):
                full = outcome is Outcome.LEFT_FULL
                self._leave(call, ExitReason.FULL if full else ExitReason.EMPTY, action)
            case CallbackScheduled():
                self._leave(call, ExitReason.CALLBACK, None)
            case _:
                pass

    def _leave(self, call: Call, reason: ExitReason, action: ExitAction | None) -> None:
        """The ACD let the call go: the assistant or an outside number takes it, or a goodbye."""
        if self.queue_bot is not None and self.queue_bot.take(call, action):
            return
        if self.queue_external is not None and self.queue_external.take(call, action, reason):
            return
        media, moh = call.caller_media, call.moh_item
        call.moh_item = None
        if not self.voice.farewell(call.call_id, media, call.codec, moh, reason, action):
            self._end(call, HungUpBy.SYSTEM, reason.value)

    # -- endings -----------------------------------------------------------------------------------

    def _end(self, call: Call, who: HungUpBy, cause: str) -> None:
        """End ``call`` whatever its phase; safe to call again (re-entrant hang-ups)."""
        if call.ended:
            return
        was = call.phase
        call.move(CallPhase.ENDED)
        if was is CallPhase.GREETING and call.route.menu is not None:
            call.route.menu.end(call.call_id)
        if self.queue_bot is not None:
            self.queue_bot.forget(call.call_id)
        if call.in_acd:
            call.position = self._acd.call_position(call.call_id)
            with contextlib.suppress(LocalProtocolError):  # the wait norm took it out already
                self._acd.call_abandoned(call.call_id)
            call.in_acd = False
        for offer in list(call.offers.values()):
            self.offers.drop(call, offer)
        if was is CallPhase.TALKING and call.operator_id is not None:
            try:
                self._acd.call_ended(call.operator_id)
            except LocalProtocolError as exc:
                log.warning("ACD refused call_ended", call_id=call.call_id, error=str(exc))
        if self.transfers is not None:
            self.transfers.forget(call)  # a ringing transfer target stops ringing
        if self.external is not None:  # an organisation dialled or bridged for it (R7)
            self.external.end(call.call_id)
        if self.dialogs is not None:
            self.dialogs.forget(call.call_id)
        self.events.ended(call, who, cause)
        log.info("call ended", call_id=call.call_id, who=who.value, cause=cause)
        for leg in (call.caller_leg, call.operator_leg):
            if leg is not None:
                self._by_sip.pop(leg.leg_id, None)
                self.sig.hang_up(leg)
        for leg_id in list(call.media_legs):
            self._close_media(call, leg_id)
        self.voice.forget(call.call_id)
        del self._calls[call.call_id]
        if self.capacity is not None:
            self.capacity.release(call.call_id)
        if self.callbacks is not None:  # a call-back request is parked now (ctl_callback)
            self.callbacks.call_ended(call.call_id)

    def _own_media(self, call: Call, leg_id: str) -> None:
        call.media_legs.add(leg_id)
        self._by_media[leg_id] = call

    def _close_media(self, call: Call, leg_id: str) -> None:
        call.media_legs.discard(leg_id)
        self._by_media.pop(leg_id, None)
        self._media.close_leg(leg_id)

    # -- media events --------------------------------------------------------------------------

    def on_media_event(self, event: MediaEvent) -> None:
        """The media engine's callback (from its pacer task)."""
        if self.capacity is not None and self.capacity.on_media_event(event):
            return
        if self.external is not None and self.external.on_media_event(event):
            return
        if self.outbound is not None and self.outbound.on_media_event(event):
            return
        if isinstance(event, CallRecordingStored):
            call_id = self._recordings.pop(event.recording_id, None)
            if call_id is not None:
                self.events.recording_stored(call_id, event.stored)
            return
        if isinstance(event, RecordingFailed):
            log.error("recording failed", recording_id=event.recording_id, reason=event.reason)
            return
        if isinstance(event, LegClosed):
            self._by_media.pop(event.leg_id, None)
            return
        call = self._by_media.get(event.leg_id)
        if call is None or call.ended:
            return
        if self.queue_bot is not None and self.queue_bot.on_media_event(call, event):
            if isinstance(event, MediaTimeout):
                self._end(call, HungUpBy.SYSTEM, "rtp_timeout")
            return
        menu = call.route.menu
        if menu is not None and call.phase is CallPhase.GREETING:
            menu.on_media_event(call.call_id, event)
        if isinstance(event, PlaybackFinished):
            if (left := self.voice.finished(call.call_id, event.item_id)) is not None:
                self._end(call, HungUpBy.SYSTEM, left.value)
                return
            greeting = call.route.greeting
            if (
                call.phase is CallPhase.GREETING
                and greeting is not None
                and event.item_id == greeting.item_id
            ):
                self._enter_queue(call)
        elif isinstance(event, MediaTimeout):
            self._end(call, HungUpBy.SYSTEM, "rtp_timeout")
        elif isinstance(event, LegDtmfReceived) and call.phase is CallPhase.QUEUED and call.in_acd:
            self.voice.digit(  # the call-back offer (ctl_queue)
                call.call_id, event.dtmf.digit, caller_number=call.caller_number
            )
