"""Redirect a call to an organisation's number through the trunks (R7).

The voice menu's ``external`` node asks for it (``TransferExternal``, through
:class:`~hotline.ivr.runner.ExternalHandoff`); :class:`ExternalRedirector`
carries it out as the third leg of the B2BUA (style.md, sippy):

1. the target is resolved: an organisation of the directory
   (:class:`OrganisationDirectory`, loaded from
   :mod:`hotline.store.organisations`) or a number, normalised by
   :func:`~hotline.calls.numbers.parse_number`;
2. a media leg is opened for the organisation and an INVITE with our SDP
   offer (RFC 3264 §5) goes out through the trunk that
   :class:`~hotline.calls.trunk_outbound.OutboundAttempt` picks, presenting
   the caller id 122 in From and P-Asserted-Identity (RFC 3325 §9.1); a 5xx,
   a 408 or no answer at all (Timer B, RFC 3261 §17.1.1.2) moves it to the
   next trunk.  A 401/407 is answered with the trunk's credentials
   (``Authorization`` / ``Proxy-Authorization``, RFC 3261 §22.2, RFC 8760;
   at most twice per INVITE); a trunk without credentials fails over.  A
   488 (an organisation taking the other G.711 law only) is tried once more
   on the same trunk with a new media leg in the other law: the bridge then
   transcodes A-law ↔ µ-law;
3. on the 2xx the answer's media is applied (RFC 3264 §6), the caller's leg
   is bridged with the organisation's and the conversation is recorded
   (caller left, organisation right; the recording id is the call id unless
   the redirect names one: a talking call's next segment, ``<call id>-2``),
   and ``call.redirected_external`` is written (the number is masked in logs);
4. a failure (unknown organisation, no route, a 4xx/6xx from the
   destination, every trunk failed) closes what was opened and hands the call
   back to the menu (:meth:`RedirectMenu.external_failed`): its fallback
   message plays and the call goes on (to the operator queue in the demo);
5. the end: when the organisation hangs up the whole call ends
   (:meth:`RedirectCalls.external_ended`, ``call.ended`` by the controller);
   when the caller hangs up the controller ends the call and the menu passes
   it on here (:meth:`ExternalRedirector.end`): CANCEL or BYE to the
   organisation, its media leg closed, its trunk slot given back.

A redirect started with a :class:`RedirectListener` (an operator's transfer
of a talking call, :mod:`hotline.calls.ctl_org_transfer`) reports its answer
(before the bridge), failure and end to it instead of the menu and the
controller.  The controller passes on what it does not own: the organisation leg's SIP
events (:meth:`ExternalRedirector.on_sip_event`) and media events
(:meth:`ExternalRedirector.on_media_event`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import structlog

from hotline.calls.ctl_ports import Clock, EventSink, MediaPort, Signalling
from hotline.calls.numbers import PhoneNumber, parse_number
from hotline.calls.trunk_outbound import AttemptState, OutboundAttempt, TrunkTarget
from hotline.calls.trunks import TrunkTable
from hotline.core.errors import HotlineError, LocalProtocolError, RemoteProtocolError
from hotline.core.ids import CallId
from hotline.ivr.ivr_events import TransferExternal
from hotline.media.eng_events import CallRecordingStored, MediaEvent, RecordingFailed
from hotline.media.recorder import RecordingStored
from hotline.media.timeouts import MediaTimeout
from hotline.reports.events import CallCentreEvent, EventKind, HungUpBy
from hotline.sdp.codecs import PCMA, PCMU, CodecSpec
from hotline.sdp.negotiation import build_offer, process_answer
from hotline.sdp.parser import parse_sdp
from hotline.sip.digest_client import DigestClient
from hotline.sip.dlg_events import (
    AuthenticationRequired,
    DialogConfirmed,
    DialogTerminated,
    ProvisionalReceived,
    SessionEvent,
    TerminationReason,
)
from hotline.sip.hdr_types import NameAddr
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.useragent import Leg

__all__ = [
    "DirectoryMap",
    "ExternalRedirector",
    "OrganisationDirectory",
    "RecordingSink",
    "RedirectCalls",
    "RedirectFailure",
    "RedirectListener",
    "RedirectMenu",
    "resolve_target",
]

log = structlog.get_logger("hotline.calls.external")

_CODECS: Final[dict[str, CodecSpec]] = {"PCMA": PCMA, "PCMU": PCMU}
_TIMEOUT_STATUS: Final = 408
_ERROR_STATUS: Final = 503
_CANCELLABLE: Final = frozenset({AttemptState.READY, AttemptState.TRYING})
_OTHER_LAW: Final = {"PCMA": "PCMU", "PCMU": "PCMA"}
_MAX_CHALLENGES: Final = 2  # per INVITE: a first answer, and one more for a stale nonce


class OrganisationDirectory(Protocol):
    """The directory of organisations, as the redirect sees it."""

    def number_of(self, organisation_id: str) -> str | None:
        """The enabled organisation's number as stored; None: unknown or disabled."""
        ...


@dataclass(frozen=True, slots=True)
class DirectoryMap:
    """An in-memory :class:`OrganisationDirectory` (loaded from the store at start-up)."""

    numbers: Mapping[str, str] = field(default_factory=dict)

    def number_of(self, organisation_id: str) -> str | None:
        return self.numbers.get(organisation_id)


class RedirectMenu(Protocol):
    """The voice menu (:class:`~hotline.ivr.runner.IvrRunner`), told of a failed redirect."""

    def external_failed(self, call_id: CallId) -> None:
        """The redirect failed: the menu's fallback takes the call."""
        ...


class RedirectCalls(Protocol):
    """The call controller, told when the organisation's side ends the call."""

    def external_ended(self, call_id: CallId, who: HungUpBy, cause: str) -> None:
        """The bridged call is over from the organisation's side: end the call."""
        ...


class RedirectListener(Protocol):
    """Who started a redirect outside the menu (an operator's transfer), told of its course."""

    def redirect_answered(self, call_id: CallId) -> None:
        """The organisation answered: free the caller's leg for the bridge (it follows)."""
        ...

    def redirect_failed(self, call_id: CallId, reason: str) -> None: ...

    def redirect_ended(self, call_id: CallId, who: HungUpBy, cause: str) -> None:
        """The bridged call is over from the organisation's side: end the call."""
        ...


class RecordingSink(Protocol):
    """Where a finished recording is reported (:class:`~hotline.calls.ctl_events.CallEventWriter`)."""

    def recording_stored(self, call_id: CallId, stored: RecordingStored) -> None: ...


class RedirectFailure(HotlineError):
    """Why a redirect target cannot be dialled (before any INVITE)."""


def resolve_target(transfer: TransferExternal, directory: OrganisationDirectory) -> PhoneNumber:
    """The number to dial for ``transfer``; :class:`RedirectFailure` when there is none."""
    target = transfer.target
    if target.organisation is not None:
        raw = directory.number_of(target.organisation)
        if raw is None:
            raise RedirectFailure(f"organisation {target.organisation!r} unknown or disabled")
    else:
        raw = target.number
        if raw is None:  # ExternalTarget guarantees one of the two
            raise RedirectFailure("external target without a number")
    try:
        number = parse_number(raw)
    except RemoteProtocolError as exc:
        raise RedirectFailure(f"bad number: {exc}") from exc
    if number.is_emergency:
        raise RedirectFailure("emergency numbers are not redirect targets")
    return number


def _state(attempt: OutboundAttempt) -> AttemptState:
    """The attempt's state now (a call, so the type checker does not keep an old narrowing)."""
    return attempt.state


def _peer(target: TrunkTarget) -> Peer:
    trunk = target.trunk
    return Peer(TransportKind(trunk.transport.upper()), trunk.host, trunk.port)


@dataclass(slots=True, eq=False)
class _Redirect:
    """One redirect in progress."""

    call_id: CallId
    caller_media: str
    codec: str
    transfer: TransferExternal
    attempt: OutboundAttempt
    media_leg_id: str | None = None
    offer_sdp: bytes | None = None
    sip_leg: Leg | None = None
    answered: bool = False
    done: bool = False
    challenges: int = 0  # digest challenges answered on the current trunk
    leg_codec: str = "PCMA"  # the organisation leg's codec (the other law after a 488)
    recoded: bool = False
    recording_id: str | None = None  # None: the call id
    listener: RedirectListener | None = None


class ExternalRedirector:
    """Carries out ``TransferExternal`` for every call (see the module docstring)."""

    def __init__(
        self,
        *,
        media: MediaPort,
        trunks: TrunkTable,
        directory: OrganisationDirectory,
        events: EventSink,
        clock: Clock,
    ) -> None:
        self._media = media
        self._trunks = trunks
        self.directory = directory
        self._sink = events
        self._recording_sink: RecordingSink | None = None
        self._clock = clock
        self._sig: Signalling | None = None
        self._menu: RedirectMenu | None = None
        self._calls: RedirectCalls | None = None
        self._by_call: dict[CallId, _Redirect] = {}
        self._by_leg: dict[int, _Redirect] = {}
        self._recordings: dict[str, CallId] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.redirected = 0
        self.failed = 0

    # -- wiring ------------------------------------------------------------------------------
    def attach(
        self,
        signalling: Signalling,
        *,
        menu: RedirectMenu,
        calls: RedirectCalls,
        recordings: RecordingSink,
    ) -> None:
        """Give the redirector its user agent and those it reports to."""
        self._sig = signalling
        self._menu = menu
        self._calls = calls
        self._recording_sink = recordings

    def _wired(self) -> tuple[Signalling, RedirectCalls]:
        if self._sig is None or self._calls is None:
            raise LocalProtocolError("external redirector is not attached")
        return self._sig, self._calls

    def active(self) -> int:
        """Redirects in progress (dialling or bridged)."""
        return len(self._by_call)

    async def settle(self) -> None:
        """Wait until no task of the redirector runs (tests, shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- ExternalHandoff (the menu) --------------------------------------------------------------
    def redirect(
        self,
        call_id: CallId,
        leg_id: str,
        codec: str,
        transfer: TransferExternal,
        *,
        recording_id: str | None = None,
        listener: RedirectListener | None = None,
    ) -> None:
        """Start dialling; every outcome is reported later, never from inside this call."""
        try:
            number = resolve_target(transfer, self.directory)
        except RedirectFailure as exc:
            log.info("external redirect refused", call_id=call_id, reason=str(exc))
            self.failed += 1
            asyncio.get_running_loop().call_soon(self._report_failed, call_id, listener, str(exc))
            return
        attempt = OutboundAttempt(self._trunks, number)
        red = _Redirect(call_id, leg_id, codec, transfer, attempt)
        red.recording_id, red.listener = recording_id, listener
        self._by_call[call_id] = red
        log.info("external redirect", call_id=call_id, number=number.masked())
        self._spawn(self._start(red), f"external-{call_id}")

    def end(self, call_id: CallId) -> None:
        """The call ended on our or the caller's side: drop the organisation's leg."""
        red = self._by_call.get(call_id)
        if red is not None:
            self._close(red)

    # -- dialling --------------------------------------------------------------------------------
    async def _start(self, red: _Redirect) -> None:
        if not await self._bind(red, red.codec):
            return
        try:
            self._dial_next(red)
        except HotlineError as exc:  # our bug or a broken wiring: the caller still goes on
            self._fail(red, f"dialling failed: {exc!r}")

    async def _bind(self, red: _Redirect, codec_name: str) -> bool:
        """A media leg in ``codec_name`` for the organisation, and our offer for it."""
        codec = _CODECS.get(codec_name)
        if codec is None:
            self._fail(red, f"codec {codec_name} cannot be offered")
            return False
        try:
            info = await self._media.create_leg(codec=codec_name)
        except HotlineError as exc:
            self._fail(red, f"no media leg: {exc}")
            return False
        if red.done:
            self._media.close_leg(info.leg_id)
            return False
        red.media_leg_id = info.leg_id
        red.leg_codec = codec_name
        red.offer_sdp = bytes(
            build_offer(
                self._media.host, info.rtp_port, secrets.randbelow(2**31), 1, codecs=(codec,)
            )
        )
        return True

    def _dial_next(self, red: _Redirect) -> None:
        """INVITE through the next trunk; when none is left, the redirect failed."""
        while (target := red.attempt.next_target()) is not None:
            if self._invite(red, target):
                return
            red.attempt.transport_error()
        self._fail(red, f"no trunk carried the call (status {red.attempt.final_status})")

    def _invite(self, red: _Redirect, target: TrunkTarget) -> bool:
        """Send our INVITE through ``target``'s trunk; False when it could not even be sent."""
        sig, _calls = self._wired()
        assert red.offer_sdp is not None
        headers: list[tuple[str, str]] = []
        if target.p_asserted_identity is not None:
            headers.append(("P-Asserted-Identity", target.p_asserted_identity))
        try:
            leg = sig.call(
                target.request_uri,
                _peer(target),
                from_=NameAddr(target.from_uri),
                to=NameAddr(target.request_uri),
                offer=red.offer_sdp,
                extra_headers=headers,
            )
        except HotlineError as exc:
            log.warning("external INVITE not sent", call_id=red.call_id, error=str(exc))
            return False
        if leg.session.finished:
            return False
        red.sip_leg = leg
        red.challenges = 0
        self._by_leg[leg.leg_id] = red
        log.info(
            "external INVITE sent",
            call_id=red.call_id,
            trunk=target.trunk.name,
            attempt=target.attempt,
            codec=red.leg_codec,
        )
        return True

    async def _recode(self, red: _Redirect, target: TrunkTarget) -> None:
        """The organisation refused our codec (488): offer the other G.711 law on a new media leg.

        The bridge then transcodes A-law ↔ µ-law (RFC 3551 §4.5.14) between the
        caller's leg and the organisation's; the trunk keeps its slot.
        """
        old, red.media_leg_id = red.media_leg_id, None
        if old is not None:
            self._media.close_leg(old)
        if not await self._bind(red, _OTHER_LAW[red.leg_codec]):
            return
        if not self._invite(red, target):
            red.attempt.transport_error()
            self._dial_next(red)

    # -- the organisation's SIP leg (passed on by the controller) -------------------------------
    def owns(self, leg: Leg) -> bool:
        return leg.leg_id in self._by_leg

    def on_sip_event(self, leg: Leg, event: SessionEvent) -> None:
        """An event of a leg the controller does not know; ours or a stale one."""
        red = self._by_leg.get(leg.leg_id)
        if red is None or red.done or red.sip_leg is not leg:
            if isinstance(event, DialogConfirmed) and self._sig is not None:
                self._sig.hang_up(leg)  # answered after we gave up: BYE (RFC 3261 §15)
            return
        if isinstance(event, AuthenticationRequired):
            self._challenged(red, leg, event)
        elif isinstance(event, ProvisionalReceived):
            if red.attempt.state is AttemptState.TRYING:
                red.attempt.result(event.status)
        elif isinstance(event, DialogConfirmed):
            self._answered(red, event)
        elif isinstance(event, DialogTerminated):
            del self._by_leg[leg.leg_id]
            red.sip_leg = None
            if red.answered:
                self._remote_hang_up(red, event)
            else:
                self._not_answered(red, event)

    def _challenged(self, red: _Redirect, leg: Leg, event: AuthenticationRequired) -> None:
        """The trunk asked for credentials (401/407): answer with ours (RFC 3261 §22.2, RFC 8760).

        The INVITE goes again with ``Authorization`` (``Proxy-Authorization`` for
        407); a trunk without credentials, a challenge we cannot answer, or
        one challenge too many is that trunk's failure: the next one is tried.
        """
        response = event.response
        proxy = response.status == 407
        target = red.attempt.target
        credentials = target.credentials if target is not None else None
        answer: str | None = None
        if credentials is not None and red.challenges < _MAX_CHALLENGES:
            client = DigestClient(credentials.username, credentials.password)
            invite = leg.session.invite
            try:
                answer = client.authorize(
                    response.headers.get_all("Proxy-Authenticate" if proxy else "WWW-Authenticate"),
                    "INVITE",
                    str(invite.uri),
                    cnonce=secrets.token_hex(8),
                    body=invite.body,
                )
            except RemoteProtocolError as exc:
                log.info("trunk challenge unreadable", call_id=red.call_id, error=str(exc))
        if answer is None:
            log.info("trunk challenge not answered", call_id=red.call_id, status=response.status)
            self._by_leg.pop(leg.leg_id, None)
            red.sip_leg = None
            if self._sig is not None:
                self._sig.hang_up(leg)
            red.attempt.result(response.status)  # a trunk's own trouble: failover
            if _state(red.attempt) is AttemptState.READY:
                red.challenges = 0
                self._dial_next(red)
            else:
                self._fail(red, f"trunk refused our credentials ({response.status})")
            return
        red.challenges += 1
        header = "Proxy-Authorization" if proxy else "Authorization"
        leg.session.resend_invite(self._clock.monotonic(), [(header, answer)])
        log.info("trunk challenge answered", call_id=red.call_id, status=response.status)

    def _not_answered(self, red: _Redirect, event: DialogTerminated) -> None:
        if red.attempt.state is not AttemptState.TRYING:
            self._fail(red, f"INVITE ended: {event.reason.value}")
            return
        target = red.attempt.target
        if event.status == 488 and not red.recoded and target is not None:
            red.recoded = True  # Not Acceptable Here: try the other law once, same trunk
            log.info("organisation refused the codec", call_id=red.call_id, codec=red.leg_codec)
            self._spawn(self._recode(red, target), f"external-recode-{red.call_id}")
            return
        if event.reason is TerminationReason.REJECTED and event.status is not None:
            red.attempt.result(event.status)
        elif event.reason is TerminationReason.REQUEST_TIMEOUT:
            red.attempt.result(_TIMEOUT_STATUS)
        else:
            red.attempt.result(event.status if event.status is not None else _ERROR_STATUS)
        if _state(red.attempt) is AttemptState.READY:
            self._dial_next(red)  # failover (5xx, 408)
        else:
            self._fail(red, f"destination answered {red.attempt.final_status}")

    def _answered(self, red: _Redirect, event: DialogConfirmed) -> None:
        assert red.offer_sdp is not None and red.media_leg_id is not None
        try:
            if event.body is None:
                raise RemoteProtocolError("2xx without an SDP answer", status_hint=488)
            media = process_answer(
                parse_sdp(red.offer_sdp), parse_sdp(event.body), codecs=(_CODECS[red.leg_codec],)
            )
        except RemoteProtocolError as exc:
            red.attempt.result(200)
            self._fail(red, f"organisation's answer refused: {exc}")  # BYE, slot back
            return
        red.attempt.result(200)
        red.answered = True
        if media.on_hold or media.remote_rtp_port == 0:
            self._media.set_remote(red.media_leg_id, None)
        else:
            self._media.set_remote(
                red.media_leg_id,
                (media.remote_address, media.remote_rtp_port),
                remote_rtcp=(media.remote_rtcp_address, media.remote_rtcp_port),
            )
        if red.listener is not None:
            red.listener.redirect_answered(red.call_id)  # the operator leaves the caller's leg
        self._media.bridge(red.caller_media, red.media_leg_id)
        recording_id = self._media.start_recording(
            red.caller_media, red.media_leg_id, recording_id=red.recording_id or red.call_id
        )
        self._recordings[recording_id] = red.call_id
        self.redirected += 1
        target = red.attempt.target
        number = red.attempt.destination
        self._sink.append(
            CallCentreEvent(
                kind=EventKind.CALL_REDIRECTED_EXTERNAL,
                timestamp=self._clock.utcnow(),
                call_id=red.call_id,
                topic=red.transfer.topic,
                trunk=target.trunk.name if target is not None else None,
                payload={"number": number.number},
            )
        )
        log.info("external redirect answered", call_id=red.call_id, number=number.masked())

    def _remote_hang_up(self, red: _Redirect, event: DialogTerminated) -> None:
        who = HungUpBy.OPERATOR if event.by_remote else HungUpBy.SYSTEM
        self._ended(red, who, f"external_{event.reason.value}")

    def _ended(self, red: _Redirect, who: HungUpBy, cause: str) -> None:
        _sig, host = self._wired()
        self._close(red)
        if red.listener is not None:
            red.listener.redirect_ended(red.call_id, who, cause)
        else:
            host.external_ended(red.call_id, who, cause)

    # -- endings ---------------------------------------------------------------------------------
    def _fail(self, red: _Redirect, reason: str) -> None:
        log.info("external redirect failed", call_id=red.call_id, reason=reason)
        self.failed += 1
        self._close(red)
        self._report_failed(red.call_id, red.listener, reason)

    def _report_failed(
        self, call_id: CallId, listener: RedirectListener | None, reason: str
    ) -> None:
        if listener is not None:
            listener.redirect_failed(call_id, reason)
        elif self._menu is not None:
            self._menu.external_failed(call_id)

    def _close(self, red: _Redirect) -> None:
        """Forget ``red``: CANCEL/BYE its INVITE, close its media, give its trunk slot back."""
        if red.done:
            return
        red.done = True
        self._by_call.pop(red.call_id, None)
        attempt = red.attempt
        state = attempt.state
        if state in _CANCELLABLE:
            attempt.cancel()
        elif state is AttemptState.ANSWERED:
            attempt.hang_up()
        if red.sip_leg is not None:
            self._by_leg.pop(red.sip_leg.leg_id, None)
            if self._sig is not None:
                self._sig.hang_up(red.sip_leg)
            red.sip_leg = None
        if red.media_leg_id is not None:
            self._media.close_leg(red.media_leg_id)
            red.media_leg_id = None

    # -- media events (passed on by the controller) ----------------------------------------------
    def on_media_event(self, event: MediaEvent) -> bool:
        """Handle a media event of ours; False: not ours (the controller goes on with it)."""
        if isinstance(event, CallRecordingStored):
            call_id = self._recordings.pop(event.recording_id, None)
            if call_id is None:
                return False
            if self._recording_sink is not None:
                self._recording_sink.recording_stored(call_id, event.stored)
            return True
        if isinstance(event, RecordingFailed):
            return self._recordings.pop(event.recording_id, None) is not None
        if isinstance(event, MediaTimeout):
            red = next((r for r in self._by_call.values() if r.media_leg_id == event.leg_id), None)
            if red is None:
                return False
            self._ended(red, HungUpBy.SYSTEM, "rtp_timeout")
            return True
        return False
