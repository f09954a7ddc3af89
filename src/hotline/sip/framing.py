"""Framing SIP messages on a stream (TCP/TLS; RFC 3261 §18.3, §7.5; RFC 5626 §3.5.1).

:class:`StreamFramer` is the sans-IO reader of one connection: ``feed()`` the
received bytes, then call ``next_message()`` until it returns ``None``.  It
yields messages and the CRLF keep-alives of RFC 5626 (a ``PING`` must be
answered with a single CRLF).

A message whose framing is sound but whose content is bad (bad CSeq,
unknown URI scheme...) raises :class:`~hotline.sip.msg_parse.SipParseError`
and the framer goes on with the next message.  A framing error (missing,
negative or duplicated Content-Length, an unreadable header section, a size
limit) puts the framer in :attr:`FramerState.FAILED`: the error is raised
again on every later call and the connection must be closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_parse import (
    ParsedHead,
    ParseLimits,
    SipLimitError,
    SipParseError,
    find_head_end,
    finish_message,
    parse_head,
)

__all__ = ["FramerState", "KeepAlive", "KeepAliveKind", "StreamFramer", "is_keepalive_datagram"]


class KeepAliveKind(Enum):
    """RFC 5626 §3.5.1 keep-alives."""

    PING = "ping"  # CRLFCRLF: answer with one CRLF
    PONG = "pong"  # a single CRLF answering our ping


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """A keep-alive was received on the stream."""

    kind: KeepAliveKind


class FramerState(Enum):
    """Whether the framer can still read from its connection."""

    OPEN = "open"
    FAILED = "failed"


def is_keepalive_datagram(data: bytes) -> bool:
    """True for a UDP keep-alive: a short datagram of only CR/LF (or NUL) bytes."""
    return 0 < len(data) <= 8 and not data.strip(b"\r\n\x00")


class StreamFramer:
    """Splits one stream connection's bytes into SIP messages (sans-IO).

    A lone CRLF at the end of the buffered data is reported as a ``PONG``;
    if the next bytes start with another CRLF the pair was a ping split in
    two, and it is reported as a ``PING`` then.
    """

    def __init__(
        self, limits: ParseLimits | None = None, *, max_buffer_bytes: int | None = None
    ) -> None:
        self._limits = limits if limits is not None else ParseLimits()
        self._max_buffer = (
            max_buffer_bytes if max_buffer_bytes is not None else 2 * self._limits.max_message_bytes
        )
        self._buffer = bytearray()
        self._head: ParsedHead | None = None
        self._body_start = 0
        self._body_length = 0
        self._after_lone_crlf = False
        self._scanned = 0
        self._error: SipParseError | None = None

    @property
    def state(self) -> FramerState:
        """``FAILED`` after a framing error; the connection must then be closed."""
        return FramerState.OPEN if self._error is None else FramerState.FAILED

    @property
    def buffered_bytes(self) -> int:
        """How many received bytes are not consumed yet."""
        return len(self._buffer)

    def _fail(self, error: SipParseError) -> SipParseError:
        self._error = error
        self._buffer.clear()
        self._head = None
        return error

    def feed(self, data: bytes) -> None:
        """Add received bytes; raises ``SipLimitError`` past the buffer limit."""
        if self._error is not None:
            raise self._error
        self._buffer += data
        if len(self._buffer) > self._max_buffer:
            raise self._fail(SipLimitError(f"connection buffer over {self._max_buffer} bytes"))

    def _crlf_keepalive(self) -> KeepAlive:
        """Consume a CRLF (pong) or CRLFCRLF (ping) at the start of the buffer."""
        buf = self._buffer
        if buf[2:4] == b"\r\n":
            del buf[:4]
            self._after_lone_crlf = False
            return KeepAlive(KeepAliveKind.PING)
        del buf[:2]
        if self._after_lone_crlf:
            self._after_lone_crlf = False
            return KeepAlive(KeepAliveKind.PING)
        self._after_lone_crlf = not buf
        return KeepAlive(KeepAliveKind.PONG)

    def next_message(self) -> SipRequest | SipResponse | KeepAlive | None:
        """The next complete message or keep-alive, or ``None`` until more bytes arrive."""
        if self._error is not None:
            raise self._error
        buf = self._buffer
        head = self._head
        if head is None:
            while buf[:1] == b"\n":
                del buf[:1]
            if buf[:1] == b"\r":
                if len(buf) == 1 or buf == b"\r\n\r":
                    return None  # the rest of a CRLF or of a ping is still to come
                if buf[1:2] == b"\n":
                    return self._crlf_keepalive()
            if not buf:
                return None
            self._after_lone_crlf = False
            head = self._read_head()
            if head is None:
                return None
        end = self._body_start + self._body_length
        if len(buf) < end:
            return None
        self._head = None
        body = bytes(buf[self._body_start : end])
        del buf[:end]
        return finish_message(head, body, self._limits)

    def _read_head(self) -> ParsedHead | None:
        """Parse the header section when it is complete; ``None`` while waiting."""
        buf = self._buffer
        limit = self._limits.max_message_bytes
        # Search only the bytes not searched yet (3 back, for a terminator cut in
        # two): feeding a header byte by byte must not cost a rescan each time.
        scanned = self._scanned
        ends = None
        if buf.find(b"\n\n", scanned) != -1 or buf.find(b"\r\n\r\n", scanned) != -1:
            ends = find_head_end(buf)
        if ends is None:
            if len(buf) > limit:
                raise self._fail(
                    SipLimitError(f"header section over {limit} bytes", status_hint=513)
                )
            self._scanned = max(0, len(buf) - 3)
            return None
        self._scanned = 0
        head_end, body_start = ends
        try:
            head = parse_head(buf, 0, head_end, self._limits)
        except SipParseError as exc:
            raise self._fail(exc) from None
        if head.content_length is None:
            raise self._fail(
                SipParseError(
                    "missing Content-Length on a stream transport (§18.3)", partial=head.partial
                )
            )
        if body_start + head.content_length > limit:
            raise self._fail(
                SipLimitError(f"message over {limit} bytes", status_hint=513, partial=head.partial)
            )
        self._head = head
        self._body_start = body_start
        self._body_length = head.content_length
        return head
