"""RTP inactivity detection for many legs with O(1) work per packet (sans-IO).

A leg whose peer stops sending media (a phone that lost power, a NAT binding
that expired, a trunk that dropped the call without a BYE) must be hung up:
RFC 3550 §6.3.5 times out a silent participant; SIP servers apply a media
timeout of the order of 30 s.  While a leg is on hold its peer may
legitimately send nothing (RFC 3264 §8.4: ``sendonly``/``inactive``), so the
timeout is suspended then and re-armed from the moment of unhold.

Timers are data: :meth:`RtpInactivityMonitor.get_timer` gives the earliest
deadline, :meth:`RtpInactivityMonitor.handle_timer` fires what is due and
queues :class:`MediaTimeout` events for :meth:`RtpInactivityMonitor.next_event`.
:meth:`RtpInactivityMonitor.on_packet` only stores ``now`` in a dict; a heap of
possibly stale deadlines is checked lazily against the latest activity when a
deadline comes due, so a busy leg costs nothing per packet beyond one store.
"""

from __future__ import annotations

import enum
import heapq
from collections import deque
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_RTP_TIMEOUT_S",
    "LegMediaState",
    "MediaTimeout",
    "RtpInactivityMonitor",
]

DEFAULT_RTP_TIMEOUT_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class MediaTimeout:
    """No RTP arrived on ``leg_id`` for ``silent_s`` seconds while it was not on hold."""

    leg_id: str
    silent_s: float


class LegMediaState(enum.Enum):
    """Where a watched leg stands."""

    WATCHING = "watching"
    ON_HOLD = "on_hold"
    TIMED_OUT = "timed_out"


class _Leg:
    __slots__ = ("generation", "state", "timeout_s")

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.state = LegMediaState.WATCHING
        self.generation = 0


class RtpInactivityMonitor:
    """Watches the media activity of every leg of a node; one instance per media engine."""

    __slots__ = ("_default_timeout_s", "_events", "_heap", "_last_seen", "_legs")

    def __init__(self, *, timeout_s: float = DEFAULT_RTP_TIMEOUT_S) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self._default_timeout_s = timeout_s
        self._legs: dict[str, _Leg] = {}
        self._last_seen: dict[str, float] = {}
        # (deadline, leg id, generation); stale entries are skipped or re-pushed when popped.
        self._heap: list[tuple[float, str, int]] = []
        self._events: deque[MediaTimeout] = deque()

    def __len__(self) -> int:
        return len(self._legs)

    def add_leg(self, leg_id: str, now: float, *, timeout_s: float | None = None) -> None:
        """Start watching ``leg_id``: it times out if nothing arrives within the timeout of ``now``."""
        if leg_id in self._legs:
            raise ValueError(f"leg {leg_id!r} is already watched")
        leg = _Leg(self._default_timeout_s if timeout_s is None else timeout_s)
        if leg.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self._legs[leg_id] = leg
        self._last_seen[leg_id] = now
        self._arm(leg_id, leg, now)

    def remove_leg(self, leg_id: str) -> None:
        """Stop watching ``leg_id`` (unknown ids are ignored: the leg may already be gone)."""
        leg = self._legs.pop(leg_id, None)
        if leg is not None:
            leg.generation += 1
            del self._last_seen[leg_id]

    def on_packet(self, leg_id: str, now: float) -> None:
        """Media (RTP or RTCP) arrived on ``leg_id`` at ``now`` (hot path: one dict store)."""
        last_seen = self._last_seen
        if leg_id in last_seen:
            last_seen[leg_id] = now
            leg = self._legs[leg_id]
            if leg.state is LegMediaState.TIMED_OUT:
                leg.state = LegMediaState.WATCHING
                self._arm(leg_id, leg, now)

    def hold(self, leg_id: str) -> None:
        """Suspend the timeout of ``leg_id`` (its media is on hold)."""
        leg = self._legs.get(leg_id)
        if leg is not None:
            leg.state = LegMediaState.ON_HOLD
            leg.generation += 1

    def unhold(self, leg_id: str, now: float) -> None:
        """Resume watching ``leg_id`` with a full timeout from ``now``."""
        leg = self._legs.get(leg_id)
        if leg is not None and leg.state is LegMediaState.ON_HOLD:
            leg.state = LegMediaState.WATCHING
            self._last_seen[leg_id] = now
            self._arm(leg_id, leg, now)

    def state(self, leg_id: str) -> LegMediaState:
        """Current state of a watched leg (KeyError for an unknown one)."""
        return self._legs[leg_id].state

    def _arm(self, leg_id: str, leg: _Leg, now: float) -> None:
        leg.generation += 1
        heapq.heappush(self._heap, (now + leg.timeout_s, leg_id, leg.generation))

    def get_timer(self) -> float | None:
        """Earliest time :meth:`handle_timer` has work to do (possibly early), or None."""
        heap = self._heap
        while heap:
            _, leg_id, generation = heap[0]
            leg = self._legs.get(leg_id)
            if leg is not None and leg.generation == generation:
                return heap[0][0]
            heapq.heappop(heap)
        return None

    def handle_timer(self, now: float) -> None:
        """Fire every deadline due at ``now``; timed-out legs yield a :class:`MediaTimeout`."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, leg_id, generation = heapq.heappop(heap)
            leg = self._legs.get(leg_id)
            if leg is None or leg.generation != generation:
                continue
            last = self._last_seen[leg_id]
            deadline = last + leg.timeout_s
            if deadline > now:
                heapq.heappush(heap, (deadline, leg_id, generation))
                continue
            leg.state = LegMediaState.TIMED_OUT
            leg.generation += 1
            self._events.append(MediaTimeout(leg_id, now - last))

    def next_event(self) -> MediaTimeout | None:
        """The next queued event, or None."""
        return self._events.popleft() if self._events else None
