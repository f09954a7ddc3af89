"""Brute-force throttle for Digest authentication (a companion to RFC 3261 §22).

Password guessing (``sipvicious_svcrack`` and its kind) sends many
credentials from one source.  :class:`FailureThrottle` counts FAILED
verifications per source in a sliding window and bans the source for a while
once it reaches ``max_failures``; the driver then drops or rejects requests
from it before any digest work.  Key the source by IP address alone (the
port changes between attempts).

Memory is bounded: at most ``max_tracked`` sources with failures and
``max_tracked`` bans; past that the least recently touched entry goes first
(for bans: the one that expires first).  Pure: every call takes ``now``
(seconds, monotonic).
"""

from __future__ import annotations

from collections import OrderedDict, deque

from hotline.core.errors import ConfigurationError

__all__ = ["FailureThrottle"]


class FailureThrottle:
    """Bans a source after ``max_failures`` failures within ``window_s`` for ``ban_s``."""

    def __init__(
        self,
        max_failures: int = 10,
        window_s: float = 60.0,
        ban_s: float = 600.0,
        max_tracked: int = 10_000,
    ) -> None:
        if max_failures < 1:
            raise ConfigurationError("max_failures", "must be at least 1")
        if window_s <= 0:
            raise ConfigurationError("window_s", "must be positive")
        if ban_s <= 0:
            raise ConfigurationError("ban_s", "must be positive")
        if max_tracked < 1:
            raise ConfigurationError("max_tracked", "must be at least 1")
        self._max_failures = max_failures
        self._window_s = window_s
        self._ban_s = ban_s
        self._max_tracked = max_tracked
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._bans: OrderedDict[str, float] = OrderedDict()
        self._bans_total = 0
        self._evictions_total = 0

    @property
    def bans_total(self) -> int:
        """Bans issued since creation (a counter for metrics)."""
        return self._bans_total

    @property
    def evictions_total(self) -> int:
        """Entries dropped because memory was full (a counter for metrics)."""
        return self._evictions_total

    @property
    def tracked_sources(self) -> int:
        """Sources with recent failures currently remembered."""
        return len(self._failures)

    def active_bans(self, now: float) -> int:
        """Sources banned at ``now`` (a gauge for metrics); drops expired entries."""
        self.purge(now)
        return len(self._bans)

    def is_banned(self, src: str, now: float) -> bool:
        """True if ``src`` is banned at ``now``."""
        return self.ban_expires_at(src, now) is not None

    def ban_expires_at(self, src: str, now: float) -> float | None:
        """When the ban on ``src`` ends, None if it is not banned at ``now``."""
        until = self._bans.get(src)
        if until is None:
            return None
        if now >= until:
            del self._bans[src]
            return None
        return until

    def record_failure(self, src: str, now: float) -> bool:
        """Count a FAILED verification from ``src``; True if this failure started a ban."""
        if self.is_banned(src, now):
            return False
        window = self._failures.get(src)
        if window is None:
            window = deque(maxlen=self._max_failures)
            self._failures[src] = window
        else:
            self._failures.move_to_end(src)
        while window and window[0] <= now - self._window_s:
            window.popleft()
        window.append(now)
        if len(window) >= self._max_failures:
            del self._failures[src]
            self._ban(src, now)
            return True
        while len(self._failures) > self._max_tracked:
            self._failures.popitem(last=False)
            self._evictions_total += 1
        return False

    def record_success(self, src: str, now: float) -> None:
        """A successful verification from ``src`` forgets its failures (not a ban).

        ``now`` is taken for a uniform signature; nothing here depends on it.
        """
        self._failures.pop(src, None)

    def purge(self, now: float) -> None:
        """Drop expired bans and failure windows with nothing left in them."""
        for src in [s for s, until in self._bans.items() if now >= until]:
            del self._bans[src]
        horizon = now - self._window_s
        for src in [s for s, w in self._failures.items() if not w or w[-1] <= horizon]:
            del self._failures[src]

    def _ban(self, src: str, now: float) -> None:
        self._bans[src] = now + self._ban_s
        self._bans.move_to_end(src)
        self._bans_total += 1
        while len(self._bans) > self._max_tracked:
            self._bans.popitem(last=False)
            self._evictions_total += 1
