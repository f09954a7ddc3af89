"""The event table and the EventStore writer on SQLite (no outage here)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.reports.events import CallCentreEvent, EventKind, event_from_record
from hotline.store import events as store_events
from hotline.store.db import Database
from hotline.store.event_queries import EventQueries
from hotline.store.events import EventStore, from_ms, row_of, to_ms

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_events(n: int, *, start_s: float = 0.0) -> list[CallCentreEvent]:
    """``n`` events of a few kinds, one millisecond-precise timestamp each."""
    out: list[CallCentreEvent] = []
    for i in range(n):
        ts = T0 + timedelta(seconds=start_s + i * 1.001)
        match i % 4:
            case 0:
                e = CallCentreEvent(
                    kind=EventKind.CALL_ARRIVED,
                    timestamp=ts,
                    call_id=f"c{i}",
                    trunk="rt",
                    payload={"caller": f"+7900{i:07d}", "called": "122"},
                )
            case 1:
                e = CallCentreEvent(
                    kind=EventKind.QUEUE_ENTERED,
                    timestamp=ts,
                    call_id=f"c{i - 1}",
                    queue_id="health",
                    topic="здоровье",
                    payload={"position": 3},
                )
            case 2:
                e = CallCentreEvent(
                    kind=EventKind.QUEUE_ANSWERED,
                    timestamp=ts,
                    call_id=f"c{i - 2}",
                    queue_id="health",
                    operator_id="op7",
                    payload={"wait_s": 12.345},
                )
            case _:
                e = CallCentreEvent(
                    kind=EventKind.OPERATOR_STATE,
                    timestamp=ts,
                    operator_id="op7",
                    payload={"state": "talking", "reason": None},
                )
        out.append(e)
    return out


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'h.db'}")
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()


def test_public_surface() -> None:
    assert set(store_events.__all__) == {
        "DEFAULT_JOURNAL_NAME",
        "EventRow",
        "EventStore",
        "StorableEvent",
        "from_ms",
        "row_of",
        "to_ms",
    }


def test_milliseconds_round_trip_exactly() -> None:
    for ms in (0, 1, 999, 1_772_441_999_999, 4_102_444_800_123):
        assert to_ms(from_ms(ms)) == ms
    ts = datetime(2026, 3, 2, 9, 0, 0, 7000, tzinfo=UTC)
    assert to_ms(ts) % 1000 == 7
    assert from_ms(to_ms(ts)) == ts


def test_row_of_is_plain_json_values() -> None:
    (e,) = make_events(1)
    row = row_of(e)
    assert row["kind"] == "call.arrived"
    assert type(row["kind"]) is str
    assert row["direction"] == "inbound"
    assert type(row["payload"]) is dict


async def test_events_round_trip_through_the_table(db: Database, tmp_path: Path) -> None:
    store = EventStore(db, tmp_path / "j.jsonl", batch_size=7)
    originals = make_events(30)
    for e in originals:
        store.append(e)
    assert store.pending == 30
    while store.pending:
        await store.flush_once()
    assert store.written_total == 30
    stored = EventQueries(db).between(T0, T0 + timedelta(hours=1))
    assert [s.event_id for s in stored] == [e.event_id for e in originals]
    assert [event_from_record(s) for s in stored] == originals
    assert stored[0].timestamp.tzinfo is not None
    store.close()


async def test_appending_an_event_twice_stores_it_once(db: Database, tmp_path: Path) -> None:
    store = EventStore(db, tmp_path / "j.jsonl")
    (e,) = make_events(1)
    store.append(e)
    await store.flush_once()
    store.append(e)
    store.append(e)
    await store.flush_once()
    assert EventQueries(db).count() == 1
    store.close()


async def test_past_its_bound_the_queue_spills_to_the_journal_at_once(
    db: Database, tmp_path: Path
) -> None:
    journal = tmp_path / "var" / "events.jsonl"
    store = EventStore(db, journal, max_pending=3)
    originals = make_events(10)
    for e in originals:
        store.append(e)
    assert (store.pending, store.journal_backlog, store.journaled_total) == (3, 7, 7)
    assert len(journal.read_text(encoding="utf-8").splitlines()) == 7
    await store.flush_once()  # the backlog path: memory to the journal, then replay
    assert (store.pending, store.journal_backlog) == (0, 0)
    assert journal.stat().st_size == 0
    assert store.database_up
    ids = {s.event_id for s in EventQueries(db).between(T0, T0 + timedelta(hours=1))}
    assert ids == {e.event_id for e in originals}
    store.close()


async def test_run_writes_in_batches_until_stopped(db: Database, tmp_path: Path) -> None:
    store = EventStore(db, tmp_path / "j.jsonl", batch_size=100, flush_interval_s=0.01)
    writer = asyncio.create_task(store.run())
    originals = make_events(1234)
    for e in originals[:1000]:
        store.append(e)
    await asyncio.sleep(0)
    for e in originals[1000:]:
        store.append(e)
    store.stop()
    await asyncio.wait_for(writer, 10)
    assert EventQueries(db).count() == 1234
    assert store.pending == 0
    store.close()


async def test_what_is_in_memory_when_the_writer_is_cancelled_survives(
    db: Database, tmp_path: Path
) -> None:
    journal = tmp_path / "j.jsonl"
    store = EventStore(db, journal)
    writer = asyncio.create_task(store.run())
    await asyncio.sleep(0)
    for e in make_events(5):
        store.append(e)
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
    store.close()
    assert len(journal.read_bytes().splitlines()) == 5
    again = EventStore(db, journal)
    assert again.journal_backlog == 5
    await again.flush_once()
    assert EventQueries(db).count() == 5
    assert again.journal_backlog == 0
    again.close()
