"""Timers as data: one heap of deadlines for the whole router.

Every deadline carries the generation of its subject (a call's queue visit,
an offer round, an operator's state, a queue's empty period).  Nothing is ever
removed from the heap: a timer whose generation is stale is dropped when it
reaches the top (lazy deletion), so cancelling is O(1) and arming O(log n).
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Callable

__all__ = ["Timer", "TimerHeap", "TimerKind"]


class TimerKind(enum.Enum):
    """What a deadline is for."""

    MAX_WAIT = "max_wait"  # the queue's maximum waiting-time norm (subject: call)
    TIER = "tier"  # the next tier starts for a call (subject: call)
    ANNOUNCE = "announce"  # position / estimated-wait announcement (subject: call)
    RING = "ring"  # ring time of an offer round (subject: call)
    EMPTY = "empty"  # leave-when-empty period of a queue (subject: queue)
    WRAP_UP = "wrap_up"  # end of an operator's wrap-up (subject: operator)
    DELAY = "delay"  # end of a no-answer/busy/reject delay (subject: operator)


Timer = tuple[float, int, TimerKind, str, int]  # (deadline, seq, kind, subject, generation)


class TimerHeap:
    """A min-heap of deadlines with lazy deletion."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, deadline: float, kind: TimerKind, subject: str, generation: int) -> None:
        """Arm a timer (ties fire in the order they were armed)."""
        self._seq += 1
        heapq.heappush(self._heap, (deadline, self._seq, kind, subject, generation))

    def earliest(self, is_live: Callable[[Timer], bool]) -> float | None:
        """The earliest live deadline; stale timers on top are dropped on the way."""
        heap = self._heap
        while heap:
            if is_live(heap[0]):
                return heap[0][0]
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float, is_live: Callable[[Timer], bool]) -> list[Timer]:
        """All live timers sharing the earliest deadline, if it is ``<= now``."""
        first = self.earliest(is_live)
        if first is None or first > now:
            return []
        due: list[Timer] = []
        heap = self._heap
        while heap and heap[0][0] == first:
            timer = heapq.heappop(heap)
            if is_live(timer):
                due.append(timer)
        return due
