"""The capacity guard on the call path: admission of new calls, the busy line, the lateness feed.

:class:`CapacityGate` puts a :class:`~hotline.calls.capacity.CapacityGuard`
in front of the :class:`~hotline.calls.controller.CallController` (issue 6
item 11).  For every new inbound call that has a route and an acceptable
offer, the controller asks :meth:`CapacityGate.admit`:

ACCEPT
    the controller takes the call; the gate keeps its ticket until the call
    ends (:meth:`CapacityGate.hold`, :meth:`CapacityGate.release`).
PLAY_BUSY
    the gate answers the call itself (RFC 3261 §13.3.1: 180, a media leg,
    200 with our SDP answer, RFC 3264 §6), plays «Все линии заняты,
    пожалуйста, перезвоните позже.» from the prompts rendered at start-up,
    and hangs up (BYE) when it has played.  ``call.arrived`` and one
    ``call.ended`` (cause ``capacity_busy``) are written.  The call never
    reaches the menu, the queue or the ACD.
REJECT
    503 Service Unavailable (RFC 3261 §21.5.4), also when the announcement
    cannot be given (its prompt was not rendered for the caller's codec).
    Nothing is written to the event store (as for the controller's other 503s).

Calls already up are never touched.

The lateness feed (:meth:`CapacityGate.watch`) samples the media engine's
pacer counters every ``interval_s`` through
:class:`~hotline.calls.capacity.PacerLateness` and reports the figure to the
guard, whose smoothing and hysteresis decide; the same loop runs the guard's
timers, so /metrics shows a state that is current even without new calls.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final, Protocol

import structlog

from hotline.calls.call import Call
from hotline.calls.capacity import (
    CapacityGuard,
    CapacityStats,
    CapacityTicket,
    Decision,
    PacerCounters,
    PacerLateness,
)
from hotline.calls.ctl_dialog import RTP_PORT_KEY
from hotline.calls.ctl_events import CallEventWriter
from hotline.calls.ctl_offer import arrived_call, create_answer_leg
from hotline.calls.ctl_ports import Clock, MediaPort, Route, Signalling
from hotline.calls.ctl_queue import PromptLookup
from hotline.core.errors import HotlineError, RemoteProtocolError
from hotline.core.ids import CallId
from hotline.media.eng_events import LegClosed, MediaEvent
from hotline.media.player import PlaybackFinished, PlaybackItem, PromptPart
from hotline.media.timeouts import MediaTimeout
from hotline.reports.events import HungUpBy
from hotline.sdp.negotiation import answer_offer
from hotline.sdp.parser import parse_sdp
from hotline.sip.dlg_events import DialogConfirmed, DialogTerminated, SessionEvent
from hotline.sip.useragent import Leg

__all__ = [
    "BUSY_CAUSE",
    "BUSY_MESSAGE",
    "CapacityGate",
    "PacerSource",
    "pacer_counters",
]

log = structlog.get_logger("hotline.calls.capacity")

BUSY_MESSAGE: Final = "Все линии заняты, пожалуйста, перезвоните позже."
"""What a caller hears while the node takes no new calls (rendered at start-up)."""
BUSY_CAUSE: Final = "capacity_busy"
"""The ``call.ended`` cause of a call that heard :data:`BUSY_MESSAGE`."""
WATCH_INTERVAL_S: Final = 0.1
_NO_PROMPT: Final = "no_prompt"
_PLACEHOLDER_PORT: Final = 9  # discard port: only to learn the codec before binding


class PacerSource(Protocol):
    """The media engine's counters (:class:`~hotline.media.eng_events.MediaEngineMetrics`)."""

    pacer_ticks: int
    pacer_late_ticks: int
    pacer_skipped_ticks: int


def pacer_counters(source: PacerSource) -> PacerCounters:
    """A snapshot of the engine's pacer counters."""
    return PacerCounters(source.pacer_ticks, source.pacer_late_ticks, source.pacer_skipped_ticks)


@dataclass(slots=True, eq=False)
class _BusyLine:
    """One call that hears the busy announcement."""

    call: Call
    ticket: CapacityTicket
    offer: bytes
    media_leg: str | None = None
    item_id: str | None = None
    done: bool = False


class CapacityGate:
    """Admission of new inbound calls and the busy line; see the module docstring.

    ``spawn`` runs an owned task (the controller's), ``sig`` gives the user
    agent once attached.  Set the rendered prompts with :meth:`set_prompts`.
    """

    def __init__(
        self,
        guard: CapacityGuard,
        *,
        media: MediaPort,
        events: CallEventWriter,
        clock: Clock,
        spawn: Callable[[Coroutine[Any, Any, None], str], None],
        sig: Callable[[], Signalling],
        prompts: PromptLookup | None = None,
    ) -> None:
        self.guard = guard
        self._media = media
        self._events = events
        self._clock = clock
        self._spawn = spawn
        self._sig = sig
        self._prompts = prompts
        self._tickets: dict[CallId, CapacityTicket] = {}
        self._by_sip: dict[int, _BusyLine] = {}
        self._by_media: dict[str, _BusyLine] = {}
        self.refusals: Counter[tuple[str, str]] = Counter()
        """(decision, reason) → calls not simply accepted: ``play_busy`` or ``reject``."""

    def set_prompts(self, prompts: PromptLookup) -> None:
        self._prompts = prompts

    def active_announcements(self) -> int:
        """Calls hearing the busy announcement now."""
        return len(self._by_sip)

    def stats(self) -> CapacityStats:
        """The guard's figures now (for /metrics)."""
        return self.guard.stats(self._clock.monotonic())

    def held(self) -> int:
        """Admitted calls whose ticket is held."""
        return len(self._tickets)

    # -- admission -------------------------------------------------------------------------

    def admit(
        self,
        leg: Leg,
        offer: bytes,
        codec: str,
        *,
        route: Route,
        caller: str,
        called: str,
    ) -> CapacityTicket | None:
        """The guard's ticket for an accepted call; None when the gate dealt with the call."""
        now = self._clock.monotonic()
        admission = self.guard.admit(now)
        if admission.decision is Decision.ACCEPT and admission.ticket is not None:
            return admission.ticket
        prompt = None if self._prompts is None else self._prompts.get(BUSY_MESSAGE, codec)
        if admission.decision is Decision.PLAY_BUSY and admission.ticket is not None:
            if prompt is None:
                admission.ticket.release()
                self._reject(leg, _NO_PROMPT)
                return None
            self.refusals[(Decision.PLAY_BUSY.value, admission.reason.value)] += 1
            self._play_busy(leg, offer, codec, admission.ticket, route, caller, called)
            return None
        self._reject(leg, admission.reason.value)
        return None

    def _reject(self, leg: Leg, reason: str) -> None:
        self.refusals[(Decision.REJECT.value, reason)] += 1
        log.info("call refused by the capacity guard", reason=reason, state=self.guard.state.value)
        self._sig().reject(leg, 503)

    def hold(self, call_id: CallId, ticket: CapacityTicket) -> None:
        """The controller took the call as ``call_id``: keep its ticket until it ends."""
        self._tickets[call_id] = ticket

    def release(self, call_id: CallId) -> None:
        """``call_id`` ended (a call without a ticket is fine)."""
        ticket = self._tickets.pop(call_id, None)
        if ticket is not None:
            ticket.release()

    # -- the busy line ---------------------------------------------------------------------

    def _play_busy(
        self,
        leg: Leg,
        offer: bytes,
        codec: str,
        ticket: CapacityTicket,
        route: Route,
        caller: str,
        called: str,
    ) -> None:
        call = arrived_call(
            self._clock, leg, route=route, caller=caller, called=called, codec=codec
        )
        line = _BusyLine(call, ticket, offer)
        self._by_sip[leg.leg_id] = line
        self._events.arrived(call)
        log.info(
            "all lines busy: announcement",
            call_id=call.call_id,
            caller=caller,
            state=self.guard.state.value,
        )
        self._sig().ring(leg)
        self._spawn(self._answer(line), f"busy-{call.call_id}")

    async def _answer(self, line: _BusyLine) -> None:
        try:
            parsed = parse_sdp(line.offer)
            probe = answer_offer(
                parsed, self._media.host, _PLACEHOLDER_PORT, session_id=0, version=0
            )
        except RemoteProtocolError as exc:  # checked by the controller already
            log.info("busy line: offer refused", error=str(exc))
            self._finish(line, HungUpBy.SYSTEM, "offer_refused", reject=488)
            return
        try:
            info = await create_answer_leg(self._media, probe.media)
        except HotlineError as exc:  # no ports, engine refusing
            log.warning("busy line: no media", call_id=line.call.call_id, error=str(exc))
            self._finish(line, HungUpBy.SYSTEM, "no_media", reject=503)
            return
        if line.done:
            self._media.close_leg(info.leg_id)
            return
        line.media_leg = info.leg_id
        self._by_media[info.leg_id] = line
        answer = answer_offer(
            parsed, self._media.host, info.rtp_port, session_id=secrets.randbelow(2**31), version=1
        )
        line.call.caller_leg.user_data[RTP_PORT_KEY] = info.rtp_port
        self._sig().answer(line.call.caller_leg, bytes(answer.answer))

    def on_sip_event(self, leg: Leg, event: SessionEvent) -> bool:
        """A SIP event of a busy line (True) or of another leg (False)."""
        line = self._by_sip.get(leg.leg_id)
        if line is None:
            return False
        if isinstance(event, DialogConfirmed) and not line.done:
            self._announce(line)
        elif isinstance(event, DialogTerminated):
            who = HungUpBy.CALLER if event.by_remote else HungUpBy.SYSTEM
            self._finish(line, who, event.reason.value, hang_up=False)
        return True

    def _announce(self, line: _BusyLine) -> None:
        prompt = None if self._prompts is None else self._prompts.get(BUSY_MESSAGE, line.call.codec)
        if line.media_leg is None or prompt is None:
            self._finish(line, HungUpBy.SYSTEM, _NO_PROMPT)
            return
        line.item_id = f"busy-{line.call.call_id}"
        self._media.play(line.media_leg, PlaybackItem(line.item_id, (PromptPart(prompt),)))

    def on_media_event(self, event: MediaEvent) -> bool:
        """A media event of a busy line (True) or of another leg (False)."""
        leg_id = getattr(event, "leg_id", None)
        line = self._by_media.get(leg_id) if isinstance(leg_id, str) else None
        if line is None:
            return False
        if isinstance(event, LegClosed):
            self._by_media.pop(event.leg_id, None)
        elif isinstance(event, PlaybackFinished) and event.item_id == line.item_id:
            self._finish(line, HungUpBy.SYSTEM, BUSY_CAUSE)
        elif isinstance(event, MediaTimeout):
            self._finish(line, HungUpBy.SYSTEM, "rtp_timeout")
        return True

    def _finish(
        self,
        line: _BusyLine,
        who: HungUpBy,
        cause: str,
        *,
        hang_up: bool = True,
        reject: int | None = None,
    ) -> None:
        """End a busy line once: SIP leg, media leg, ticket, ``call.ended``."""
        if line.done:
            return
        line.done = True
        leg = line.call.caller_leg
        self._by_sip.pop(leg.leg_id, None)
        if reject is not None:
            self._sig().reject(leg, reject)
        elif hang_up:
            self._sig().hang_up(leg)
        if line.media_leg is not None:
            self._media.close_leg(line.media_leg)
        line.ticket.release()
        self._events.ended(line.call, who, cause)
        log.info("busy line ended", call_id=line.call.call_id, who=who.value, cause=cause)

    def close(self) -> None:
        """Shutdown: every busy line is hung up."""
        for line in list(self._by_sip.values()):
            self._finish(line, HungUpBy.SYSTEM, "shutdown")

    # -- the lateness feed -----------------------------------------------------------------

    async def watch(
        self,
        counters: Callable[[], PacerCounters],
        *,
        late_tick_ms: float,
        interval_s: float = WATCH_INTERVAL_S,
    ) -> None:
        """Feed the guard with the pacer's lateness every ``interval_s`` (cancel to stop)."""
        window = PacerLateness(late_tick_ms)
        guard = self.guard
        while True:
            now = self._clock.monotonic()
            lateness = window.sample(counters())
            if lateness is not None:
                guard.report_lateness(lateness, now)
            due = guard.get_timer()
            if due is not None and due <= now:
                guard.handle_timer(now)
            await asyncio.sleep(interval_s)
