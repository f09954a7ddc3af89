"""SDP parser (RFC 8866 §5, §9) with limits.

``parse_sdp(data)`` turns a body into a :class:`~hotline.sdp.model.SessionDescription`
or raises :class:`~hotline.core.errors.RemoteProtocolError` (``status_hint=400``;
:class:`~hotline.core.errors.LimitExceededError` past a limit).  No other
exception escapes, whatever the input.

What is checked strictly (the peer gets a 400):

- every line is ``<type>=<value>`` with a known one-letter type (RFC 8866 §5:
  a description with an unknown type letter is to be ignored whole);
- ``v=0`` comes first; exactly one ``o=``; single ``s= i= u= c= z= k=`` at
  session level; session-only lines do not appear in a media section;
- numeric fields of ``o= c= b= t= m=`` lines, ports within 0-65535, address
  types IP4/IP6, no control characters (tab excepted);
- sizes and counts: :class:`SdpLimits`.

What is accepted leniently, as common SIP stacks do: LF-only line ends and
blank lines, missing ``s=`` or ``t=`` (defaults ``-`` and ``0 0``), lines of
the session part in any order after ``o=``, an ``m=`` line with no format,
bytes that are not UTF-8 (kept via ``surrogateescape`` and written back as
they came).  Attribute values are kept verbatim; their typed views in
:mod:`hotline.sdp.model` ignore malformed values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hotline.core.errors import LimitExceededError, RemoteProtocolError
from hotline.sdp.model import (
    AddressType,
    Attribute,
    Bandwidth,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
)

__all__ = ["DEFAULT_LIMITS", "SdpLimits", "parse_sdp"]

_TOKEN_RE = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_DIGITS_RE = re.compile(r"\d+")
_SESSION_TYPES = frozenset("vosiuepcbtrzkam")
_MEDIA_TYPES = frozenset("icbkam")
_SESSION_SINGLETONS = frozenset("osiuczk")
_MEDIA_SINGLETONS = frozenset("ik")
_MAX_NUMBER_DIGITS = 20  # NTP times and session versions fit in 64 bits


@dataclass(frozen=True, slots=True)
class SdpLimits:
    """Bounds on what :func:`parse_sdp` accepts; past any of them: LimitExceededError."""

    max_size_bytes: int = 32_768
    max_lines: int = 1_024
    max_line_length: int = 4_096
    max_media: int = 16
    max_formats: int = 64
    max_attributes: int = 256
    max_timings: int = 16


DEFAULT_LIMITS = SdpLimits()


def _fail(line_number: int, problem: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"SDP line {line_number}: {problem}", status_hint=400)


def _number(text: str, line_number: int, what: str) -> int:
    if _DIGITS_RE.fullmatch(text) is None or len(text) > _MAX_NUMBER_DIGITS:
        raise _fail(line_number, f"{what} is not a number: {text[:40]!r}")
    return int(text)


def _port(text: str, line_number: int) -> int:
    value = _number(text, line_number, "port")
    if value > 0xFFFF:
        raise _fail(line_number, f"port out of range: {value}")
    return value


def _token(text: str, line_number: int, what: str) -> str:
    if _TOKEN_RE.fullmatch(text) is None:
        raise _fail(line_number, f"{what} is not a token: {text[:40]!r}")
    return text


def _address_type(text: str, line_number: int) -> AddressType:
    try:
        return AddressType(text)
    except ValueError:
        raise _fail(line_number, f"unsupported address type {text[:10]!r}") from None


def _origin(value: str, line_number: int) -> Origin:
    fields = value.split()
    if len(fields) != 6:
        raise _fail(line_number, "o= needs 6 fields")
    username, session_id, version, network_type, address_type, address = fields
    return Origin(
        username=username,
        session_id=session_id,
        session_version=_number(version, line_number, "session version"),
        address_type=_address_type(address_type, line_number),
        address=address,
        network_type=_token(network_type, line_number, "network type"),
    )


def _connection(value: str, line_number: int) -> Connection:
    fields = value.split()
    if len(fields) != 3:
        raise _fail(line_number, "c= needs 3 fields")
    return Connection(
        address_type=_address_type(fields[1], line_number),
        address=fields[2],
        network_type=_token(fields[0], line_number, "network type"),
    )


def _bandwidth(value: str, line_number: int) -> Bandwidth:
    bandwidth_type, colon, amount = value.partition(":")
    if not colon:
        raise _fail(line_number, "b= needs <bwtype>:<bandwidth>")
    return Bandwidth(
        _token(bandwidth_type, line_number, "bandwidth type"),
        _number(amount.strip(), line_number, "bandwidth"),
    )


def _attribute(value: str, line_number: int) -> Attribute:
    name, colon, rest = value.partition(":")
    return Attribute(_token(name, line_number, "attribute name"), rest if colon else None)


@dataclass(slots=True)
class _MediaBuilder:
    media: str
    port: int
    port_count: int | None
    proto: str
    formats: tuple[str, ...]
    title: str | None = None
    connections: list[Connection] = field(default_factory=list)
    bandwidths: list[Bandwidth] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def build(self) -> MediaDescription:
        return MediaDescription(
            media=self.media,
            port=self.port,
            proto=self.proto,
            formats=self.formats,
            port_count=self.port_count,
            title=self.title,
            connections=tuple(self.connections),
            bandwidths=tuple(self.bandwidths),
            key=self.key,
            attributes=tuple(self.attributes),
        )


@dataclass(slots=True)
class _Parser:
    limits: SdpLimits
    version: int | None = None
    origin: Origin | None = None
    session_name: str | None = None
    information: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=list)
    zone_adjustments: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[_MediaBuilder] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def feed(self, line_number: int, line: str) -> None:
        if len(line) > self.limits.max_line_length:
            raise LimitExceededError(f"SDP line {line_number} longer than the limit")
        if _CONTROL_RE.search(line) is not None:
            raise _fail(line_number, "control character")
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise _fail(line_number, "not a <type>=<value> line")
        kind, value = line[0], line[2:]
        if self.version is None:
            if kind != "v":
                raise _fail(line_number, "the first line must be v=")
            if value.strip() != "0":
                raise _fail(line_number, f"unsupported SDP version {value[:10]!r}")
            self.version = 0
            return
        if self.media:
            self._feed_media(self.media[-1], line_number, kind, value)
        else:
            self._feed_session(line_number, kind, value)

    def _feed_session(self, line_number: int, kind: str, value: str) -> None:
        if kind not in _SESSION_TYPES:
            raise _fail(line_number, f"unknown line type {kind}=")
        if kind in _SESSION_SINGLETONS:
            if kind in self.seen:
                raise _fail(line_number, f"more than one {kind}= line in the session part")
            self.seen.add(kind)
        if kind == "v":
            raise _fail(line_number, "v= may only be the first line")
        if kind == "o":
            self.origin = _origin(value, line_number)
        elif kind == "s":
            self.session_name = value
        elif kind == "i":
            self.information = value
        elif kind == "u":
            self.uri = value
        elif kind == "e":
            self.emails.append(value)
        elif kind == "p":
            self.phones.append(value)
        elif kind == "c":
            self.connection = _connection(value, line_number)
        elif kind == "b":
            self.bandwidths.append(_bandwidth(value, line_number))
        elif kind == "t":
            self._timing(line_number, value)
        elif kind == "r":
            if not self.timings:
                raise _fail(line_number, "r= without a preceding t=")
            last = self.timings[-1]
            self.timings[-1] = Timing(last.start, last.stop, (*last.repeats, value))
        elif kind == "z":
            self.zone_adjustments = value
        elif kind == "k":
            self.key = value
        elif kind == "a":
            self._add_attribute(self.attributes, line_number, value)
        else:  # "m", the only type left in _SESSION_TYPES
            self._start_media(line_number, value)

    def _feed_media(self, media: _MediaBuilder, line_number: int, kind: str, value: str) -> None:
        if kind not in _MEDIA_TYPES:
            if kind in _SESSION_TYPES:
                raise _fail(line_number, f"{kind}= is not allowed in a media section")
            raise _fail(line_number, f"unknown line type {kind}=")
        if kind in _MEDIA_SINGLETONS:
            if kind in media.seen:
                raise _fail(line_number, f"more than one {kind}= line in a media section")
            media.seen.add(kind)
        if kind == "i":
            media.title = value
        elif kind == "c":
            media.connections.append(_connection(value, line_number))
        elif kind == "b":
            media.bandwidths.append(_bandwidth(value, line_number))
        elif kind == "k":
            media.key = value
        elif kind == "a":
            self._add_attribute(media.attributes, line_number, value)
        else:  # "m"
            self._start_media(line_number, value)

    def _timing(self, line_number: int, value: str) -> None:
        fields = value.split()
        if len(fields) != 2:
            raise _fail(line_number, "t= needs 2 fields")
        if len(self.timings) >= self.limits.max_timings:
            raise LimitExceededError(f"SDP line {line_number}: too many t= lines")
        self.timings.append(
            Timing(
                _number(fields[0], line_number, "start time"),
                _number(fields[1], line_number, "stop time"),
            )
        )

    def _add_attribute(self, attributes: list[Attribute], line_number: int, value: str) -> None:
        if len(attributes) >= self.limits.max_attributes:
            raise LimitExceededError(f"SDP line {line_number}: too many a= lines in a section")
        attributes.append(_attribute(value, line_number))

    def _start_media(self, line_number: int, value: str) -> None:
        if len(self.media) >= self.limits.max_media:
            raise LimitExceededError(f"SDP line {line_number}: too many m= lines")
        fields = value.split()
        if len(fields) < 3:
            raise _fail(line_number, "m= needs <media> <port> <proto> <fmt> ...")
        media, port_text, proto, *formats = fields
        if len(formats) > self.limits.max_formats:
            raise LimitExceededError(f"SDP line {line_number}: too many formats")
        port_part, slash, count_part = port_text.partition("/")
        port_count = _number(count_part, line_number, "port count") if slash else None
        self.media.append(
            _MediaBuilder(
                media=_token(media, line_number, "media type"),
                port=_port(port_part, line_number),
                port_count=port_count,
                proto=proto,
                formats=tuple(_token(fmt, line_number, "format") for fmt in formats),
            )
        )

    def finish(self) -> SessionDescription:
        if self.version is None:
            raise RemoteProtocolError("empty SDP body", status_hint=400)
        if self.origin is None:
            raise RemoteProtocolError("SDP without an o= line", status_hint=400)
        return SessionDescription(
            origin=self.origin,
            session_name=self.session_name if self.session_name is not None else "-",
            timings=tuple(self.timings) or (Timing(),),
            connection=self.connection,
            media=tuple(builder.build() for builder in self.media),
            information=self.information,
            uri=self.uri,
            emails=tuple(self.emails),
            phones=tuple(self.phones),
            bandwidths=tuple(self.bandwidths),
            zone_adjustments=self.zone_adjustments,
            key=self.key,
            attributes=tuple(self.attributes),
            version=self.version,
        )


def parse_sdp(data: bytes | str, limits: SdpLimits = DEFAULT_LIMITS) -> SessionDescription:
    """Parse an SDP body (RFC 8866 §5).

    Raises RemoteProtocolError (status_hint 400) for malformed input and
    LimitExceededError past ``limits``.
    """
    if len(data) > limits.max_size_bytes:
        raise LimitExceededError(f"SDP body larger than {limits.max_size_bytes} bytes")
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    lines = text.split("\n")
    if len(lines) > limits.max_lines + 1:
        raise LimitExceededError(f"SDP body has more than {limits.max_lines} lines")
    parser = _Parser(limits)
    for line_number, line in enumerate(lines, 1):
        stripped = line.removesuffix("\r")
        if stripped:
            parser.feed(line_number, stripped)
    return parser.finish()
