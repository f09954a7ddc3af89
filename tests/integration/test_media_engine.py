"""The media engine on loopback: Python UDP sockets play the phones at the far ends.

Every test is bounded (a few seconds at most); the engine fixture closes the
engine even when a test fails and checks that no port pair stayed allocated.
Audio is judged decoded, with numpy (testing.md "Judging audio").
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import shutil
import struct
import time
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
import pytest

from hotline.core.clock import SystemClock
from hotline.media.codecs import PCMA, PCMU, Codec
from hotline.media.dtmf import DtmfSource, TelephoneEventReceiver, telephone_event_frames
from hotline.media.eng_events import (
    CallRecordingStored,
    EngineConfig,
    LegClosed,
    LegCloseReason,
    LegDtmfReceived,
    LegInfo,
    MediaEvent,
    RecordingFailed,
)
from hotline.media.engine import MediaEngine
from hotline.media.mixer import MonitorMode
from hotline.media.player import PlaybackFinished, PlaybackItem, TonePart
from hotline.media.rtcp import Bye, ReceiverReport, Sdes, SenderReport, parse_rtcp
from hotline.media.timeouts import MediaTimeout
from hotline.media.tones import Cadence, ToneSegment

pytestmark = pytest.mark.integration

RATE = 8000
FRAME = 160
E = TypeVar("E")


@dataclass(frozen=True)
class Span:
    first: int
    last: int


# --- far ends -----------------------------------------------------------------------------------


class FarEnd(asyncio.DatagramProtocol):
    """A phone's RTP socket: records what arrives, sends what the test says."""

    def __init__(self) -> None:
        self.received: list[tuple[float, bytes]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.received.append((time.monotonic(), data))

    @property
    def addr(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return (host, port)

    def rtp(self) -> list[tuple[int, int, int, int, bool, bytes]]:
        """(pt, seq, ts, ssrc, marker, payload) of every packet received."""
        out = []
        for _at, data in self.received:
            first, second, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
            assert first >> 6 == 2
            out.append((second & 0x7F, seq, ts, ssrc, bool(second & 0x80), data[12:]))
        return out

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@pytest.fixture
async def far_ends() -> AsyncIterator[Callable[[], Any]]:
    opened: list[FarEnd] = []

    async def make() -> FarEnd:
        loop = asyncio.get_running_loop()
        _transport, protocol = await loop.create_datagram_endpoint(
            FarEnd, local_addr=("127.0.0.1", 0)
        )
        opened.append(protocol)
        return protocol

    try:
        yield make
    finally:
        for far in opened:
            far.close()


def rtp_packet(
    pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False
) -> bytes:
    return (
        struct.pack(
            "!BBHII", 0x80, pt | (0x80 if marker else 0), seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
        )
        + payload
    )


def tone_frames(codec: Codec, freq: float, frames: int, amplitude: float = 8000.0) -> list[bytes]:
    n = np.arange(frames * FRAME)
    pcm = np.round(amplitude * np.sin(2 * np.pi * freq * n / RATE)).astype(np.int16)
    return [codec.encode(pcm[i * FRAME : (i + 1) * FRAME]) for i in range(frames)]


async def send_stream(
    far: FarEnd,
    dest: tuple[str, int],
    pt: int,
    payloads: list[bytes],
    *,
    ssrc: int,
    seq0: int = 1000,
    ts0: int = 50_000,
    ptime_s: float = 0.02,
) -> None:
    """Send ``payloads`` as one RTP stream on absolute 20 ms deadlines."""
    assert far.transport is not None
    start = time.monotonic()
    samples = round(ptime_s * RATE)
    for i, payload in enumerate(payloads):
        delay = start + i * ptime_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        far.transport.sendto(
            rtp_packet(pt, seq0 + i, ts0 + i * samples, ssrc, payload, i == 0), dest
        )


# --- the engine -----------------------------------------------------------------------------------


@dataclass
class Events:
    """The engine's event callback: keeps every event, wakes waiters."""

    items: list[MediaEvent] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, event: MediaEvent) -> None:
        self.items.append(event)
        self.changed.set()

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.items if isinstance(event, kind)]

    async def wait_for(self, kind: type[E], count: int = 1, within_s: float = 3.0) -> list[E]:
        async with asyncio.timeout(within_s):
            while len(self.of(kind)) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.of(kind)


@dataclass
class Rig:
    engine: MediaEngine
    events: Events
    tmp: Path

    async def leg(self, far: FarEnd | None = None, **kwargs: Any) -> LegInfo:
        return await self.engine.create_leg(remote=None if far is None else far.addr, **kwargs)


PORTS = Span(41000, 44999)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    events = Events()
    engine = MediaEngine(
        SystemClock(),
        PORTS,
        "127.0.0.1",
        tmp_path / "recordings",
        on_event=events,
        config=EngineConfig(quarantine_s=0.2, rtcp_interval_s=60.0),
    )
    await engine.start()
    try:
        yield Rig(engine, events, tmp_path)
    finally:
        await engine.close()
        assert engine.ports.in_use == 0
        assert engine.metrics.internal_errors == 0
        assert engine.metrics.event_handler_errors == 0


def decode(codec: Codec, payloads: list[bytes]) -> npt.NDArray[np.float64]:
    return np.concatenate([codec.decode(p) for p in payloads]).astype(np.float64)


def tone_power(samples: npt.NDArray[np.float64], freq: float) -> float:
    """Power of ``samples`` at ``freq`` relative to their total power (0..1)."""
    n = np.arange(len(samples))
    ref = np.exp(-2j * np.pi * freq * n / RATE)
    amplitude = abs(np.dot(samples, ref)) * 2 / len(samples)
    total = float(np.mean(samples**2)) or 1.0
    return float(amplitude**2 / 2 / total)


# --- tests ------------------------------------------------------------------------------------------


async def test_bridge_transcodes_both_ways_with_continuous_seq_and_ts(
    rig: Rig, far_ends: Callable[[], Any]
) -> None:
    caller_far: FarEnd = await far_ends()
    operator_far: FarEnd = await far_ends()
    caller = await rig.leg(caller_far, codec="PCMA")
    operator = await rig.leg(operator_far, codec="PCMU")
    rig.engine.bridge(caller.leg_id, operator.leg_id)
    to_operator = tone_frames(PCMA, 1000.0, 50)
    to_caller = tone_frames(PCMU, 600.0, 50)
    await asyncio.gather(
        send_stream(caller_far, ("127.0.0.1", caller.rtp_port), 8, to_operator, ssrc=0x1111),
        send_stream(operator_far, ("127.0.0.1", operator.rtp_port), 0, to_caller, ssrc=0x2222),
    )
    await asyncio.sleep(0.1)
    for far, leg, sent, sent_codec, got_codec, pt in (
        (operator_far, operator, to_operator, PCMA, PCMU, 0),
        (caller_far, caller, to_caller, PCMU, PCMA, 8),
    ):
        packets = far.rtp()
        assert len(packets) == 50
        assert {p[0] for p in packets} == {pt}
        assert {p[3] for p in packets} == {leg.ssrc}
        assert [(p[1] - packets[0][1]) & 0xFFFF for p in packets] == list(range(50))
        assert [(p[2] - packets[0][2]) & 0xFFFFFFFF for p in packets] == [
            160 * i for i in range(50)
        ]
        original = decode(sent_codec, sent)
        relayed = decode(got_codec, [p[5] for p in packets])
        # A-law and µ-law quantise differently: equal within a few per cent of the amplitude.
        assert np.max(np.abs(original - relayed)) < 0.05 * 8000
    stats = rig.engine.leg_stats(caller.leg_id)
    # RFC 3550 A.1: the first packet of a source is on probation and not counted.
    assert (stats.packets_in, stats.audio_received, stats.audio_lost) == (50, 49, 0)
    assert stats.packets_out == 50


async def test_player_then_bridge_keeps_ssrc_and_sequence(
    rig: Rig, far_ends: Callable[[], Any]
) -> None:
    far_a: FarEnd = await far_ends()
    far_b: FarEnd = await far_ends()
    a = await rig.leg(far_a, codec="PCMA")
    b = await rig.leg(far_b, codec="PCMA")
    tone = Cadence("test-1k", (ToneSegment(1000, (1000.0,)),), repeat=True)
    rig.engine.play(a.leg_id, PlaybackItem("tone", (TonePart(tone, duration_ms=300),)))
    rig.engine.bridge(a.leg_id, b.leg_id)
    # B talks from the start: its audio reaches A once the tone is over.
    await send_stream(far_b, ("127.0.0.1", b.rtp_port), 8, tone_frames(PCMA, 600.0, 40), ssrc=7)
    await asyncio.sleep(0.1)
    finished = await rig.events.wait_for(PlaybackFinished)
    assert finished[0].leg_id == a.leg_id
    packets = far_a.rtp()
    assert {p[3] for p in packets} == {a.ssrc}
    seqs = [p[1] for p in packets]
    assert [(s - seqs[0]) & 0xFFFF for s in seqs] == list(range(len(seqs)))
    steps = [(q[2] - p[2]) & 0xFFFFFFFF for p, q in itertools.pairwise(packets)]
    assert all(0 < step < 2000 for step in steps), steps
    player_part = [p for p in packets if tone_power(decode(PCMA, [p[5]]), 1000.0) > 0.5]
    relay_part = [p for p in packets if tone_power(decode(PCMA, [p[5]]), 600.0) > 0.5]
    assert len(player_part) == 15  # 300 ms of tone
    assert 20 <= len(relay_part) <= 26  # 800 ms sent, the first 300 ms muted by the tone
    assert packets.index(relay_part[0]) == 15
    assert relay_part[0][4]  # marker: the relay starts a new talkspurt


async def test_recording_puts_each_side_in_its_channel(
    rig: Rig, far_ends: Callable[[], Any]
) -> None:
    caller_far: FarEnd = await far_ends()
    operator_far: FarEnd = await far_ends()
    caller = await rig.leg(caller_far, codec="PCMA")
    operator = await rig.leg(operator_far, codec="PCMU")
    rig.engine.bridge(caller.leg_id, operator.leg_id)
    recording_id = rig.engine.start_recording(caller.leg_id, operator.leg_id, recording_id="rec-1")
    await asyncio.sleep(0.1)
    await asyncio.gather(
        send_stream(
            caller_far, ("127.0.0.1", caller.rtp_port), 8, tone_frames(PCMA, 1000.0, 50), ssrc=1
        ),
        send_stream(
            operator_far, ("127.0.0.1", operator.rtp_port), 0, tone_frames(PCMU, 600.0, 30), ssrc=2
        ),
    )
    await asyncio.sleep(0.3)
    rig.engine.stop_recording(recording_id)
    stored = (await rig.events.wait_for(CallRecordingStored))[0]
    assert (stored.recording_id, stored.caller_leg_id, stored.operator_leg_id) == (
        "rec-1",
        caller.leg_id,
        operator.leg_id,
    )
    path = Path(stored.stored.path)
    assert path == rig.tmp / "recordings" / "rec-1.wav"
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, RATE, 2)
        frames = wav.readframes(wav.getnframes())
    assert len(frames) + 44 == stored.stored.size_bytes
    assert stored.stored.sha256 == hashlib.sha256(frames).hexdigest()
    audio = np.frombuffer(frames, dtype="<i2").reshape(-1, 2).astype(np.float64)
    assert np.max(np.abs(audio)) < 32767  # no clipping
    for channel, freq, other, seconds in ((0, 1000.0, 600.0, 1.0), (1, 600.0, 1000.0, 0.6)):
        samples = audio[:, channel]
        envelope = np.sqrt(np.convolve(samples**2, np.ones(80) / 80, mode="same"))
        active = samples[envelope > 8000 / np.sqrt(2) / 2]
        assert abs(len(active) / RATE - seconds) <= 0.02
        assert tone_power(active, freq) > 0.9
        assert tone_power(active, other) < 0.01
    assert rig.engine.metrics.bytes_recorded >= len(frames)


async def test_rfc4733_digit_from_a_socket_is_one_event(
    rig: Rig, far_ends: Callable[[], Any]
) -> None:
    far: FarEnd = await far_ends()
    leg = await rig.leg(far, codec="PCMU", telephone_event_pt=101)
    assert far.transport is not None
    frames = telephone_event_frames("5", 101, duration_ms=120)
    for i, frame in enumerate(frames):
        far.transport.sendto(
            rtp_packet(101, 300 + i, 9000, 0xABC, frame.payload, frame.marker),
            ("127.0.0.1", leg.rtp_port),
        )
        await asyncio.sleep(0.02)
    digits = await rig.events.wait_for(LegDtmfReceived)
    await asyncio.sleep(0.4)  # past the end timeout: still one
    assert len(rig.events.of(LegDtmfReceived)) == 1
    event = digits[0]
    assert event.leg_id == leg.leg_id
    assert (event.dtmf.digit, event.dtmf.duration_ms, event.dtmf.source) == (
        "5",
        120,
        DtmfSource.RFC4733,
    )
    assert event.dtmf.end_seen


async def test_sent_digits_are_rfc4733_events(rig: Rig, far_ends: Callable[[], Any]) -> None:
    far: FarEnd = await far_ends()
    leg = await rig.leg(far, codec="PCMA", telephone_event_pt=96)
    rig.engine.send_dtmf(leg.leg_id, "1#", duration_ms=100)
    await asyncio.sleep(0.6)
    packets = far.rtp()
    assert packets and {p[0] for p in packets} == {96}
    assert [(p[1] - packets[0][1]) & 0xFFFF for p in packets] == list(range(len(packets)))
    assert len({p[2] for p in packets}) == 2  # one RTP timestamp per event
    receiver = TelephoneEventReceiver()
    for _pt, _seq, ts, ssrc, _marker, payload in packets:
        receiver.receive(ssrc, ts, payload, 0.0)
    got = [receiver.next_event(), receiver.next_event()]
    assert [(e.digit, e.duration_ms, e.end_seen) for e in got if e] == [
        ("1", 100, True),
        ("#", 100, True),
    ]
    assert rig.engine.metrics.dtmf_sent == 2


async def test_inband_dtmf_is_sent_as_tones_and_detected(
    rig: Rig, far_ends: Callable[[], Any]
) -> None:
    far_out: FarEnd = await far_ends()
    far_in: FarEnd = await far_ends()
    sender = await rig.leg(far_out, codec="PCMU", telephone_event_pt=None)
    detector = await rig.leg(far_in, codec="PCMU", telephone_event_pt=None, inband_dtmf=True)
    rig.engine.send_dtmf(sender.leg_id, "7", duration_ms=120)
    await rig.events.wait_for(PlaybackFinished)
    await asyncio.sleep(0.05)  # the last frame is on its way
    tones = [p[5] for p in far_out.rtp()]
    assert len(tones) == 9  # 120 ms of tone and 60 ms of gap
    await send_stream(far_in, ("127.0.0.1", detector.rtp_port), 0, tones + [tones[-1]] * 5, ssrc=5)
    digits = await rig.events.wait_for(LegDtmfReceived)
    assert [(d.leg_id, d.dtmf.digit, d.dtmf.source) for d in digits] == [
        (detector.leg_id, "7", DtmfSource.INBAND)
    ]
    assert abs(digits[0].dtmf.duration_ms - 120) <= 20


async def test_second_source_after_latching_is_ignored_and_counted(
    rig: Rig, far_ends: Callable[[], Any]
) -> None:
    far: FarEnd = await far_ends()
    intruder: FarEnd = await far_ends()
    listener: FarEnd = await far_ends()
    leg = await rig.leg(None, codec="PCMA")  # no SDP address: learn it from the first packet
    other = await rig.leg(listener, codec="PCMA")
    rig.engine.bridge(leg.leg_id, other.leg_id)
    dest = ("127.0.0.1", leg.rtp_port)
    await send_stream(far, dest, 8, tone_frames(PCMA, 1000.0, 5), ssrc=1)
    await send_stream(intruder, dest, 8, tone_frames(PCMA, 440.0, 7), ssrc=2, seq0=1005, ts0=50_800)
    await asyncio.sleep(0.05)
    stats = rig.engine.leg_stats(leg.leg_id)
    assert stats.remote == far.addr
    assert stats.rejected_source == 7
    assert rig.engine.metrics.dropped_unlatched == 7
    assert len(listener.received) == 5  # nothing of the intruder was relayed
    rig.engine.play(
        leg.leg_id,
        PlaybackItem(
            "beep", (TonePart(Cadence("b", (ToneSegment(100, (800.0,)),), repeat=False)),)
        ),
    )
    await rig.events.wait_for(PlaybackFinished)
    await asyncio.sleep(0.05)
    assert len(far.received) == 5 and not intruder.received  # we answer the latched source


async def test_inactivity_reports_media_timeout_but_not_on_hold(
    rig: Rig, far_ends: Callable[[], Any]
) -> None:
    far: FarEnd = await far_ends()
    silent = await rig.leg(far, codec="PCMA", timeout_s=0.5)
    held = await rig.leg(None, codec="PCMA", timeout_s=0.5)
    rig.engine.hold(held.leg_id)
    started = time.monotonic()
    await send_stream(far, ("127.0.0.1", silent.rtp_port), 8, tone_frames(PCMA, 1000.0, 10), ssrc=3)
    last_packet = time.monotonic()
    timeouts = await rig.events.wait_for(MediaTimeout)
    assert [t.leg_id for t in timeouts] == [silent.leg_id]
    # Activity is reported to the monitor at most every timeout/10: it may fire that early.
    assert 0.45 <= time.monotonic() - last_packet <= 0.65
    assert 0.45 <= timeouts[0].silent_s <= 0.6
    assert time.monotonic() - started > 0.5  # the held leg had as long and said nothing
    rig.engine.unhold(held.leg_id)
    await rig.events.wait_for(MediaTimeout, count=2)
    assert rig.engine.close_leg(silent.leg_id, LegCloseReason.TIMEOUT)
    closed = await rig.events.wait_for(LegClosed)
    assert (closed[0].leg_id, closed[0].reason) == (silent.leg_id, LegCloseReason.TIMEOUT)
    assert (closed[0].stats.packets_in, closed[0].stats.audio_received) == (10, 9)


async def test_two_hundred_legs_with_every_ending_leave_no_port_allocated(
    rig: Rig, far_ends: Callable[[], Any]
) -> None:
    engine = rig.engine
    # Another process holds the RTCP port of the next pairs: binding must skip them, not leak.
    loop = asyncio.get_running_loop()
    squatters = []
    for port in (PORTS.first + 1, PORTS.first + 3):
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", port)
        )
        squatters.append(transport)
    try:
        legs = [
            await rig.leg(None, codec="PCMA" if i % 2 else "PCMU", timeout_s=0.3)
            for i in range(200)
        ]
    finally:
        for transport in squatters:
            transport.close()
    assert engine.metrics.bind_failures >= 2
    assert engine.ports.in_use == 200
    for a, b in zip(legs[0:60:2], legs[1:60:2], strict=True):
        engine.bridge(a.leg_id, b.leg_id)
        engine.start_recording(a.leg_id, b.leg_id)
    timeouts = await rig.events.wait_for(MediaTimeout, count=200)
    assert len({t.leg_id for t in timeouts}) == 200
    reasons = [LegCloseReason.NORMAL, LegCloseReason.ERROR, LegCloseReason.TIMEOUT]
    for i, leg in enumerate(legs[:150]):
        if i % 6 == 1:
            # A socket that fails under the engine (asyncio's own error path) closes the leg.
            failing = engine._legs[leg.leg_id].rtp_transport
            assert failing is not None
            failing._force_close(OSError("network is down"))  # type: ignore[attr-defined]
        else:
            assert engine.close_leg(leg.leg_id, reasons[i % 3])
    await asyncio.sleep(0.05)
    assert not engine.close_leg(legs[0].leg_id)  # twice is harmless
    # A leg whose creation is cancelled half way gives its ports back.
    task = asyncio.create_task(engine.create_leg())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.ports.in_use == 50
    await engine.close()  # the remaining 50 end with the engine
    assert engine.ports.in_use == 0
    closed = rig.events.of(LegClosed)
    assert len(closed) == 200
    by_reason = {reason: sum(1 for c in closed if c.reason is reason) for reason in LegCloseReason}
    assert by_reason == {
        LegCloseReason.NORMAL: 50,
        LegCloseReason.ERROR: 50,
        LegCloseReason.TIMEOUT: 50,
        LegCloseReason.ENGINE_CLOSED: 50,
    }
    assert len(rig.events.of(CallRecordingStored)) == 30
    assert engine.metrics.legs_active == 0


async def test_supervisor_listens_then_barges_in(rig: Rig, far_ends: Callable[[], Any]) -> None:
    caller_far: FarEnd = await far_ends()
    operator_far: FarEnd = await far_ends()
    supervisor_far: FarEnd = await far_ends()
    caller = await rig.leg(caller_far, codec="PCMA")
    operator = await rig.leg(operator_far, codec="PCMU")
    supervisor = await rig.leg(supervisor_far, codec="PCMA")
    engine = rig.engine
    engine.bridge(caller.leg_id, operator.leg_id)

    async def talk(mode: MonitorMode) -> None:
        engine.monitor(supervisor.leg_id, operator.leg_id, mode)
        for far in (caller_far, operator_far, supervisor_far):
            far.received.clear()
        await asyncio.gather(
            send_stream(
                caller_far, ("127.0.0.1", caller.rtp_port), 8, tone_frames(PCMA, 1000.0, 25), ssrc=1
            ),
            send_stream(
                operator_far,
                ("127.0.0.1", operator.rtp_port),
                0,
                tone_frames(PCMU, 600.0, 25, 6000),
                ssrc=2,
            ),
            send_stream(
                supervisor_far,
                ("127.0.0.1", supervisor.rtp_port),
                8,
                tone_frames(PCMA, 400.0, 25),
                ssrc=3,
            ),
        )
        await asyncio.sleep(0.06)

    def heard(far: FarEnd, codec: Codec) -> npt.NDArray[np.float64]:
        return decode(codec, [p[5] for p in far.rtp()])

    await talk(MonitorMode.LISTEN)
    sup = heard(supervisor_far, PCMA)
    assert tone_power(sup, 1000.0) > 0.2 and tone_power(sup, 600.0) > 0.1
    assert tone_power(heard(caller_far, PCMA), 400.0) < 0.01
    assert tone_power(heard(operator_far, PCMU), 400.0) < 0.01
    await talk(MonitorMode.BARGE)
    assert tone_power(heard(caller_far, PCMA), 400.0) > 0.1
    assert tone_power(heard(operator_far, PCMU), 400.0) > 0.1
    engine.stop_monitor(supervisor.leg_id)
    assert engine.bridged_with(caller.leg_id) == operator.leg_id


async def test_rtcp_reports_and_bye(tmp_path: Path, far_ends: Callable[[], Any]) -> None:
    far: FarEnd = await far_ends()
    far_rtcp: FarEnd = await far_ends()
    async with MediaEngine(
        SystemClock(), PORTS, "127.0.0.1", tmp_path, config=EngineConfig(rtcp_interval_s=0.2)
    ) as engine:
        leg = await engine.create_leg(codec="PCMA", remote=far.addr, remote_rtcp=far_rtcp.addr)
        await send_stream(
            far, ("127.0.0.1", leg.rtp_port), 8, tone_frames(PCMA, 1000.0, 20), ssrc=77
        )
        engine.play(
            leg.leg_id,
            PlaybackItem(
                "t", (TonePart(Cadence("t", (ToneSegment(200, (500.0,)),), repeat=False)),)
            ),
        )
        await asyncio.sleep(0.6)
        engine.close_leg(leg.leg_id)
        await asyncio.sleep(0.05)
    compounds = [parse_rtcp(data) for _at, data in far_rtcp.received]
    assert len(compounds) >= 3
    for compound in compounds:
        assert isinstance(compound[0], SenderReport | ReceiverReport)
        assert isinstance(compound[1], Sdes) and compound[1].chunks[0].cname
        assert compound[0].ssrc == leg.ssrc
    senders = [c[0] for c in compounds if isinstance(c[0], SenderReport)]
    assert senders and senders[-1].packet_count == 10
    last = compounds[-1][0]
    assert isinstance(last, SenderReport)
    block = last.reports[0]
    assert (block.ssrc, block.cumulative_lost) == (77, 0)
    assert isinstance(compounds[-1][-1], Bye)
    assert engine.ports.in_use == 0


# --- SIPp's captures replayed into a leg ------------------------------------------------------------

SIPP_DIR = Path("/usr/share/sip-tester")


def pcap_udp_payloads(path: Path) -> list[tuple[float, bytes]]:
    """(capture time, UDP payload) of a classic little-endian Ethernet/IPv4 pcap file."""
    data = path.read_bytes()
    assert struct.unpack_from("<I", data)[0] == 0xA1B2C3D4
    out = []
    offset = 24
    while offset + 16 <= len(data):
        seconds, micros, captured, _length = struct.unpack_from("<IIII", data, offset)
        frame = data[offset + 16 : offset + 16 + captured]
        offset += 16 + captured
        if frame[12:14] != b"\x08\x00" or frame[23] != 17:  # IPv4, UDP
            continue
        ip_header = (frame[14] & 0x0F) * 4
        udp = frame[14 + ip_header :]
        udp_length = struct.unpack_from("!H", udp, 4)[0]
        out.append((seconds + micros / 1e6, bytes(udp[8:udp_length])))
    return out


async def test_sipp_captures_replayed_into_a_leg(rig: Rig, far_ends: Callable[[], Any]) -> None:
    audio_pcap, dtmf_pcap = SIPP_DIR / "g711a.pcap", SIPP_DIR / "dtmf_2833_1.pcap"
    if not audio_pcap.is_file() or not dtmf_pcap.is_file():
        pytest.fail("SIPp captures missing: apt-get install sip-tester (scripts/system-deps.sh)")
    audio = pcap_udp_payloads(audio_pcap)[:100]  # 3 s of 30 ms A-law frames
    digit = pcap_udp_payloads(dtmf_pcap)
    shift = audio[0][0] + 1.0 - digit[0][0]
    schedule = sorted(
        [(t - audio[0][0], p) for t, p in audio] + [(t + shift - audio[0][0], p) for t, p in digit]
    )
    caller_far: FarEnd = await far_ends()
    operator_far: FarEnd = await far_ends()
    caller = await rig.leg(caller_far, codec="PCMA", telephone_event_pt=101, ptime_ms=30)
    operator = await rig.leg(operator_far, codec="PCMA")
    rig.engine.bridge(caller.leg_id, operator.leg_id)
    recording_id = rig.engine.start_recording(caller.leg_id, operator.leg_id)
    assert caller_far.transport is not None
    start = time.monotonic()
    for at, payload in schedule:
        delay = start + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        caller_far.transport.sendto(payload, ("127.0.0.1", caller.rtp_port))
    await asyncio.sleep(0.4)
    rig.engine.stop_recording(recording_id)
    stored = (await rig.events.wait_for(CallRecordingStored))[0].stored
    digits = rig.events.of(LegDtmfReceived)
    assert [(d.leg_id, d.dtmf.digit, d.dtmf.duration_ms) for d in digits] == [
        (caller.leg_id, "1", 280)
    ]
    assert len(operator_far.rtp()) == 100  # the audio was relayed, the events were not
    with wave.open(stored.path, "rb") as wav:
        left = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)[:, 0]
    sent = np.concatenate([PCMA.decode(p[12:]) for _t, p in audio]).astype(np.float64)
    recorded = left.astype(np.float64)
    # Align by FFT cross-correlation; the recording must hold the capture sample for sample.
    size = 1 << int(np.ceil(np.log2(len(recorded) + len(sent))))
    corr = np.fft.irfft(np.fft.rfft(recorded, size) * np.conj(np.fft.rfft(sent, size)), size)
    lag = int(np.argmax(corr))
    assert np.array_equal(recorded[lag : lag + len(sent)], sent)


async def test_slow_disk_and_failed_disk(tmp_path: Path, far_ends: Callable[[], Any]) -> None:
    """Past the write bound chunks become silence (counted); a failed file is reported."""
    events = Events()
    far: FarEnd = await far_ends()
    async with MediaEngine(
        SystemClock(),
        PORTS,
        "127.0.0.1",
        tmp_path / "rec",
        on_event=events,
        config=EngineConfig(max_pending_write_bytes=1),
    ) as engine:
        a = await engine.create_leg(codec="PCMA", remote=far.addr)
        b = await engine.create_leg(codec="PCMA")
        engine.start_recording(a.leg_id, b.leg_id, recording_id="bounded")
        # 1.5 s: longer than the recorder's 1 s chunks, so one chunk is written while recording.
        await send_stream(far, ("127.0.0.1", a.rtp_port), 8, tone_frames(PCMA, 1000.0, 75), ssrc=9)
        engine.stop_recording("bounded")
        stored = (await events.wait_for(CallRecordingStored))[0]
        assert stored.dropped_bytes > 0
        assert engine.metrics.recording_bytes_dropped == stored.dropped_bytes
        with wave.open(stored.stored.path, "rb") as wav:
            assert abs(wav.getnframes() / RATE - stored.stored.duration_s) < 1e-9
            data = wav.readframes(wav.getnframes())
        # The digest is the one of the file as stored: the dropped chunks count as silence.
        assert stored.stored.sha256 == hashlib.sha256(data).hexdigest()
        samples = np.frombuffer(data, dtype="<i2")
        left = samples.reshape(-1, 2)[:, 0]
        # The chunks written while recording were dropped (silence); the final one always goes.
        assert not left[: RATE // 4].any()
        assert np.count_nonzero(left) < len(left) - RATE // 4
        shutil.rmtree(tmp_path / "rec")  # the disk goes away
        engine.start_recording(a.leg_id, b.leg_id, recording_id="lost")
        await send_stream(far, ("127.0.0.1", a.rtp_port), 8, tone_frames(PCMA, 1000.0, 10), ssrc=9)
        failed = await events.wait_for(RecordingFailed)
        assert failed[0].recording_id == "lost" and "FileNotFoundError" in failed[0].reason
        assert engine.metrics.recordings_failed == 1
    assert len(events.of(CallRecordingStored)) == 1


async def test_padding_is_dropped_when_transcoding(rig: Rig, far_ends: Callable[[], Any]) -> None:
    caller_far: FarEnd = await far_ends()
    operator_far: FarEnd = await far_ends()
    caller = await rig.leg(caller_far, codec="PCMA")
    operator = await rig.leg(operator_far, codec="PCMU")
    rig.engine.bridge(caller.leg_id, operator.leg_id)
    assert caller_far.transport is not None
    frames = tone_frames(PCMA, 1000.0, 5)
    for i, payload in enumerate(frames):
        packet = bytearray(rtp_packet(8, 10 + i, 1600 * i, 0x77, payload + bytes(3) + b"\x04"))
        packet[0] |= 0x20  # RFC 3550 §5.1: P bit, the last octet counts the padding
        caller_far.transport.sendto(bytes(packet), ("127.0.0.1", caller.rtp_port))
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)
    received = operator_far.received
    assert len(received) == 5
    for (_at, data), sent in zip(received, frames, strict=True):
        assert data[0] & 0x20 == 0 and len(data) == 12 + 160
        assert np.max(np.abs(decode(PCMU, [data[12:]]) - decode(PCMA, [sent]))) < 400
