"""Voice activity detectors kept between calls (L3: shared by the event loop and an executor).

Loading a Silero VAD model costs about 0.1 s of CPU and 10 MB, so a node that
made one per call spent more CPU on detectors than on recognition; the pool
hands each call a reset detector and takes it back when the call is done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from hotline.bot.ports import VoiceActivityDetector
from hotline.bot.vad import ScoredVad
from hotline.core.errors import HotlineError

__all__ = ["DetectorPool"]

log = structlog.get_logger("hotline.bot.vad")


class DetectorPool:
    """Detectors kept between calls, reset: loading a Silero model costs ~0.1 s of CPU.

    A call takes a detector with :meth:`acquire` (an idle one, else a new one
    from ``factory``) and gives it back with :meth:`release`, which resets the
    engine's recurrent state and the tracker, so a reused detector behaves as
    a new one.  At most ``max_idle`` detectors are kept (each Silero model
    holds ~10 MB); the rest are dropped.  :meth:`acquire` may run in an
    executor thread (a new model takes a moment), so the idle list is locked.
    """

    __slots__ = ("_factory", "_idle", "_lock", "_max_idle", "created")

    def __init__(self, factory: Callable[[], ScoredVad], *, max_idle: int) -> None:
        if max_idle < 0:
            raise ValueError("max_idle must not be negative")
        self._factory = factory
        self._max_idle = max_idle
        self._idle: list[ScoredVad] = []
        self._lock = threading.Lock()
        self.created = 0
        """Detectors made so far (the rest of the acquisitions were reuses)."""

    @property
    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def acquire(self) -> ScoredVad:
        """A detector in its initial state."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        detector = self._factory()
        with self._lock:
            self.created += 1
        return detector

    def release(self, detector: VoiceActivityDetector) -> None:
        """Take ``detector`` back (reset); one that did not come from :meth:`acquire` is dropped."""
        if not isinstance(detector, ScoredVad):
            return
        try:
            detector.reset()
        except HotlineError as exc:  # an engine that cannot start afresh is not reused
            log.warning("voice activity detector dropped", error=str(exc))
            return
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(detector)

    def prewarm(self, count: int) -> None:
        """Make up to ``count`` idle detectors now (start-up, off the event loop)."""
        made = [self._factory() for _ in range(min(count, self._max_idle) - self.idle)]
        with self._lock:
            self.created += len(made)
        for detector in made:
            self.release(detector)
