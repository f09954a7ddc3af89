"""In-band DTMF detection on numpy-synthesised audio."""

from __future__ import annotations

import numpy as np
import pytest

from hotline.core.errors import LocalProtocolError
from hotline.media.codecs import PCMA, PCMU
from hotline.media.dtmf import DtmfReceived, DtmfSource
from hotline.media.goertzel import DTMF_COL_HZ, DTMF_KEYPAD, DTMF_ROW_HZ, GoertzelDtmfDetector

RATE = 8000


def _tone(
    digit: str,
    ms: float,
    *,
    low_dbfs: float = -10.0,
    high_dbfs: float = -8.0,
    deviation: float = 0.0,
    phase: float = 0.3,
) -> np.ndarray:
    row = next(r for r, keys in enumerate(DTMF_KEYPAD) if digit in keys)
    col = DTMF_KEYPAD[row].index(digit)
    n = np.arange(round(ms * RATE / 1000))
    low = (
        32767
        * 10 ** (low_dbfs / 20)
        * np.sin(2 * np.pi * DTMF_ROW_HZ[row] * (1 + deviation) * n / RATE)
    )
    high = (
        32767
        * 10 ** (high_dbfs / 20)
        * np.sin(2 * np.pi * DTMF_COL_HZ[col] * (1 + deviation) * n / RATE + phase)
    )
    return low + high


def _silence(ms: float) -> np.ndarray:
    return np.zeros(round(ms * RATE / 1000))


def _detect(signal: np.ndarray, frame: int = 160) -> list[DtmfReceived]:
    detector = GoertzelDtmfDetector(RATE)
    samples = np.clip(np.round(signal), -32768, 32767).astype(np.int16)
    for start in range(0, len(samples), frame):
        detector.process(samples[start : start + frame])
    detector.flush()
    events = []
    while (event := detector.next_event()) is not None:
        events.append(event)
    return events


def test_every_key_is_detected_once_with_its_duration() -> None:
    keys = "".join(DTMF_KEYPAD)
    signal = np.concatenate([np.concatenate([_tone(key, 100), _silence(60)]) for key in keys])
    events = _detect(np.concatenate([_silence(40), signal]))
    assert "".join(event.digit for event in events) == keys
    assert all(event.source is DtmfSource.INBAND for event in events)
    for event in events:
        assert abs(event.duration_ms - 100) <= 20
        assert event.end_seen


def test_start_position_is_reported_in_samples() -> None:
    (event,) = _detect(np.concatenate([_silence(250), _tone("5", 120), _silence(100)]))
    assert event.rtp_timestamp is not None
    assert abs(event.rtp_timestamp - 2000) <= 102


@pytest.mark.parametrize("ms", [40, 50, 80, 200, 1000])
@pytest.mark.parametrize("lead_samples", [0, 17, 51, 90])
def test_duration_accuracy_for_any_alignment(ms: int, lead_samples: int) -> None:
    signal = np.concatenate([np.zeros(lead_samples), _tone("8", ms), _silence(80)])
    (event,) = _detect(signal)
    assert event.digit == "8"
    assert abs(event.duration_ms - ms) <= 20


@pytest.mark.parametrize("ms", [10, 20, 23])
@pytest.mark.parametrize("lead_samples", [0, 25, 51, 77])
def test_too_short_tones_are_rejected(ms: int, lead_samples: int) -> None:
    signal = np.concatenate([np.zeros(lead_samples), _tone("3", ms), _silence(80)])
    assert _detect(signal) == []


def test_frame_size_does_not_matter() -> None:
    signal = np.concatenate(
        [_silence(30), _tone("9", 90), _silence(50), _tone("0", 90), _silence(60)]
    )
    results = {
        tuple((e.digit, e.duration_ms, e.rtp_timestamp) for e in _detect(signal, frame))
        for frame in (1, 37, 80, 160, 240, 8000)
    }
    assert len(results) == 1
    assert [digit for digit, _, _ in results.pop()] == ["9", "0"]


def test_same_digit_twice_needs_a_gap() -> None:
    separated = np.concatenate([_tone("1", 80), _silence(50), _tone("1", 80), _silence(50)])
    assert [e.digit for e in _detect(separated)] == ["1", "1"]
    # A 10 ms dropout inside one press is bridged.
    dropout = np.concatenate([_tone("1", 80), _silence(10), _tone("1", 80), _silence(50)])
    events = _detect(dropout)
    assert [e.digit for e in events] == ["1"]
    assert abs(events[0].duration_ms - 170) <= 20


def test_digit_change_without_gap_reports_both() -> None:
    signal = np.concatenate([_tone("4", 80), _tone("6", 80), _silence(60)])
    assert [e.digit for e in _detect(signal)] == ["4", "6"]


def test_detection_in_noise() -> None:
    rng = np.random.default_rng(122)
    signal = np.concatenate([_silence(100), _tone("7", 100), _silence(100), _tone("#", 100)])
    noise = rng.normal(0.0, 32767 * 10 ** (-30 / 20), len(signal))  # ~20 dB SNR
    events = _detect(signal + noise)
    assert [e.digit for e in events] == ["7", "#"]


def test_frequency_tolerance() -> None:
    within = np.concatenate([_tone("2", 100, deviation=0.015), _silence(60)])
    assert [e.digit for e in _detect(within)] == ["2"]
    outside = np.concatenate([_tone("2", 100, deviation=0.04), _silence(60)])
    assert _detect(outside) == []


def test_twist_limits() -> None:
    # High group 2 dB above low group: normal for telephones.
    assert len(_detect(_tone("5", 100, low_dbfs=-12, high_dbfs=-10))) == 1
    # Low group 6 dB above high group: accepted (limit 8 dB).
    assert len(_detect(_tone("5", 100, low_dbfs=-8, high_dbfs=-14))) == 1
    # Low group 12 dB above high group: rejected.
    assert _detect(_tone("5", 100, low_dbfs=-8, high_dbfs=-20)) == []
    # High group 8 dB above low group: rejected (limit 4 dB).
    assert _detect(_tone("5", 100, low_dbfs=-18, high_dbfs=-10)) == []


def test_level_threshold() -> None:
    assert len(_detect(_tone("5", 100, low_dbfs=-32, high_dbfs=-30))) == 1
    assert _detect(_tone("5", 100, low_dbfs=-45, high_dbfs=-43)) == []


def test_no_detection_on_a_1khz_tone() -> None:
    n = np.arange(RATE * 2)
    assert _detect(10000 * np.sin(2 * np.pi * 1000 * n / RATE)) == []


def test_no_detection_on_single_dtmf_frequencies_or_dial_tone() -> None:
    n = np.arange(RATE)
    for freq in (*DTMF_ROW_HZ, *DTMF_COL_HZ):
        assert _detect(10000 * np.sin(2 * np.pi * freq * n / RATE)) == []
    dial_tone = 8000 * (np.sin(2 * np.pi * 350 * n / RATE) + np.sin(2 * np.pi * 440 * n / RATE))
    assert _detect(dial_tone) == []


def test_no_detection_on_speech_like_noise() -> None:
    """Noise shaped like speech: a formant-ish resonator, syllabic amplitude modulation."""
    rng = np.random.default_rng(7)
    seconds = 4
    excitation = rng.normal(0.0, 1.0, RATE * seconds)
    out = np.zeros_like(excitation)
    # Two resonators sweeping slowly across the DTMF band (the worst case for a detector).
    for centre_hz, radius in ((700.0, 0.97), (1300.0, 0.96)):
        y1 = y2 = 0.0
        sweep = centre_hz + 250 * np.sin(2 * np.pi * 0.7 * np.arange(len(excitation)) / RATE)
        coefficient = 2 * radius * np.cos(2 * np.pi * sweep / RATE)
        resonated = np.empty_like(excitation)
        for index, value in enumerate(excitation):
            y = value + coefficient[index] * y1 - radius * radius * y2
            resonated[index] = y
            y2, y1 = y1, y
        out += resonated / np.std(resonated)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * np.arange(len(out)) / RATE) ** 2
    speech = 6000 * out * envelope
    assert _detect(speech) == []


def test_detection_after_g711_round_trip() -> None:
    signal = np.concatenate(
        [_silence(40), _tone("*", 100), _silence(60), _tone("D", 100), _silence(60)]
    )
    pcm = np.clip(np.round(signal), -32768, 32767).astype(np.int16)
    for codec in (PCMA, PCMU):
        decoded = codec.decode(codec.encode(pcm)).astype(np.float64)
        assert [e.digit for e in _detect(decoded)] == ["*", "D"]


def test_input_checks() -> None:
    detector = GoertzelDtmfDetector()
    with pytest.raises(LocalProtocolError):
        detector.process(np.zeros(160, dtype=np.float32))
    with pytest.raises(LocalProtocolError):
        GoertzelDtmfDetector(block_size=8)
    detector.process(np.zeros(0, dtype=np.int16))
    detector.flush()
    assert detector.next_event() is None
