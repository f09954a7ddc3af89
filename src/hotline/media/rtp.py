"""RTP packets: the fixed header, CSRC list, header extension and padding (RFC 3550 §5.1, §5.3).

Two ways in:

- :class:`RtpPacket` is the full wire format as a frozen object:
  ``RtpPacket.parse(data)`` and ``bytes(packet)``; ``bytes(RtpPacket.parse(d)) == d``
  for every well-formed packet whose padding octets are zero (their value is not
  kept; RFC 3550 only defines the count in the last octet).
- :func:`peek_rtp_header` is the relay's fast path: one :func:`struct.unpack_from`
  and a plain tuple, no object per packet.  :func:`pack_rtp_header` and
  :func:`rewrite_rtp_header` do the same for sending and for rewriting
  sequence number, timestamp and SSRC in place.

Malformed input raises :class:`~hotline.core.errors.RemoteProtocolError`;
input above :data:`MAX_RTP_PACKET_SIZE` raises
:class:`~hotline.core.errors.LimitExceededError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from hotline.core.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError

__all__ = [
    "MAX_RTP_PACKET_SIZE",
    "RTP_HEADER_SIZE",
    "RTP_VERSION",
    "RtpExtension",
    "RtpHeaderPeek",
    "RtpPacket",
    "pack_rtp_header",
    "peek_rtp_header",
    "rewrite_rtp_header",
    "rtp_payload_end",
]

RTP_VERSION: Final = 2
RTP_HEADER_SIZE: Final = 12
MAX_RTP_PACKET_SIZE: Final = 65535  # the largest UDP payload; nothing legitimate is bigger
MAX_CSRC_COUNT: Final = 15  # the 4-bit CC field

_FIXED: Final = struct.Struct("!BBHII")
_EXT_HEADER: Final = struct.Struct("!HH")
_SEQ_TS_SSRC: Final = struct.Struct("!HII")
_U32: Final = struct.Struct("!I")

RtpHeaderPeek = tuple[int, int, int, int, bool, int]
"""``(payload_type, sequence_number, timestamp, ssrc, marker, payload_offset)``."""


def _malformed(reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"malformed RTP packet: {reason}", status_hint=400)


def peek_rtp_header(data: bytes | bytearray | memoryview) -> RtpHeaderPeek:
    """Validate an RTP packet and return its routing fields without building objects.

    Returns ``(payload_type, sequence_number, timestamp, ssrc, marker,
    payload_offset)``; the payload is ``data[payload_offset:rtp_payload_end(data)]``
    (the end differs from ``len(data)`` only when the padding bit is set).
    The checks are those of RFC 3550 A.1 minus the per-source state: version 2,
    the CSRC list and header extension inside the packet, and padding that fits.
    """
    size = len(data)
    if size < RTP_HEADER_SIZE:
        raise _malformed(f"{size} bytes is shorter than the fixed header")
    if size > MAX_RTP_PACKET_SIZE:
        raise LimitExceededError(f"RTP packet of {size} bytes is too large", status_hint=413)
    first, second, seq, timestamp, ssrc = _FIXED.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise _malformed(f"version {first >> 6}")
    offset = RTP_HEADER_SIZE + ((first & 0x0F) << 2)
    if first & 0x10:
        if offset + 4 > size:
            raise _malformed("header extension past the end")
        offset += 4 + (_EXT_HEADER.unpack_from(data, offset)[1] << 2)
    if offset > size:
        raise _malformed("header longer than the packet")
    if first & 0x20:
        padding = data[size - 1]
        if padding == 0 or offset + padding > size:
            raise _malformed(f"bad padding count {padding}")
    return second & 0x7F, seq, timestamp, ssrc, bool(second & 0x80), offset


def rtp_payload_end(data: bytes | bytearray | memoryview) -> int:
    """End offset of the payload of a packet that passed :func:`peek_rtp_header`."""
    if data[0] & 0x20:
        return len(data) - data[len(data) - 1]
    return len(data)


def pack_rtp_header(
    payload_type: int, sequence_number: int, timestamp: int, ssrc: int, marker: bool = False
) -> bytes:
    """The 12-byte fixed header (no CSRC, no extension, no padding) for sending."""
    return _FIXED.pack(
        0x80,
        (0x80 if marker else 0) | payload_type,
        sequence_number,
        timestamp,
        ssrc,
    )


def rewrite_rtp_header(
    packet: bytearray | memoryview, sequence_number: int, timestamp: int, ssrc: int
) -> None:
    """Overwrite sequence number, timestamp and SSRC in place (a relay's renumbering)."""
    _SEQ_TS_SSRC.pack_into(packet, 2, sequence_number, timestamp, ssrc)


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """The RFC 3550 §5.3.1 header extension: 16 profile-defined bits and whole 32-bit words."""

    profile: int
    data: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.profile <= 0xFFFF:
            raise LocalProtocolError(f"extension profile {self.profile} out of range")
        if len(self.data) % 4 or len(self.data) > 0xFFFF * 4:
            raise LocalProtocolError("extension data must be whole 32-bit words, < 256 KiB")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet (RFC 3550 §5.1)."""

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding_size: int = 0
    """Octets of padding including the count octet (0 = the P bit is clear)."""

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise LocalProtocolError(f"payload type {self.payload_type} out of range")
        if not 0 <= self.sequence_number <= 0xFFFF:
            raise LocalProtocolError(f"sequence number {self.sequence_number} out of range")
        if not 0 <= self.timestamp <= 0xFFFFFFFF:
            raise LocalProtocolError(f"timestamp {self.timestamp} out of range")
        if not 0 <= self.ssrc <= 0xFFFFFFFF:
            raise LocalProtocolError(f"SSRC {self.ssrc} out of range")
        if len(self.csrc) > MAX_CSRC_COUNT:
            raise LocalProtocolError(f"{len(self.csrc)} CSRCs, at most {MAX_CSRC_COUNT}")
        if not 0 <= self.padding_size <= 255:
            raise LocalProtocolError(f"padding size {self.padding_size} out of range")

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> RtpPacket:
        """Parse one packet; :class:`RemoteProtocolError` when malformed."""
        payload_type, seq, timestamp, ssrc, marker, offset = peek_rtp_header(data)
        first = data[0]
        count = first & 0x0F
        csrc: tuple[int, ...] = ()
        if count:
            csrc = struct.unpack_from(f"!{count}I", data, RTP_HEADER_SIZE)
        extension = None
        if first & 0x10:
            ext_at = RTP_HEADER_SIZE + 4 * count
            profile, words = _EXT_HEADER.unpack_from(data, ext_at)
            extension = RtpExtension(profile, bytes(data[ext_at + 4 : ext_at + 4 + 4 * words]))
        padding_size = data[len(data) - 1] if first & 0x20 else 0
        # Positional arguments: this constructor runs once per parsed packet.
        return cls(
            payload_type,
            seq,
            timestamp,
            ssrc,
            bytes(data[offset : len(data) - padding_size]),
            marker,
            csrc,
            extension,
            padding_size,
        )

    def __bytes__(self) -> bytes:
        first = 0x80 | len(self.csrc)
        if self.extension is not None:
            first |= 0x10
        if self.padding_size:
            first |= 0x20
        parts = [
            _FIXED.pack(
                first,
                (0x80 if self.marker else 0) | self.payload_type,
                self.sequence_number,
                self.timestamp,
                self.ssrc,
            )
        ]
        parts.extend(_U32.pack(source) for source in self.csrc)
        if self.extension is not None:
            parts.append(
                _EXT_HEADER.pack(self.extension.profile, len(self.extension.data) // 4)
                + self.extension.data
            )
        parts.append(self.payload)
        if self.padding_size:
            parts.append(bytes(self.padding_size - 1) + bytes((self.padding_size,)))
        return b"".join(parts)

    @property
    def header_size(self) -> int:
        """Octets before the payload."""
        size = RTP_HEADER_SIZE + 4 * len(self.csrc)
        if self.extension is not None:
            size += 4 + len(self.extension.data)
        return size
