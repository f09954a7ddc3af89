"""The waiting line of one queue: fair order, positions and fast dispatch look-ups.

A call's place is its key ``(-priority, entered_at, seq, call_id)``: higher
priority first, then the earliest entry; ``entered_at`` is kept when the call
moves between queues or when a tier widens, so the call never loses its place.

Two views are kept, both as sorted Python lists maintained with :mod:`bisect`:

* every call of the queue (for positions: a binary search, O(log n));
* the *dispatchable* calls (not ringing an operator right now), in one bucket
  per priority, each bucket ordered by ``entered_at``.

An operator of a given level qualifies for a call once the call has waited
long enough (tiers), i.e. for calls with ``entered_at + wait_needed <= now``.  Within a
bucket those are a prefix, so the best call an operator may take is found by
looking at the head of each priority bucket: O(priorities) instead of a scan
of the line, except for calls skipped because they require a skill the
operator lacks.  Insertions and removals are a binary search plus a
``memmove`` of the list tail: microseconds for the line lengths the router
allows (``EngineLimits.max_waiting_calls``), and no third-party container.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterator

from hotline.core.errors import LocalProtocolError

__all__ = ["WaitKey", "WaitingLine"]

WaitKey = tuple[int, float, int, str]  # (-priority, entered_at, seq, call_id)
_BucketKey = tuple[float, int, str]  # (entered_at, seq, call_id)


class WaitingLine:
    """All calls waiting in one queue, and which of them may be offered now."""

    __slots__ = ("_all", "_buckets", "_dispatchable", "_neg_prios")

    def __init__(self) -> None:
        self._all: list[WaitKey] = []
        self._buckets: dict[int, list[_BucketKey]] = {}
        self._neg_prios: list[int] = []  # -priority of non-empty buckets, ascending
        self._dispatchable = 0

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[WaitKey]:
        return iter(list(self._all))

    @property
    def dispatchable(self) -> int:
        """How many calls may be offered now."""
        return self._dispatchable

    def add(self, key: WaitKey) -> None:
        """A call joins the line (not yet dispatchable)."""
        insort(self._all, key)

    def remove(self, key: WaitKey) -> None:
        """A call leaves the line; call :meth:`hold` first if it was dispatchable."""
        self._all.pop(self._index(key))

    def position(self, key: WaitKey) -> int:
        """1-based position of a waiting call (1 = next in line)."""
        return self._index(key) + 1

    def release(self, key: WaitKey) -> None:
        """The call may be offered (it joined, or its offer ended)."""
        neg_prio, entered_at, seq, call_id = key
        bucket = self._buckets.get(neg_prio)
        if bucket is None:
            bucket = self._buckets[neg_prio] = []
            insort(self._neg_prios, neg_prio)
        insort(bucket, (entered_at, seq, call_id))
        self._dispatchable += 1

    def hold(self, key: WaitKey) -> None:
        """The call may not be offered (an offer is ringing, or it is leaving)."""
        neg_prio, entered_at, seq, call_id = key
        bucket = self._buckets.get(neg_prio)
        item = (entered_at, seq, call_id)
        index = -1 if bucket is None else bisect_left(bucket, item)
        if bucket is None or index == len(bucket) or bucket[index] != item:
            raise LocalProtocolError(f"call {call_id} is not dispatchable")
        bucket.pop(index)
        self._dispatchable -= 1
        if not bucket:
            del self._buckets[neg_prio]
            self._neg_prios.pop(bisect_left(self._neg_prios, neg_prio))

    def top_priority(self) -> int | None:
        """The highest priority among dispatchable calls (None if there is none)."""
        return -self._neg_prios[0] if self._neg_prios else None

    def first_eligible(
        self,
        now: float,
        wait_needed_s: float,
        accept: Callable[[str], bool],
        min_priority: int | None,
    ) -> WaitKey | None:
        """The first dispatchable call in fair order that has waited ``wait_needed_s``
        (``entered_at + wait_needed_s <= now``, the very expression tier timers use),
        that ``accept`` admits, with a priority of at least ``min_priority``."""
        for neg_prio in self._neg_prios:
            if min_priority is not None and -neg_prio < min_priority:
                return None
            for entered_at, seq, call_id in self._buckets[neg_prio]:
                if entered_at + wait_needed_s > now:
                    break
                if accept(call_id):
                    return (neg_prio, entered_at, seq, call_id)
        return None

    def _index(self, key: WaitKey) -> int:
        index = bisect_left(self._all, key)
        if index == len(self._all) or self._all[index] != key:
            raise LocalProtocolError(f"call {key[3]} is not in this waiting line")
        return index
