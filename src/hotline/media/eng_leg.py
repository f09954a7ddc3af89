"""One media leg of the engine: its sockets, the per-packet receive path and its RTCP.

:class:`MediaLeg` gathers the sans-IO cores of one RTP session (RFC 3550):
source latches for RTP and RTCP (:mod:`~hotline.media.latch`, RFC 4961),
receive statistics (:mod:`~hotline.media.stats`), RFC 4733 and optional
in-band DTMF receivers, the continuous outgoing stream
(:mod:`~hotline.media.stream`) and its slot in the shared player set.

The receive path (:meth:`MediaLeg.on_rtp`) is the hottest code of the node:
one latch comparison, one header peek, a payload-type dispatch, then only the
work the leg's role needs (relay to the bridged leg, recorder, mixer).  No
object is made per packet beyond the bytes that go out.
"""

from __future__ import annotations

import asyncio
import functools
import struct
from collections import deque
from collections.abc import Callable
from typing import Any, Final, cast

import structlog

from hotline.core.errors import RemoteProtocolError
from hotline.media.codecs import Codec
from hotline.media.dtmf import (
    DtmfReceived,
    TelephoneEventFrame,
    TelephoneEventReceiver,
)
from hotline.media.eng_events import (
    LegDtmfReceived,
    LegStats,
    MediaEngineMetrics,
    MediaEvent,
)
from hotline.media.goertzel import GoertzelDtmfDetector
from hotline.media.latch import Address, LatchKind, SourceLatch
from hotline.media.mixer import Mixer, relay_payload
from hotline.media.player import Player
from hotline.media.ports import PortPair
from hotline.media.recorder import CallRecorder, RecordingChannel
from hotline.media.rtp import (
    MAX_RTP_PACKET_SIZE,
    RTP_HEADER_SIZE,
    peek_rtp_header,
    rtp_payload_end,
)
from hotline.media.stats import ReceiveStats
from hotline.media.stream import OutgoingStream
from hotline.media.timeouts import RtpInactivityMonitor

__all__ = [
    "FRAME_S",
    "RECORDER_WINDOW_MS",
    "RUN_IDLE_S",
    "RUN_PACKETS",
    "TRACEBACKS_LOGGED",
    "LegContext",
    "MediaLeg",
    "transcoder",
]

log = structlog.get_logger("hotline.media.engine")

_PADDING_BIT: Final = 0x20
_PLAIN_V2: Final = 0x80
"""First header byte of version 2 with no padding, no extension and no CSRC."""
_FIXED: Final = struct.Struct("!BBHII")
_G711: Final = frozenset({"PCMA", "PCMU"})
RUN_PACKETS: Final = 10
"""Contiguous packets handed to the recorder at once (200 ms at 20 ms ptime)."""
RECORDER_WINDOW_MS: Final = 500
"""Reorder window of the engine's recorders.  A run waits up to 200 ms to fill, or is
handed over by the pacer (which looks at each recording every 100 ms) once idle for
:data:`RUN_IDLE_S`: at most about 330 ms, leaving 170 ms for network reordering."""
ACTIVITY_EVERY_S: Final = 0.1
"""Longest interval between two reports of a leg's activity to the inactivity monitor."""
RUN_IDLE_S: Final = 0.03
"""A run older than this without a new packet is handed over by the pacer."""
TRACEBACKS_LOGGED: Final = 10
"""Receive-path errors per engine logged with their traceback (the rest without)."""
FRAME_S: Final = 0.020
"""One pacer tick: the duration of each of our own frames."""


class LegContext:
    """What every leg of one engine shares: counters, clock, timers and the event queue."""

    __slots__ = (
        "cname",
        "dtmf_timers",
        "events",
        "metrics",
        "monitor",
        "now",
        "on_lost",
        "playing",
    )

    def __init__(
        self,
        *,
        metrics: MediaEngineMetrics,
        now: Callable[[], float],
        monitor: RtpInactivityMonitor,
        cname: bytes,
        on_lost: Callable[[MediaLeg, Exception], None],
    ) -> None:
        self.metrics = metrics
        self.now = now
        self.monitor = monitor
        self.cname = cname
        self.on_lost = on_lost
        self.events: deque[MediaEvent] = deque()
        self.dtmf_timers: set[MediaLeg] = set()
        """Legs whose RFC 4733 receiver waits for the end of an event."""
        self.playing: set[MediaLeg] = set()
        """Legs whose player has something to play (the pacer skips the players if none)."""


def transcoder(source: Codec, target: Codec) -> bytes | Callable[[bytes], bytes] | None:
    """What a relay from ``source`` to ``target`` does to each payload.

    None when nothing (same codec); for G.711 A-law ↔ µ-law a 256-byte table
    for :meth:`bytes.translate` (built once by
    :func:`~hotline.media.mixer.relay_payload` over all 256 codes: one byte is
    one sample); otherwise a function that decodes and re-encodes.
    """
    source_name, target_name = source.name.upper(), target.name.upper()
    if source_name == target_name:
        return None
    if {source_name, target_name} <= _G711:
        return relay_payload(bytes(range(256)), source_name, target_name)
    return functools.partial(relay_payload, from_codec=source_name, to_codec=target_name)


class MediaLeg(asyncio.DatagramProtocol):
    """The media of one call leg, and the protocol of its RTP socket.

    Owned and driven by the engine; not thread-safe.  Being the socket's
    protocol itself saves a call per packet: the transport calls
    :meth:`datagram_received` directly.
    """

    __slots__ = (
        "activity_due",
        "activity_every",
        "audio_pt",
        "busy",
        "closed",
        "codec",
        "ctx",
        "dtmf_digits",
        "dtmf_frames",
        "dtmf_index",
        "dtmf_queue",
        "dtmf_rx",
        "dtmf_start",
        "dtmf_wait",
        "errors_logged",
        "host",
        "inband",
        "leg_id",
        "malformed",
        "mixer",
        "on_hold",
        "packets_in",
        "pair",
        "player",
        "playing",
        "ptime_ms",
        "recorder",
        "recording_channel",
        "recording_id",
        "relay_to",
        "rtcp_latch",
        "rtcp_transport",
        "rtp_latch",
        "rtp_transport",
        "run",
        "run_coalesce",
        "run_next_ts",
        "run_now",
        "run_ssrc",
        "run_ts",
        "send_paused",
        "stats",
        "stream",
        "tap",
        "te_pt",
        "transcode",
        "transcode_table",
        "tx_bytes",
        "tx_packets",
    )

    def __init__(
        self,
        ctx: LegContext,
        leg_id: str,
        *,
        pair: PortPair,
        host: str,
        codec: Codec,
        payload_type: int,
        telephone_event_pt: int | None,
        ptime_ms: int,
        player: Player,
        inband_dtmf: bool,
        dtmf_end_timeout_s: float,
        timeout_s: float,
    ) -> None:
        self.ctx = ctx
        self.leg_id = leg_id
        self.pair = pair
        self.host = host
        self.codec = codec
        self.audio_pt = payload_type
        self.te_pt = telephone_event_pt
        self.ptime_ms = ptime_ms
        self.player = player
        self.activity_every = min(ACTIVITY_EVERY_S, timeout_s / 10)
        self.activity_due = 0.0
        accepted = (
            {payload_type} if telephone_event_pt is None else {payload_type, telephone_event_pt}
        )
        self.rtp_latch = SourceLatch(LatchKind.RTP, payload_types=frozenset(accepted))
        self.rtcp_latch = SourceLatch(LatchKind.RTCP)
        self.rtp_transport: asyncio.DatagramTransport | None = None
        self.rtcp_transport: asyncio.DatagramTransport | None = None
        self.stats = ReceiveStats(codec.clock_rate_hz)
        self.dtmf_rx = (
            None
            if telephone_event_pt is None
            else TelephoneEventReceiver(codec.clock_rate_hz, end_timeout_s=dtmf_end_timeout_s)
        )
        self.inband = GoertzelDtmfDetector(codec.clock_rate_hz) if inband_dtmf else None
        self.stream = OutgoingStream.random(
            payload_type=payload_type,
            clock_rate_hz=codec.clock_rate_hz,
            frame_samples=codec.clock_rate_hz // 50,
        )
        self.relay_to: MediaLeg | None = None
        self.transcode: Callable[[bytes], bytes] | None = None
        self.transcode_table: bytes | None = None
        self.recorder: CallRecorder | None = None
        self.recording_channel = RecordingChannel.CALLER
        self.recording_id: str | None = None
        # The run of contiguous payloads not yet handed to the recorder (see record()).
        self.run: list[bytes] = []
        self.run_coalesce = codec.name.upper() in _G711
        self.run_ssrc = 0
        self.run_ts = 0
        self.run_next_ts = 0
        self.run_now = 0.0
        self.mixer: Mixer | None = None
        self.tap: Callable[[bytes], None] | None = None
        """The audio tap: receives each audio payload decoded to 16-bit little-endian PCM."""
        self.playing = False
        self.busy = False
        """True while our own frames (player, DTMF) own the outgoing stream: relay is muted."""
        self.dtmf_queue: deque[tuple[str, int]] = deque()
        """Digits to send as RFC 4733 events, with their durations in ms."""
        self.dtmf_frames: tuple[TelephoneEventFrame, ...] = ()
        self.dtmf_index = 0
        self.dtmf_start = 0.0
        self.dtmf_wait = 0
        self.on_hold = False
        self.send_paused = False
        self.closed = False
        self.packets_in = 0
        self.tx_packets = 0
        self.tx_bytes = 0
        self.malformed = 0
        self.dtmf_digits = 0
        self.errors_logged = 0

    # --- state helpers ----------------------------------------------------------------------

    def update_busy(self) -> None:
        """Recompute whether our own frames mute the relay (after a player or DTMF change)."""
        self.playing = playing = self.player.active and not self.closed
        self.busy = playing or bool(self.dtmf_frames) or bool(self.dtmf_queue)
        if playing:
            self.ctx.playing.add(self)
        else:
            self.ctx.playing.discard(self)

    def relay_towards(self, target: MediaLeg | None) -> None:
        """Relay our audio to ``target`` (None: stop), transcoding if its codec differs."""
        self.relay_to = target
        how = None if target is None else transcoder(self.codec, target.codec)
        self.transcode_table = how if isinstance(how, bytes) else None
        self.transcode = None if how is None or isinstance(how, bytes) else how

    def set_remote(self, remote: Address | None, remote_rtcp: Address | None) -> None:
        """The signalled addresses (SDP ``c=``/``m=``/``a=rtcp``); re-latch when they change."""
        if remote != self.rtp_latch.signalled:
            self.rtp_latch.relatch(remote)
            self.rtp_latch.signalled = remote
        if remote_rtcp is None and remote is not None:
            remote_rtcp = (remote[0], remote[1] + 1)
        if remote_rtcp != self.rtcp_latch.signalled:
            self.rtcp_latch.relatch(remote_rtcp)
            self.rtcp_latch.signalled = remote_rtcp

    def snapshot(self) -> LegStats:
        stats = self.stats
        return LegStats(
            packets_in=self.packets_in,
            packets_out=self.tx_packets,
            bytes_out=self.tx_bytes,
            audio_received=stats.received,
            audio_lost=stats.lost,
            audio_late=stats.late,
            jitter_ms=stats.jitter_ms,
            rejected_source=self.rtp_latch.rejected_source + self.rtcp_latch.rejected_source,
            malformed=self.malformed,
            dtmf_digits=self.dtmf_digits,
            remote=self.rtp_latch.remote,
        )

    # --- sending ------------------------------------------------------------------------------

    def send(self, packet: bytes | bytearray) -> None:
        """Send one RTP packet to the remote (latched, else signalled); dropped if none."""
        remote = self.rtp_latch.latched or self.rtp_latch.signalled
        transport = self.rtp_transport
        if remote is None or transport is None:
            return
        if self.send_paused:  # the socket's buffer is full: drop rather than queue audio
            self.ctx.metrics.send_dropped += 1
            return
        transport.sendto(packet, remote)
        size = len(packet)
        self.tx_packets += 1
        self.tx_bytes += size
        metrics = self.ctx.metrics
        metrics.packets_out += 1
        metrics.bytes_out += size

    # --- receiving (hot path) -----------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        """One datagram on the RTP port: the hot path."""
        try:
            ctx = self.ctx
            metrics = ctx.metrics
            metrics.packets_in += 1
            self.packets_in += 1
            now = ctx.now()
            latch = self.rtp_latch
            if addr != latch.latched and not latch.accept(data, addr, now):
                if latch.latched is None:
                    metrics.dropped_invalid += 1
                else:
                    metrics.dropped_unlatched += 1
                return
            size = len(data)
            if size >= RTP_HEADER_SIZE and data[0] == _PLAIN_V2 and size <= MAX_RTP_PACKET_SIZE:
                # The usual packet (version 2; no padding, extension or CSRC): nothing to check.
                _first, second, seq, ts, ssrc = _FIXED.unpack_from(data)
                pt = second & 0x7F
                marker = second > 0x7F
                offset = RTP_HEADER_SIZE
            else:
                try:
                    pt, seq, ts, ssrc, marker, offset = peek_rtp_header(data)
                except RemoteProtocolError:
                    metrics.malformed += 1
                    self.malformed += 1
                    return
            if now >= self.activity_due:
                # The inactivity monitor needs activity, not every packet: tell it at most
                # every `activity_every` seconds (a timeout may fire that much early).
                ctx.monitor.on_packet(self.leg_id, now)
                self.activity_due = now + self.activity_every
            if pt == self.audio_pt:
                end = rtp_payload_end(data) if data[0] & _PADDING_BIT else size
                self.stats.receive(ssrc, seq, ts, now, end - offset)
                payload = None
                target = self.relay_to
                if target is not None and not target.busy:
                    # One copy of the packet, rewritten in place (the header was parsed once).
                    table = self.transcode_table
                    if table is None and self.transcode is None:
                        packet = bytearray(data)
                    else:
                        payload = data[offset:end]
                        packet = bytearray(data[:offset])
                        if table is not None:
                            packet += payload.translate(table)
                        else:
                            assert self.transcode is not None
                            packet += self.transcode(payload)
                        if end != size:  # the padding goes with the old payload, and its bit
                            packet[0] &= ~_PADDING_BIT
                    target.stream.rewrite(packet, seq, ts, ssrc, target.audio_pt, marker, now)
                    target.send(packet)
                if self.tap is not None:
                    if payload is None:
                        payload = data[offset:end]
                    self.feed_tap(payload)
                recorder = self.recorder
                if recorder is not None or self.mixer is not None or self.inband is not None:
                    if payload is None:
                        payload = data[offset:end]
                    if recorder is not None:
                        run = self.run
                        if (
                            run
                            and ts == self.run_next_ts
                            and ssrc == self.run_ssrc
                            and len(run) < RUN_PACKETS - 1
                        ):
                            # The middle of a run (see record()): just append.
                            run.append(payload)
                            self.run_next_ts = (ts + len(payload)) & 0xFFFFFFFF
                            self.run_now = now
                        else:
                            self.record(recorder, payload, ts, ssrc, now)
                    if self.mixer is not None:
                        self.mixer.push(self.leg_id, payload)
                    if self.inband is not None:
                        self.inband.process(self.codec.decode(payload))
                        while (found := self.inband.next_event()) is not None:
                            self.on_digit(found)
            elif pt == self.te_pt and self.dtmf_rx is not None:
                end = rtp_payload_end(data) if data[0] & _PADDING_BIT else len(data)
                receiver = self.dtmf_rx
                try:
                    receiver.receive(ssrc, ts, data[offset:end], now)
                except RemoteProtocolError:
                    metrics.malformed += 1
                    self.malformed += 1
                    return
                while (event := receiver.next_event()) is not None:
                    self.on_digit(event)
                if receiver.get_timer() is not None:
                    ctx.dtmf_timers.add(self)
            else:
                metrics.unknown_payload += 1
        except Exception as exc:  # noqa: BLE001 - one bad packet must not stop the socket
            self.fail(exc)

    def record(
        self, recorder: CallRecorder, payload: bytes, ts: int, ssrc: int, now: float
    ) -> None:
        """Feed the recorder, coalescing contiguous G.711 payloads into runs.

        The recorder's cost is mostly per call (numpy), so a run of up to
        :data:`RUN_PACKETS` packets that continue each other exactly (same SSRC,
        each timestamp = the previous one + its samples; one byte is one G.711
        sample) goes in as one payload, stamped with the arrival of its last
        packet: the same placement as packet by packet.  Anything else (a gap,
        reordering, a new SSRC) ends the run first.  The delay this adds stays
        well inside the recorder's reorder window.
        """
        run = self.run
        if not self.run_coalesce:
            recorder.receive(self.recording_channel, payload, timestamp=ts, ssrc=ssrc, now=now)
            return
        if run and (ssrc != self.run_ssrc or ts != self.run_next_ts):
            self.flush_run()
        if not run:
            self.run_ssrc = ssrc
            self.run_ts = ts
        run.append(payload)
        self.run_next_ts = (ts + len(payload)) & 0xFFFFFFFF
        self.run_now = now
        if len(run) >= RUN_PACKETS:
            self.flush_run()

    def feed_tap(self, payload: bytes) -> None:
        """Decode ``payload`` and hand it to the tap; a sink that raises loses its tap."""
        sink = self.tap
        if sink is None:
            return
        pcm = self.codec.decode(payload).astype("<i2", copy=False).tobytes()
        try:
            sink(pcm)
        except Exception as exc:  # noqa: BLE001 - a consumer's bug must not stop the media
            self.tap = None
            self.ctx.metrics.tap_errors += 1
            log.error("audio tap failed, tap removed", leg_id=self.leg_id, error=repr(exc))

    def flush_run(self) -> None:
        """Hand the pending run of payloads to the recorder."""
        run = self.run
        recorder = self.recorder
        if run and recorder is not None:
            payload = run[0] if len(run) == 1 else b"".join(run)
            recorder.receive(
                self.recording_channel,
                payload,
                timestamp=self.run_ts,
                ssrc=self.run_ssrc,
                now=self.run_now,
            )
        run.clear()

    def on_digit(self, event: DtmfReceived) -> None:
        """A digit finished: report it and let it barge into a prompt."""
        self.dtmf_digits += 1
        self.ctx.metrics.dtmf_received += 1
        self.ctx.events.append(LegDtmfReceived(self.leg_id, event))
        if self.player.on_dtmf(event.digit):
            self.update_busy()

    def fail(self, exc: Exception) -> None:
        """An unexpected error on the receive path: count it, log the first few per leg.

        Only the engine's first :data:`TRACEBACKS_LOGGED` carry a traceback: formatting
        one takes long enough to stall every call of the node.
        """
        metrics = self.ctx.metrics
        metrics.internal_errors += 1
        if self.errors_logged < 3:
            self.errors_logged += 1
            log.error(
                "media receive path failed",
                leg_id=self.leg_id,
                error=repr(exc),
                exc_info=exc if metrics.internal_errors <= TRACEBACKS_LOGGED else None,
            )

    # --- socket callbacks ---------------------------------------------------------------------

    def rtp_protocol(self) -> MediaLeg:
        """Protocol factory of the RTP socket: the leg itself."""
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.rtp_transport = cast(asyncio.DatagramTransport, transport)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable for an earlier sendto: the far end is not listening (yet).
        self.ctx.metrics.send_errors += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self.closed:
            self.ctx.on_lost(self, exc)

    def pause_writing(self) -> None:
        self.send_paused = True

    def resume_writing(self) -> None:
        self.send_paused = False

    def close_transports(self) -> None:
        for transport in (self.rtp_transport, self.rtcp_transport):
            if transport is not None:
                transport.close()
        self.rtp_transport = None
        self.rtcp_transport = None
