"""Symmetric RTP source latching (RFC 4961; the "comedia" practice behind NAT).

A caller behind NAT sends from an address that differs from the one in its SDP.
With symmetric RTP we send to where its packets come from.  :class:`SourceLatch`
latches onto the source address of the first *valid* packet (a well-formed
RTP packet, optionally of a negotiated payload type; or an RTCP packet for the
RTCP port) and then drops packets from every other address, counting them:
this is the protection against RTP injection / "RTP bleed".

It re-latches only when told (:meth:`SourceLatch.relatch`), e.g. after a
re-INVITE that signals a new ``c=``/``m=`` line.  Nothing here reads a clock;
``now`` only timestamps the latch for diagnostics.
"""

from __future__ import annotations

import enum

from hotline.core.errors import RemoteProtocolError
from hotline.media.rtcp import looks_like_rtcp
from hotline.media.rtp import peek_rtp_header

__all__ = ["Address", "LatchKind", "SourceLatch"]

Address = tuple[str, int]
"""``(host, port)`` as the datagram transport reports it."""


class LatchKind(enum.Enum):
    """Which packets may establish the latch."""

    RTP = "rtp"
    RTCP = "rtcp"


class SourceLatch:
    """Latch onto one remote source address; reject the rest.

    ``signalled`` is the address from the remote SDP: where we send until the
    latch is made.  It is only a hint: the first valid packet, from wherever it
    comes, decides.  ``payload_types`` limits which RTP payload types
    may latch (the negotiated ones); ``None`` accepts any.
    """

    __slots__ = (
        "_payload_types",
        "kind",
        "latch_count",
        "latched",
        "latched_at",
        "rejected_invalid",
        "rejected_source",
        "signalled",
    )

    def __init__(
        self,
        kind: LatchKind = LatchKind.RTP,
        *,
        signalled: Address | None = None,
        payload_types: frozenset[int] | None = None,
    ) -> None:
        self.kind = kind
        self.signalled = signalled
        self._payload_types = payload_types
        self.latched: Address | None = None
        self.latched_at: float | None = None
        self.latch_count = 0
        self.rejected_source = 0
        """Packets dropped because they came from another address than the latched one."""
        self.rejected_invalid = 0
        """Packets dropped before latching because they were not valid."""

    @property
    def remote(self) -> Address | None:
        """Where to send: the latched address, else the signalled one."""
        return self.latched if self.latched is not None else self.signalled

    def accept(self, data: bytes | bytearray | memoryview, source: Address, now: float) -> bool:
        """True when the packet from ``source`` should be processed, latching if needed.

        Once latched the check is one tuple comparison: the caller parses (and
        rejects malformed packets) as usual.
        """
        if self.latched is not None:
            if source == self.latched:
                return True
            self.rejected_source += 1
            return False
        if not self._is_valid(data):
            self.rejected_invalid += 1
            return False
        self.latched = source
        self.latched_at = now
        self.latch_count += 1
        return True

    def relatch(self, signalled: Address | None = None) -> None:
        """Forget the latched address: a signalled change (re-INVITE with new c=/m=)."""
        self.latched = None
        self.latched_at = None
        if signalled is not None:
            self.signalled = signalled

    def _is_valid(self, data: bytes | bytearray | memoryview) -> bool:
        if self.kind is LatchKind.RTCP:
            return looks_like_rtcp(data)
        if looks_like_rtcp(data):
            return False
        try:
            payload_type = peek_rtp_header(data)[0]
        except RemoteProtocolError:
            return False
        return self._payload_types is None or payload_type in self._payload_types
