"""Stereo call recording: alignment by RTP timestamps under jitter, loss and reordering."""

from __future__ import annotations

import hashlib
import random
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.core.errors import RemoteProtocolError
from hotline.media import recorder as recorder_module
from hotline.media.codecs import PCMA, PCMU, Codec
from hotline.media.recorder import CallRecorder, RecordingChannel, RecordingStored
from hotline.media.wav import WavFileSink, repair_wav

RATE = 8000
T0 = 1000.0  # monotonic time the recorder starts at


@dataclass(frozen=True)
class Leg:
    channel: RecordingChannel
    codec: Codec
    freq: float
    start_s: float  # send time of the first packet, relative to T0
    duration_s: float
    ssrc: int
    ts0: int


def rtp(codec: Codec, seq: int, ts: int, ssrc: int, payload: bytes, pt: int | None = None) -> bytes:
    header = struct.pack(
        "!BBHII",
        0x80,
        codec.payload_type if pt is None else pt,
        seq & 0xFFFF,
        ts & 0xFFFFFFFF,
        ssrc,
    )
    return header + payload


def leg_packets(
    leg: Leg, rng: random.Random, *, loss: float, jitter_s: float
) -> list[tuple[float, RecordingChannel, bytes]]:
    """(arrival time, channel, packet) for a tone on one leg, with loss and jitter."""
    frames = round(leg.duration_s / 0.02)
    amp = 8000.0
    out = []
    for i in range(frames):
        n = np.arange(i * 160, (i + 1) * 160)
        pcm = np.round(amp * np.sin(2 * np.pi * leg.freq * n / RATE)).astype(np.int16)
        if 0 < i < frames - 1 and rng.random() < loss:
            continue
        send = T0 + leg.start_s + (i + 1) * 0.02  # a frame leaves when it is complete
        arrival = send + rng.uniform(0.0, jitter_s)
        out.append(
            (
                arrival,
                leg.channel,
                rtp(leg.codec, 100 + i, leg.ts0 + 160 * i, leg.ssrc, leg.codec.encode(pcm)),
            )
        )
    return out


def record(
    tmp_path: Path,
    packets: list[tuple[float, RecordingChannel, bytes]],
    end_s: float,
    *,
    finish: bool = True,
) -> tuple[Path, RecordingStored | None, CallRecorder]:
    path = tmp_path / "call.wav"
    recorder = CallRecorder(str(path), T0)
    recorder.set_codec(RecordingChannel.CALLER, PCMA)
    recorder.set_codec(RecordingChannel.OPERATOR, PCMU)
    with path.open("wb") as out:
        sink = WavFileSink(out)
        for arrival, channel, packet in sorted(packets, key=lambda p: p[0]):
            timer = recorder.get_timer()
            while timer is not None and timer <= arrival:
                recorder.handle_timer(timer)
                timer = recorder.get_timer()
            recorder.receive_rtp(channel, packet, arrival)
            sink.apply(recorder.pending_writes())
        if finish:
            recorder.finish(T0 + end_s)
        sink.apply(recorder.pending_writes())
    return path, recorder.next_event(), recorder


def read_stereo(path: Path) -> npt.NDArray[np.int16]:
    with wave.open(str(path), "rb") as reader:
        assert reader.getnchannels() == 2
        assert reader.getsampwidth() == 2
        assert reader.getframerate() == RATE
        data = reader.readframes(reader.getnframes())
    return np.frombuffer(data, dtype="<i2").reshape(-1, 2)


def loud(x: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
    """Per sample: is a tone on here?  (Envelope: max |x| over a centred 2 ms window.)"""
    window = 16
    padded = np.pad(np.abs(x.astype(np.int32)), (window // 2, window // 2 - 1))
    envelope = np.lib.stride_tricks.sliding_window_view(padded, window).max(axis=1)
    on: npt.NDArray[np.bool_] = envelope > 1000
    return on


def active_span(x: npt.NDArray[np.int16]) -> tuple[float, float]:
    """(first, last) time in seconds where the channel holds a tone."""
    on = np.flatnonzero(loud(x))
    return on[0] / RATE, (on[-1] + 1) / RATE


def tone_level(x: npt.NDArray[np.int16], freq: float) -> float:
    """Amplitude of ``freq`` (single-bin DFT) over the active span of ``x``."""
    on = np.flatnonzero(loud(x))
    if on.size == 0:
        return 0.0
    span = x[on[0] : on[-1] + 1].astype(np.float64)
    n = np.arange(span.size)
    return float(2 * abs(np.dot(span, np.exp(-2j * np.pi * freq * n / RATE))) / span.size)


CALLER = Leg(RecordingChannel.CALLER, PCMA, 1000.0, 0.1, 3.0, 0x1111, 4_000_000_000)
OPERATOR = Leg(RecordingChannel.OPERATOR, PCMU, 600.0, 0.5, 2.0, 0x2222, 123)


def test_public_surface() -> None:
    assert set(recorder_module.__all__) == {
        "RECORDING_RATE_HZ",
        "CallRecorder",
        "RecorderStats",
        "RecordingChannel",
        "RecordingStored",
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_tone_in_its_channel_with_the_right_duration(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    packets = leg_packets(CALLER, rng, loss=0.03, jitter_s=0.06) + leg_packets(
        OPERATOR, rng, loss=0.03, jitter_s=0.06
    )
    path, stored, recorder = record(tmp_path, packets, end_s=4.0)
    audio = read_stereo(path)
    left, right = audio[:, 0], audio[:, 1]
    # Each tone is in exactly one channel.
    assert tone_level(left, 1000.0) > 4000
    assert tone_level(left, 600.0) < 100
    assert tone_level(right, 600.0) > 4000
    assert tone_level(right, 1000.0) < 100
    assert np.abs(audio).max() < 32767  # no clipping
    # Durations (first to last sample of the tone) within ±20 ms.
    l_start, l_end = active_span(left)
    r_start, r_end = active_span(right)
    assert l_end - l_start == pytest.approx(CALLER.duration_s, abs=0.02)
    assert r_end - r_start == pytest.approx(OPERATOR.duration_s, abs=0.02)
    # Both legs on one timeline: the operator starts 0.4 s after the caller (± jitter).
    assert r_start - l_start == pytest.approx(0.4, abs=0.07)
    # Reordered packets were put back, not dropped.
    assert recorder.stats.late_packets == 0
    # The file lasts until the recording was stopped.
    assert len(audio) / RATE == pytest.approx(4.0, abs=0.001)
    assert stored is not None
    assert stored.duration_s == pytest.approx(4.0, abs=0.001)
    data = path.read_bytes()
    assert stored.size_bytes == len(data)
    assert stored.sha256 == hashlib.sha256(data[44:]).hexdigest()
    assert stored.path == str(path)


def test_lost_packet_leaves_a_silent_gap_of_its_length(tmp_path: Path) -> None:
    rng = random.Random(0)
    packets = leg_packets(CALLER, rng, loss=0.0, jitter_s=0.0)
    del packets[50]  # frame 50 never arrives
    path, _, _ = record(tmp_path, packets, end_s=3.5)
    on = loud(read_stereo(path)[:, 0])
    first, last = np.flatnonzero(on)[[0, -1]]
    inside = on[first : last + 1]
    gaps = np.flatnonzero(~inside)
    # One gap, 20 ms long (the 2 ms envelope window narrows it by 15 samples), one second in.
    assert gaps.size == pytest.approx(160 - 15, abs=3)
    assert gaps[-1] - gaps[0] + 1 == gaps.size
    assert gaps[0] / RATE == pytest.approx(1.0, abs=0.002)


def test_ssrc_change_reanchors_without_overlap(tmp_path: Path) -> None:
    rng = random.Random(5)
    first = Leg(RecordingChannel.CALLER, PCMA, 1000.0, 0.1, 1.0, 0xAAAA, 10)
    second = Leg(RecordingChannel.CALLER, PCMA, 1000.0, 1.5, 1.0, 0xBBBB, 3_000_000_000)
    packets = leg_packets(first, rng, loss=0.0, jitter_s=0.03) + leg_packets(
        second, rng, loss=0.0, jitter_s=0.03
    )
    path, _, recorder = record(tmp_path, packets, end_s=3.0)
    left = read_stereo(path)[:, 0]
    assert loud(left).sum() / RATE == pytest.approx(2.0, abs=0.03)
    start, end = active_span(left)
    assert end - start == pytest.approx(2.4, abs=0.07)
    assert recorder.stats.reanchors == 1


def test_timestamp_jump_reanchors_on_arrival_time(tmp_path: Path) -> None:
    rng = random.Random(6)
    first = Leg(RecordingChannel.CALLER, PCMA, 1000.0, 0.1, 1.0, 0xAAAA, 10)
    # Same SSRC, timestamps suddenly 10 minutes ahead (a broken or restarted sender).
    jumped = Leg(RecordingChannel.CALLER, PCMA, 1000.0, 1.5, 1.0, 0xAAAA, 10 + 600 * RATE)
    packets = leg_packets(first, rng, loss=0.0, jitter_s=0.0) + leg_packets(
        jumped, rng, loss=0.0, jitter_s=0.0
    )
    path, stored, recorder = record(tmp_path, packets, end_s=3.0)
    assert stored is not None
    assert stored.duration_s == pytest.approx(3.0, abs=0.001)  # not 10 minutes
    left = read_stereo(path)[:, 0]
    assert loud(left).sum() / RATE == pytest.approx(2.0, abs=0.03)
    assert recorder.stats.reanchors == 1


def test_streams_in_chunks_with_bounded_buffer(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    recorder = CallRecorder(str(path), T0)
    recorder.set_codec(RecordingChannel.CALLER, PCMA)
    payload = PCMA.encode(np.full(160, 1000, dtype=np.int16))
    written = []
    for i in range(3000):  # 60 s
        now = T0 + (i + 1) * 0.02
        recorder.receive(RecordingChannel.CALLER, payload, timestamp=160 * i, ssrc=7, now=now)
        written.append(recorder.samples_written)
    # Never more than the reorder window plus one chunk behind real time.
    lag = [(i + 1) * 160 - w for i, w in enumerate(written)]
    assert max(lag) <= (0.2 + 0.5) * RATE + 160
    assert recorder.samples_written >= 59 * RATE


def test_silence_is_flushed_by_the_timer_while_nobody_talks(tmp_path: Path) -> None:
    recorder = CallRecorder(str(tmp_path / "x.wav"), T0)
    now = T0
    while (timer := recorder.get_timer()) is not None and timer <= T0 + 10:
        now = timer
        recorder.handle_timer(now)
    assert recorder.samples_written >= 9 * RATE
    writes = recorder.pending_writes()
    assert writes[0].offset == 0
    assert all(not any(w.data) for w in writes[1:])


def test_other_payload_types_ignored_and_bad_packets_rejected(tmp_path: Path) -> None:
    recorder = CallRecorder(str(tmp_path / "x.wav"), T0)
    recorder.set_codec(RecordingChannel.CALLER, PCMA)
    recorder.receive_rtp(
        RecordingChannel.CALLER, rtp(PCMA, 1, 0, 1, b"\x00\x01\x02\x03", pt=101), T0
    )
    recorder.receive_rtp(RecordingChannel.OPERATOR, rtp(PCMU, 1, 0, 1, b"\xff" * 160), T0)
    assert recorder.stats.ignored_packets == 2
    with pytest.raises(RemoteProtocolError):
        recorder.receive_rtp(RecordingChannel.CALLER, b"\x80\x08", T0)


def test_crash_before_finish_is_repaired(tmp_path: Path) -> None:
    rng = random.Random(9)
    packets = leg_packets(CALLER, rng, loss=0.0, jitter_s=0.02)
    path, stored, recorder = record(tmp_path, packets, end_s=0.0, finish=False)
    assert stored is None
    with wave.open(str(path), "rb") as reader:
        assert reader.getnframes() == 0  # provisional header: sizes not yet written
    result = repair_wav(path)
    assert result.repaired
    audio = read_stereo(path)
    assert len(audio) == recorder.samples_written
    assert tone_level(audio[:, 0], 1000.0) > 4000


def test_limits_on_duration(tmp_path: Path) -> None:
    recorder = CallRecorder(str(tmp_path / "x.wav"), T0, max_duration_s=1.0)
    recorder.set_codec(RecordingChannel.CALLER, PCMA)
    payload = PCMA.encode(np.full(160, 1000, dtype=np.int16))
    for i in range(100):
        recorder.receive(
            RecordingChannel.CALLER, payload, timestamp=160 * i, ssrc=1, now=T0 + (i + 1) * 0.02
        )
    recorder.finish(T0 + 5.0)
    stored = recorder.next_event()
    assert stored is not None
    assert stored.duration_s == 1.0
    assert recorder.stats.samples_beyond_limit > 0


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from([RecordingChannel.CALLER, RecordingChannel.OPERATOR]),
            st.floats(min_value=0.0, max_value=0.5),  # time since the previous arrival
            st.integers(min_value=0, max_value=2**32 - 1),  # timestamp
            st.sampled_from([1, 2, 3]),  # ssrc
            st.integers(min_value=0, max_value=400),  # payload size
        ),
        max_size=60,
    ),
    end_gap=st.floats(min_value=0.0, max_value=3.0),
)
def test_any_input_gives_a_contiguous_file_of_wall_clock_length(
    steps: list[tuple[RecordingChannel, float, int, int, int]], end_gap: float
) -> None:
    recorder = CallRecorder("x.wav", T0)
    recorder.set_codec(RecordingChannel.CALLER, PCMA)
    recorder.set_codec(RecordingChannel.OPERATOR, PCMU)
    now = T0
    for channel, gap, timestamp, ssrc, size in steps:
        now += gap
        recorder.handle_timer(now)
        recorder.receive(channel, b"\x55" * size, timestamp=timestamp, ssrc=ssrc, now=now)
    recorder.finish(now + end_gap)
    writes = recorder.pending_writes()
    assert writes[0].offset == 0
    assert writes[-1].offset == 0
    offset = 44
    for write in writes[1:-1]:
        assert write.offset == offset  # appended in order, no holes, no overlaps
        offset += len(write.data)
    stored = recorder.next_event()
    assert stored is not None
    assert stored.size_bytes == offset
    expected = round((now + end_gap - T0) * RATE)
    # At least the wall-clock length; longer only by audio placed ahead of arrival (< 1 s jump limit).
    assert expected <= round(stored.duration_s * RATE) <= expected + RATE + 400


def test_without_digest_the_writes_are_the_same_and_the_sha256_is_left_empty() -> None:
    outputs = []
    for digest in (True, False):
        recorder = CallRecorder("x.wav", 0.0, chunk_ms=100, digest=digest)
        recorder.set_codec(RecordingChannel.CALLER, PCMA)
        recorder.set_codec(RecordingChannel.OPERATOR, PCMU)
        for index in range(20):
            recorder.receive(
                RecordingChannel.CALLER,
                bytes([index]) * 160,
                timestamp=index * 160,
                ssrc=1,
                now=0.02 * (index + 1),
            )
        recorder.finish(0.5)
        outputs.append((recorder.pending_writes(), recorder.next_event()))
    (writes, stored), (writes_no_digest, stored_no_digest) = outputs
    assert writes_no_digest == writes
    assert stored is not None and stored_no_digest is not None
    data = b"".join(write.data for write in writes[1:-1])
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored_no_digest.sha256 == ""
    assert stored_no_digest.size_bytes == stored.size_bytes == 44 + len(data)


def test_a_packet_several_buffers_ahead_after_a_stall_is_placed_with_silence_before() -> None:
    """The driver stalled for 7 s (no timer, no packet): the next packet lands past
    several whole buffers; the gap is written as silence and the audio where it belongs."""
    recorder = CallRecorder("x.wav", 0.0, chunk_ms=1000, buffer_s=2.0, reorder_window_ms=500)
    recorder.set_codec(RecordingChannel.CALLER, PCMA)
    recorder.set_codec(RecordingChannel.OPERATOR, PCMA)
    tone = PCMA.encode(np.full(1600, 4000, dtype=np.int16))
    recorder.receive(RecordingChannel.CALLER, tone, timestamp=0, ssrc=5, now=0.2)
    # 7 s later a 200 ms run arrives with the timestamps that belong to its arrival time.
    recorder.receive(RecordingChannel.CALLER, tone, timestamp=7 * 8000, ssrc=5, now=7.2)
    recorder.finish(7.5)
    writes = recorder.pending_writes()
    data = bytearray(44 + recorder.samples_written * 4)
    for write in writes:
        data[write.offset : write.offset + len(write.data)] = write.data
    left = np.frombuffer(bytes(data[44:]), dtype="<i2")[0::2]
    loud_at = np.flatnonzero(left)
    assert len(loud_at) == 3200
    assert (loud_at[0], loud_at[1599]) == (0, 1599)
    assert (loud_at[1600], loud_at[-1]) == (7 * 8000, 7 * 8000 + 1599)
    assert recorder.stats.late_packets == 0
