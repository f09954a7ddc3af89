"""The SDP session description as data (RFC 8866 §5), serialised with ``bytes()``.

A :class:`SessionDescription` is an immutable tree of frozen dataclasses:
session-level fields, then one :class:`MediaDescription` per ``m=`` line.
Attributes are kept in their wire order as :class:`Attribute` (name, value)
pairs, unknown ones included, so that a description survives
parse → serialise → parse unchanged.  Typed views of the attributes that the
offer/answer engine needs are computed on demand:

- ``a=rtpmap`` and ``a=fmtp`` (RFC 8866 §6.6, §6.15) as :class:`RtpMap` and
  :class:`Fmtp`;
- ``a=ptime`` / ``a=maxptime`` (RFC 8866 §6.4, §6.5) in milliseconds;
- ``a=sendrecv`` / ``sendonly`` / ``recvonly`` / ``inactive`` (RFC 8866 §6.7)
  as :class:`Direction`, media level overriding session level;
- ``a=rtcp`` (RFC 3605) as :class:`RtcpAttribute`.

The typed views are lenient (RFC 3261's robustness principle as applied by
common SIP stacks): a malformed ``a=ptime`` or ``a=rtpmap`` value is ignored
rather than failing the whole call.  Line-level syntax is checked strictly by
:func:`hotline.sdp.parser.parse_sdp`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass

from hotline.core.errors import LocalProtocolError

__all__ = [
    "AddressType",
    "Attribute",
    "Bandwidth",
    "Connection",
    "Direction",
    "Fmtp",
    "MediaDescription",
    "Origin",
    "RtcpAttribute",
    "RtpMap",
    "SessionDescription",
    "Timing",
    "parse_fmtp",
    "parse_rtcp",
    "parse_rtpmap",
]

_RTPMAP_RE = re.compile(r"(\d{1,3})\s+([^/\s]+)/(\d{1,9})(?:/(\d{1,3}))?\s*")
_FMTP_RE = re.compile(r"(\d{1,3})\s+(.*)")
_RTCP_RE = re.compile(r"(\d{1,5})(?:\s+(\S+)\s+(\S+)\s+(\S+))?\s*")
_INTEGER_RE = re.compile(r"\d{1,9}")
_MAX_PAYLOAD_TYPE = 127

# Addresses meaning "do not send to me": 0.0.0.0 is RFC 2543 hold (RFC 3264 §8.4).
_NULL_ADDRESSES = frozenset({"0.0.0.0", "::"})


class AddressType(enum.StrEnum):
    """``<addrtype>`` of ``o=`` and ``c=`` lines (RFC 8866 §5.2, §5.7)."""

    IP4 = "IP4"
    IP6 = "IP6"


class Direction(enum.StrEnum):
    """Media direction attributes (RFC 8866 §6.7; RFC 3264 §5.1).

    Always read from the point of view of the side that wrote the SDP:
    ``sendonly`` in a peer's description means *the peer* only sends.
    """

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        """True if the writer of the SDP sends media."""
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        """True if the writer of the SDP receives media."""
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def from_flags(cls, *, sends: bool, receives: bool) -> Direction:
        """The direction with the given send and receive flags."""
        if sends and receives:
            return cls.SENDRECV
        if sends:
            return cls.SENDONLY
        if receives:
            return cls.RECVONLY
        return cls.INACTIVE

    def mirrored(self) -> Direction:
        """The same stream seen from the other side (sendonly ↔ recvonly)."""
        return Direction.from_flags(sends=self.receives, receives=self.sends)


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`` (§5.2).

    ``session_id`` is kept as text (an opaque identifier; some peers send
    numbers wider than 64 bits); ``session_version`` is numeric because
    RFC 3264 §8 compares it across re-offers.
    """

    username: str
    session_id: str
    session_version: int
    address_type: AddressType
    address: str
    network_type: str = "IN"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.network_type} {self.address_type} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=<nettype> <addrtype> <connection-address>`` (§5.7).

    ``address`` may carry a multicast ``/ttl/count`` suffix, kept verbatim.
    """

    address_type: AddressType
    address: str
    network_type: str = "IN"

    @property
    def is_null(self) -> bool:
        """True for the unspecified address (``0.0.0.0``): RFC 2543 style hold."""
        return self.address in _NULL_ADDRESSES

    def __str__(self) -> str:
        return f"{self.network_type} {self.address_type} {self.address}"


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """``b=<bwtype>:<bandwidth>`` (§5.8); the unit depends on the type (AS: kbit/s)."""

    bandwidth_type: str
    value: int

    def __str__(self) -> str:
        return f"{self.bandwidth_type}:{self.value}"


@dataclass(frozen=True, slots=True)
class Timing:
    """``t=<start-time> <stop-time>`` (§5.9) and its ``r=`` lines (§5.10), kept raw."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Attribute:
    """``a=<name>`` or ``a=<name>:<value>`` (§5.13), name and value verbatim."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


@dataclass(frozen=True, slots=True)
class RtpMap:
    """``a=rtpmap:<pt> <encoding name>/<clock rate>[/<channels>]`` (§6.6)."""

    payload_type: int
    encoding_name: str
    clock_rate_hz: int
    channels: int | None = None

    def matches(self, encoding_name: str, clock_rate_hz: int, channels: int = 1) -> bool:
        """Case-insensitive name match (RFC 4855 §3) with clock rate and channel count."""
        return (
            self.encoding_name.lower() == encoding_name.lower()
            and self.clock_rate_hz == clock_rate_hz
            and (self.channels or 1) == channels
        )

    def to_attribute(self) -> Attribute:
        """This mapping as an ``a=rtpmap`` attribute."""
        value = f"{self.payload_type} {self.encoding_name}/{self.clock_rate_hz}"
        if self.channels is not None:
            value += f"/{self.channels}"
        return Attribute("rtpmap", value)


@dataclass(frozen=True, slots=True)
class Fmtp:
    """``a=fmtp:<format> <format specific parameters>`` (§6.15), parameters verbatim."""

    payload_type: int
    parameters: str

    def to_attribute(self) -> Attribute:
        """This entry as an ``a=fmtp`` attribute."""
        return Attribute("fmtp", f"{self.payload_type} {self.parameters}")


@dataclass(frozen=True, slots=True)
class RtcpAttribute:
    """``a=rtcp:<port> [<nettype> <addrtype> <address>]`` (RFC 3605 §2.1)."""

    port: int
    connection: Connection | None = None


def parse_rtpmap(value: str) -> RtpMap | None:
    """The ``a=rtpmap`` value as :class:`RtpMap`, or None if it is malformed."""
    match = _RTPMAP_RE.fullmatch(value.strip())
    if match is None:
        return None
    payload_type, clock_rate = int(match[1]), int(match[3])
    if payload_type > _MAX_PAYLOAD_TYPE or clock_rate == 0:
        return None
    channels = int(match[4]) if match[4] is not None else None
    return RtpMap(payload_type, match[2], clock_rate, channels)


def parse_fmtp(value: str) -> Fmtp | None:
    """The ``a=fmtp`` value as :class:`Fmtp`, or None if its format is not a payload type."""
    match = _FMTP_RE.fullmatch(value.strip())
    if match is None or int(match[1]) > _MAX_PAYLOAD_TYPE:
        return None
    return Fmtp(int(match[1]), match[2].strip())


def parse_rtcp(value: str) -> RtcpAttribute | None:
    """The ``a=rtcp`` value as :class:`RtcpAttribute`, or None if it is malformed."""
    match = _RTCP_RE.fullmatch(value.strip())
    if match is None:
        return None
    port = int(match[1])
    if port > 0xFFFF:
        return None
    if match[2] is None:
        return RtcpAttribute(port)
    try:
        address_type = AddressType(match[3])
    except ValueError:
        return None
    return RtcpAttribute(port, Connection(address_type, match[4], match[2]))


def _milliseconds(value: str | None) -> int | None:
    if value is None or _INTEGER_RE.fullmatch(value.strip()) is None:
        return None
    number = int(value.strip())
    return number if number > 0 else None


def _direction_of(attributes: tuple[Attribute, ...]) -> Direction | None:
    for attribute in attributes:
        if attribute.value is None:
            try:
                return Direction(attribute.name)
            except ValueError:
                continue
    return None


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """One ``m=`` section (RFC 8866 §5.14) with its ``i= c= b= k= a=`` lines.

    ``formats`` are the ``<fmt>`` tokens as written; for RTP profiles they are
    payload type numbers, see :attr:`payload_types`.  A port of 0 marks a
    rejected or disabled stream (RFC 3264 §6).
    """

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    title: str | None = None
    connections: tuple[Connection, ...] = ()
    bandwidths: tuple[Bandwidth, ...] = ()
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()

    @property
    def is_rejected(self) -> bool:
        """True if the port is 0 (RFC 3264 §6, §8.2)."""
        return self.port == 0

    @property
    def is_rtp(self) -> bool:
        """True for the RTP profiles (``RTP/AVP``, ``RTP/SAVP``, ...)."""
        return "RTP/" in self.proto.upper()

    @property
    def payload_types(self) -> tuple[int, ...]:
        """The formats that are RTP payload type numbers (0-127), in offer order."""
        return tuple(
            int(fmt)
            for fmt in self.formats
            if fmt.isdigit() and len(fmt) <= 3 and int(fmt) <= _MAX_PAYLOAD_TYPE
        )

    def attribute_values(self, name: str) -> tuple[str, ...]:
        """Values of every ``a=<name>:<value>`` in order (name case-insensitive)."""
        lowered = name.lower()
        return tuple(
            a.value for a in self.attributes if a.name.lower() == lowered and a.value is not None
        )

    def has_flag(self, name: str) -> bool:
        """True if a value-less ``a=<name>`` is present (name case-insensitive)."""
        lowered = name.lower()
        return any(a.name.lower() == lowered and a.value is None for a in self.attributes)

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        """The well-formed ``a=rtpmap`` lines by payload type (first one wins)."""
        result: dict[int, RtpMap] = {}
        for value in self.attribute_values("rtpmap"):
            rtpmap = parse_rtpmap(value)
            if rtpmap is not None:
                result.setdefault(rtpmap.payload_type, rtpmap)
        return result

    def fmtp(self, payload_type: int) -> str | None:
        """The format parameters of ``payload_type``, or None."""
        for value in self.attribute_values("fmtp"):
            fmtp = parse_fmtp(value)
            if fmtp is not None and fmtp.payload_type == payload_type:
                return fmtp.parameters
        return None

    @property
    def ptime_ms(self) -> int | None:
        """``a=ptime`` in milliseconds (RFC 8866 §6.4), None if absent or malformed."""
        values = self.attribute_values("ptime")
        return _milliseconds(values[0]) if values else None

    @property
    def maxptime_ms(self) -> int | None:
        """``a=maxptime`` in milliseconds (RFC 8866 §6.5), None if absent or malformed."""
        values = self.attribute_values("maxptime")
        return _milliseconds(values[0]) if values else None

    @property
    def direction(self) -> Direction | None:
        """The media-level direction attribute, None if there is none."""
        return _direction_of(self.attributes)

    @property
    def rtcp(self) -> RtcpAttribute | None:
        """The ``a=rtcp`` attribute (RFC 3605), None if absent or malformed."""
        values = self.attribute_values("rtcp")
        return parse_rtcp(values[0]) if values else None

    def lines(self) -> Iterator[str]:
        """The section's lines in RFC 8866 §5 order, without line ends."""
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        yield " ".join(("m=" + self.media, port, self.proto, *self.formats))
        if self.title is not None:
            yield f"i={self.title}"
        for connection in self.connections:
            yield f"c={connection}"
        for bandwidth in self.bandwidths:
            yield f"b={bandwidth}"
        if self.key is not None:
            yield f"k={self.key}"
        for attribute in self.attributes:
            yield f"a={attribute}"


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A whole SDP body (RFC 8866 §5): session-level lines, then the media sections."""

    origin: Origin
    session_name: str = "-"
    timings: tuple[Timing, ...] = (Timing(),)
    connection: Connection | None = None
    media: tuple[MediaDescription, ...] = ()
    information: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    bandwidths: tuple[Bandwidth, ...] = ()
    zone_adjustments: str | None = None
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    version: int = 0

    @property
    def direction(self) -> Direction | None:
        """The session-level direction attribute, None if there is none."""
        return _direction_of(self.attributes)

    def media_direction(self, media: MediaDescription) -> Direction:
        """Effective direction of ``media``: media level, else session level, else sendrecv."""
        return media.direction or self.direction or Direction.SENDRECV

    def media_connection(self, media: MediaDescription) -> Connection | None:
        """The connection of ``media``: its own first ``c=``, else the session's (§5.7)."""
        return media.connections[0] if media.connections else self.connection

    def lines(self) -> Iterator[str]:
        """Every line in RFC 8866 §5 order, without line ends."""
        yield f"v={self.version}"
        yield f"o={self.origin}"
        yield f"s={self.session_name}"
        if self.information is not None:
            yield f"i={self.information}"
        if self.uri is not None:
            yield f"u={self.uri}"
        yield from (f"e={email}" for email in self.emails)
        yield from (f"p={phone}" for phone in self.phones)
        if self.connection is not None:
            yield f"c={self.connection}"
        yield from (f"b={bandwidth}" for bandwidth in self.bandwidths)
        for timing in self.timings:
            yield f"t={timing.start} {timing.stop}"
            yield from (f"r={repeat}" for repeat in timing.repeats)
        if self.zone_adjustments is not None:
            yield f"z={self.zone_adjustments}"
        if self.key is not None:
            yield f"k={self.key}"
        yield from (f"a={attribute}" for attribute in self.attributes)
        for media in self.media:
            yield from media.lines()

    def to_text(self) -> str:
        """The description as text with CRLF line ends (RFC 8866 §5).

        Raises LocalProtocolError if a field holds a line break: such a value
        would inject lines into the body.
        """
        lines = list(self.lines())
        for line in lines:
            if "\r" in line or "\n" in line or "\x00" in line:
                raise LocalProtocolError(f"SDP field contains a line break or NUL: {line!r}")
        return "\r\n".join(lines) + "\r\n"

    def __bytes__(self) -> bytes:
        try:
            return self.to_text().encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:
            raise LocalProtocolError(f"SDP field is not encodable: {exc}") from exc
