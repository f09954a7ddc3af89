"""WAV layout reading, streamed writing and crash repair."""

from __future__ import annotations

import hashlib
import io
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from hotline.core.errors import LimitExceededError, RemoteProtocolError
from hotline.media import wav as wav_module
from hotline.media.wav import (
    WAV_HEADER_BYTES,
    WAVE_FORMAT_EXTENSIBLE,
    WAVE_FORMAT_IEEE_FLOAT,
    FileWrite,
    WavFileSink,
    WavFormatError,
    read_wav_layout,
    repair_wav,
    wav_data_sha256,
    wav_header,
)


def test_public_surface() -> None:
    assert "repair_wav" in wav_module.__all__
    assert all(hasattr(wav_module, name) for name in wav_module.__all__)


def test_header_bytes_are_canonical() -> None:
    header = wav_header(channels=2, sample_rate_hz=8000, bits_per_sample=16, data_bytes=32000)
    assert len(header) == WAV_HEADER_BYTES
    assert header == (
        b"RIFF"
        + struct.pack("<I", 36 + 32000)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 2, 8000, 32000, 4, 16)
        + b"data"
        + struct.pack("<I", 32000)
    )


def _streamed_file(path: Path, frames: int) -> bytes:
    samples = (np.arange(frames * 2) % 2000 - 1000).astype("<i2").tobytes()
    with path.open("wb") as out:
        sink = WavFileSink(out)
        sink.apply(
            [
                FileWrite(
                    0, wav_header(channels=2, sample_rate_hz=8000, bits_per_sample=16, data_bytes=0)
                )
            ]
        )
        for offset in range(0, len(samples), 1000):
            sink.apply([FileWrite(WAV_HEADER_BYTES + offset, samples[offset : offset + 1000])])
        sink.apply(
            [
                FileWrite(
                    0,
                    wav_header(
                        channels=2, sample_rate_hz=8000, bits_per_sample=16, data_bytes=len(samples)
                    ),
                )
            ]
        )
        sink.flush()
    return samples


def test_streamed_file_reads_back_with_stdlib_wave(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    samples = _streamed_file(path, 8000)
    with wave.open(str(path), "rb") as reader:
        assert reader.getnchannels() == 2
        assert reader.getframerate() == 8000
        assert reader.getsampwidth() == 2
        assert reader.getnframes() == 8000
        assert reader.readframes(8000) == samples
    assert wav_data_sha256(path) == hashlib.sha256(samples).hexdigest()


def test_repair_leaves_a_good_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "ok.wav"
    _streamed_file(path, 800)
    before = path.read_bytes()
    result = repair_wav(path)
    assert not result.repaired
    assert result.data_bytes == 3200
    assert result.duration_s == pytest.approx(0.1)
    assert path.read_bytes() == before


def test_repair_file_cut_by_a_crash(tmp_path: Path) -> None:
    """The provisional header (sizes 0) is still there, plus a partial trailing frame."""
    path = tmp_path / "crash.wav"
    samples = (np.arange(4000) % 300).astype("<i2").tobytes()
    path.write_bytes(
        wav_header(channels=2, sample_rate_hz=8000, bits_per_sample=16, data_bytes=0)
        + samples
        + b"\x01\x02\x03"
    )
    result = repair_wav(path)
    assert result.repaired
    assert result.data_bytes == len(samples)
    assert result.duration_s == pytest.approx(2000 / 8000)
    with wave.open(str(path), "rb") as reader:
        assert reader.getnframes() == 2000
        assert reader.readframes(2000) == samples
    assert path.stat().st_size == WAV_HEADER_BYTES + len(samples)
    assert not repair_wav(path).repaired  # idempotent


def test_repair_truncated_finalised_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    _streamed_file(path, 8000)
    data = path.read_bytes()
    path.write_bytes(data[: WAV_HEADER_BYTES + 10_001])
    result = repair_wav(path)
    assert result.repaired
    assert result.data_bytes == 10_000
    with wave.open(str(path), "rb") as reader:
        assert reader.getnframes() == 2500
        assert reader.readframes(2500) == data[WAV_HEADER_BYTES : WAV_HEADER_BYTES + 10_000]


def test_repair_header_only_file_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(wav_header(channels=2, sample_rate_hz=8000, bits_per_sample=16, data_bytes=0))
    assert not repair_wav(path).repaired


def test_repair_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "junk.wav"
    path.write_bytes(b"not a wave file at all")
    with pytest.raises(WavFormatError):
        repair_wav(path)
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    with pytest.raises(WavFormatError, match="no data chunk"):
        repair_wav(path)


def _chunk(chunk_id: bytes, body: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def test_layout_skips_other_chunks_and_reads_extensible_float() -> None:
    fmt = struct.pack("<HHIIHH", WAVE_FORMAT_EXTENSIBLE, 1, 48000, 192000, 4, 32)
    fmt += struct.pack("<HHI", 22, 32, 4) + struct.pack("<H", WAVE_FORMAT_IEEE_FLOAT)
    fmt += b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    body = _chunk(b"LIST", b"INFOjunk!") + _chunk(b"fmt ", fmt) + _chunk(b"data", b"\x00" * 16)
    blob = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body
    layout = read_wav_layout(io.BytesIO(blob))
    assert layout.format_tag == WAVE_FORMAT_IEEE_FLOAT
    assert (layout.channels, layout.sample_rate_hz, layout.bits_per_sample) == (1, 48000, 32)
    assert layout.data_offset == len(blob) - 16
    assert layout.frames == 4


@pytest.mark.parametrize(
    ("blob", "error"),
    [
        (b"RIFF\x04\x00\x00\x00WAVX", WavFormatError),
        (b"RIFF\x00\x00\x00\x00WAVE" + _chunk(b"data", b"\x00\x00"), WavFormatError),
        (
            b"RIFF\x00\x00\x00\x00WAVE"
            + _chunk(b"fmt ", struct.pack("<HHIIHH", 1, 0, 8000, 0, 0, 16)),
            WavFormatError,
        ),
        (
            b"RIFF\x00\x00\x00\x00WAVE"
            + _chunk(b"fmt ", struct.pack("<HHIIHH", 1, 2, 8000, 32000, 3, 16)),
            WavFormatError,
        ),
        (b"RIFF\x00\x00\x00\x00WAVE" + _chunk(b"junk", b"") * 70, LimitExceededError),
        (b"RIFF\x00\x00\x00\x00WAVE" + b"fmt " + struct.pack("<I", 1 << 30), LimitExceededError),
    ],
)
def test_layout_errors(blob: bytes, error: type[RemoteProtocolError]) -> None:
    with pytest.raises(error):
        read_wav_layout(io.BytesIO(blob))


def test_layout_errors_are_remote_protocol_errors() -> None:
    assert issubclass(WavFormatError, RemoteProtocolError)
