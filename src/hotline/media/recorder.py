"""Stereo call recording aligned on RTP timestamps, streamed out in bounded memory (sans-IO).

The caller is on the left channel, the operator on the right: 16-bit PCM at
8 kHz, two channels, a WAV any browser's ``<audio>`` element plays.

Each leg is placed on the recording timeline (sample 0 = the ``now`` the
recorder was created) by its RTP timestamps (RFC 3550 §5.1: the timestamp is
the sampling instant of the payload's first sample): the first packet of an
SSRC is anchored at its arrival time, later ones at ``anchor + (ts - anchor_ts)``
(32-bit wrap-around).  That keeps losses as silent gaps of the right length,
puts reordered packets (within ``reorder_window_ms``) back where they belong,
and keeps silence-suppressed pauses (RFC 3551 §4.1) the right length.  A new
SSRC, or a timestamp that disagrees with the arrival time by more than
``jump_threshold_s`` (a restarted stream, a broken sender), re-anchors the
leg on the arrival time, never overlapping audio already placed.

Memory per call is one window buffer of ``buffer_s`` seconds.  Samples older
than the reorder window are flushed as interleaved little-endian int16
chunks, in :class:`~hotline.media.wav.FileWrite` records (offset + bytes)
that the driver applies with :class:`~hotline.media.wav.WavFileSink`.  The
first write is a provisional header with zero sizes (so a crash leaves a file
:func:`~hotline.media.wav.repair_wav` can fix); :meth:`CallRecorder.finish`
writes the final header and emits :class:`RecordingStored` with the size and
the SHA-256 of the sample data, computed while the chunks were produced (or,
with ``digest=False``, left empty for the driver that writes the chunks to
compute off the event loop).
"""

from __future__ import annotations

import enum
import hashlib
from collections import deque
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from hotline.core.errors import LocalProtocolError
from hotline.media.codecs import Codec
from hotline.media.rtp import peek_rtp_header, rtp_payload_end
from hotline.media.wav import WAV_HEADER_BYTES, FileWrite, wav_header

__all__ = [
    "RECORDING_RATE_HZ",
    "CallRecorder",
    "RecorderStats",
    "RecordingChannel",
    "RecordingStored",
]

RECORDING_RATE_HZ: Final = 8000
_CHANNELS: Final = 2
_FRAME_BYTES: Final = 4  # two int16 samples
_TS_MOD: Final = 1 << 32
_HALF_TS: Final = 1 << 31


class RecordingChannel(enum.IntEnum):
    """Which side of the stereo file a leg is recorded on."""

    CALLER = 0
    """Left."""
    OPERATOR = 1
    """Right."""


@dataclass(frozen=True, slots=True)
class RecordingStored:
    """A finished recording: its file, length, size on disk and SHA-256 of its sample data."""

    path: str
    duration_s: float
    size_bytes: int
    sha256: str


@dataclass(slots=True)
class RecorderStats:
    """Counters of one recording."""

    packets: int = 0
    late_packets: int = 0
    ignored_packets: int = 0
    reanchors: int = 0
    samples_beyond_limit: int = 0


class _Leg:
    __slots__ = ("anchor_pos", "anchor_ts", "codec", "end", "payload_type", "ssrc")

    def __init__(self) -> None:
        self.codec: Codec | None = None
        self.payload_type: int | None = None
        self.ssrc: int | None = None
        self.anchor_ts = 0
        self.anchor_pos = 0
        self.end = 0  # one past the last sample placed for this leg


class CallRecorder:
    """Records one call into a stereo WAV, as a stream of :class:`FileWrite` records.

    ``digest=False`` skips the SHA-256 of the sample data (``sha256`` of the
    :class:`RecordingStored` event is then empty): a driver that hashes what
    it writes, on another thread, saves the event loop that work.
    """

    __slots__ = (
        "_buffer",
        "_capacity",
        "_chunk_s",
        "_chunk_samples",
        "_digest",
        "_events",
        "_finished",
        "_flushed",
        "_jump_samples",
        "_legs",
        "_max_samples",
        "_next_flush_at",
        "_path",
        "_start",
        "_window",
        "_writes",
        "stats",
    )

    def __init__(
        self,
        path: str,
        now: float,
        *,
        reorder_window_ms: int = 200,
        buffer_s: float = 2.0,
        chunk_ms: int = 500,
        jump_threshold_s: float = 1.0,
        max_duration_s: float = 4 * 3600.0,
        digest: bool = True,
    ) -> None:
        if not 20 <= reorder_window_ms <= 2000:
            raise ValueError("reorder_window_ms out of 20..2000")
        if not 20 <= chunk_ms <= 10_000:
            raise ValueError("chunk_ms out of 20..10000")
        self._window = reorder_window_ms * RECORDING_RATE_HZ // 1000
        self._chunk_samples = chunk_ms * RECORDING_RATE_HZ // 1000
        self._chunk_s = chunk_ms / 1000.0
        self._capacity = max(round(buffer_s * RECORDING_RATE_HZ), self._window * 2, 1600)
        if self._capacity < self._window + self._chunk_samples:
            raise ValueError("buffer_s must exceed the reorder window plus one chunk")
        self._jump_samples = round(jump_threshold_s * RECORDING_RATE_HZ)
        self._max_samples = round(max_duration_s * RECORDING_RATE_HZ)
        if self._max_samples * _FRAME_BYTES > 0xFFFFFFFF - WAV_HEADER_BYTES:
            raise ValueError("max_duration_s does not fit a WAV file")
        self._path = path
        self._start = now
        self._buffer = np.zeros((self._capacity, _CHANNELS), dtype="<i2")
        self._flushed = 0  # timeline position of buffer row 0
        self._legs = (_Leg(), _Leg())
        self._digest = hashlib.sha256() if digest else None
        self._writes: list[FileWrite] = [FileWrite(0, self._header(0))]
        self._events: deque[RecordingStored] = deque()
        self._finished = False
        self._next_flush_at = now + self._chunk_s
        self.stats = RecorderStats()

    @property
    def path(self) -> str:
        return self._path

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def samples_written(self) -> int:
        """Sample frames (stereo pairs) flushed so far."""
        return self._flushed

    @staticmethod
    def _header(data_bytes: int) -> bytes:
        return wav_header(
            channels=_CHANNELS,
            sample_rate_hz=RECORDING_RATE_HZ,
            bits_per_sample=16,
            data_bytes=data_bytes,
        )

    def set_codec(
        self, channel: RecordingChannel, codec: Codec, *, payload_type: int | None = None
    ) -> None:
        """Decode ``channel`` with ``codec``; RTP of another payload type is ignored by receive_rtp."""
        if codec.clock_rate_hz != RECORDING_RATE_HZ:
            raise LocalProtocolError(f"{codec.name} at {codec.clock_rate_hz} Hz cannot be recorded")
        leg = self._legs[channel]
        leg.codec = codec
        leg.payload_type = codec.payload_type if payload_type is None else payload_type

    def _arrival_pos(self, now: float) -> int:
        return round((now - self._start) * RECORDING_RATE_HZ)

    def receive_rtp(self, channel: RecordingChannel, packet: bytes, now: float) -> None:
        """Record one RTP packet of ``channel`` arrived at ``now`` (RFC 3550 §5.1 fixed header).

        Packets of another payload type (telephone-event, comfort noise) are
        counted and ignored.  Raises
        :class:`~hotline.core.errors.RemoteProtocolError` for a
        malformed packet.
        """
        payload_type, _seq, timestamp, ssrc, _marker, start = peek_rtp_header(packet)
        leg = self._legs[channel]
        if leg.payload_type is None or payload_type != leg.payload_type:
            self.stats.ignored_packets += 1
            return
        payload = packet[start : rtp_payload_end(packet)]
        self.receive(channel, payload, timestamp=timestamp, ssrc=ssrc, now=now)

    def receive(
        self, channel: RecordingChannel, payload: bytes, *, timestamp: int, ssrc: int, now: float
    ) -> None:
        """Record one audio payload of ``channel`` (RTP ``timestamp``/``ssrc``) arrived at ``now``."""
        if self._finished:
            return
        leg = self._legs[channel]
        codec = leg.codec
        if codec is None:
            raise LocalProtocolError(f"no codec set for the {channel.name.lower()} channel")
        self.stats.packets += 1
        pcm = codec.decode(payload)
        count = pcm.size
        arrival_start = self._arrival_pos(now) - count
        if ssrc != leg.ssrc:
            self._anchor(leg, ssrc, timestamp, arrival_start)
            start = leg.anchor_pos
        else:
            delta = (timestamp - leg.anchor_ts) % _TS_MOD
            if delta >= _HALF_TS:
                delta -= _TS_MOD
            start = leg.anchor_pos + delta
            if abs(start - arrival_start) > self._jump_samples:
                self._anchor(leg, ssrc, timestamp, arrival_start)
                start = leg.anchor_pos
        self._place(channel, leg, pcm, start)
        self._flush_until(self._arrival_pos(now) - self._window, self._chunk_samples)

    def _anchor(self, leg: _Leg, ssrc: int, timestamp: int, arrival_start: int) -> None:
        if leg.ssrc is not None:
            self.stats.reanchors += 1
        leg.ssrc = ssrc
        leg.anchor_ts = timestamp
        leg.anchor_pos = max(arrival_start, leg.end, self._flushed, 0)

    def _place(
        self, channel: RecordingChannel, leg: _Leg, pcm: npt.NDArray[np.int16], start: int
    ) -> None:
        end = start + pcm.size
        if end > self._max_samples:
            self.stats.samples_beyond_limit += end - max(start, self._max_samples)
            end = self._max_samples
            if end <= start:
                return
            pcm = pcm[: end - start]
        if end <= self._flushed:
            self.stats.late_packets += 1
            return
        if start < self._flushed:
            pcm = pcm[self._flushed - start :]
            start = self._flushed
        # Past the buffer's end: flush to make room.  After a long stall (a packet more than
        # a whole buffer ahead) that takes several rounds, the later ones emitting silence.
        overshoot = end - (self._flushed + self._capacity)
        while overshoot > 0:
            self._flush_until(self._flushed + min(overshoot, self._capacity), 1)
            overshoot = end - (self._flushed + self._capacity)
        row = start - self._flushed
        self._buffer[row : row + pcm.size, channel] = pcm
        leg.end = max(leg.end, end)

    def _flush_until(self, position: int, minimum: int) -> None:
        """Emit samples up to ``position`` if at least ``minimum`` of them are due."""
        position = min(position, self._max_samples, self._flushed + self._capacity)
        count = position - self._flushed
        if count < minimum or count <= 0:
            return
        buffer = self._buffer
        chunk = buffer[:count].tobytes()
        buffer[: self._capacity - count] = buffer[count:]
        buffer[self._capacity - count :] = 0
        self._writes.append(FileWrite(WAV_HEADER_BYTES + self._flushed * _FRAME_BYTES, chunk))
        if self._digest is not None:
            self._digest.update(chunk)
        self._flushed += count

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` next flushes (silence too, so the file follows wall time)."""
        return None if self._finished else self._next_flush_at

    def handle_timer(self, now: float) -> None:
        """Flush what is older than the reorder window at ``now``."""
        if self._finished or now < self._next_flush_at:
            return
        self._flush_until(self._arrival_pos(now) - self._window, 1)
        self._next_flush_at = now + self._chunk_s

    def pending_writes(self) -> list[FileWrite]:
        """The file writes produced since the last call, in order (the caller applies them)."""
        writes = self._writes
        self._writes = []
        return writes

    def finish(self, now: float) -> None:
        """Flush everything up to ``now`` (or the last sample placed), then write the final header.

        Emits :class:`RecordingStored`; later packets are ignored.
        """
        if self._finished:
            return
        end = max(self._arrival_pos(now), self._legs[0].end, self._legs[1].end)
        while self._flushed < min(end, self._max_samples):
            self._flush_until(end, 1)
        self._finished = True
        data_bytes = self._flushed * _FRAME_BYTES
        self._writes.append(FileWrite(0, self._header(data_bytes)))
        self._events.append(
            RecordingStored(
                path=self._path,
                duration_s=self._flushed / RECORDING_RATE_HZ,
                size_bytes=WAV_HEADER_BYTES + data_bytes,
                sha256="" if self._digest is None else self._digest.hexdigest(),
            )
        )

    def next_event(self) -> RecordingStored | None:
        """The next event, or None."""
        return self._events.popleft() if self._events else None
