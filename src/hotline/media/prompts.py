"""Prompt files: load any common WAV once, convert to 8 kHz mono int16, cache encoded 20 ms frames.

Administrators upload prompts as whatever their editor saved: 8-48 kHz, mono
or stereo, 8/16/24/32-bit integer PCM, 32/64-bit float, or G.711 A-law/µ-law
WAV, sometimes with a WAVE_FORMAT_EXTENSIBLE header.  The stdlib :mod:`wave`
reads integer PCM; what it refuses (float, A-law, µ-law, EXTENSIBLE on
Python 3.11) goes through the bounded RIFF reader of :mod:`hotline.media.wav`.

Sample-rate conversion is a polyphase FIR resampler (rational factor
``up/down``; Kaiser-windowed sinc anti-alias/anti-image low-pass cut at 90 %
of the lower Nyquist frequency, about 70 dB stop-band), written with numpy:
it runs once per file, off the hot path.  Loading a long 44.1 kHz file takes
a fraction of a second, so drivers call :meth:`PromptCache.get` (or
:func:`load_prompt`) in an executor, never on the event loop.

:class:`PromptCache` keeps encoded frames per (path, mtime, size, codec) and
decoded PCM per (path, mtime, size), in one LRU bounded in bytes.
"""

from __future__ import annotations

import math
import os
import wave
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from hotline.core.errors import HotlineError, RemoteProtocolError
from hotline.media.codecs import Codec, get_codec
from hotline.media.wav import (
    WAVE_FORMAT_ALAW,
    WAVE_FORMAT_IEEE_FLOAT,
    WAVE_FORMAT_MULAW,
    WAVE_FORMAT_PCM,
    read_wav_layout,
)

__all__ = [
    "FRAME_SAMPLES",
    "TARGET_RATE_HZ",
    "EncodedPrompt",
    "PromptCache",
    "PromptError",
    "PromptLimits",
    "encode_frames",
    "load_prompt",
    "resample",
]

TARGET_RATE_HZ: Final = 8000
FRAME_SAMPLES: Final = 160
"""20 ms at 8 kHz."""

_MIN_RATE_HZ: Final = 4000
_MAX_RATE_HZ: Final = 192_000
_KAISER_BETA: Final = 7.0
_ZERO_CROSSINGS: Final = 24
_ROLLOFF: Final = 0.9
_CHUNK_CELLS: Final = 1 << 20


class PromptError(HotlineError):
    """A prompt file cannot be used; ``path`` names it and ``reason`` says why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"prompt {path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PromptLimits:
    """Bounds on what a prompt file may be."""

    max_file_bytes: int = 64 * 1024 * 1024
    max_duration_s: float = 600.0


@dataclass(frozen=True, slots=True)
class EncodedPrompt:
    """A prompt as encoded 20 ms frames (the last one padded with silence)."""

    path: str
    codec_name: str
    frames: tuple[bytes, ...]
    duration_s: float

    @property
    def size_bytes(self) -> int:
        return sum(len(frame) for frame in self.frames)


# --- sample conversion -------------------------------------------------------------------


def _to_float(
    raw: bytes, format_tag: int, sample_bytes: int, channels: int
) -> npt.NDArray[np.float64]:
    """Interleaved samples in int16 units as float64, shape (frames, channels)."""
    frame_bytes = sample_bytes * channels
    raw = raw[: len(raw) - len(raw) % frame_bytes]
    if format_tag == WAVE_FORMAT_PCM:
        if sample_bytes == 1:
            values = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
        elif sample_bytes == 2:
            values = np.frombuffer(raw, dtype="<i2").astype(np.float64)
        elif sample_bytes == 3:
            triplets = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
            joined = triplets[:, 0] | (triplets[:, 1] << 8) | (triplets[:, 2] << 16)
            signed = np.where(joined >= 1 << 23, joined - (1 << 24), joined)
            values = signed.astype(np.float64) / 256.0
        elif sample_bytes == 4:
            values = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 65536.0
        else:
            raise ValueError(f"{sample_bytes * 8}-bit integer PCM is not supported")
    elif format_tag == WAVE_FORMAT_IEEE_FLOAT:
        if sample_bytes == 4:
            floats = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif sample_bytes == 8:
            floats = np.frombuffer(raw, dtype="<f8").astype(np.float64)
        else:
            raise ValueError(f"{sample_bytes * 8}-bit float is not supported")
        values = np.nan_to_num(floats, nan=0.0, posinf=1.0, neginf=-1.0) * 32768.0
    elif format_tag in (WAVE_FORMAT_ALAW, WAVE_FORMAT_MULAW):
        if sample_bytes != 1:
            raise ValueError("G.711 WAV needs 8 bits per sample")
        codec = get_codec("PCMA" if format_tag == WAVE_FORMAT_ALAW else "PCMU")
        values = codec.decode(raw).astype(np.float64)
    else:
        raise ValueError(f"WAV format tag 0x{format_tag:04x} is not supported")
    return values.reshape(-1, channels)


def _kaiser_sinc(up: int, down: int) -> npt.NDArray[np.float64]:
    """Low-pass prototype at the upsampled rate: gain ``up``, cut at 90 % of the lower Nyquist."""
    widest = max(up, down)
    length = 2 * _ZERO_CROSSINGS * widest + 1
    centre = (length - 1) / 2.0
    cutoff = _ROLLOFF / widest  # fraction of the upsampled Nyquist frequency
    offsets = np.arange(length, dtype=np.float64) - centre
    taps: npt.NDArray[np.float64] = np.sinc(cutoff * offsets) * np.kaiser(length, _KAISER_BETA)
    taps *= up / taps.sum()
    return taps


def resample(
    samples: npt.NDArray[np.float64], from_rate_hz: int, to_rate_hz: int
) -> npt.NDArray[np.float64]:
    """Polyphase FIR resampling of a 1-D signal by the rational factor ``to/from`` (zero phase).

    Output sample ``m`` sits at input time ``m * from/to``; the output has
    ``ceil(len * to / from)`` samples.
    """
    if from_rate_hz <= 0 or to_rate_hz <= 0:
        raise ValueError("sample rates must be positive")
    if from_rate_hz == to_rate_hz or samples.size == 0:
        return samples.astype(np.float64, copy=True)
    common = math.gcd(from_rate_hz, to_rate_hz)
    up, down = to_rate_hz // common, from_rate_hz // common
    taps = _kaiser_sinc(up, down)
    per_phase = -(-len(taps) // up)
    bank = np.zeros(per_phase * up, dtype=np.float64)
    bank[: len(taps)] = taps
    phases = bank.reshape(per_phase, up).T  # phases[p, r] = taps[p + up*r]
    centre = (len(taps) - 1) // 2
    n_out = -(-samples.size * up // down)
    padded = np.concatenate(
        (np.zeros(per_phase), samples.astype(np.float64), np.zeros(per_phase + 1))
    )
    out = np.empty(n_out, dtype=np.float64)
    back = np.arange(per_phase)
    chunk = max(1, _CHUNK_CELLS // per_phase)
    for first in range(0, n_out, chunk):
        m = np.arange(first, min(first + chunk, n_out), dtype=np.int64)
        t = m * down + centre
        newest = t // up
        phase = t % up
        window = padded[(newest + per_phase)[:, None] - back[None, :]]
        out[first : first + len(m)] = np.einsum("ij,ij->i", window, phases[phase])
    return out


def _read_samples(path: str, limits: PromptLimits) -> tuple[npt.NDArray[np.float64], int]:
    """(frames × channels float64 in int16 units, sample rate) of a WAV file."""
    try:
        with wave.open(path, "rb") as reader:
            channels = reader.getnchannels()
            rate = reader.getframerate()
            width = reader.getsampwidth()
            frames = reader.getnframes()
            _check_shape(path, channels, rate, frames, limits)
            raw = reader.readframes(frames)
    except (wave.Error, EOFError):
        # A format the stdlib refuses (float, A-law, µ-law, EXTENSIBLE) or a broken
        # file: the RIFF reader below reads the former and says what is wrong with the latter.
        raw = None
    if raw is not None:
        try:
            return _to_float(raw, WAVE_FORMAT_PCM, width, channels), rate
        except ValueError as exc:
            raise PromptError(path, str(exc)) from exc
    with open(path, "rb") as file:
        try:
            layout = read_wav_layout(file)
        except RemoteProtocolError as exc:
            raise PromptError(path, str(exc)) from exc
        sample_bytes = layout.block_align // layout.channels
        _check_shape(path, layout.channels, layout.sample_rate_hz, layout.frames, limits)
        file.seek(layout.data_offset)
        raw = file.read(layout.frames * layout.block_align)
    try:
        pcm = _to_float(raw, layout.format_tag, sample_bytes, layout.channels)
    except ValueError as exc:
        raise PromptError(path, str(exc)) from exc
    return pcm, layout.sample_rate_hz


def _check_shape(path: str, channels: int, rate: int, frames: int, limits: PromptLimits) -> None:
    if not _MIN_RATE_HZ <= rate <= _MAX_RATE_HZ:
        raise PromptError(path, f"sample rate {rate} Hz out of {_MIN_RATE_HZ}..{_MAX_RATE_HZ}")
    if channels < 1:
        raise PromptError(path, "no channels")
    if frames == 0:
        raise PromptError(path, "no audio in the file")
    if frames / rate > limits.max_duration_s:
        raise PromptError(
            path, f"{frames / rate:.1f} s is longer than the {limits.max_duration_s:.0f} s limit"
        )


def load_prompt(
    path: str | os.PathLike[str], limits: PromptLimits | None = None
) -> npt.NDArray[np.int16]:
    """Read a WAV file and return it as 8 kHz mono int16 (stereo is averaged).

    Raises :class:`PromptError` naming the file when it is missing,
    unreadable, too large or long, or in a format we do not handle.
    """
    name = os.fspath(path)
    bounds = limits or PromptLimits()
    try:
        size = os.stat(name).st_size
    except OSError as exc:
        raise PromptError(name, f"cannot be read ({exc.strerror})") from exc
    if size > bounds.max_file_bytes:
        raise PromptError(name, f"{size} bytes is over the {bounds.max_file_bytes} byte limit")
    try:
        samples, rate = _read_samples(name, bounds)
    except OSError as exc:
        raise PromptError(name, f"cannot be read ({exc.strerror})") from exc
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    converted = resample(mono, rate, TARGET_RATE_HZ)
    out: npt.NDArray[np.int16] = np.clip(np.rint(converted), -32768, 32767).astype(np.int16)
    return out


def encode_frames(pcm: npt.NDArray[np.int16], codec: Codec) -> tuple[bytes, ...]:
    """Encode 8 kHz int16 samples into 20 ms payloads; the last one is padded with silence."""
    count = -(-pcm.size // FRAME_SAMPLES)
    padded = np.zeros(count * FRAME_SAMPLES, dtype=np.int16)
    padded[: pcm.size] = pcm
    return tuple(
        codec.encode(padded[i : i + FRAME_SAMPLES]) for i in range(0, padded.size, FRAME_SAMPLES)
    )


_PcmKey = tuple[str, int, int]
_FramesKey = tuple[str, int, int, str]


class PromptCache:
    """LRU of decoded prompts and their encoded frames, bounded by ``max_bytes`` in total.

    Keys carry the file's resolved path, modification time and size, so an
    edited prompt is reloaded on its next use.  Not thread-safe: one owner (the
    media engine), loading in its executor.
    """

    __slots__ = ("_bytes", "_entries", "_limits", "_max_bytes", "hits", "misses")

    def __init__(self, *, max_bytes: int = 64 * 1024 * 1024, limits: PromptLimits | None = None):
        if max_bytes <= 0:
            raise ValueError("max_bytes must be > 0")
        self._max_bytes = max_bytes
        self._limits = limits or PromptLimits()
        self._entries: OrderedDict[_PcmKey | _FramesKey, EncodedPrompt | npt.NDArray[np.int16]]
        self._entries = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    @property
    def size_bytes(self) -> int:
        """Bytes held (PCM at 2 bytes per sample plus encoded frames)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def _file_key(self, path: str | os.PathLike[str]) -> _PcmKey:
        name = os.path.realpath(os.fspath(path))
        try:
            info = os.stat(name)
        except OSError as exc:
            raise PromptError(os.fspath(path), f"cannot be read ({exc.strerror})") from exc
        return (name, info.st_mtime_ns, info.st_size)

    def get(self, path: str | os.PathLike[str], codec: Codec) -> EncodedPrompt:
        """The prompt at ``path`` as ``codec`` frames, loading and converting it on a miss."""
        file_key = self._file_key(path)
        key: _FramesKey = (*file_key, codec.name)
        found = self._entries.get(key)
        if isinstance(found, EncodedPrompt):
            self._entries.move_to_end(key)
            self.hits += 1
            return found
        self.misses += 1
        pcm = self._pcm(file_key)
        prompt = EncodedPrompt(
            path=file_key[0],
            codec_name=codec.name,
            frames=encode_frames(pcm, codec),
            duration_s=pcm.size / TARGET_RATE_HZ,
        )
        self._store(key, prompt, prompt.size_bytes)
        return prompt

    def _pcm(self, file_key: _PcmKey) -> npt.NDArray[np.int16]:
        found = self._entries.get(file_key)
        if isinstance(found, np.ndarray):
            self._entries.move_to_end(file_key)
            return found
        self._drop_stale(file_key)
        pcm = load_prompt(file_key[0], self._limits)
        pcm.flags.writeable = False
        self._store(file_key, pcm, pcm.nbytes)
        return pcm

    def _drop_stale(self, file_key: _PcmKey) -> None:
        """Forget entries of other versions (mtime, size) of the file of ``file_key``."""
        name, version = file_key[0], file_key[1:3]
        for key in [k for k in self._entries if k[0] == name and k[1:3] != version]:
            self._remove(key)

    def invalidate(self, path: str | os.PathLike[str]) -> None:
        """Forget everything cached for ``path``."""
        name = os.path.realpath(os.fspath(path))
        for key in [k for k in self._entries if k[0] == name]:
            self._remove(key)

    def _remove(self, key: _PcmKey | _FramesKey) -> None:
        entry = self._entries.pop(key)
        self._bytes -= _entry_bytes(entry)

    def _store(
        self,
        key: _PcmKey | _FramesKey,
        entry: EncodedPrompt | npt.NDArray[np.int16],
        size: int,
    ) -> None:
        if size > self._max_bytes:
            return  # Larger than the whole cache: serve it uncached.
        while self._bytes + size > self._max_bytes and self._entries:
            oldest = next(iter(self._entries))
            self._remove(oldest)
        self._entries[key] = entry
        self._bytes += size


def _entry_bytes(entry: EncodedPrompt | npt.NDArray[np.int16]) -> int:
    if isinstance(entry, EncodedPrompt):
        return entry.size_bytes
    return int(entry.nbytes)
