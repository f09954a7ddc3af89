"""Offers to operators' phones: ring, answer, bridge and record (R1/R5; layer L3).

The ACD's ``OfferCall`` becomes a media leg for the operator, then an INVITE
to the first registered contact of the operator's phone offering the caller's
codec only (so the relay needs no re-negotiation), with
``P-Asserted-Identity`` (RFC 3325 §9.1) naming the caller and
``X-Hotline-Topic``.  The ring timeout is the ACD's: its ``CancelOffer``
CANCELs the INVITE (RFC 3261 §9.1).  A final non-2xx from the phone becomes
``offer_rejected`` (busy 486/600, reject 603, otherwise no answer).  The 2xx:
the answer (RFC 3264 §6) sets the media leg's remote address, the ACD hears
``offer_answered``, music stops, the legs are bridged and recorded (stereo
WAV, caller left, operator right; the first recording id is the call id).

:class:`OperatorOffers` is part of
:class:`~hotline.calls.controller.CallController`; it borrows the
controller's bookkeeping through :class:`~hotline.calls.ctl_transfer.TransferHooks`.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Sequence
from typing import Final

import structlog

from hotline.acd.model import RejectReason
from hotline.calls.call import Call, CallPhase, Offer
from hotline.calls.ctl_dialog import RTP_PORT_KEY
from hotline.calls.ctl_ports import AcdPort, Clock, MediaPort, PhoneDirectory, Route
from hotline.calls.ctl_transfer import TransferHooks, dial_phone, next_recording_id
from hotline.core.errors import HotlineError, LocalProtocolError, RemoteProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId, new_call_id
from hotline.media.eng_events import LegInfo
from hotline.sdp.codecs import PCMA, PCMU, CodecSpec
from hotline.sdp.negotiation import NegotiatedMedia, build_offer, process_answer
from hotline.sdp.parser import parse_sdp
from hotline.sip.dlg_events import DialogConfirmed, DialogTerminated, SessionEvent
from hotline.sip.useragent import Leg

__all__ = [
    "CODECS",
    "OperatorOffers",
    "arrived_call",
    "create_answer_leg",
    "media_remote",
    "phone_offer_sdp",
    "reject_reason",
]

log = structlog.get_logger("hotline.calls")

CODECS: Final[dict[str, CodecSpec]] = {"PCMA": PCMA, "PCMU": PCMU}
_BUSY: Final = frozenset({486, 600})
_DECLINED: Final = frozenset({603})


def reject_reason(status: int | None) -> RejectReason:
    """The ACD's reason for a phone's final non-2xx (RFC 3261 §21.4.7, §21.6)."""
    if status in _BUSY:
        return RejectReason.BUSY
    if status in _DECLINED:
        return RejectReason.REJECT
    return RejectReason.NO_ANSWER


def media_remote(
    media: NegotiatedMedia,
) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
    """Where to send RTP and RTCP (None while on hold or with port 0, RFC 3264 §8.4)."""
    if media.on_hold or media.remote_rtp_port == 0:
        return None, None
    return (
        (media.remote_address, media.remote_rtp_port),
        (media.remote_rtcp_address, media.remote_rtcp_port),
    )


async def create_answer_leg(media: MediaPort, negotiated: NegotiatedMedia) -> LegInfo:
    """A media leg for our answer to a caller's offer: its codec, where to send RTP."""
    remote, remote_rtcp = media_remote(negotiated)
    return await media.create_leg(
        codec=negotiated.codec_name,
        payload_type=negotiated.payload_type,
        telephone_event_pt=negotiated.telephone_event_pt,
        ptime_ms=negotiated.ptime_ms,
        remote=remote,
        remote_rtcp=remote_rtcp,
    )


def arrived_call(
    clock: Clock, leg: Leg, *, route: Route, caller: str, called: str, codec: str
) -> Call:
    """A new call on the caller's ``leg`` (its trunk: the one that admitted the INVITE)."""
    admitted = leg.admitted
    return Call(
        call_id=new_call_id(),
        caller_leg=leg,
        caller_number=caller,
        called_number=called,
        trunk=admitted.user if admitted is not None else None,
        route=route,
        arrived_at=clock.monotonic(),
        codec=codec,
    )


def phone_offer_sdp(host: str, rtp_port: int, codec: str) -> bytes:
    """Our SDP offer to a phone: one codec (the caller's) and telephone-event."""
    return bytes(build_offer(host, rtp_port, secrets.randbelow(2**31), 1, codecs=(CODECS[codec],)))


class OperatorOffers:
    """The ACD's offers of one node's calls to operators' phones."""

    def __init__(
        self,
        *,
        media: MediaPort,
        acd: AcdPort,
        phones: PhoneDirectory,
        hush: Callable[[CallId, str], None],
        hooks: TransferHooks,
    ) -> None:
        self._media = media
        self._acd = acd
        self._phones = phones
        self._hush = hush  # the queue voice stops announcing (ctl_queue)
        self._hooks = hooks

    def offer(
        self,
        call: Call,
        operator_id: OperatorId,
        queue_id: QueueId,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Ring ``operator_id``'s phone for ``call`` (the ACD's ``OfferCall``)."""
        if not self._phones.contacts(operator_id):
            log.info("operator has no registered phone", call_id=call.call_id, operator=operator_id)
            self.reject(call, operator_id, RejectReason.BUSY)
            return
        offer = Offer(operator_id, queue_id)
        call.offers[operator_id] = offer
        self._hooks.spawn(self._ring(call, offer, headers), f"ring-{call.call_id}-{operator_id}")

    async def _ring(self, call: Call, offer: Offer, headers: Sequence[tuple[str, str]]) -> None:
        try:
            info = await self._media.create_leg(codec=call.codec)
        except HotlineError as exc:
            log.warning("no media for the operator", call_id=call.call_id, error=str(exc))
            if call.offers.get(offer.operator_id) is offer and not offer.withdrawn:
                del call.offers[offer.operator_id]
                self.reject(call, offer.operator_id, RejectReason.BUSY)
            return
        if offer.withdrawn or call.ended:
            self._media.close_leg(info.leg_id)
            return
        offer.media_leg_id = info.leg_id
        self._hooks.own_media(call, info.leg_id)
        contacts = self._phones.contacts(offer.operator_id)
        if not contacts:
            self.drop(call, offer)
            self.reject(call, offer.operator_id, RejectReason.BUSY)
            return
        contact = contacts[0]
        sdp = phone_offer_sdp(self._media.host, info.rtp_port, call.codec)
        offer.offer_sdp = sdp
        leg = dial_phone(
            self._hooks.sig(), contact, call, self._media.host, offer.operator_id, sdp, headers
        )
        if leg.session.finished:  # could not even be sent
            self.drop(call, offer)
            self.reject(call, offer.operator_id, RejectReason.BUSY)
            return
        offer.sip_leg = leg
        leg.user_data[RTP_PORT_KEY] = info.rtp_port
        self._hooks.track(call, leg)

    def drop(self, call: Call, offer: Offer) -> None:
        """Forget an offer: CANCEL its INVITE if still ringing, close its media leg."""
        offer.withdrawn = True
        if call.offers.get(offer.operator_id) is offer:
            del call.offers[offer.operator_id]
        if offer.sip_leg is not None:
            self._hooks.untrack(offer.sip_leg)
            self._hooks.sig().hang_up(offer.sip_leg)
        if offer.media_leg_id is not None:
            self._hooks.close_media(call, offer.media_leg_id)

    def reject(self, call: Call, operator_id: OperatorId, reason: RejectReason) -> None:
        """Tell the ACD the offer failed (ignored when it withdrew the offer already)."""
        # LocalProtocolError: the ACD withdrew it already (ring timeout, caller left).
        with contextlib.suppress(LocalProtocolError):
            self._acd.offer_rejected(call.call_id, operator_id, reason)

    def on_event(self, call: Call, leg: Leg, event: SessionEvent) -> None:
        """An event of a ringing offer's leg (answered, refused, or too late)."""
        offer = next((o for o in call.offers.values() if o.sip_leg is leg), None)
        if offer is None or offer.withdrawn or call.ended:
            if isinstance(event, DialogConfirmed):
                self._hooks.sig().hang_up(leg)  # answered too late: BYE (§15)
            return
        if isinstance(event, DialogConfirmed):
            self._answered(call, offer, event)
        elif isinstance(event, DialogTerminated):
            self.drop(call, offer)
            self.reject(call, offer.operator_id, reject_reason(event.status))

    def answer_media(self, call: Call, offer: Offer, event: DialogConfirmed) -> bool:
        """Apply the phone's SDP answer to the offer's media leg (False: refused, dropped)."""
        assert offer.offer_sdp is not None and offer.media_leg_id is not None
        try:
            if event.body is None:
                raise RemoteProtocolError("2xx without an SDP answer", status_hint=488)
            media = process_answer(
                parse_sdp(offer.offer_sdp), parse_sdp(event.body), codecs=(CODECS[call.codec],)
            )
        except RemoteProtocolError as exc:
            log.info("operator's answer refused", call_id=call.call_id, error=str(exc))
            self.drop(call, offer)
            self.reject(call, offer.operator_id, RejectReason.REJECT)
            return False
        remote, remote_rtcp = media_remote(media)
        self._media.set_remote(offer.media_leg_id, remote, remote_rtcp=remote_rtcp)
        return True

    def _answered(self, call: Call, offer: Offer, event: DialogConfirmed) -> None:
        leg = offer.sip_leg
        assert leg is not None and offer.media_leg_id is not None
        if not self.answer_media(call, offer, event):
            return
        try:
            self._acd.offer_answered(call.call_id, offer.operator_id)
        except LocalProtocolError:  # the ACD withdrew the offer at this very moment
            self.drop(call, offer)
            return
        del call.offers[offer.operator_id]
        call.move(CallPhase.TALKING)
        call.operator_id = offer.operator_id
        call.operator_leg = leg
        call.operator_media = offer.media_leg_id
        for other in list(call.offers.values()):
            self.drop(call, other)
        caller_media = call.caller_media
        assert caller_media is not None
        if call.moh_item is not None:
            self._media.stop_playback(caller_media, call.moh_item)
            call.moh_item = None
        self._hush(call.call_id, caller_media)
        self.bridge_and_record(call, caller_media, offer.media_leg_id)
        log.info("call answered", call_id=call.call_id, operator=offer.operator_id)

    def bridge_and_record(self, call: Call, caller_media: str, operator_media: str) -> None:
        """Bridge the two media legs and start the call's next stereo recording."""
        self._media.bridge(caller_media, operator_media)
        call.recording_id = self._media.start_recording(
            caller_media,
            operator_media,
            recording_id=next_recording_id(call.call_id, call.recording_id),
        )
        self._hooks.note_recording(call.recording_id, call.call_id)
