"""Call-progress tones of Russian practice as cadence patterns, generated as 8 kHz int16 PCM.

Russian networks use a single 425 Hz tone for call progress (national
practice; ITU-T E.180 Supplement 2 lists each country's tones):

* dial tone ("ответ станции"): 425 Hz continuous;
* ringback ("контроль посылки вызова"): 425 Hz, 1 s on, 4 s off;
* busy ("занято"): 425 Hz, 0.35 s on, 0.35 s off;
* congestion ("перегрузка"): 425 Hz, 0.175 s on, 0.175 s off (busy at double rate).

A cadence is a tuple of segments (frequencies + duration; no frequency means
silence), played once or repeated.  Samples are a pure function of the
absolute sample index (``sin(2*pi*f*k/fs)`` gated by the cadence), so the tone
is phase-continuous across frames by construction and two generators started
at the same index produce identical output.  Each on/off edge is shaped with a
short raised-cosine ramp so that gating does not click.

:func:`encode_cadence` renders one whole period of a cadence (the least common
multiple of the cadence cycle, the frame and every sine period) into encoded
frames once; :class:`ToneFrameCache` keeps them per (cadence, codec) so that a
player only indexes into a tuple of ``bytes`` on the 20 ms hot path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import numpy.typing as npt

__all__ = [
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
]

SAMPLE_RATE_HZ = 8000
"""The only rate tones are generated at (G.711 narrow band)."""

_PEAK_AT_0_DBM0 = 32768.0 / 10.0 ** (3.14 / 20.0)
"""Peak of a 0 dBm0 sine in int16 units: G.711 A-law overloads at +3.14 dBm0 (ITU-T G.711 §4)."""

_RAMP_MS = 2.0
_MAX_SEGMENTS = 32
_MAX_SEGMENT_MS = 60_000
_MAX_FREQUENCIES = 4
_MAX_PERIOD_FRAMES = 3000
"""Cap of one encoded period: 60 s of 20 ms frames (a 160-byte frame each: 480 kB per codec)."""


@dataclass(frozen=True, slots=True)
class ToneSegment:
    """One step of a cadence: ``frequencies_hz`` summed for ``duration_ms``; none = silence."""

    duration_ms: int
    frequencies_hz: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < self.duration_ms <= _MAX_SEGMENT_MS:
            raise ValueError(
                f"segment duration {self.duration_ms} ms out of (0, {_MAX_SEGMENT_MS}]"
            )
        if len(self.frequencies_hz) > _MAX_FREQUENCIES:
            raise ValueError(f"at most {_MAX_FREQUENCIES} frequencies per segment")
        for freq in self.frequencies_hz:
            if not 0.0 < freq < SAMPLE_RATE_HZ / 2:
                raise ValueError(f"frequency {freq} Hz out of (0, {SAMPLE_RATE_HZ // 2})")


@dataclass(frozen=True, slots=True)
class Cadence:
    """A named tone pattern: ``segments`` played in order, looped when ``repeat``.

    ``level_dbm0`` is the level of each frequency component (-10 dBm0 is the
    usual level of call-progress tones on the Russian network).
    """

    name: str
    segments: tuple[ToneSegment, ...]
    repeat: bool = True
    level_dbm0: float = -10.0
    cycle_samples: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 < len(self.segments) <= _MAX_SEGMENTS:
            raise ValueError(f"a cadence needs 1..{_MAX_SEGMENTS} segments")
        if not -60.0 <= self.level_dbm0 <= 3.0:
            raise ValueError(f"tone level {self.level_dbm0} dBm0 out of [-60, 3]")
        total = sum(seg.duration_ms for seg in self.segments) * SAMPLE_RATE_HZ // 1000
        object.__setattr__(self, "cycle_samples", total)

    @property
    def amplitude(self) -> float:
        """Peak amplitude of one component in int16 units."""
        return float(_PEAK_AT_0_DBM0 * 10.0 ** (self.level_dbm0 / 20.0))


DIAL = Cadence("dial", (ToneSegment(1000, (425.0,)),), repeat=True)
RINGBACK = Cadence("ringback", (ToneSegment(1000, (425.0,)), ToneSegment(4000)), repeat=True)
BUSY = Cadence("busy", (ToneSegment(350, (425.0,)), ToneSegment(350)), repeat=True)
CONGESTION = Cadence("congestion", (ToneSegment(175, (425.0,)), ToneSegment(175)), repeat=True)


def silence_pcm(samples: int) -> npt.NDArray[np.int16]:
    """``samples`` of digital silence."""
    return np.zeros(samples, dtype=np.int16)


def _segment_bounds(cadence: Cadence) -> list[tuple[int, int, ToneSegment]]:
    bounds: list[tuple[int, int, ToneSegment]] = []
    start = 0
    for seg in cadence.segments:
        end = start + seg.duration_ms * SAMPLE_RATE_HZ // 1000
        bounds.append((start, end, seg))
        start = end
    return bounds


def _ramp(length: int) -> npt.NDArray[np.float64]:
    """Rising raised-cosine ramp of ``length`` samples (0 < r < 1)."""
    n = np.arange(length, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(np.pi * (n + 0.5) / length)


def _component_gates(cadence: Cadence) -> dict[float, npt.NDArray[np.float64]]:
    """Per frequency: its gain over one cycle (0..1), ramped at each on/off edge."""
    cycle = cadence.cycle_samples
    bounds = _segment_bounds(cadence)
    ramp = _ramp(max(1, round(_RAMP_MS * SAMPLE_RATE_HZ / 1000)))
    steps = np.arange(len(ramp))
    freqs = sorted({f for seg in cadence.segments for f in seg.frequencies_hz})
    gates: dict[float, npt.NDArray[np.float64]] = {}
    for freq in freqs:
        on = np.zeros(cycle, dtype=np.bool_)
        for start, end, seg in bounds:
            if freq in seg.frequencies_hz:
                on[start:end] = True
        gate = on.astype(np.float64)
        before = np.roll(on, 1) if cadence.repeat else np.concatenate(([False], on[:-1]))
        for edge in np.flatnonzero(on & ~before):
            _shape(gate, edge + steps, ramp, wrap=cadence.repeat)
        falling = [int(edge) for edge in np.flatnonzero(~on & before)]
        if not cadence.repeat and on[-1]:
            falling.append(cycle)
        for fall in falling:
            _shape(gate, fall - 1 - steps, ramp, wrap=cadence.repeat)
        gates[freq] = gate
    return gates


def _shape(
    gate: npt.NDArray[np.float64],
    positions: npt.NDArray[np.int64],
    ramp: npt.NDArray[np.float64],
    *,
    wrap: bool,
) -> None:
    """Multiply ``gate`` at ``positions`` by ``ramp`` (wrapping round a looped cycle)."""
    size = len(gate)
    if wrap:
        np.multiply.at(gate, positions % size, ramp)
        return
    keep = (positions >= 0) & (positions < size)
    np.multiply.at(gate, positions[keep], ramp[keep])


def render_cadence(cadence: Cadence, start_sample: int, count: int) -> npt.NDArray[np.int16]:
    """Samples ``start_sample .. start_sample+count`` of ``cadence`` (pure; phase-continuous).

    A cadence that does not repeat is silent after its last segment.
    """
    return ToneGenerator(cadence, start_sample=start_sample).read(count)


class ToneGenerator:
    """Stateful reader of a cadence: ``read(n)`` returns the next ``n`` samples."""

    __slots__ = ("_amplitude", "_cadence", "_gates", "_position")

    def __init__(self, cadence: Cadence, *, start_sample: int = 0) -> None:
        if start_sample < 0:
            raise ValueError("start_sample must be >= 0")
        self._cadence = cadence
        self._gates = _component_gates(cadence)
        self._amplitude = cadence.amplitude
        self._position = start_sample

    @property
    def position(self) -> int:
        """Absolute index of the next sample."""
        return self._position

    @property
    def finished(self) -> bool:
        """True once a non-repeating cadence has been read to its end."""
        return not self._cadence.repeat and self._position >= self._cadence.cycle_samples

    def read(self, count: int) -> npt.NDArray[np.int16]:
        """The next ``count`` samples as int16."""
        if count < 0:
            raise ValueError("count must be >= 0")
        start = self._position
        self._position += count
        index = np.arange(start, start + count, dtype=np.int64)
        cycle = self._cadence.cycle_samples
        if self._cadence.repeat:
            in_cycle = index % cycle
            valid = np.ones(count, dtype=np.bool_)
        else:
            valid = index < cycle
            in_cycle = np.where(valid, index, 0)
        out = np.zeros(count, dtype=np.float64)
        for freq, gate in self._gates.items():
            # (f*k) mod fs keeps the phase argument small: precision does not decay with k.
            phase = np.mod(index.astype(np.float64) * freq, SAMPLE_RATE_HZ)
            out += gate[in_cycle] * np.sin(2.0 * np.pi * phase / SAMPLE_RATE_HZ)
        out *= self._amplitude
        out[~valid] = 0.0
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


@dataclass(frozen=True, slots=True)
class EncodedTone:
    """Encoded frames of one period of a cadence; ``loop`` means play them round and round."""

    cadence: Cadence
    codec_name: str
    frames: tuple[bytes, ...]
    loop: bool
    frame_samples: int


def _sine_period_samples(freq: float) -> int:
    """Smallest sample count after which ``sin(2*pi*freq*k/fs)`` repeats exactly."""
    ratio = Fraction(freq).limit_denominator(10_000) / SAMPLE_RATE_HZ
    return ratio.denominator


def _period_samples(cadence: Cadence, frame_samples: int) -> int:
    """Samples in one exactly repeating period of frames, capped by ``_MAX_PERIOD_FRAMES``."""
    base = math.lcm(cadence.cycle_samples, frame_samples)
    full = base
    for seg in cadence.segments:
        for freq in seg.frequencies_hz:
            full = math.lcm(full, _sine_period_samples(freq))
    if full // frame_samples <= _MAX_PERIOD_FRAMES:
        return full
    # An odd frequency with no short exact period: loop on the cadence cycle instead
    # (the seam falls on a ramped edge of the cadence, or is a phase step in a
    # continuous tone of an unusual frequency).
    if base // frame_samples <= _MAX_PERIOD_FRAMES:
        return base
    return _MAX_PERIOD_FRAMES * frame_samples


def encode_cadence(
    cadence: Cadence,
    encode: Callable[[npt.NDArray[np.int16]], bytes],
    codec_name: str,
    *,
    frame_samples: int = 160,
) -> EncodedTone:
    """Render and encode a cadence into frames of ``frame_samples`` (once, off the hot path).

    A repeating cadence gives one exact period to loop; a one-shot cadence
    gives its frames up to the end, the last one padded with silence.
    """
    if frame_samples <= 0:
        raise ValueError("frame_samples must be > 0")
    if cadence.repeat:
        total = _period_samples(cadence, frame_samples)
    else:
        total = -(-cadence.cycle_samples // frame_samples) * frame_samples
    pcm = ToneGenerator(cadence).read(total)
    frames = tuple(
        encode(pcm[offset : offset + frame_samples]) for offset in range(0, total, frame_samples)
    )
    return EncodedTone(cadence, codec_name, frames, cadence.repeat, frame_samples)


class ToneFrameCache:
    """Encoded tone periods per (cadence, codec name, frame size); one per process.

    Tones are few (dial, ringback, busy, congestion, a handful of custom
    cadences), so the cache is a plain bounded dict: past ``max_entries`` it
    drops the oldest entry.
    """

    __slots__ = ("_entries", "_max_entries")

    def __init__(self, *, max_entries: int = 64) -> None:
        if max_entries <= 0:
            raise ValueError("max_entries must be > 0")
        self._entries: dict[tuple[Cadence, str, int], EncodedTone] = {}
        self._max_entries = max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self,
        cadence: Cadence,
        encode: Callable[[npt.NDArray[np.int16]], bytes],
        codec_name: str,
        *,
        frame_samples: int = 160,
    ) -> EncodedTone:
        """The encoded period of ``cadence`` for this codec, rendered on first use."""
        key = (cadence, codec_name, frame_samples)
        found = self._entries.get(key)
        if found is not None:
            return found
        encoded = encode_cadence(cadence, encode, codec_name, frame_samples=frame_samples)
        if len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = encoded
        return encoded
