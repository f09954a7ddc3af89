"""Service-level arithmetic the router needs while it runs.

* :func:`abandon_outcome`: a caller who hangs up within the queue's
  ``short_abandon_s`` is a *short abandon* (reported, excluded from SL and
  abandon rate), otherwise *abandoned* (docs/metrics.md).
* :class:`HandleTimeWindow`: the mean handle time (talk + hold + wrap-up) of
  the last calls of a queue, seeded with the queue's ``default_handle_s``.
* :func:`estimated_wait_s`: the expected wait of the caller at ``position``
  when ``staffed`` operators (ready or busy, not NOT_READY) work the queue: a
  position-``p`` caller waits for ``p`` departures, and ``staffed`` operators
  free up one every ``AHT / staffed`` seconds on average.
"""

from __future__ import annotations

from collections import deque

from hotline.acd.model import Outcome

__all__ = ["HandleTimeWindow", "abandon_outcome", "estimated_wait_s"]


def abandon_outcome(wait_s: float, short_abandon_s: float) -> Outcome:
    """ABANDONED, or SHORT_ABANDON when the caller gave up within ``short_abandon_s``."""
    return Outcome.SHORT_ABANDON if wait_s < short_abandon_s else Outcome.ABANDONED


class HandleTimeWindow:
    """A running mean of the last ``size`` handle times (O(1) per call)."""

    __slots__ = ("_default_s", "_sum", "_times")

    def __init__(self, default_s: float, size: int = 50) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self._default_s = default_s
        self._times: deque[float] = deque(maxlen=size)
        self._sum = 0.0

    def set_default(self, default_s: float) -> None:
        """Change the mean used before any call was handled."""
        self._default_s = default_s

    def add(self, handle_s: float) -> None:
        """Record one handled call."""
        if len(self._times) == self._times.maxlen:
            self._sum -= self._times[0]
        self._times.append(handle_s)
        self._sum += handle_s

    @property
    def mean_s(self) -> float:
        """Mean handle time, or the default before any call was handled."""
        if not self._times:
            return self._default_s
        return max(self._sum / len(self._times), 0.0)

    def __len__(self) -> int:
        return len(self._times)


def estimated_wait_s(position: int, aht_s: float, staffed: int) -> float | None:
    """Expected wait at ``position`` (1 = next); None when nobody staffs the queue."""
    if staffed <= 0:
        return None
    return position * aht_s / staffed
