"""Both VAD engines on real audio: espeak-ng speech padded with silence, silence, a 425 Hz tone."""

from __future__ import annotations

import functools
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from hotline.bot.ports import FRAME_BYTES, FRAME_MS, SAMPLE_RATE_HZ, VadEvent, VadEventKind
from hotline.bot.vad import VadEngine
from hotline.bot.vad_engines import create_vad
from hotline.calls.bot_detectors import DetectorPool

pytestmark = pytest.mark.integration

PHRASE = "Алло, мне нужна справка о доходах"
LEAD_MS = 1000
TAIL_MS = 1500
TOLERANCE_MS = 150
_TELEPHONY_ARGS = ("-r", str(SAMPLE_RATE_HZ), "-c", "1", "-b", "16", "-e", "signed-integer")
SPEECH_RMS_FLOOR = 328.0  # -40 dBFS: where the synthesised speech is audible


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install it with `apt-get install {name}`")
    return path


def _to_telephony(src: Path, dst: Path) -> bytes:
    subprocess.run(
        [_tool("sox"), str(src), *_TELEPHONY_ARGS, str(dst)],
        check=True,
        timeout=30,
    )
    with wave.open(str(dst), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        pcm = wav.readframes(wav.getnframes())
    return pcm[: len(pcm) // FRAME_BYTES * FRAME_BYTES]


def _silence(ms: int) -> bytes:
    return b"\0" * (ms // FRAME_MS * FRAME_BYTES)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, int, int]:
    """The phrase padded with silence, and its true start and end (ms)."""
    tmp = tmp_path_factory.mktemp("vad")
    raw = tmp / "raw.wav"
    subprocess.run([_tool("espeak-ng"), "-v", "ru", "-w", str(raw), PHRASE], check=True, timeout=30)
    pcm = _to_telephony(raw, tmp / "speech8k.wav")
    frames = np.frombuffer(pcm, dtype="<i2").astype(np.float64).reshape(-1, FRAME_BYTES // 2)
    loud = np.nonzero(np.sqrt((frames**2).mean(axis=1)) > SPEECH_RMS_FLOOR)[0]
    start_ms = LEAD_MS + int(loud[0]) * FRAME_MS
    end_ms = LEAD_MS + (int(loud[-1]) + 1) * FRAME_MS
    assert end_ms - start_ms > 1500
    return _silence(LEAD_MS) + pcm + _silence(TAIL_MS), start_ms, end_ms


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """3 s of the 425 Hz ringing/busy tone at -6 dBFS, padded with silence."""
    tmp = tmp_path_factory.mktemp("tone")
    raw = tmp / "tone.wav"
    subprocess.run(
        [
            _tool("sox"),
            "-n",
            *_TELEPHONY_ARGS,
            str(raw),
            *("synth", "3", "sine", "425", "vol", "0.5"),
        ],
        check=True,
        timeout=30,
    )
    return _silence(LEAD_MS) + _to_telephony(raw, tmp / "tone8k.wav") + _silence(TAIL_MS)


@pytest.mark.parametrize("engine", list(VadEngine))
def test_speech_gives_one_utterance_at_its_boundaries(
    engine: VadEngine, speech: tuple[bytes, int, int]
) -> None:
    audio, start_ms, end_ms = speech
    detector = create_vad(engine, fallback=False)
    assert detector.engine is engine
    events: list[VadEvent] = []
    for offset in range(0, len(audio), FRAME_BYTES):  # frame by frame, as RTP delivers it
        events.extend(detector.feed(audio[offset : offset + FRAME_BYTES]))
    assert [e.kind for e in events] == [VadEventKind.SPEECH_STARTED, VadEventKind.SPEECH_ENDED]
    assert abs(events[0].at_ms - start_ms) <= TOLERANCE_MS, (events, start_ms)
    assert abs(events[1].at_ms - end_ms) <= TOLERANCE_MS, (events, end_ms)
    # After reset the engine starts afresh: the same audio gives the same boundaries.
    detector.reset()
    shift = len(audio) // FRAME_BYTES * FRAME_MS
    again = detector.feed(audio)
    assert [(e.kind, e.at_ms - shift) for e in again] == [(e.kind, e.at_ms) for e in events]


@pytest.mark.parametrize("engine", list(VadEngine))
def test_silence_is_not_speech(engine: VadEngine) -> None:
    detector = create_vad(engine, fallback=False)
    assert detector.feed(_silence(5000)) == []
    assert not detector.tracker.in_utterance


def test_silero_ignores_a_425_hz_tone(tone: bytes) -> None:
    detector = create_vad(VadEngine.SILERO, fallback=False)
    assert detector.feed(tone) == []


def test_webrtc_takes_a_425_hz_tone_for_speech(tone: bytes) -> None:
    # A known limitation of the fallback engine (documented in docs/asr.md): a steady
    # tone in the voice band is "speech" to WebRTC's classifier. Silero is the default.
    events = create_vad(VadEngine.WEBRTC, fallback=False).feed(tone)
    assert [e.kind for e in events] == [VadEventKind.SPEECH_STARTED, VadEventKind.SPEECH_ENDED]
    assert abs(events[0].at_ms - LEAD_MS) <= TOLERANCE_MS
    assert abs(events[1].at_ms - (LEAD_MS + 3000)) <= TOLERANCE_MS


@pytest.mark.parametrize("engine", list(VadEngine))
def test_a_pooled_detector_given_back_mid_speech_is_as_good_as_new(
    engine: VadEngine, speech: tuple[bytes, int, int]
) -> None:
    audio, _start_ms, _end_ms = speech
    fresh = create_vad(engine, fallback=False).feed(audio)
    pool = DetectorPool(functools.partial(create_vad, engine, fallback=False), max_idle=1)
    detector = pool.acquire()
    half = len(audio) // 2 // FRAME_BYTES * FRAME_BYTES
    detector.feed(audio[:half])  # the caller hangs up in the middle of the phrase
    assert detector.tracker.in_utterance
    pool.release(detector)
    again = pool.acquire()
    assert again is detector and pool.created == 1
    shift = half // FRAME_BYTES * FRAME_MS  # audio time runs on across calls
    assert [(e.kind, e.at_ms - shift) for e in again.feed(audio)] == [
        (e.kind, e.at_ms) for e in fresh
    ]
