"""The event store on a real PostgreSQL (a private cluster) and SQLite side by side.

* the migrations build exactly the models' schema on PostgreSQL too;
* a PostgreSQL stopped mid-stream and started again loses no event and
  duplicates none;
* a row PostgreSQL refuses is set aside, not retried forever, not lost;
* the same events give identical reports read back from SQLite and from
  PostgreSQL, and identical to the reports of the events before storage.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hotline.core.clock import FakeClock
from hotline.reports.events import (
    CallCentreEvent,
    EventKind,
    PayloadValue,
    event_from_record,
)
from hotline.reports.metrics import compute_report
from hotline.reports.metrics_config import Dimension, Interval, MetricsConfig, QueueNorms
from hotline.store.db import Database
from hotline.store.event_queries import EventQueries
from hotline.store.events import EventStore
from hotline.store.models import Base
from support.postgres import PostgresCluster

pytestmark = pytest.mark.integration
pytest_plugins = ["support.pg_fixtures"]

K = EventKind
MSK = ZoneInfo("Europe/Moscow")
DAY = datetime(2026, 3, 2, tzinfo=MSK)
TOPICS = ["social", "health", "education", "military", "services"]
OPERATORS = [f"op{i}" for i in range(8)]


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'h.db'}")
    db.migrate()
    try:
        yield db
    finally:
        db.dispose()


class _Day:
    """A deterministic, plausible day of a 122 centre as raw events."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.events: list[CallCentreEvent] = []

    def add(
        self, kind: EventKind, ts: datetime, /, **fields: str | dict[str, PayloadValue] | None
    ) -> None:
        payload = fields.pop("payload", None) or {}
        assert isinstance(payload, dict)
        ids = {k: v for k, v in fields.items() if isinstance(v, str)}
        self.events.append(CallCentreEvent(kind=kind, timestamp=ts, payload=payload, **ids))

    def operators(self) -> None:
        for op in OPERATORS:
            t = DAY + timedelta(hours=8, seconds=self.rng.uniform(0, 1800))
            self.add(K.OPERATOR_LOGIN, t, operator_id=op)
            self.add(K.OPERATOR_STATE, t, operator_id=op, payload={"state": "ready"})
            pause = t + timedelta(hours=self.rng.uniform(1, 6))
            self.add(K.OPERATOR_STATE, pause, operator_id=op, payload={"state": "not_ready"})
            back = pause + timedelta(minutes=self.rng.uniform(5, 40))
            self.add(K.OPERATOR_STATE, back, operator_id=op, payload={"state": "ready"})
            out = DAY + timedelta(hours=17, seconds=self.rng.uniform(0, 3600))
            self.add(K.OPERATOR_LOGOUT, out, operator_id=op)

    def call(self, i: int) -> None:
        rng = self.rng
        call = f"call{i:05d}"
        t = DAY + timedelta(hours=8, seconds=rng.uniform(0, 9 * 3600))
        topic = rng.choice(TOPICS)
        trunk = rng.choice(["rt", "mts"])
        caller = f"+7900{rng.randrange(60):07d}"
        self.add(K.CALL_ARRIVED, t, call_id=call, trunk=trunk, payload={"caller": caller})
        t += timedelta(seconds=rng.uniform(3, 20))
        info = rng.random() < 0.15
        choice = {"menu": "main", "choice": str(TOPICS.index(topic) + 1), "info_message": info}
        self.add(K.CALL_IVR_CHOICE, t, call_id=call, topic=topic, payload=choice)
        if info and rng.random() < 0.6:
            self.end(call, t + timedelta(seconds=40))
            return
        if rng.random() < 0.2:
            self.add(K.CALL_BOT_STARTED, t, call_id=call)
            t += timedelta(seconds=rng.uniform(10, 90))
            result = rng.choice(["resolved", "handed_over", "hung_up"])
            self.add(K.CALL_BOT_ENDED, t, call_id=call, payload={"result": result})
            if result != "handed_over":
                self.end(call, t)
                return
        self.queue(call, topic, t)

    def queue(self, call: str, queue: str, t: datetime) -> None:
        rng = self.rng
        self.add(K.QUEUE_ENTERED, t, call_id=call, queue_id=queue, payload={"position": 1})
        r = rng.random()
        if r < 0.6:
            wait = round(rng.expovariate(1 / 25), 3)
            op = rng.choice(OPERATORS)
            t += timedelta(seconds=wait)
            self.add(
                K.QUEUE_ANSWERED,
                t,
                call_id=call,
                queue_id=queue,
                operator_id=op,
                payload={"wait_s": wait},
            )
            if rng.random() < 0.3:
                self.add(K.CALL_HELD, t + timedelta(seconds=30), call_id=call, operator_id=op)
                self.add(K.CALL_RESUMED, t + timedelta(seconds=50), call_id=call, operator_id=op)
            t += timedelta(seconds=rng.uniform(60, 400))
            self.end(call, t)
            self.add(K.WRAPUP_STARTED, t, call_id=call, operator_id=op)
            self.add(K.WRAPUP_ENDED, t + timedelta(seconds=20), call_id=call, operator_id=op)
        elif r < 0.75:
            wait = round(rng.uniform(1, 110), 3)
            t += timedelta(seconds=wait)
            payload: dict[str, PayloadValue] = {"position": 2, "wait_s": wait}
            self.add(K.QUEUE_ABANDONED, t, call_id=call, queue_id=queue, payload=payload)
            self.end(call, t)
        elif r < 0.85:
            t += timedelta(seconds=120)
            payload = {"wait_s": 120.0, "action": "overflow"}
            self.add(K.QUEUE_TIMED_OUT, t, call_id=call, queue_id=queue, payload=payload)
            if queue != "general":
                self.queue(call, "general", t)
            else:
                self.end(call, t)
        else:
            kind = rng.choice([K.QUEUE_CALLBACK_REQUESTED, K.QUEUE_LEFT_EMPTY, K.QUEUE_LEFT_FULL])
            self.add(kind, t + timedelta(seconds=5), call_id=call, queue_id=queue)
            self.end(call, t + timedelta(seconds=6))

    def end(self, call: str, t: datetime) -> None:
        self.add(K.CALL_ENDED, t, call_id=call, payload={"who_hung_up": "caller", "cause": "bye"})


def simulated_day(seed: int, calls: int) -> list[CallCentreEvent]:
    day = _Day(seed)
    day.operators()
    for i in range(calls):
        day.call(i)
    return day.events


async def _store_all(db: Database, events: list[CallCentreEvent], journal: Path) -> None:
    store = EventStore(db, journal, batch_size=250)
    for e in events:
        store.append(e)
    await store.flush_all()
    assert store.pending == 0
    assert store.journal_backlog == 0
    store.close()


def test_migrations_match_models_on_postgresql(pg_db: Database) -> None:
    assert pg_db.current_revision() == pg_db.head_revision()
    with pg_db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


async def test_postgresql_stopped_mid_stream_loses_and_duplicates_nothing(
    pg: PostgresCluster, pg_db: Database, tmp_path: Path
) -> None:
    clock = FakeClock()
    store = EventStore(pg_db, tmp_path / "events.jsonl", batch_size=50, clock=clock)
    events = simulated_day(seed=7, calls=60)
    third = len(events) // 3
    for e in events[:third]:
        store.append(e)
    await store.flush_all()
    assert store.written_total == third
    pg.stop()
    try:
        for e in events[third : 2 * third]:
            store.append(e)
        await store.flush_once()
        assert not store.database_up
        assert store.journal_backlog == third
        clock.advance(60)
        await store.flush_once()  # retried while still down
        assert not store.database_up
    finally:
        pg.start()
    for e in events[2 * third :]:
        store.append(e)
    clock.advance(60)
    await store.flush_all()
    assert store.database_up
    assert (store.pending, store.journal_backlog) == (0, 0)
    stored = EventQueries(pg_db).between(DAY - timedelta(days=1), DAY + timedelta(days=2))
    assert sorted(s.event_id for s in stored) == sorted(e.event_id for e in events)
    assert EventQueries(pg_db).count() == len(events)
    store.close()


@dataclass(frozen=True)
class _RawEvent:
    """An event that bypasses validation: PostgreSQL refuses NUL in text."""

    event_id: str
    kind: str = "call.bot_started"
    timestamp: datetime = DAY
    call_id: str | None = "c\x00nul"
    queue_id: str | None = None
    operator_id: str | None = None
    topic: str | None = None
    trunk: str | None = None
    direction: str | None = None
    payload: dict[str, PayloadValue] = field(default_factory=dict)


async def test_a_row_postgresql_refuses_is_set_aside(pg_db: Database, tmp_path: Path) -> None:
    journal = tmp_path / "events.jsonl"
    store = EventStore(pg_db, journal)
    good = simulated_day(seed=3, calls=2)
    store.append(good[0])
    store.append(_RawEvent(event_id="f" * 32))
    store.append(good[1])
    await store.flush_once()
    assert store.database_up
    assert (store.written_total, store.rejected_total) == (2, 1)
    assert EventQueries(pg_db).count() == 2
    rejected = journal.with_name(journal.name + ".rejected").read_text(encoding="utf-8")
    assert "f" * 32 in rejected
    store.close()


REPORTS: list[tuple[Interval | None, tuple[Dimension, ...]]] = [
    (None, ()),
    (Interval.MIN15, ()),
    (Interval.MIN60, (Dimension.QUEUE,)),
    (Interval.DAY, (Dimension.TOPIC, Dimension.DIRECTION)),
    (None, (Dimension.OPERATOR,)),
    (Interval.MIN30, (Dimension.TRUNK,)),
]


async def test_sqlite_and_postgresql_give_identical_reports(
    pg_db: Database, sqlite_db: Database, tmp_path: Path
) -> None:
    events = simulated_day(seed=122, calls=600)
    await _store_all(sqlite_db, events, tmp_path / "sqlite.jsonl")
    await _store_all(pg_db, events, tmp_path / "pg.jsonl")
    start, end = DAY, DAY + timedelta(days=1)
    from_sqlite = [event_from_record(s) for s in EventQueries(sqlite_db).for_report(start, end)]
    from_pg = [event_from_record(s) for s in EventQueries(pg_db).for_report(start, end)]
    assert len(from_sqlite) == len(from_pg) == len(events)
    assert from_sqlite == from_pg
    config = MetricsConfig(queues={"general": QueueNorms(norm_s=30.0, max_wait_s=300.0)}, tz=MSK)
    for interval, by in REPORTS:
        expected = compute_report(
            events, start=start, end=end, config=config, interval=interval, by=by
        )
        assert expected, (interval, by)
        for stored in (from_sqlite, from_pg):
            got = compute_report(
                stored, start=start, end=end, config=config, interval=interval, by=by
            )
            assert got == expected, (interval, by)
    (total,) = compute_report(events, start=start, end=end, config=config)
    # The generated day exercises every outcome the report keeps apart.
    assert total.answered and total.abandoned and total.timed_out and total.callback
    assert total.bot_calls and total.ivr_self_served and total.repeat_calls
    assert total.occupancy is not None and 0 < total.occupancy < 1


async def test_for_report_narrows_by_queue_topic_and_operator(
    pg_db: Database, tmp_path: Path
) -> None:
    events = simulated_day(seed=5, calls=80)
    await _store_all(pg_db, events, tmp_path / "pg.jsonl")
    q = EventQueries(pg_db)
    start, end = DAY, DAY + timedelta(days=1)
    health = q.for_report(start, end, topic="health")
    health_calls = {e.call_id for e in events if e.topic == "health"}
    assert {s.call_id for s in health if s.call_id is not None} == health_calls
    op = q.for_report(start, end, operator_id="op3")
    assert {s.operator_id for s in op if s.kind.startswith("operator.")} == {"op3"}
    # Each operator's last state before a time is found even a day later.
    later = q.last_operator_events(DAY + timedelta(days=3))
    assert {s.operator_id for s in later} == set(OPERATORS)
    assert {s.kind for s in later if s.operator_id == "op0"} == {
        "operator.login",
        "operator.logout",
        "operator.state",
    }
    # Topic (set on queue.entered) and operator (on queue.answered) on different rows.
    health_ids = {e.call_id for e in events if e.topic == "health" and e.call_id is not None}
    answerer = next(
        e.operator_id
        for e in events
        if e.call_id in health_ids
        and e.operator_id is not None
        and e.kind.value == "queue.answered"
    )
    expected = health_ids & {e.call_id for e in events if e.operator_id == answerer}
    both = q.for_report(start, end, topic="health", operator_id=answerer)
    assert {s.call_id for s in both if s.call_id is not None} == expected
    assert q.between(start, end, kinds=["queue.timed_out"], limit=3)
    assert all(s.timestamp.tzinfo is UTC or s.timestamp.utcoffset() == timedelta(0) for s in op)
