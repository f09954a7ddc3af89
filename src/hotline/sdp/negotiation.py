"""The SDP offer/answer engine (RFC 3264) for one audio stream, as pure functions.

- :func:`build_offer` writes our offer: one ``m=audio`` line with our codecs in
  order of preference (PCMA, PCMU) and RFC 4733 telephone-event.
- :func:`answer_offer` answers a peer's offer (RFC 3264 §6): the first audio
  stream with a codec we support is accepted, every other ``m=`` line is
  rejected with port 0 in its place (§6: same number and order of lines).
  The codec is the first one *in the offerer's order* that we support
  (§6.1); the answer names that single codec plus telephone-event, so the
  peer cannot switch codecs under the media engine.  Direction follows the
  table of §6.1: an offer ``sendonly`` gets ``recvonly``, ``inactive`` gets
  ``inactive``, ``recvonly`` gets ``sendonly``; a connection address of
  ``0.0.0.0`` (RFC 2543 hold, RFC 3264 §8.4) counts as "do not send to me".
  No acceptable audio stream raises :class:`SdpNegotiationError` (488).
- :func:`process_answer` reads the answer to an offer we sent (§7): for an
  outbound call, or for an INVITE without SDP where our offer went in the
  200 and the answer comes in the ACK.

Both directions return :class:`NegotiatedMedia`, everything the media engine
needs to send to and receive from the peer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sdp.codecs import (
    DEFAULT_AUDIO_CODECS,
    DEFAULT_TELEPHONE_EVENT_PT,
    TELEPHONE_EVENT,
    TELEPHONE_EVENT_EVENTS,
    CodecSpec,
    resolve_rtpmap,
)
from hotline.sdp.model import (
    AddressType,
    Attribute,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
)

__all__ = [
    "DEFAULT_PTIME_MS",
    "AnswerResult",
    "NegotiatedMedia",
    "SdpNegotiationError",
    "answer_offer",
    "build_offer",
    "process_answer",
]

DEFAULT_PTIME_MS = 20
"""Packetisation when the peer states none (RFC 3551 §4.5: 20 ms for G.711)."""

_AUDIO_PROTO = "RTP/AVP"
_MAX_PTIME_MS = 200
_FIRST_DYNAMIC_PT = 96
_MAX_PT = 127


class SdpNegotiationError(RemoteProtocolError):
    """No acceptable media in the peer's SDP: answer 488 Not Acceptable Here.

    RFC 3261 §21.4.26; raised for a missing or rejected audio stream and for
    an audio stream with no codec in common.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, status_hint=488)


@dataclass(frozen=True, slots=True)
class NegotiatedMedia:
    """The outcome of one offer/answer exchange for the audio stream.

    ``payload_type`` is the number the peer listed for ``codec_name`` (send
    RTP with it); ``remote_direction`` is the peer's direction attribute with
    a null connection address folded in (it then does not receive);
    ``local_direction`` is what we agreed to do.  ``on_hold`` is True when the
    peer asked not to receive media (``sendonly``, ``inactive`` or
    ``c=0.0.0.0``; RFC 3264 §8.4).  ``media_index`` is the position of the
    audio ``m=`` line.
    """

    remote_address: str
    remote_address_type: AddressType
    remote_rtp_port: int
    remote_rtcp_address: str
    remote_rtcp_port: int
    payload_type: int
    codec_name: str
    clock_rate_hz: int
    telephone_event_pt: int | None
    ptime_ms: int
    remote_direction: Direction
    local_direction: Direction
    on_hold: bool
    media_index: int


class AnswerResult(NamedTuple):
    """What :func:`answer_offer` returns: the SDP to send and the agreed media."""

    answer: SessionDescription
    media: NegotiatedMedia


@dataclass(frozen=True, slots=True)
class _Choice:
    payload_type: int
    codec: CodecSpec
    telephone_event_pt: int | None


def _address_type(local_ip: str) -> AddressType:
    try:
        address = ipaddress.ip_address(local_ip)
    except ValueError:
        raise LocalProtocolError(
            f"local media address is not an IP address: {local_ip!r}"
        ) from None
    return AddressType.IP4 if address.version == 4 else AddressType.IP6


def _check_port(rtp_port: int) -> None:
    if not 0 < rtp_port <= 0xFFFF:
        raise LocalProtocolError(f"local RTP port out of range: {rtp_port}")


def _origin(local_ip: str, session_id: int, version: int, username: str) -> Origin:
    if session_id < 0 or version < 0:
        raise LocalProtocolError("SDP session id and version must be non-negative")
    return Origin(username, str(session_id), version, _address_type(local_ip), local_ip)


def _audio_media(
    rtp_port: int,
    choices: Sequence[tuple[int, CodecSpec]],
    telephone_event_pt: int | None,
    ptime_ms: int,
    direction: Direction,
) -> MediaDescription:
    formats = [pt for pt, _ in choices]
    attributes = [codec.rtpmap(pt).to_attribute() for pt, codec in choices]
    if telephone_event_pt is not None:
        formats.append(telephone_event_pt)
        attributes.append(TELEPHONE_EVENT.rtpmap(telephone_event_pt).to_attribute())
        attributes.append(Attribute("fmtp", f"{telephone_event_pt} {TELEPHONE_EVENT_EVENTS}"))
    attributes.append(Attribute("ptime", str(ptime_ms)))
    attributes.append(Attribute(str(direction)))
    return MediaDescription(
        media="audio",
        port=rtp_port,
        proto=_AUDIO_PROTO,
        formats=tuple(str(pt) for pt in formats),
        attributes=tuple(attributes),
    )


def _assign_payload_types(
    codecs: Sequence[CodecSpec], telephone_event_pt: int | None
) -> list[tuple[int, CodecSpec]]:
    if not codecs:
        raise LocalProtocolError("an SDP offer needs at least one codec")
    taken = {c.static_payload_type for c in codecs if c.static_payload_type is not None}
    if telephone_event_pt is not None:
        if not _FIRST_DYNAMIC_PT <= telephone_event_pt <= _MAX_PT:
            raise LocalProtocolError(f"telephone-event needs a dynamic PT: {telephone_event_pt}")
        taken.add(telephone_event_pt)
    next_dynamic = _FIRST_DYNAMIC_PT
    result: list[tuple[int, CodecSpec]] = []
    for codec in codecs:
        pt = codec.static_payload_type
        if pt is None:
            while next_dynamic in taken:
                next_dynamic += 1
            if next_dynamic > _MAX_PT:
                raise LocalProtocolError("no dynamic payload type left for the offer")
            pt = next_dynamic
            taken.add(pt)
        result.append((pt, codec))
    return result


def build_offer(
    local_ip: str,
    rtp_port: int,
    session_id: int,
    version: int,
    *,
    codecs: Sequence[CodecSpec] = DEFAULT_AUDIO_CODECS,
    direction: Direction = Direction.SENDRECV,
    telephone_event_pt: int | None = DEFAULT_TELEPHONE_EVENT_PT,
    ptime_ms: int = DEFAULT_PTIME_MS,
    username: str = "-",
    session_name: str = "-",
) -> SessionDescription:
    """Our SDP offer (RFC 3264 §5): one audio stream, codecs in preference order.

    ``direction`` is ours: ``sendonly`` to hold a peer while playing music,
    ``inactive`` to hold in silence (§8.4).  Raises LocalProtocolError for an
    invalid address, port or payload type (our configuration, not the peer's).
    """
    _check_port(rtp_port)
    choices = _assign_payload_types(codecs, telephone_event_pt)
    address_type = _address_type(local_ip)
    return SessionDescription(
        origin=_origin(local_ip, session_id, version, username),
        session_name=session_name,
        connection=Connection(address_type, local_ip),
        media=(_audio_media(rtp_port, choices, telephone_event_pt, ptime_ms, direction),),
    )


def _find_codec(
    payload_types: Sequence[int], rtpmaps: Mapping[int, RtpMap], codecs: Sequence[CodecSpec]
) -> tuple[int, CodecSpec] | None:
    for pt in payload_types:
        rtpmap = resolve_rtpmap(rtpmaps, pt)
        if rtpmap is None:
            continue
        for codec in codecs:
            if codec.matches(rtpmap):
                return pt, codec
    return None


def _find_telephone_event(
    payload_types: Sequence[int], rtpmaps: Mapping[int, RtpMap], clock_rate_hz: int
) -> int | None:
    for pt in payload_types:
        rtpmap = rtpmaps.get(pt)
        if rtpmap is not None and rtpmap.matches(TELEPHONE_EVENT.encoding_name, clock_rate_hz):
            return pt
    return None


def _choose(media: MediaDescription, codecs: Sequence[CodecSpec], dtmf: bool) -> _Choice | None:
    """First supported codec in ``media``'s order, and its telephone-event PT."""
    if media.is_rejected or media.media.lower() != "audio" or media.proto.upper() != _AUDIO_PROTO:
        return None
    rtpmaps = media.rtpmaps
    payload_types = media.payload_types
    found = _find_codec(payload_types, rtpmaps, codecs)
    if found is None:
        return None
    pt, codec = found
    te_pt = _find_telephone_event(payload_types, rtpmaps, codec.clock_rate_hz) if dtmf else None
    return _Choice(pt, codec, te_pt)


def _remote_ptime(media: MediaDescription) -> int:
    ptime = media.ptime_ms
    if ptime is None or ptime > _MAX_PTIME_MS:
        ptime = DEFAULT_PTIME_MS
    maxptime = media.maxptime_ms
    if maxptime is not None and maxptime < ptime:
        ptime = maxptime
    return ptime


def _negotiated(
    remote: SessionDescription,
    media: MediaDescription,
    index: int,
    choice: _Choice,
    local_wish: Direction,
) -> NegotiatedMedia:
    connection = remote.media_connection(media)
    if connection is None:
        raise RemoteProtocolError(f"SDP m= line {index + 1} has no c= line", status_hint=400)
    remote_direction = remote.media_direction(media)
    if connection.is_null:
        remote_direction = Direction.from_flags(sends=remote_direction.sends, receives=False)
    local_direction = Direction.from_flags(
        sends=local_wish.sends and remote_direction.receives,
        receives=local_wish.receives and remote_direction.sends,
    )
    rtcp = media.rtcp
    rtcp_address = connection.address
    if rtcp is not None:
        rtcp_port = rtcp.port
        if rtcp.connection is not None:
            rtcp_address = rtcp.connection.address
    else:
        rtcp_port = media.port + 1 if media.port < 0xFFFF else media.port  # RFC 3550 §11
    return NegotiatedMedia(
        remote_address=connection.address,
        remote_address_type=connection.address_type,
        remote_rtp_port=media.port,
        remote_rtcp_address=rtcp_address,
        remote_rtcp_port=rtcp_port,
        payload_type=choice.payload_type,
        codec_name=choice.codec.encoding_name,
        clock_rate_hz=choice.codec.clock_rate_hz,
        telephone_event_pt=choice.telephone_event_pt,
        ptime_ms=_remote_ptime(media),
        remote_direction=remote_direction,
        local_direction=local_direction,
        on_hold=not remote_direction.receives,
        media_index=index,
    )


def _rejected(media: MediaDescription) -> MediaDescription:
    """``media`` refused in an answer: port 0, same media type, proto and formats (§6)."""
    return MediaDescription(media=media.media, port=0, proto=media.proto, formats=media.formats)


def _describe(media: Sequence[MediaDescription]) -> str:
    return "; ".join(f"{m.media} {m.port} {m.proto} {' '.join(m.formats)}" for m in media)


def answer_offer(
    offer: SessionDescription,
    local_ip: str,
    rtp_port: int,
    *,
    session_id: int,
    version: int,
    codecs: Sequence[CodecSpec] = DEFAULT_AUDIO_CODECS,
    direction: Direction = Direction.SENDRECV,
    telephone_event: bool = True,
    ptime_ms: int = DEFAULT_PTIME_MS,
    username: str = "-",
    session_name: str = "-",
) -> AnswerResult:
    """Answer ``offer`` (RFC 3264 §6) for our media at ``local_ip:rtp_port``.

    ``direction`` is what we want (``sendonly`` while we hold the peer); the
    answer's direction is that intersected with the mirror of the offer's.
    Raises SdpNegotiationError (488) when no audio stream is acceptable,
    RemoteProtocolError (400) when the accepted stream has no address, and
    LocalProtocolError for an invalid local address or port.
    """
    _check_port(rtp_port)
    address_type = _address_type(local_ip)
    answered: list[MediaDescription] = []
    negotiated: NegotiatedMedia | None = None
    for index, media in enumerate(offer.media):
        choice = None if negotiated is not None else _choose(media, codecs, telephone_event)
        if choice is None:
            answered.append(_rejected(media))
            continue
        negotiated = _negotiated(offer, media, index, choice, direction)
        answered.append(
            _audio_media(
                rtp_port,
                [(choice.payload_type, choice.codec)],
                choice.telephone_event_pt,
                ptime_ms,
                negotiated.local_direction,
            )
        )
    if negotiated is None:
        raise SdpNegotiationError(
            f"no acceptable audio stream in the offer: {_describe(offer.media)}"
        )
    answer = SessionDescription(
        origin=_origin(local_ip, session_id, version, username),
        session_name=session_name,
        connection=Connection(address_type, local_ip),
        media=tuple(answered),
    )
    return AnswerResult(answer, negotiated)


def _offered_codecs(media: MediaDescription, codecs: Sequence[CodecSpec]) -> list[CodecSpec]:
    rtpmaps = media.rtpmaps
    offered = [resolve_rtpmap(rtpmaps, pt) for pt in media.payload_types]
    return [c for c in codecs if any(r is not None and c.matches(r) for r in offered)]


def process_answer(
    offer: SessionDescription,
    answer: SessionDescription,
    *,
    codecs: Sequence[CodecSpec] = DEFAULT_AUDIO_CODECS,
) -> NegotiatedMedia:
    """Read the peer's ``answer`` to the ``offer`` we sent (RFC 3264 §7).

    The codec is the first one in the answer's order that we offered and
    support; telephone-event is used only if both sides listed it.  Raises
    RemoteProtocolError (400) when the answer's ``m=`` lines do not match the
    offer's (§6) and SdpNegotiationError when the audio stream was rejected
    or names no codec we offered.
    """
    if len(answer.media) != len(offer.media):
        raise RemoteProtocolError(
            f"SDP answer has {len(answer.media)} m= lines, the offer had {len(offer.media)}",
            status_hint=400,
        )
    for index, (ours, theirs) in enumerate(zip(offer.media, answer.media, strict=True)):
        if ours.is_rejected or ours.media.lower() != "audio":
            continue
        if theirs.media.lower() != ours.media.lower():
            raise RemoteProtocolError(
                f"SDP answer m= line {index + 1} is {theirs.media!r}, offered {ours.media!r}",
                status_hint=400,
            )
        wanted_dtmf = any(
            r.encoding_name.lower() == TELEPHONE_EVENT.encoding_name for r in ours.rtpmaps.values()
        )
        choice = _choose(theirs, _offered_codecs(ours, codecs), wanted_dtmf)
        if choice is None:
            continue
        local_wish = offer.media_direction(ours)
        return _negotiated(answer, theirs, index, choice, local_wish)
    raise SdpNegotiationError(
        f"no acceptable audio stream in the answer: {_describe(answer.media)}"
    )
