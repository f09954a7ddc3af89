"""The EventStore when the database goes away: nothing lost, nothing twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from test_store_events import T0, make_events

from hotline.core.clock import FakeClock
from hotline.store.db import Database
from hotline.store.event_queries import EventQueries
from hotline.store.events import EventStore, row_of


class MovableSqlite:
    """A SQLite database in its own directory, which a test can take away and bring back."""

    def __init__(self, root: Path) -> None:
        self.home = root / "db"
        self.away = root / "db.away"
        self.home.mkdir()
        self.db = Database(f"sqlite:///{self.home / 'h.db'}")
        self.db.migrate()

    def take_away(self) -> None:
        self.db.engine.dispose()
        self.home.rename(self.away)

    def bring_back(self) -> None:
        self.away.rename(self.home)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[MovableSqlite]:
    movable = MovableSqlite(tmp_path)
    try:
        yield movable
    finally:
        movable.db.dispose()


def _ids(db: Database) -> list[str]:
    return [s.event_id for s in EventQueries(db).between(T0, T0 + timedelta(days=1))]


async def test_database_gone_mid_stream_loses_and_duplicates_nothing(
    sqlite: MovableSqlite, tmp_path: Path
) -> None:
    clock = FakeClock()
    journal = tmp_path / "events.jsonl"
    store = EventStore(sqlite.db, journal, batch_size=4, retry_initial_s=1.0, clock=clock)
    originals = make_events(40)
    for e in originals[:10]:
        store.append(e)
    while store.pending:
        await store.flush_once()
    assert store.written_total == 10

    sqlite.take_away()
    for e in originals[10:20]:
        store.append(e)
    await store.flush_once()  # the batch fails: journaled with everything behind it
    assert not store.database_up
    assert store.last_error is not None
    assert (store.pending, store.journal_backlog) == (0, 10)
    for e in originals[20:30]:
        store.append(e)
    await store.flush_once()  # before the retry time: memory goes to the journal only
    assert (store.pending, store.journal_backlog) == (0, 20)
    clock.advance(1.0)
    await store.flush_once()  # retried, still down: next retry in 2 s
    assert not store.database_up
    clock.advance(1.5)
    await store.flush_once()
    assert store.journal_backlog == 20

    sqlite.bring_back()
    for e in originals[30:]:
        store.append(e)
    clock.advance(0.5)
    await store.flush_once()  # replays the journal in order, then truncates it
    assert store.database_up
    assert store.journal_backlog == 0
    assert journal.stat().st_size == 0
    assert store.replayed_total == 30
    assert _ids(sqlite.db) == [e.event_id for e in originals]
    assert store.written_total == 40
    store.close()


async def test_backoff_doubles_up_to_its_cap(sqlite: MovableSqlite, tmp_path: Path) -> None:
    clock = FakeClock()
    store = EventStore(
        sqlite.db, tmp_path / "j.jsonl", retry_initial_s=0.5, retry_max_s=3.0, clock=clock
    )
    sqlite.take_away()
    store.append(make_events(1)[0])
    attempts: list[float] = []
    start = clock.monotonic()
    for _ in range(120):  # 12 s in 100 ms steps
        before = store.last_error, store.retry_at
        await store.flush_once()
        if (store.last_error, store.retry_at) != before:
            attempts.append(round(clock.monotonic() - start, 1))
        clock.advance(0.1)
    # Tries at 0, then after 0.5, 1, 2, 3, 3, 3 … seconds.
    assert attempts[:6] == [0.0, 0.5, 1.5, 3.5, 6.5, 9.5]
    sqlite.bring_back()
    clock.advance(3.0)
    await store.flush_once()
    assert store.database_up
    assert len(_ids(sqlite.db)) == 1
    store.close()


async def test_replay_after_a_crash_skips_what_the_database_already_has(
    sqlite: MovableSqlite, tmp_path: Path
) -> None:
    originals = make_events(12)
    journal = tmp_path / "events.jsonl"
    first = EventStore(sqlite.db, journal)
    for e in originals[:8]:
        first.append(e)
    await first.flush_once()
    first.close()
    # The crash: the journal holds events 4..11 (4..7 already stored), and a torn last line.
    lines = [json.dumps(row_of(e)) for e in originals[4:]]
    journal.write_text("\n".join(lines) + "\n" + '{"event_id": "tor', encoding="utf-8")

    second = EventStore(sqlite.db, journal)
    assert second.journal_backlog == 9
    assert not second.database_up
    second.append(originals[11])  # appended after restart: a duplicate of a journaled one
    await second.flush_once()
    assert second.database_up
    assert second.corrupt_journal_lines == 1
    assert second.journal_backlog == 0
    assert _ids(sqlite.db) == [e.event_id for e in originals]
    assert journal.stat().st_size == 0
    second.close()


async def test_corrupt_and_oversized_journal_lines_are_counted_not_fatal(
    sqlite: MovableSqlite, tmp_path: Path
) -> None:
    (good,) = make_events(1)
    journal = tmp_path / "events.jsonl"
    bad_row = dict(row_of(good), event_id="x" * 40)
    journal.write_text(
        "\n".join(
            [
                "not json",
                json.dumps({"event_id": "only"}),
                json.dumps(bad_row),
                "[" * 70_000,
                json.dumps(dict(row_of(good), ts_ms=10**30)),
                json.dumps(dict(row_of(good), payload={"nested": {"a": 1}})),
                json.dumps(row_of(good)),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    store = EventStore(sqlite.db, journal)
    await store.flush_once()
    assert store.corrupt_journal_lines == 6
    assert _ids(sqlite.db) == [good.event_id]
    assert store.journal_backlog == 0
    store.close()


def test_bad_settings_are_refused(sqlite: MovableSqlite, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        EventStore(sqlite.db, tmp_path / "j.jsonl", batch_size=0)
