"""Russian call-progress tones: frequency, cadence, phase continuity, encoded periods."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.media import tones
from hotline.media.codecs import PCMA, PCMU
from hotline.media.tones import (
    BUSY,
    CONGESTION,
    DIAL,
    RINGBACK,
    Cadence,
    ToneFrameCache,
    ToneGenerator,
    ToneSegment,
    encode_cadence,
    render_cadence,
)

RATE = 8000


def goertzel_power(x: npt.NDArray[np.float64], freq: float) -> float:
    """Normalised power of ``freq`` in ``x`` (amplitude² / 4 for a pure sine)."""
    n = np.arange(len(x))
    ref = np.exp(-2j * np.pi * freq * n / RATE)
    return float(abs(np.dot(x, ref)) ** 2 / len(x) ** 2)


def on_mask(pcm: npt.NDArray[np.int16], frame: int = 40) -> npt.NDArray[np.bool_]:
    """Per 5 ms block: is the tone on (RMS well above zero)?"""
    blocks = pcm[: len(pcm) // frame * frame].astype(np.float64).reshape(-1, frame)
    on: npt.NDArray[np.bool_] = np.sqrt((blocks**2).mean(axis=1)) > 500.0
    return on


def test_public_surface() -> None:
    assert set(tones.__all__) == {
        "BUSY",
        "CONGESTION",
        "DIAL",
        "RINGBACK",
        "SAMPLE_RATE_HZ",
        "Cadence",
        "EncodedTone",
        "ToneFrameCache",
        "ToneGenerator",
        "ToneSegment",
        "encode_cadence",
        "render_cadence",
        "silence_pcm",
    }


@pytest.mark.parametrize("cadence", [DIAL, RINGBACK, BUSY, CONGESTION])
def test_tones_are_425_hz_at_minus_10_dbm0(cadence: Cadence) -> None:
    pcm = render_cadence(cadence, 0, 800).astype(np.float64)  # the first 100 ms: tone on
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    assert np.argmax(spectrum) * RATE / len(pcm) == pytest.approx(425, abs=10)
    steady = pcm[40:760]
    rms = np.sqrt(np.mean(steady**2))
    # 0 dBm0 sine peak is 32768 / 10**(3.14/20); -10 dBm0 rms = that / sqrt(2) / 10**0.5
    expected_rms = 32768 / 10 ** (3.14 / 20) / np.sqrt(2) / 10**0.5
    assert rms == pytest.approx(expected_rms, rel=0.02)
    assert goertzel_power(steady, 425) > 1000 * goertzel_power(steady, 1000)


@pytest.mark.parametrize(
    ("cadence", "on_ms", "off_ms"),
    [(RINGBACK, 1000, 4000), (BUSY, 350, 350), (CONGESTION, 175, 175)],
)
def test_cadence_timing(cadence: Cadence, on_ms: int, off_ms: int) -> None:
    cycle = (on_ms + off_ms) * RATE // 1000
    pcm = render_cadence(cadence, 0, 3 * cycle)
    mask = on_mask(pcm)  # 5 ms resolution
    edges = np.flatnonzero(np.diff(mask.astype(np.int8)))
    lengths = np.diff(np.concatenate(([-1], edges))) * 5  # ms of each run
    assert lengths[0] == pytest.approx(on_ms, abs=5)
    assert lengths[1] == pytest.approx(off_ms, abs=5)
    assert lengths[2] == pytest.approx(on_ms, abs=5)
    assert mask[0]


def test_dial_tone_is_continuous() -> None:
    pcm = render_cadence(DIAL, 0, 10 * RATE)
    assert on_mask(pcm).all()


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(min_value=0, max_value=10**9),
    sizes=st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=8),
)
def test_reading_in_frames_equals_reading_at_once(start: int, sizes: list[int]) -> None:
    gen = ToneGenerator(BUSY, start_sample=start)
    pieces = [gen.read(n) for n in sizes]
    assert np.array_equal(np.concatenate(pieces), render_cadence(BUSY, start, sum(sizes)))


def test_phase_continuity_across_frames() -> None:
    gen = ToneGenerator(DIAL)
    pcm = np.concatenate([gen.read(160) for _ in range(100)]).astype(np.float64)
    # A continuous sine: the second difference stays within what the sine itself allows.
    amplitude = DIAL.amplitude
    max_step = amplitude * (2 * np.pi * 425 / RATE) ** 2 + 2
    assert np.max(np.abs(np.diff(pcm, 2))) <= max_step


def test_edges_are_ramped_not_clicking() -> None:
    pcm = render_cadence(BUSY, 0, 5600).astype(np.float64)
    # Around the on→off edge at 2800 the envelope decays smoothly: no single
    # sample step larger than a full-amplitude sine step.
    assert np.max(np.abs(np.diff(pcm))) <= BUSY.amplitude * 2 * np.pi * 425 / RATE + 2
    assert np.all(pcm[2800:5600] == 0)


def test_one_shot_cadence_ends_in_silence() -> None:
    beep = Cadence("beep", (ToneSegment(100, (1000.0,)),), repeat=False)
    gen = ToneGenerator(beep)
    first = gen.read(800)
    assert gen.finished
    assert np.abs(first).max() > 1000
    assert not gen.read(800).any()


def test_dual_frequency_segment() -> None:
    cadence = Cadence("dual", (ToneSegment(500, (400.0, 450.0)),), level_dbm0=-13.0)
    pcm = render_cadence(cadence, 0, 4000).astype(np.float64)
    assert goertzel_power(pcm, 400) == pytest.approx(goertzel_power(pcm, 450), rel=0.05)
    assert goertzel_power(pcm, 400) > 100 * goertzel_power(pcm, 425 + 100)


@pytest.mark.parametrize(
    ("cadence", "frames"), [(DIAL, 50), (RINGBACK, 250), (BUSY, 70), (CONGESTION, 70)]
)
def test_encoded_period_loops_seamlessly(cadence: Cadence, frames: int) -> None:
    encoded = encode_cadence(cadence, PCMA.encode, "PCMA")
    assert encoded.loop
    assert len(encoded.frames) == frames
    assert all(len(f) == 160 for f in encoded.frames)
    looped = b"".join(encoded.frames * 2)
    direct = PCMA.encode(render_cadence(cadence, 0, 2 * frames * 160))
    assert looped == direct


def test_cache_reuses_and_bounds() -> None:
    cache = ToneFrameCache(max_entries=2)
    a = cache.get(BUSY, PCMA.encode, "PCMA")
    assert cache.get(BUSY, PCMA.encode, "PCMA") is a
    b = cache.get(BUSY, PCMU.encode, "PCMU")
    assert a.frames != b.frames
    cache.get(DIAL, PCMA.encode, "PCMA")
    assert len(cache) == 2
    assert cache.get(BUSY, PCMA.encode, "PCMA") is not a  # evicted, rendered again


@pytest.mark.parametrize(
    "bad",
    [
        lambda: ToneSegment(0, (425.0,)),
        lambda: ToneSegment(100, (5000.0,)),
        lambda: Cadence("x", ()),
        lambda: Cadence("x", (ToneSegment(10),), level_dbm0=10.0),
    ],
)
def test_invalid_cadences_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        bad()  # type: ignore[operator]
