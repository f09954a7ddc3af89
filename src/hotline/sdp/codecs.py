"""RTP payload formats: the RFC 3551 static table and the codecs Hotline speaks.

Hotline's media engine speaks G.711 A-law (PCMA, static payload type 8, the
usual codec of Russian networks, so preferred) and µ-law (PCMU, 0), plus
RFC 4733 ``telephone-event/8000`` on a dynamic payload type for DTMF
(events 0-15: digits, ``*``, ``#``, A-D).

A payload type without an ``a=rtpmap`` line means its RFC 3551 §6 static
assignment; :func:`resolve_rtpmap` applies that rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from hotline.sdp.model import RtpMap

__all__ = [
    "DEFAULT_AUDIO_CODECS",
    "DEFAULT_TELEPHONE_EVENT_PT",
    "PCMA",
    "PCMU",
    "STATIC_PAYLOAD_TYPES",
    "TELEPHONE_EVENT",
    "TELEPHONE_EVENT_EVENTS",
    "CodecSpec",
    "resolve_rtpmap",
]

_FIRST_DYNAMIC_PT = 96


@dataclass(frozen=True, slots=True)
class CodecSpec:
    """An RTP payload format we can send and receive (RFC 4855 naming)."""

    encoding_name: str
    clock_rate_hz: int
    channels: int = 1
    static_payload_type: int | None = None

    def matches(self, rtpmap: RtpMap) -> bool:
        """True if ``rtpmap`` names this format (name case-insensitive)."""
        return rtpmap.matches(self.encoding_name, self.clock_rate_hz, self.channels)

    def rtpmap(self, payload_type: int) -> RtpMap:
        """The ``a=rtpmap`` entry for this format on ``payload_type``."""
        channels = self.channels if self.channels != 1 else None
        return RtpMap(payload_type, self.encoding_name, self.clock_rate_hz, channels)


PCMA = CodecSpec("PCMA", 8000, static_payload_type=8)
PCMU = CodecSpec("PCMU", 8000, static_payload_type=0)
TELEPHONE_EVENT = CodecSpec("telephone-event", 8000)

DEFAULT_AUDIO_CODECS: tuple[CodecSpec, ...] = (PCMA, PCMU)
"""Our audio codecs in order of preference (PCMA first: Russian networks)."""

DEFAULT_TELEPHONE_EVENT_PT = 101
"""The dynamic payload type we offer for telephone-event (the common choice)."""

TELEPHONE_EVENT_EVENTS = "0-15"
"""The RFC 4733 events we support: DTMF 0-9, *, #, A-D (RFC 4733 §3.2)."""

STATIC_PAYLOAD_TYPES: Mapping[int, RtpMap] = MappingProxyType(
    {
        pt: RtpMap(pt, name, rate, channels)
        for pt, name, rate, channels in (
            (0, "PCMU", 8000, None),
            (3, "GSM", 8000, None),
            (4, "G723", 8000, None),
            (5, "DVI4", 8000, None),
            (6, "DVI4", 16000, None),
            (7, "LPC", 8000, None),
            (8, "PCMA", 8000, None),
            (9, "G722", 8000, None),
            (10, "L16", 44100, 2),
            (11, "L16", 44100, None),
            (12, "QCELP", 8000, None),
            (13, "CN", 8000, None),
            (14, "MPA", 90000, None),
            (15, "G728", 8000, None),
            (16, "DVI4", 11025, None),
            (17, "DVI4", 22050, None),
            (18, "G729", 8000, None),
            (25, "CelB", 90000, None),
            (26, "JPEG", 90000, None),
            (28, "nv", 90000, None),
            (31, "H261", 90000, None),
            (32, "MPV", 90000, None),
            (33, "MP2T", 90000, None),
            (34, "H263", 90000, None),
        )
    }
)
"""RFC 3551 §6 tables 4 and 5: static payload types."""


def resolve_rtpmap(rtpmaps: Mapping[int, RtpMap], payload_type: int) -> RtpMap | None:
    """The format of ``payload_type``: its ``a=rtpmap`` entry, else its RFC 3551 static one.

    ``rtpmaps`` is :attr:`hotline.sdp.model.MediaDescription.rtpmaps` of the
    media section (computed once by the caller).
    """
    explicit = rtpmaps.get(payload_type)
    if explicit is not None:
        return explicit
    if payload_type < _FIRST_DYNAMIC_PT:
        return STATIC_PAYLOAD_TYPES.get(payload_type)
    return None
