from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from hotline.core.bus import EventBus
from hotline.core.events import ComponentStateChanged, Event

AT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(Event):
    n: int


def test_events_are_frozen() -> None:
    ev = Ping(at=AT, n=1)
    with pytest.raises(AttributeError):
        ev.n = 2  # type: ignore[misc]


def test_subscriber_gets_only_its_type_and_subclasses() -> None:
    bus = EventBus()
    pings = bus.subscribe(Ping, name="pings")
    everything = bus.subscribe(Event, name="all")
    bus.publish(Ping(at=AT, n=1))
    bus.publish(ComponentStateChanged(at=AT, component="sip", state="up"))
    assert pings.pending() == 1
    assert everything.pending() == 2
    first = pings.get_nowait()
    assert first is not None and first.n == 1
    assert pings.get_nowait() is None


def test_full_subscriber_drops_and_counts_without_blocking_others() -> None:
    bus = EventBus()
    slow = bus.subscribe(Ping, name="slow", maxsize=3)
    fast = bus.subscribe(Ping, name="fast", maxsize=100)
    for n in range(10):
        bus.publish(Ping(at=AT, n=n))
    assert slow.pending() == 3
    assert slow.stats.dropped == 7
    assert fast.pending() == 10
    assert fast.stats.dropped == 0
    assert bus.dropped_total == 7
    assert bus.published == 10
    # The slow subscriber keeps the oldest events, in order.
    got = [slow.get_nowait() for _ in range(3)]
    assert [e.n for e in got if e is not None] == [0, 1, 2]


async def test_async_iteration_wakes_on_publish_and_ends_on_close() -> None:
    bus = EventBus()
    sub = bus.subscribe(Ping, name="reader")
    seen: list[int] = []

    async def reader() -> None:
        seen.extend([ev.n async for ev in sub])

    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(reader())
        await asyncio.sleep(0)
        bus.publish(Ping(at=AT, n=1))
        bus.publish(Ping(at=AT, n=2))
        await asyncio.sleep(0)
        sub.close()
    assert task.done()
    assert seen == [1, 2]
    bus.publish(Ping(at=AT, n=3))
    assert seen == [1, 2]
    assert bus.stats() == []


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="default_maxsize"):
        EventBus(default_maxsize=0)
    with pytest.raises(ValueError, match="maxsize"):
        EventBus().subscribe(Ping, name="x", maxsize=0)
