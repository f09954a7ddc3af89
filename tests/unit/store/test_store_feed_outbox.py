"""The feed outbox on SQLite: gap-free seq, once per interval, in-order delivery, backoff."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.store.db import Database
from hotline.store.feed_outbox import (
    FeedOutbox,
    FeedOutboxRow,
    Rendered,
    backoff_delay_s,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'feed.db'}")
    table = FeedOutboxRow.metadata.tables[FeedOutboxRow.__tablename__]
    FeedOutboxRow.metadata.create_all(database.engine, tables=[table])
    try:
        yield database
    finally:
        database.dispose()


def _render(seq: int) -> Rendered:
    body = f'{{"seq":{seq}}}'.encode()
    return Rendered(body, f"sha256={seq:064x}", f"{seq:064x}")


def _fill(outbox: FeedOutbox, n: int) -> None:
    for i in range(n):
        outbox.enqueue(T0 + i * STEP, T0 + (i + 1) * STEP, _render, now=T0 + (i + 1) * STEP)


def test_enqueue_assigns_gap_free_seq_and_stores_exact_bytes(db: Database) -> None:
    outbox = FeedOutbox(db)
    _fill(outbox, 3)
    entries = outbox.since(0)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert [e.interval_start for e in entries] == [T0, T0 + STEP, T0 + 2 * STEP]
    assert entries[1].body == b'{"seq":2}'
    assert entries[1].signature == "sha256=" + f"{2:064x}"
    assert entries[0].attempts == 0 and entries[0].delivered_at is None
    assert outbox.last_interval_end() == T0 + 3 * STEP
    assert outbox.pending() == 3


def test_same_interval_is_never_enqueued_twice(db: Database) -> None:
    outbox = FeedOutbox(db)
    _fill(outbox, 2)
    calls: list[int] = []

    def render(seq: int) -> Rendered:
        calls.append(seq)
        return _render(seq)

    assert outbox.enqueue(T0 + STEP, T0 + 2 * STEP, render, now=T0) is None
    assert calls == []
    assert [e.seq for e in outbox.since(0)] == [1, 2]
    # A second repository on the same database (a restarted node) agrees.
    again = FeedOutbox(db)
    assert again.enqueue(T0, T0 + STEP, render, now=T0) is None
    entry = again.enqueue(T0 + 2 * STEP, T0 + 3 * STEP, render, now=T0)
    assert entry is not None and entry.seq == 3


def test_out_of_order_enqueue_is_refused(db: Database) -> None:
    outbox = FeedOutbox(db)
    outbox.enqueue(T0 + 4 * STEP, T0 + 5 * STEP, _render, now=T0)
    with pytest.raises(ValueError):
        outbox.enqueue(T0 + 2 * STEP, T0 + 3 * STEP, _render, now=T0)


def test_empty_outbox(db: Database) -> None:
    outbox = FeedOutbox(db)
    assert outbox.last_interval_end() is None
    assert outbox.first_undelivered() is None
    assert outbox.next_due(T0) is None
    assert outbox.since(0) == []
    assert outbox.pending() == 0


def test_next_due_is_always_the_lowest_undelivered(db: Database) -> None:
    outbox = FeedOutbox(db, rng=random.Random(1), backoff_base_s=10, backoff_cap_s=100)
    _fill(outbox, 3)
    now = T0 + 3 * STEP
    first = outbox.next_due(now)
    assert first is not None and first.seq == 1
    retry = outbox.mark_failed(1, "HTTP 503", now=now)
    assert now + timedelta(seconds=5) <= retry <= now + timedelta(seconds=10)
    # Seq 2 is not offered while seq 1 waits for its retry: no out-of-order delivery.
    assert outbox.next_due(now) is None
    assert outbox.next_due(retry - timedelta(milliseconds=1)) is None
    due = outbox.next_due(retry)
    assert due is not None and due.seq == 1
    assert due.attempts == 1 and due.last_error == "HTTP 503"
    outbox.mark_delivered(1, now=retry)
    nxt = outbox.next_due(retry)
    assert nxt is not None and nxt.seq == 2
    delivered = outbox.since(0, limit=1)[0]
    assert delivered.delivered_at == retry
    assert delivered.attempts == 2 and delivered.last_error is None
    assert outbox.pending() == 2


def test_mark_delivered_twice_changes_nothing(db: Database) -> None:
    outbox = FeedOutbox(db)
    _fill(outbox, 1)
    outbox.mark_delivered(1, now=T0)
    outbox.mark_delivered(1, now=T0 + STEP)
    (entry,) = outbox.since(0)
    assert entry.delivered_at == T0 and entry.attempts == 1


def test_mark_failed_of_unknown_seq(db: Database) -> None:
    with pytest.raises(KeyError):
        FeedOutbox(db).mark_failed(9, "x", now=T0)


def test_since_pages(db: Database) -> None:
    outbox = FeedOutbox(db)
    _fill(outbox, 5)
    assert [e.seq for e in outbox.since(2, limit=2)] == [3, 4]
    assert [e.seq for e in outbox.since(4)] == [5]
    assert outbox.since(5) == []


def test_backoff_is_exponential_capped_and_jittered() -> None:
    rng = random.Random(42)
    for attempts, full in [(1, 5.0), (2, 10.0), (3, 20.0), (8, 640.0), (9, 900.0), (500, 900.0)]:
        delay = backoff_delay_s(attempts, rng, base_s=5.0, cap_s=900.0)
        assert full / 2 <= delay <= full
    a = [backoff_delay_s(3, random.Random(7)) for _ in range(2)]
    assert a[0] == a[1]  # seeded: reproducible
    draws = {round(backoff_delay_s(5, rng), 6) for _ in range(20)}
    assert len(draws) > 1  # jittered


def test_a_concurrent_writer_that_lost_the_race_stores_nothing(db: Database) -> None:
    outbox = FeedOutbox(db)

    def racing(seq: int) -> Rendered:
        # Another node stores this interval between our check and our insert.
        FeedOutbox(db).enqueue(T0, T0 + STEP, _render, now=T0)
        return _render(seq)

    assert outbox.enqueue(T0, T0 + STEP, racing, now=T0) is None
    assert [e.seq for e in outbox.since(0)] == [1]
    entry = outbox.enqueue(T0 + STEP, T0 + 2 * STEP, _render, now=T0)
    assert entry is not None and entry.seq == 2
