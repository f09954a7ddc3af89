"""In-dialog call control of a live call: hold and resume from either side (L3).

A party holds the other with a re-INVITE whose offer is ``sendonly``,
``inactive`` or has the null connection address ``c=0.0.0.0`` (RFC 3264
§8.4).  :class:`CallDialogs` answers every re-INVITE on a call's caller or
operator leg with our SDP for that leg's media port: the answer's direction
mirrors the offer's (``recvonly`` to ``sendonly``, ``inactive`` to
``inactive``; RFC 3264 §6.1), so the session reports :class:`HoldChanged`
once the exchange completes (RFC 3261 §14.2).  A re-INVITE without SDP (the
peer asks for our offer) is refused with 488: it does not occur for hold.

While a talking call is held:

- the legs are unbridged and the held party hears music on hold (played on
  its media leg);
- the holding party's leg is marked held in the media engine, so its
  legitimate silence does not end the call with an RTP timeout;
- ``call.held`` is written (``call.resumed`` on resume), and when the
  operator holds, the ACD hears ``call_held`` / ``call_resumed`` if the
  ACD port offers them (:class:`HoldAcd`).

Resume (the holder's next offer is ``sendrecv`` again) stops the music,
lifts the engine's hold and bridges the legs again.  Only the party that
holds can resume; a second hold by the other party while held is answered
in SIP but changes nothing in the media.  Ending a held call needs nothing
special: the controller closes every media leg; :meth:`CallDialogs.forget`
drops the hold record.

Transfers (RFC 3515 REFER from a phone): the session has accepted the REFER
(202, NOTIFY 100); :attr:`CallDialogs.on_refer` (the controller sets it to
:meth:`hotline.calls.ctl_transfer.CallTransfers.on_refer`) carries out a
blind transfer from the operator's leg, and a REFER whose Refer-To embeds
``Replaces`` (RFC 3891, an attended transfer after a consultation call) goes
to :attr:`CallDialogs.on_attended_refer`
(:meth:`hotline.calls.ctl_attended.AttendedTransfers.on_refer`).  A REFER
nobody takes (from the caller, no transfer handler) has its subscription
ended at once with a final NOTIFY ``501``, so the phone reports a failed
transfer and the call goes on unchanged.

Observers (:class:`CallObserver`, e.g. supervisor monitoring) hear when the
call's bridge is about to change (hold, consultation), when it is restored,
when its operator leaves (a transfer) and when the call ends.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

import structlog

from hotline.calls.call import Call, CallPhase, Party
from hotline.calls.ctl_events import CallEventWriter
from hotline.core.errors import HotlineError, RemoteProtocolError
from hotline.core.ids import CallId, OperatorId
from hotline.media.latch import Address
from hotline.media.player import PlaybackItem
from hotline.sdp.codecs import PCMA, PCMU, CodecSpec
from hotline.sdp.negotiation import answer_offer
from hotline.sdp.parser import parse_sdp
from hotline.sip.dlg_events import HoldChanged, ReferReceived, ReInviteReceived, SessionEvent
from hotline.sip.useragent import Leg

__all__ = ["RTP_PORT_KEY", "CallDialogs", "CallObserver", "DialogMedia", "HoldAcd"]

log = structlog.get_logger("hotline.calls.dialog")

RTP_PORT_KEY: Final = "rtp_port"
"""Key of ``Leg.user_data`` holding the RTP port of the leg's media (set by the controller)."""

_CODECS: Final[dict[str, CodecSpec]] = {"PCMA": PCMA, "PCMU": PCMU}
_NULL_ADDRESSES: Final = frozenset({"0.0.0.0", "::"})


@runtime_checkable
class DialogMedia(Protocol):
    """What hold needs of the media engine (:class:`~hotline.media.engine.MediaEngine`)."""

    host: str

    def set_remote(
        self, leg_id: str, remote: Address | None, *, remote_rtcp: Address | None = None
    ) -> None: ...

    def play(self, leg_id: str, item: PlaybackItem) -> None: ...

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None: ...

    def bridge(self, leg_a: str, leg_b: str) -> None: ...

    def unbridge(self, leg_id: str) -> None: ...

    def hold(self, leg_id: str) -> None: ...

    def unhold(self, leg_id: str) -> None: ...


class CallObserver(Protocol):
    """Told of changes to a call's bridge (:class:`~hotline.calls.ctl_monitor.CallMonitors`)."""

    def suspend(self, call_id: CallId) -> None:
        """Caller and operator are about to be unbridged (hold, consultation)."""
        ...

    def resume(self, call_id: CallId) -> None:
        """Caller and operator are bridged again."""
        ...

    def operator_leaving(self, call_id: CallId) -> None:
        """The call's operator is leaving it (a transfer)."""
        ...

    def call_ended(self, call_id: CallId) -> None:
        """The call is over."""
        ...


@runtime_checkable
class HoldAcd(Protocol):
    """The ACD's hold inputs (operator TALKING ⇄ HOLD), when the ACD port offers them."""

    def call_held(self, operator_id: OperatorId) -> None: ...

    def call_resumed(self, operator_id: OperatorId) -> None: ...


class CallDialogs:
    """Answers re-INVITEs of live calls and carries out hold and resume."""

    def __init__(
        self,
        *,
        media: DialogMedia,
        acd: object,
        events: CallEventWriter,
        music_on_hold: Callable[[str], PlaybackItem],
        now: Callable[[], float],
    ) -> None:
        self._media = media
        self._acd = acd if isinstance(acd, HoldAcd) else None
        self._events = events
        self._moh = music_on_hold
        self._now = now
        self._held: dict[CallId, Party] = {}
        self._versions = itertools.count(2)
        self.reinvites_refused = 0
        self.refers_refused = 0
        # Carries out a REFER (ctl_transfer.CallTransfers.on_refer); False: refuse it.
        self.on_refer: Callable[[Call, Party, Leg, ReferReceived], bool] | None = None
        # A REFER with Replaces (ctl_attended.AttendedTransfers.on_refer); False: refuse it.
        self.on_attended_refer: Callable[[Call, Party, Leg, ReferReceived], bool] | None = None
        self.observers: list[CallObserver] = []
        # More reasons a call's bridge is down (ctl_attended: a consultation in progress).
        self.unbridged_checks: list[Callable[[CallId], bool]] = []

    @staticmethod
    def handles(event: SessionEvent) -> bool:
        """True for the session events this class takes over from the controller."""
        return isinstance(event, ReInviteReceived | HoldChanged | ReferReceived)

    def held_by(self, call_id: CallId) -> Party | None:
        """Which party holds the call now (None: not held)."""
        return self._held.get(call_id)

    def unbridged(self, call_id: CallId) -> bool:
        """True while caller and operator are not bridged: held, or in a consultation."""
        return call_id in self._held or any(check(call_id) for check in self.unbridged_checks)

    def on_event(self, call: Call, party: Party, leg: Leg, event: SessionEvent) -> None:
        """A re-INVITE or hold change on one of ``call``'s legs (offers' legs are ignored)."""
        if call.ended or leg not in (call.caller_leg, call.operator_leg):
            if isinstance(event, ReInviteReceived) and not leg.session.finished:
                self._refuse(leg)
            return
        if isinstance(event, ReInviteReceived):
            self._answer_reinvite(call, party, leg, event)
        elif isinstance(event, ReferReceived):
            attended = event.replaces is not None or event.refer_to.replaces is not None
            handler = self.on_attended_refer if attended else self.on_refer
            if handler is None or not handler(call, party, leg, event):
                self._refuse_refer(call, leg, event)
        elif isinstance(event, HoldChanged) and event.by_remote:
            if event.on_hold:
                self._hold(call, party)
            else:
                self._resume(call, party)

    def release_hold(self, call: Call) -> None:
        """The call leaves its operator (transfer): stop the hold music, forget the hold."""
        for observer in self.observers:
            observer.operator_leaving(call.call_id)
        holder = self._held.pop(call.call_id, None)
        sides = self._sides(call, holder) if holder is not None else None
        if sides is not None:
            holder_media, held_media = sides
            self._media.stop_playback(held_media, self._moh_id(call))
            self._media.unhold(holder_media)

    def forget(self, call_id: CallId) -> None:
        """The call ended: drop its hold record (its media legs are closed by the controller)."""
        self._held.pop(call_id, None)
        for observer in self.observers:
            observer.call_ended(call_id)

    def suspend(self, call: Call) -> None:
        """Tell the observers the bridge is about to change (a consultation starts)."""
        for observer in self.observers:
            observer.suspend(call.call_id)

    def restore(self, call: Call) -> None:
        """Tell the observers caller and operator are bridged again (a consultation ended)."""
        for observer in self.observers:
            observer.resume(call.call_id)

    # -- the re-INVITE (RFC 3261 §14.2, RFC 3264 §8) -----------------------------------------

    def _answer_reinvite(self, call: Call, party: Party, leg: Leg, event: ReInviteReceived) -> None:
        port = leg.user_data.get(RTP_PORT_KEY)
        media_leg = call.caller_media if party is Party.CALLER else call.operator_media
        if event.offer is None or not isinstance(port, int) or media_leg is None:
            self._refuse(leg)
            return
        try:
            result = answer_offer(
                parse_sdp(event.offer),
                self._media.host,
                port,
                session_id=secrets.randbelow(2**31),
                version=next(self._versions),
                codecs=(_CODECS[call.codec],),
            )
        except RemoteProtocolError as exc:
            log.info("re-INVITE offer refused", call_id=call.call_id, error=str(exc))
            self._refuse(leg)
            return
        negotiated = result.media
        if negotiated.remote_address not in _NULL_ADDRESSES and negotiated.remote_rtp_port:
            self._media.set_remote(
                media_leg,
                (negotiated.remote_address, negotiated.remote_rtp_port),
                remote_rtcp=(negotiated.remote_rtcp_address, negotiated.remote_rtcp_port),
            )
        leg.session.accept_modify(self._now(), bytes(result.answer))

    def _refuse(self, leg: Leg) -> None:
        self.reinvites_refused += 1
        try:
            leg.session.reject_modify(self._now(), 488)
        except HotlineError as exc:  # nothing pending any more
            log.info("re-INVITE not refused", error=str(exc))

    # -- REFER (RFC 3515) ------------------------------------------------------------------

    def _refuse_refer(self, call: Call, leg: Leg, event: ReferReceived) -> None:
        """Transfers are not carried out yet: end the refer subscription with 501.

        The session has answered 202 and sent NOTIFY 100 (RFC 3515 §2.4.4); the
        final NOTIFY tells the phone the transfer failed, so it keeps the call.
        """
        self.refers_refused += 1
        log.info("transfer refused", call_id=call.call_id, to=str(event.refer_to.uri))
        if not event.subscription:
            return
        try:
            leg.session.notify_refer(self._now(), event.refer_id, 501)
        except HotlineError as exc:  # the dialog is ending
            log.info("refer NOTIFY not sent", call_id=call.call_id, error=str(exc))

    # -- hold and resume (RFC 3264 §8.4) -------------------------------------------------------

    @staticmethod
    def _sides(call: Call, holder: Party) -> tuple[str, str] | None:
        """(the holder's media leg, the held party's media leg) of a talking call."""
        if call.phase is not CallPhase.TALKING:
            return None
        if call.caller_media is None or call.operator_media is None:
            return None
        if holder is Party.CALLER:
            return call.caller_media, call.operator_media
        return call.operator_media, call.caller_media

    def _hold(self, call: Call, holder: Party) -> None:
        sides = self._sides(call, holder)
        if sides is None or call.call_id in self._held:
            return
        holder_media, held_media = sides
        self.suspend(call)
        self._held[call.call_id] = holder
        self._media.unbridge(held_media)
        self._media.play(held_media, self._moh(self._moh_id(call)))
        self._media.hold(holder_media)
        if holder is Party.OPERATOR and self._acd is not None and call.operator_id is not None:
            self._acd.call_held(call.operator_id)
        self._events.held(call, holder.value)
        log.info("call held", call_id=call.call_id, by=holder.value)

    def _resume(self, call: Call, holder: Party) -> None:
        sides = self._sides(call, holder)
        if sides is None or self._held.get(call.call_id) is not holder:
            return
        holder_media, held_media = sides
        del self._held[call.call_id]
        self._media.stop_playback(held_media, self._moh_id(call))
        self._media.unhold(holder_media)
        self._media.bridge(call.caller_media or held_media, call.operator_media or holder_media)
        self.restore(call)
        if holder is Party.OPERATOR and self._acd is not None and call.operator_id is not None:
            self._acd.call_resumed(call.operator_id)
        self._events.resumed(call, holder.value)
        log.info("call resumed", call_id=call.call_id, by=holder.value)

    @staticmethod
    def _moh_id(call: Call) -> str:
        return f"hold-{call.call_id}"
