"""A typed in-process event bus.

Publishing never blocks and never awaits: each subscriber owns a bounded
queue; when a subscriber falls behind and its queue is full, the event is
dropped *for that subscriber only* and counted (``dropped``), so a slow
report writer can never stall call handling.  Subscribers consume with
``async for event in subscription``.

The bus uses asyncio only for the consumer side (an ``asyncio.Event`` wake-up);
the core package stays stdlib-only.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from hotline.core.events import Event

__all__ = ["EventBus", "SubscriberStats", "Subscription"]

E = TypeVar("E", bound=Event)


@dataclass(slots=True)
class SubscriberStats:
    """Counters of one subscription, exported to /metrics by the app."""

    name: str
    delivered: int = 0
    dropped: int = 0


@dataclass(eq=False, slots=True)
class Subscription(Generic[E]):
    """One subscriber's bounded inbox."""

    bus: EventBus
    event_type: type[E]
    maxsize: int
    stats: SubscriberStats
    _items: deque[E] = field(default_factory=deque)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: bool = False

    def offer(self, event: Event) -> None:
        """Queue ``event`` if it is of our type; drop and count when full."""
        if self._closed or not isinstance(event, self.event_type):
            return
        if len(self._items) >= self.maxsize:
            self.stats.dropped += 1
            self.bus.dropped_total += 1
            return
        self._items.append(event)
        self._wakeup.set()

    def get_nowait(self) -> E | None:
        """The oldest queued event, or None."""
        if not self._items:
            return None
        self.stats.delivered += 1
        return self._items.popleft()

    def pending(self) -> int:
        return len(self._items)

    def close(self) -> None:
        """Stop receiving; a consumer blocked in iteration ends after the queued events."""
        self._closed = True
        self._wakeup.set()
        self.bus.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[E]:
        while True:
            item = self.get_nowait()
            if item is not None:
                yield item
                continue
            if self._closed:
                return
            self._wakeup.clear()
            await self._wakeup.wait()


class EventBus:
    """Fan-out of events to bounded subscriber queues."""

    def __init__(self, default_maxsize: int = 10_000) -> None:
        if default_maxsize < 1:
            raise ValueError("default_maxsize must be >= 1")
        self._default_maxsize = default_maxsize
        self._subscriptions: list[Subscription[Event]] = []
        self.published = 0
        self.dropped_total = 0

    def subscribe(
        self, event_type: type[E], *, name: str, maxsize: int | None = None
    ) -> Subscription[E]:
        """A new subscription to ``event_type`` and its subclasses."""
        size = maxsize if maxsize is not None else self._default_maxsize
        if size < 1:
            raise ValueError("maxsize must be >= 1")
        sub: Subscription[E] = Subscription(
            bus=self, event_type=event_type, maxsize=size, stats=SubscriberStats(name)
        )
        self._subscriptions.append(sub)  # type: ignore[arg-type]
        return sub

    def unsubscribe(self, sub: Subscription[E]) -> None:
        self._subscriptions = [s for s in self._subscriptions if s is not sub]

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every matching subscriber without blocking."""
        self.published += 1
        for sub in self._subscriptions:
            sub.offer(event)

    def stats(self) -> list[SubscriberStats]:
        """Counters of the current subscriptions."""
        return [s.stats for s in self._subscriptions]
