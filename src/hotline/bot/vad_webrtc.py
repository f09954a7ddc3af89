"""WebRTC's VAD as a frame scorer (the ``webrtcvad-wheels`` package, module ``webrtcvad``).

The fallback engine: a Gaussian-mixture classifier from the WebRTC project,
no model file, a few microseconds per frame.  It says speech or not for each
20 ms frame; :class:`WebrtcScorer` turns the last ``smoothing_frames``
decisions into a score (the fraction voiced), so that one stray decision
neither starts nor interrupts an utterance.  ``mode`` 0–3 is WebRTC's
aggressiveness (3 rejects the most non-speech).
"""

from __future__ import annotations

from collections import deque
from typing import Final, Protocol, cast

from hotline.bot.ports import FRAME_BYTES, SAMPLE_RATE_HZ
from hotline.bot.vad import VadEngineUnavailableError
from hotline.core.errors import ConfigurationError, LocalProtocolError

__all__ = ["WebrtcScorer"]

_MAX_SMOOTHING_FRAMES: Final = 10


class _WebrtcVad(Protocol):
    def is_speech(self, buf: bytes, sample_rate: int) -> bool: ...


class WebrtcScorer:
    """Smoothed WebRTC VAD decisions, one score per 20 ms frame of 8 kHz audio."""

    __slots__ = ("_history", "_mode", "_vad")

    def __init__(self, mode: int = 3, smoothing_frames: int = 3) -> None:
        if mode not in (0, 1, 2, 3):
            raise ConfigurationError("HOTLINE_BOT__VAD_WEBRTC_MODE", f"must be 0..3 (got {mode})")
        if not 1 <= smoothing_frames <= _MAX_SMOOTHING_FRAMES:
            raise ConfigurationError(
                "HOTLINE_BOT__VAD_WEBRTC_SMOOTHING",
                f"must be 1..{_MAX_SMOOTHING_FRAMES} frames (got {smoothing_frames})",
            )
        self._vad = self._new_vad(mode)
        self._mode = mode
        self._history: deque[bool] = deque(maxlen=smoothing_frames)

    def score(self, frame: bytes) -> float:
        """The fraction of the last few frames (this one included) judged voiced."""
        if len(frame) != FRAME_BYTES:
            raise LocalProtocolError(f"a frame is {FRAME_BYTES} bytes (got {len(frame)})")
        self._history.append(bool(self._vad.is_speech(frame, SAMPLE_RATE_HZ)))
        maxlen = self._history.maxlen or 1
        return sum(self._history) / maxlen

    def reset(self) -> None:
        """Forget the stream: the smoothing and the engine's own adaptive state (a new engine)."""
        self._history.clear()
        self._vad = self._new_vad(self._mode)

    @staticmethod
    def _new_vad(mode: int) -> _WebrtcVad:
        try:
            import webrtcvad  # type: ignore[import-untyped]

            return cast(_WebrtcVad, webrtcvad.Vad(mode))
        except (ImportError, OSError, RuntimeError, ValueError) as exc:
            raise VadEngineUnavailableError(f"webrtcvad could not be loaded: {exc}") from exc
