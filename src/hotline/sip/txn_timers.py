"""One deadline heap for every transaction timer (sans-IO, no clock reads).

Thousands of transactions each run a few timers; the driver needs only the
earliest deadline (``get_timer()``).  Entries are ``(deadline, token, owner,
timer)``; the owner's ``timers`` dict maps each running timer to the token
of its live entry, so stopping or restarting a timer just forgets the token
and the stale heap entry is skipped when it surfaces (lazy deletion).  The
heap is rebuilt when stale entries outnumber live ones.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Generic, Protocol, TypeVar

from hotline.sip.txn_model import Timer

__all__ = ["TimerHeap", "TimerOwner"]

_COMPACT_MIN_ENTRIES = 1024


class TimerOwner(Protocol):
    """Anything that runs timers: ``timers`` maps a running timer to its heap token."""

    timers: dict[Timer, int]


_O = TypeVar("_O", bound=TimerOwner)


class TimerHeap(Generic[_O]):
    """A min-heap of ``(deadline, token, owner, timer)`` with lazy cancellation."""

    __slots__ = ("_heap", "_stale", "_tokens")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _O, Timer]] = []
        self._tokens = itertools.count()
        self._stale = 0

    def __len__(self) -> int:
        """Entries in the heap, stale ones included."""
        return len(self._heap)

    def start(self, owner: _O, timer: Timer, deadline: float) -> None:
        """Run ``timer`` of ``owner`` until ``deadline`` (restarting it if it runs)."""
        if timer in owner.timers:
            self._stale += 1
        token = next(self._tokens)
        owner.timers[timer] = token
        heapq.heappush(self._heap, (deadline, token, owner, timer))
        self._maybe_compact()

    def stop(self, owner: _O, timer: Timer) -> None:
        """Stop ``timer`` of ``owner`` if it runs."""
        if owner.timers.pop(timer, None) is not None:
            self._stale += 1
            self._maybe_compact()

    def stop_all(self, owner: _O) -> None:
        """Stop every timer of ``owner``."""
        if owner.timers:
            self._stale += len(owner.timers)
            owner.timers.clear()
            self._maybe_compact()

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or None."""
        heap = self._heap
        while heap:
            _, token, owner, timer = heap[0]
            if owner.timers.get(timer) == token:
                return heap[0][0]
            heapq.heappop(heap)
            self._stale -= 1
        return None

    def pop_due(self, now: float) -> tuple[_O, Timer] | None:
        """Remove and return the earliest live timer due at ``now``, or None."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, token, owner, timer = heapq.heappop(heap)
            if owner.timers.get(timer) == token:
                del owner.timers[timer]
                return owner, timer
            self._stale -= 1
        return None

    def _maybe_compact(self) -> None:
        heap = self._heap
        if len(heap) >= _COMPACT_MIN_ENTRIES and self._stale * 2 > len(heap):
            self._heap = [e for e in heap if e[2].timers.get(e[3]) == e[1]]
            heapq.heapify(self._heap)
            self._stale = 0
