"""A leg from us to an operator's or supervisor's phone: its media leg and its INVITE (L3).

Consultations (:mod:`hotline.calls.ctl_attended`) and supervisor monitoring
(:mod:`hotline.calls.ctl_monitor`) ring a registered phone the way a queue
offer does: a media leg is bound first, then an INVITE carries our SDP offer
(RFC 3264 §5) with the call's codec only, so the relay or mixer needs no
re-negotiation.  :class:`PhoneLeg` keeps what such a leg owns; the helpers
build the INVITE and read the phone's answer (RFC 3264 §6).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from hotline.calls.ctl_ports import MediaPort, PhoneContact, Signalling
from hotline.core.errors import HotlineError, RemoteProtocolError
from hotline.media.latch import Address
from hotline.sdp.codecs import PCMA, PCMU, CodecSpec
from hotline.sdp.negotiation import build_offer, process_answer
from hotline.sdp.parser import parse_sdp
from hotline.sip.dlg_events import DialogConfirmed
from hotline.sip.hdr_types import NameAddr
from hotline.sip.uri import SipUri
from hotline.sip.useragent import Leg

__all__ = ["CODECS", "RTP_PORT_KEY", "PhoneLeg", "invite_phone", "read_answer", "reject_reason"]

CODECS: Final[dict[str, CodecSpec]] = {"PCMA": PCMA, "PCMU": PCMU}
RTP_PORT_KEY: Final = "rtp_port"  # same key as ctl_dialog.RTP_PORT_KEY


@dataclass(slots=True, eq=False)
class PhoneLeg:
    """What an outgoing phone leg owns; ``sip_leg`` is None until the INVITE is sent."""

    codec: str
    media_leg_id: str | None = None
    offer_sdp: bytes | None = None
    sip_leg: Leg | None = None
    answered: bool = False


def invite_phone(
    sig: Signalling,
    media: MediaPort,
    leg: PhoneLeg,
    rtp_port: int,
    contact: PhoneContact,
    *,
    from_user: str,
    display: str,
    to_user: str,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> Leg | None:
    """Send the INVITE for ``leg`` (its media leg bound on ``rtp_port``) to ``contact``.

    None when it could not even be sent (too many legs, a transport refusing it).
    """
    host = media.host
    sdp = bytes(
        build_offer(host, rtp_port, secrets.randbelow(2**31), 1, codecs=(CODECS[leg.codec],))
    )
    leg.offer_sdp = sdp
    try:
        sip_leg = sig.call(
            contact.uri,
            contact.peer,
            from_=NameAddr(SipUri(host=host, user=from_user), display),
            to=NameAddr(SipUri(host=contact.peer.host, user=to_user)),
            offer=sdp,
            extra_headers=tuple(extra_headers),
        )
    except HotlineError:
        return None
    if sip_leg.session.finished:
        return None
    sip_leg.user_data[RTP_PORT_KEY] = rtp_port
    leg.sip_leg = sip_leg
    return sip_leg


def read_answer(leg: PhoneLeg, event: DialogConfirmed) -> tuple[Address | None, Address | None]:
    """The phone's RTP and RTCP addresses from its 2xx (RemoteProtocolError when unusable)."""
    if event.body is None or leg.offer_sdp is None:
        raise RemoteProtocolError("2xx without an SDP answer", status_hint=488)
    media = process_answer(
        parse_sdp(leg.offer_sdp), parse_sdp(event.body), codecs=(CODECS[leg.codec],)
    )
    if media.on_hold or media.remote_rtp_port == 0:
        return None, None
    return (
        (media.remote_address, media.remote_rtp_port),
        (media.remote_rtcp_address, media.remote_rtcp_port),
    )


def reject_reason(status: int | None) -> str:
    """``busy``, ``reject`` or ``no_answer`` for a final status of a phone's INVITE."""
    if status in (486, 600):
        return "busy"
    if status == 603:
        return "reject"
    return "no_answer"
