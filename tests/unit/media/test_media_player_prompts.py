"""Prompt loading in every common WAV format, resampling, and the prompt cache."""

from __future__ import annotations

import os
import struct
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from hotline.core.errors import HotlineError
from hotline.media import prompts as prompts_module
from hotline.media.codecs import PCMA, PCMU
from hotline.media.prompts import (
    PromptCache,
    PromptError,
    PromptLimits,
    encode_frames,
    load_prompt,
    resample,
)


def tone(
    rate: int, seconds: float, freq: float = 1000.0, amp: float = 0.5
) -> npt.NDArray[np.float64]:
    t = np.arange(round(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def level_at(pcm: npt.NDArray[np.int16], freq: float, rate: int = 8000) -> float:
    """Amplitude of ``freq`` in ``pcm`` (1.0 = full scale), by single-bin DFT."""
    x = pcm.astype(np.float64) / 32768.0
    n = np.arange(len(x))
    return float(2 * abs(np.dot(x, np.exp(-2j * np.pi * freq * n / rate))) / len(x))


def write_stdlib(
    path: Path, signal: npt.NDArray[np.float64], rate: int, width: int, channels: int
) -> None:
    """Integer PCM with the stdlib writer."""
    frames = np.repeat(signal[:, None], channels, axis=1).reshape(-1)
    if width == 1:
        raw = np.round(frames * 127 + 128).astype(np.uint8).tobytes()
    elif width == 2:
        raw = np.round(frames * 32767).astype("<i2").tobytes()
    elif width == 3:
        ints = np.round(frames * (2**23 - 1)).astype("<i4")
        raw = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        raw = np.round(frames * (2**31 - 1)).astype("<i4").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(raw)


def write_riff(
    path: Path, tag: int, channels: int, rate: int, bits: int, data: bytes, extensible: bool = False
) -> None:
    """A WAV the stdlib cannot write: float, G.711 or WAVE_FORMAT_EXTENSIBLE."""
    block = channels * bits // 8
    if extensible:
        fmt = struct.pack("<HHIIHH", 0xFFFE, channels, rate, rate * block, block, bits)
        fmt += struct.pack("<HHI", 22, bits, 3) + struct.pack("<H", tag)
        fmt += b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits) + b"\x00\x00"
    body = (
        b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    )
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)


def check_tone(
    pcm: npt.NDArray[np.int16],
    seconds: float,
    amp: float = 0.5,
    tol: float = 0.03,
    harmonic: float = 0.01,
) -> None:
    assert pcm.dtype == np.int16
    assert len(pcm) == pytest.approx(8000 * seconds, abs=2)
    core = pcm[400:-400]
    assert level_at(core, 1000.0) == pytest.approx(amp, abs=tol)
    assert level_at(core, 3000.0) < harmonic


def test_public_surface() -> None:
    assert set(prompts_module.__all__) >= {"PromptCache", "PromptError", "load_prompt", "resample"}
    assert issubclass(PromptError, HotlineError)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize(("width", "channels"), [(1, 1), (2, 1), (2, 2), (3, 2), (4, 1)])
def test_integer_pcm_any_rate(tmp_path: Path, rate: int, width: int, channels: int) -> None:
    path = tmp_path / "p.wav"
    write_stdlib(path, tone(rate, 0.5), rate, width, channels)
    check_tone(load_prompt(path), 0.5, tol=0.03 if width > 1 else 0.05)


def test_float32_stereo_48k(tmp_path: Path) -> None:
    path = tmp_path / "f.wav"
    sig = tone(48000, 0.5, amp=0.25)
    data = np.repeat(sig[:, None], 2, axis=1).astype("<f4").tobytes()
    write_riff(path, 3, 2, 48000, 32, data)
    check_tone(load_prompt(path), 0.5, amp=0.25)


@pytest.mark.parametrize(("tag", "codec"), [(6, PCMA), (7, PCMU)])
def test_g711_wav(tmp_path: Path, tag: int, codec: object) -> None:
    path = tmp_path / "g.wav"
    pcm = np.round(tone(8000, 0.5) * 32767).astype(np.int16)
    write_riff(path, tag, 1, 8000, 8, codec.encode(pcm))  # type: ignore[attr-defined]
    # G.711 quantisation of a 1 kHz tone (8 samples a period) leaves a -40 dB 3rd harmonic.
    check_tone(load_prompt(path), 0.5, harmonic=0.02)


def test_extensible_pcm16(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    data = np.round(tone(16000, 0.5) * 32767).astype("<i2").tobytes()
    write_riff(path, 1, 1, 16000, 16, data, extensible=True)
    check_tone(load_prompt(path), 0.5)


def test_downsampling_removes_what_would_alias(tmp_path: Path) -> None:
    path = tmp_path / "hi.wav"
    write_stdlib(path, tone(16000, 0.5, freq=5000.0), 16000, 2, 1)
    pcm = load_prompt(path)
    assert level_at(pcm[400:-400], 3000.0) < 0.001  # 5 kHz would fold to 3 kHz


def test_resample_upsamples_too() -> None:
    out = resample(tone(6000, 0.5, amp=1.0) * 10000, 6000, 8000)
    assert len(out) == 4000
    level = level_at(np.round(out).astype(np.int16)[400:-400], 1000.0) * 32768
    assert level == pytest.approx(10000, rel=0.01)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not a RIFF/WAVE"),
        (b"ID3\x03 mp3 data here", "not a RIFF/WAVE"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt \x02\x00\x00\x00ab", "shorter than 16"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(PromptError, match=reason) as info:
        load_prompt(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)


def test_unsupported_format_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "adpcm.wav"
    write_riff(path, 0x11, 1, 8000, 8, b"\x00" * 100)
    with pytest.raises(PromptError, match=r"0x0011 is not supported"):
        load_prompt(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="cannot be read"):
        load_prompt(tmp_path / "nope.wav")


def test_limits(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    write_stdlib(path, tone(8000, 3.0), 8000, 2, 1)
    with pytest.raises(PromptError, match="longer than"):
        load_prompt(path, PromptLimits(max_duration_s=2.0))
    with pytest.raises(PromptError, match="byte limit"):
        load_prompt(path, PromptLimits(max_file_bytes=1000))
    empty = tmp_path / "empty.wav"
    write_stdlib(empty, np.zeros(0), 8000, 2, 1)
    with pytest.raises(PromptError, match="no audio"):
        load_prompt(empty)


def test_encode_frames_pads_last_frame() -> None:
    pcm = np.full(200, 1000, dtype=np.int16)
    frames = encode_frames(pcm, PCMA)
    assert [len(f) for f in frames] == [160, 160]
    # A-law has no zero code: silence decodes to +/-8.
    assert np.abs(PCMA.decode(frames[1])[40:]).max() <= 8
    assert np.abs(PCMA.decode(frames[1])[:40] - 1000).max() <= 32


def test_cache_hits_reloads_on_change_and_bounds_bytes(tmp_path: Path) -> None:
    a = tmp_path / "a.wav"
    b = tmp_path / "b.wav"
    write_stdlib(a, tone(8000, 1.0), 8000, 2, 1)
    write_stdlib(b, tone(8000, 1.0), 8000, 2, 1)
    cache = PromptCache(max_bytes=40_000)
    first = cache.get(a, PCMA)
    assert len(first.frames) == 50
    assert first.duration_s == pytest.approx(1.0)
    assert cache.get(a, PCMA) is first
    assert (cache.hits, cache.misses) == (1, 1)
    ulaw = cache.get(a, PCMU)  # PCM reused, new encoding
    assert ulaw.codec_name == "PCMU"
    assert cache.size_bytes == 16_000 + 8_000 + 8_000
    cache.get(b, PCMA)  # 16 kB PCM + 8 kB frames: evicts the oldest entries of a
    assert cache.size_bytes <= 40_000
    # Editing the file (new mtime) reloads it.
    write_stdlib(a, tone(8000, 0.5), 8000, 2, 1)
    os.utime(a, ns=(1, 1))
    assert len(cache.get(a, PCMA).frames) == 25
    entries = len(cache)
    cache.invalidate(a)
    assert len(cache) == entries - 2  # its PCM and its PCMA frames


def test_cache_serves_prompt_larger_than_itself(tmp_path: Path) -> None:
    path = tmp_path / "big.wav"
    write_stdlib(path, tone(8000, 1.0), 8000, 2, 1)
    cache = PromptCache(max_bytes=1000)
    assert len(cache.get(path, PCMA).frames) == 50
    assert len(cache) == 0
