"""RTCP packets: SR, RR, SDES, BYE, APP and compound packets (RFC 3550 §6).

Each packet type is a frozen class with ``bytes(packet)``; :func:`parse_rtcp`
splits a compound packet (RFC 3550 §6.1) into them and :func:`serialize_rtcp`
joins them back.  Unknown packet types (e.g. RTPFB/PSFB from RFC 4585) are kept
as :class:`RtcpUnknown` so that a compound packet round-trips.

The parser is lenient where interoperability asks for it (reduced-size RTCP,
RFC 5506: a compound packet need not start with SR/RR) and strict on lengths:
every length field must fit the datagram; anything else raises
:class:`~hotline.core.errors.RemoteProtocolError`.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from hotline.core.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError

__all__ = [
    "MAX_RTCP_PACKETS",
    "MAX_RTCP_SIZE",
    "NTP_UNIX_OFFSET_S",
    "Bye",
    "ReceiverReport",
    "ReportBlock",
    "RtcpApp",
    "RtcpPacket",
    "RtcpType",
    "RtcpUnknown",
    "Sdes",
    "SdesChunk",
    "SdesItemType",
    "SenderReport",
    "looks_like_rtcp",
    "ntp_from_unix",
    "ntp_middle32",
    "parse_rtcp",
    "serialize_rtcp",
]

MAX_RTCP_SIZE: Final = 65535
MAX_RTCP_PACKETS: Final = 64  # sub-packets in one compound packet
NTP_UNIX_OFFSET_S: Final = 2_208_988_800  # 1900-01-01 to 1970-01-01

_HEADER: Final = struct.Struct("!BBH")
_REPORT_BLOCK: Final = struct.Struct("!IIIIII")
_SR_INFO: Final = struct.Struct("!IQIII")
_U32: Final = struct.Struct("!I")


class RtcpType(enum.IntEnum):
    """RTCP packet types (RFC 3550 §12.1)."""

    SR = 200
    RR = 201
    SDES = 202
    BYE = 203
    APP = 204


class SdesItemType(enum.IntEnum):
    """SDES item types (RFC 3550 §6.5, §12.2)."""

    END = 0
    CNAME = 1
    NAME = 2
    EMAIL = 3
    PHONE = 4
    LOC = 5
    TOOL = 6
    NOTE = 7
    PRIV = 8


def _malformed(reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"malformed RTCP packet: {reason}", status_hint=400)


def ntp_from_unix(unix_s: float) -> int:
    """64-bit NTP timestamp (RFC 3550 §4: 32.32 fixed point seconds since 1900)."""
    return round((unix_s + NTP_UNIX_OFFSET_S) * (1 << 32)) & 0xFFFF_FFFF_FFFF_FFFF


def ntp_middle32(ntp_timestamp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the LSR field of a report block (§6.4.1)."""
    return (ntp_timestamp >> 16) & 0xFFFFFFFF


def looks_like_rtcp(data: bytes | bytearray | memoryview) -> bool:
    """RTP/RTCP demultiplexing on one port (RFC 5761 §4): second octet in 192–223."""
    return len(data) >= 8 and data[0] >> 6 == 2 and 192 <= data[1] <= 223


def _header(count: int, packet_type: int, body_len: int) -> bytes:
    if body_len % 4:
        raise LocalProtocolError("RTCP body must be whole 32-bit words")
    return _HEADER.pack(0x80 | count, packet_type, body_len // 4)


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """A reception report block (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int
    """Fraction lost since the previous report, as a fixed point number ×256 (0–255)."""
    cumulative_lost: int
    """Signed 24-bit: duplicates can make it negative."""
    highest_sequence: int
    """Extended highest sequence number received."""
    jitter: int
    """Interarrival jitter in timestamp units."""
    lsr: int = 0
    """Middle 32 bits of the NTP timestamp of the last SR from this source (0: none)."""
    dlsr: int = 0
    """Delay since that SR in units of 1/65536 s."""

    def __post_init__(self) -> None:
        if not 0 <= self.fraction_lost <= 255:
            raise LocalProtocolError(f"fraction lost {self.fraction_lost} out of range")
        if not -(1 << 23) <= self.cumulative_lost < (1 << 23):
            raise LocalProtocolError(f"cumulative lost {self.cumulative_lost} out of range")

    def __bytes__(self) -> bytes:
        return _REPORT_BLOCK.pack(
            self.ssrc,
            (self.fraction_lost << 24) | (self.cumulative_lost & 0xFFFFFF),
            self.highest_sequence & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.lsr & 0xFFFFFFFF,
            self.dlsr & 0xFFFFFFFF,
        )

    @classmethod
    def parse(cls, data: bytes | memoryview, offset: int = 0) -> ReportBlock:
        """Parse 24 octets at ``offset`` (the caller has checked the length)."""
        ssrc, lost_word, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, offset)
        cumulative = lost_word & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 1 << 24
        return cls(ssrc, lost_word >> 24, cumulative, highest, jitter, lsr, dlsr)


def _check_blocks(reports: tuple[ReportBlock, ...]) -> None:
    if len(reports) > 31:
        raise LocalProtocolError("at most 31 report blocks per SR/RR (5-bit count)")


@dataclass(frozen=True, slots=True)
class SenderReport:
    """SR: sender info and reception reports (RFC 3550 §6.4.1)."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""
    """Profile-specific extension (§6.4.3), whole 32-bit words."""

    def __bytes__(self) -> bytes:
        _check_blocks(self.reports)
        body = _SR_INFO.pack(
            self.ssrc,
            self.ntp_timestamp,
            self.rtp_timestamp & 0xFFFFFFFF,
            self.packet_count & 0xFFFFFFFF,
            self.octet_count & 0xFFFFFFFF,
        )
        body += b"".join(bytes(block) for block in self.reports) + self.extension
        return _header(len(self.reports), RtcpType.SR, len(body)) + body


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RR: reception reports from a participant that is not sending (RFC 3550 §6.4.2)."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    def __bytes__(self) -> bytes:
        _check_blocks(self.reports)
        body = _U32.pack(self.ssrc)
        body += b"".join(bytes(block) for block in self.reports) + self.extension
        return _header(len(self.reports), RtcpType.RR, len(body)) + body


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """One SSRC/CSRC and its items (RFC 3550 §6.5)."""

    ssrc: int
    items: tuple[tuple[int, bytes], ...] = ()
    """``(item type, value)``; use :class:`SdesItemType` values.  PRIV values are kept raw."""

    @property
    def cname(self) -> str | None:
        """The CNAME item decoded as UTF-8 (RFC 3550 §6.5.1), if present."""
        for item_type, value in self.items:
            if item_type == SdesItemType.CNAME:
                return value.decode("utf-8", errors="replace")
        return None

    def __bytes__(self) -> bytes:
        parts = [_U32.pack(self.ssrc)]
        size = 4
        for item_type, value in self.items:
            if not 1 <= item_type <= 255 or len(value) > 255:
                raise LocalProtocolError("SDES item type 1-255 and value up to 255 octets")
            parts.append(bytes((item_type, len(value))) + value)
            size += 2 + len(value)
        # At least one null octet terminates the list, then pad to a 32-bit boundary.
        pad = 4 - size % 4
        parts.append(bytes(pad))
        return b"".join(parts)


@dataclass(frozen=True, slots=True)
class Sdes:
    """SDES: source descriptions (RFC 3550 §6.5)."""

    chunks: tuple[SdesChunk, ...]

    def __bytes__(self) -> bytes:
        if len(self.chunks) > 31:
            raise LocalProtocolError("at most 31 SDES chunks (5-bit count)")
        body = b"".join(bytes(chunk) for chunk in self.chunks)
        return _header(len(self.chunks), RtcpType.SDES, len(body)) + body


@dataclass(frozen=True, slots=True)
class Bye:
    """BYE: the sources leave the session (RFC 3550 §6.6)."""

    sources: tuple[int, ...]
    reason: bytes = b""

    def __bytes__(self) -> bytes:
        if len(self.sources) > 31 or len(self.reason) > 255:
            raise LocalProtocolError("BYE: at most 31 sources and a reason up to 255 octets")
        body = b"".join(_U32.pack(source) for source in self.sources)
        if self.reason:
            reason = bytes((len(self.reason),)) + self.reason
            body += reason + bytes(-len(reason) % 4)
        return _header(len(self.sources), RtcpType.BYE, len(body)) + body


@dataclass(frozen=True, slots=True)
class RtcpApp:
    """APP: application-defined packet (RFC 3550 §6.7)."""

    subtype: int
    ssrc: int
    name: bytes
    data: bytes = b""

    def __bytes__(self) -> bytes:
        if len(self.name) != 4 or not 0 <= self.subtype <= 31:
            raise LocalProtocolError("APP: four-octet name and a 5-bit subtype")
        body = _U32.pack(self.ssrc) + self.name + self.data
        return _header(self.subtype, RtcpType.APP, len(body)) + body


@dataclass(frozen=True, slots=True)
class RtcpUnknown:
    """A packet type this module does not interpret, kept byte for byte."""

    packet_type: int
    count: int
    body: bytes

    def __bytes__(self) -> bytes:
        return _header(self.count, self.packet_type, len(self.body)) + self.body


RtcpPacket = SenderReport | ReceiverReport | Sdes | Bye | RtcpApp | RtcpUnknown


def _parse_reports(body: memoryview, offset: int, count: int) -> tuple[ReportBlock, ...]:
    if offset + 24 * count > len(body):
        raise _malformed(f"{count} report blocks do not fit")
    return tuple(ReportBlock.parse(body, offset + 24 * index) for index in range(count))


def _parse_sdes(body: memoryview, count: int) -> Sdes:
    chunks: list[SdesChunk] = []
    offset = 0
    for _ in range(count):
        if offset + 4 > len(body):
            raise _malformed("SDES chunk past the end")
        (ssrc,) = _U32.unpack_from(body, offset)
        offset += 4
        items: list[tuple[int, bytes]] = []
        while True:
            if offset >= len(body):
                raise _malformed("SDES item list not terminated")
            item_type = body[offset]
            if item_type == SdesItemType.END:
                offset = (offset + 4) & ~3  # skip the null octet(s) to the next word
                break
            if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
                raise _malformed("SDES item past the end")
            length = body[offset + 1]
            items.append((item_type, bytes(body[offset + 2 : offset + 2 + length])))
            offset += 2 + length
        chunks.append(SdesChunk(ssrc, tuple(items)))
    return Sdes(tuple(chunks))


def _parse_bye(body: memoryview, count: int) -> Bye:
    if 4 * count > len(body):
        raise _malformed("BYE sources do not fit")
    sources = tuple(_U32.unpack_from(body, 4 * index)[0] for index in range(count))
    reason = b""
    at = 4 * count
    if at < len(body):
        length = body[at]
        if at + 1 + length > len(body):
            raise _malformed("BYE reason past the end")
        reason = bytes(body[at + 1 : at + 1 + length])
    return Bye(sources, reason)


def _parse_one(packet_type: int, count: int, body: memoryview) -> RtcpPacket:
    if packet_type == RtcpType.SR:
        if len(body) < 24:
            raise _malformed("SR shorter than its sender info")
        ssrc, ntp, rtp_ts, packets, octets = _SR_INFO.unpack_from(body)
        reports = _parse_reports(body, 24, count)
        return SenderReport(
            ssrc, ntp, rtp_ts, packets, octets, reports, bytes(body[24 + 24 * count :])
        )
    if packet_type == RtcpType.RR:
        if len(body) < 4:
            raise _malformed("RR without SSRC")
        (ssrc,) = _U32.unpack_from(body)
        reports = _parse_reports(body, 4, count)
        return ReceiverReport(ssrc, reports, bytes(body[4 + 24 * count :]))
    if packet_type == RtcpType.SDES:
        return _parse_sdes(body, count)
    if packet_type == RtcpType.BYE:
        return _parse_bye(body, count)
    if packet_type == RtcpType.APP:
        if len(body) < 8:
            raise _malformed("APP shorter than SSRC and name")
        return RtcpApp(count, _U32.unpack_from(body)[0], bytes(body[4:8]), bytes(body[8:]))
    return RtcpUnknown(packet_type, count, bytes(body))


def parse_rtcp(data: bytes | bytearray | memoryview) -> list[RtcpPacket]:
    """Split and parse a (compound) RTCP packet (RFC 3550 §6.1, A.2 validity checks)."""
    size = len(data)
    if size > MAX_RTCP_SIZE:
        raise LimitExceededError(f"RTCP packet of {size} bytes is too large", status_hint=413)
    if size < 4:
        raise _malformed(f"{size} bytes is shorter than a header")
    view = memoryview(data)
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < size:
        if len(packets) >= MAX_RTCP_PACKETS:
            raise LimitExceededError(f"more than {MAX_RTCP_PACKETS} packets in one compound")
        if offset + 4 > size:
            raise _malformed("trailing bytes after the last packet")
        first, packet_type, words = _HEADER.unpack_from(view, offset)
        if first >> 6 != 2:
            raise _malformed(f"version {first >> 6}")
        if not 192 <= packet_type <= 223:
            raise _malformed(f"packet type {packet_type} is not RTCP")
        end = offset + 4 + 4 * words
        if end > size:
            raise _malformed("length field past the end")
        body_end = end
        if first & 0x20:
            padding = data[end - 1]
            if padding == 0 or offset + 4 + padding > end:
                raise _malformed(f"bad padding count {padding}")
            body_end = end - padding
        packets.append(_parse_one(packet_type, first & 0x1F, view[offset + 4 : body_end]))
        offset = end
    return packets


def serialize_rtcp(packets: Iterable[RtcpPacket]) -> bytes:
    """Join packets into one compound RTCP packet (RFC 3550 §6.1)."""
    return b"".join(bytes(packet) for packet in packets)
