"""Clocks: monotonic seconds for timers, aware UTC datetimes for records.

Sans-IO cores never read a clock: they take ``now`` (monotonic seconds) as an
argument.  Drivers and services hold a :class:`Clock`; tests use
:class:`FakeClock` and advance it by hand, so no test sleeps.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    """Monotonic time for timers and wall time (UTC) for timestamps."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes back."""
        ...

    def utcnow(self) -> datetime:
        """The current wall time as an aware UTC datetime."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def utcnow(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told: both times advance together."""

    def __init__(
        self,
        start_monotonic: float = 1000.0,
        start_wall: datetime | None = None,
    ) -> None:
        self._mono = start_monotonic
        self._wall = start_wall or datetime(2026, 1, 1, tzinfo=UTC)
        if self._wall.tzinfo is None:
            raise ValueError("FakeClock needs an aware start_wall")

    def monotonic(self) -> float:
        return self._mono

    def utcnow(self) -> datetime:
        return self._wall

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError("a clock never goes back")
        self._mono += seconds
        self._wall += timedelta(seconds=seconds)
