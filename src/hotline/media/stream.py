"""One continuous outgoing RTP stream per leg, whatever feeds it (player frames or relayed packets).

A leg's outgoing audio comes from our player (prompts, tones, music on hold)
and, once bridged, from packets relayed from the other leg.  The receiver
must see a single RTP stream (RFC 3550 §5.1, §8): one SSRC, sequence numbers
that go up by one per packet, timestamps on one timeline, and the marker bit
on the first packet of a talkspurt (RFC 3551 §4.1) -- that is where its jitter
buffer may re-synchronise.  :class:`OutgoingStream` keeps that invariant:

* own frames (:meth:`OutgoingStream.frame`) get the next sequence number and a
  timestamp that follows the previous packet; when the caller's ``now`` shows a
  gap of two frames or more (nothing was sent meanwhile), the timestamp jumps
  by the wall-clock gap rounded to whole frames and the marker bit is set, so
  the receiver's timeline matches real time;
* relayed packets (:meth:`OutgoingStream.relay`) keep their own sequence and
  timestamp *deltas* (so losses and reordering stay visible to the receiver)
  through an offset that is re-anchored when the relay starts, when the
  relayed SSRC changes, or when its sequence number jumps (RFC 3550 A.1
  MAX_DROPOUT / MAX_MISORDER); re-anchoring continues our sequence and
  timeline and sets the marker.  Rewriting touches the 12 fixed header bytes of
  a copy of the packet with :func:`struct.pack_into`; no packet objects are made.
"""

from __future__ import annotations

import enum
import secrets
import struct
from typing import Final

from hotline.media.rtp import peek_rtp_header

__all__ = [
    "MAX_DROPOUT",
    "MAX_MISORDER",
    "OutgoingStream",
    "StreamSource",
]

MAX_DROPOUT: Final = 3000
"""Largest forward sequence jump still taken as loss, not a restart (RFC 3550 A.1)."""
MAX_MISORDER: Final = 100
"""Largest backward sequence step still taken as reordering (RFC 3550 A.1)."""

_HEADER: Final = struct.Struct("!BBHII")
_SEQ_TS_SSRC: Final = struct.Struct("!HII")
_SEQ_MOD: Final = 1 << 16
_TS_MOD: Final = 1 << 32
_SEQ_MASK: Final = _SEQ_MOD - 1
_SEQ_HALF: Final = _SEQ_MOD >> 1
_TS_MASK: Final = _TS_MOD - 1
_MARKER: Final = 0x80


class StreamSource(enum.Enum):
    """What fed the last packet of the stream."""

    NONE = "none"
    PLAYER = "player"
    RELAY = "relay"


class OutgoingStream:
    """Sequence/timestamp/SSRC bookkeeping of one outgoing RTP stream (sans-IO).

    ``frame_samples`` is the timestamp advance of one own frame (160 for
    20 ms at 8 kHz).  Initial sequence number and timestamp should be random
    (RFC 3550 §5.1); :meth:`random` draws them with :mod:`secrets`.
    """

    __slots__ = (
        "_clock_rate_hz",
        "_frame_s",
        "_frame_samples",
        "_last_now",
        "_last_samples",
        "_payload_type",
        "_relay_in_seq",
        "_relay_in_ssrc",
        "_relay_seq_offset",
        "_relay_ts_offset",
        "_seq",
        "_source",
        "_ssrc",
        "_ts",
        "packets_sent",
    )

    def __init__(
        self,
        *,
        ssrc: int,
        payload_type: int,
        initial_seq: int,
        initial_timestamp: int,
        clock_rate_hz: int = 8000,
        frame_samples: int = 160,
    ) -> None:
        if not 0 <= ssrc < _TS_MOD:
            raise ValueError("ssrc must fit 32 bits")
        if not 0 <= payload_type < 128:
            raise ValueError("payload type must fit 7 bits")
        if clock_rate_hz <= 0 or frame_samples <= 0:
            raise ValueError("clock rate and frame size must be positive")
        self._ssrc = ssrc
        self._payload_type = payload_type
        self._clock_rate_hz = clock_rate_hz
        self._frame_samples = frame_samples
        self._frame_s = frame_samples / clock_rate_hz
        # The "last sent" state: the next packet follows it.
        self._seq = (initial_seq - 1) % _SEQ_MOD
        self._ts = (initial_timestamp - frame_samples) % _TS_MOD
        self._last_samples = frame_samples
        self._last_now: float | None = None
        self._source = StreamSource.NONE
        self._relay_in_ssrc: int | None = None
        self._relay_in_seq = 0
        self._relay_seq_offset = 0
        self._relay_ts_offset = 0
        self.packets_sent = 0

    @classmethod
    def random(
        cls,
        *,
        payload_type: int,
        clock_rate_hz: int = 8000,
        frame_samples: int = 160,
    ) -> OutgoingStream:
        """A stream with a random SSRC, first sequence number and first timestamp."""
        return cls(
            ssrc=secrets.randbits(32),
            payload_type=payload_type,
            initial_seq=secrets.randbits(16),
            initial_timestamp=secrets.randbits(32),
            clock_rate_hz=clock_rate_hz,
            frame_samples=frame_samples,
        )

    @property
    def ssrc(self) -> int:
        return self._ssrc

    @property
    def last_seq(self) -> int:
        """Highest sequence number sent (or the one before the first, if none was sent)."""
        return self._seq

    @property
    def last_timestamp(self) -> int:
        """Timestamp of the newest packet on our timeline."""
        return self._ts

    @property
    def source(self) -> StreamSource:
        return self._source

    def _continue_timeline(self, now: float) -> tuple[int, bool]:
        """Timestamp for a packet sent at ``now`` after a switch or pause, and its marker bit."""
        follow = (self._ts + self._last_samples) % _TS_MOD
        if self._last_now is None:
            return follow, True
        gap_frames = round((now - self._last_now) / self._frame_s)
        if gap_frames <= 1:
            return follow, False
        return (self._ts + gap_frames * self._frame_samples) % _TS_MOD, True

    def frame(
        self,
        payload: bytes,
        now: float,
        *,
        samples: int | None = None,
        marker: bool = False,
        payload_type: int | None = None,
    ) -> bytes:
        """The RTP packet carrying our own ``payload`` (``samples`` long) sent at ``now``."""
        count = self._frame_samples if samples is None else samples
        ts, jumped = self._continue_timeline(now)
        if self._source is not StreamSource.PLAYER:
            jumped = True
        self._source = StreamSource.PLAYER
        self._seq = (self._seq + 1) % _SEQ_MOD
        self._ts = ts
        self._last_samples = count
        self._last_now = now
        self.packets_sent += 1
        pt = self._payload_type if payload_type is None else payload_type
        second = pt | (_MARKER if (marker or jumped) else 0)
        return _HEADER.pack(0x80, second, self._seq, ts, self._ssrc) + payload

    def relay(self, packet: bytes, now: float, *, payload_type: int | None = None) -> bytes:
        """``packet`` (from the bridged leg) rewritten onto this stream: our SSRC, seq and timeline.

        ``payload_type`` replaces the packet's payload type when the two legs
        number the format differently.  Raises
        :class:`~hotline.core.errors.RemoteProtocolError` (from
        :func:`~hotline.media.rtp.peek_rtp_header`) for a malformed packet.
        """
        in_pt, in_seq, in_ts, in_ssrc, in_marker, _offset = peek_rtp_header(packet)
        out = bytearray(packet)
        pt = in_pt if payload_type is None else payload_type
        self.rewrite(out, in_seq, in_ts, in_ssrc, pt, in_marker, now)
        return bytes(out)

    def rewrite(
        self,
        packet: bytearray,
        in_seq: int,
        in_ts: int,
        in_ssrc: int,
        payload_type: int,
        marker: bool,
        now: float,
    ) -> None:
        """Rewrite the fixed header of a relayed ``packet`` in place onto this stream.

        The same as :meth:`relay` for a caller that has parsed the header
        already (the engine's receive path): ``in_seq``, ``in_ts``, ``in_ssrc``
        and ``marker`` are the packet's own fields, ``payload_type`` the one to
        send.  Bytes 1..11 are overwritten; nothing else is read or copied.
        """
        out_marker = _MARKER if marker else 0
        if self._source is not StreamSource.RELAY or in_ssrc != self._relay_in_ssrc:
            self._anchor_relay(in_seq, in_ts, in_ssrc, now)
            out_marker = _MARKER
        else:
            step = (in_seq - self._relay_in_seq) & _SEQ_MASK
            if MAX_DROPOUT < step < _SEQ_MOD - MAX_MISORDER:
                self._anchor_relay(in_seq, in_ts, in_ssrc, now)
                out_marker = _MARKER
            elif step < _SEQ_HALF:
                self._relay_in_seq = in_seq
        out_seq = (in_seq + self._relay_seq_offset) & _SEQ_MASK
        out_ts = (in_ts + self._relay_ts_offset) & _TS_MASK
        if (out_seq - self._seq) & _SEQ_MASK < _SEQ_HALF:
            # Newest packet so far (not a late reordered one): it moves our "last sent" state.
            self._seq = out_seq
            self._ts = out_ts
            self._last_now = now
            self._last_samples = self._frame_samples
        self.packets_sent += 1
        packet[1] = out_marker | payload_type
        _SEQ_TS_SSRC.pack_into(packet, 2, out_seq, out_ts, self._ssrc)

    def _anchor_relay(self, in_seq: int, in_ts: int, in_ssrc: int, now: float) -> None:
        ts, _ = self._continue_timeline(now)
        self._relay_seq_offset = (self._seq + 1 - in_seq) % _SEQ_MOD
        self._relay_ts_offset = (ts - in_ts) % _TS_MOD
        self._relay_in_ssrc = in_ssrc
        self._relay_in_seq = in_seq
        self._source = StreamSource.RELAY
