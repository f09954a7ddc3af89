"""Reports summed from the store's projections equal reports replayed from raw events.

Events go through the real writer (small batches, shuffled order, so that
calls are re-projected across batches) into SQLite; every report shape the
rollups serve is compared field for field with
:func:`hotline.reports.metrics.compute_report` over the same stored events.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from reports_log import K, Log
from reports_random import random_log

from hotline.reports.events import CallCentreEvent, event_from_record
from hotline.reports.metrics import compute_report
from hotline.reports.metrics_config import Dimension, Interval, MetricsConfig, QueueNorms
from hotline.reports.metrics_row import MetricRow
from hotline.reports.projection import EventProjector
from hotline.reports.projection_report import projection_unusable, report_from_projections
from hotline.store.db import Database
from hotline.store.event_queries import EventQueries
from hotline.store.events import EventStore
from hotline.store.projection_queries import ProjectionQueries
from hotline.store.projections import Projections

DAY = datetime(2026, 3, 2, tzinfo=UTC)
CONFIG = MetricsConfig(queues={"q_health": QueueNorms(norm_s=30.0, short_abandon_s=3.0)})
D = Dimension


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'h.db'}")
    database.migrate()
    yield database
    database.dispose()


def store(db: Database, path: Path, events: Sequence[CallCentreEvent], *, batch: int = 53) -> None:
    async def run() -> None:
        projections = Projections(EventProjector(CONFIG))
        writer = EventStore(db, path / "j.jsonl", batch_size=batch, projections=projections)
        for e in events:
            writer.append(e)
            if writer.pending >= batch:
                await writer.flush_once()
        await writer.flush_all()
        writer.close()

    asyncio.run(run())


def raw_events(db: Database, start: datetime, end: datetime) -> list[CallCentreEvent]:
    return [event_from_record(s) for s in EventQueries(db).for_report(start, end)]


def raw_report(
    db: Database,
    start: datetime,
    end: datetime,
    interval: Interval | None,
    by: Sequence[D],
    events: list[CallCentreEvent] | None = None,
) -> tuple[MetricRow, ...]:
    if events is None:
        events = raw_events(db, start, end)
    return compute_report(events, start=start, end=end, config=CONFIG, interval=interval, by=by)


def projected_report(
    db: Database, start: datetime, end: datetime, interval: Interval | None, by: Sequence[D]
) -> tuple[MetricRow, ...]:
    source = ProjectionQueries(db)
    assert source.is_current()
    assert projection_unusable(source, start=start, end=end, config=CONFIG, by=by) is None
    operator_events = [
        event_from_record(s) for s in EventQueries(db).operator_events_for_report(start, end)
    ]
    return report_from_projections(
        source,
        start=start,
        end=end,
        config=CONFIG,
        interval=interval,
        by=by,
        operator_events=operator_events,
    )


SHAPES: list[tuple[Interval | None, tuple[D, ...]]] = [
    (None, ()),
    (Interval.MIN15, ()),
    (Interval.MIN60, ()),
    (Interval.DAY, ()),
    (None, (D.QUEUE,)),
    (None, (D.TOPIC,)),
    (Interval.MIN30, (D.QUEUE, D.TOPIC)),
    (Interval.DAY, (D.TOPIC, D.DIRECTION)),
    (None, (D.TRUNK,)),
    (Interval.MIN60, (D.DIRECTION,)),
]


def assert_same(
    db: Database,
    start: datetime,
    end: datetime,
    shapes: Sequence[tuple[Interval | None, tuple[D, ...]]] = SHAPES,
) -> None:
    events = raw_events(db, start, end)
    for interval, by in shapes:
        raw = raw_report(db, start, end, interval, by, events)
        projected = projected_report(db, start, end, interval, by)
        assert [r.key for r in projected] == [r.key for r in raw], (interval, by)
        for p, r in zip(projected, raw, strict=True):
            assert p == r, (interval, by, p.key)


def test_generated_day_projection_equals_raw_events(db: Database, tmp_path: Path) -> None:
    events = random_log(7, 160, DAY + timedelta(hours=8), 10 * 3600)
    random.Random(1).shuffle(events)
    store(db, tmp_path, events, batch=250)
    assert_same(db, DAY, DAY + timedelta(days=1))
    assert_same(db, DAY + timedelta(hours=10), DAY + timedelta(hours=13, minutes=45), SHAPES[:5])
    rows = raw_report(db, DAY, DAY + timedelta(days=1), None, ())
    assert rows[0].offered > 120 and rows[0].timed_out > 0 and rows[0].repeat_calls


def test_rebuild_gives_the_same_projection(db: Database, tmp_path: Path) -> None:
    events = random_log(11, 120, DAY + timedelta(hours=9), 6 * 3600)
    store(db, tmp_path, events)
    before = projected_report(db, DAY, DAY + timedelta(days=1), Interval.MIN15, (D.QUEUE,))
    calls = Projections(EventProjector(CONFIG)).rebuild(db)
    assert calls == len({e.call_id for e in events if e.call_id})
    after = projected_report(db, DAY, DAY + timedelta(days=1), Interval.MIN15, (D.QUEUE,))
    assert after == before
    Projections(EventProjector(CONFIG)).rebuild(
        db, DAY + timedelta(hours=10), DAY + timedelta(hours=11)
    )
    assert projected_report(db, DAY, DAY + timedelta(days=1), Interval.MIN15, (D.QUEUE,)) == before


def test_hand_made_log(db: Database, tmp_path: Path) -> None:
    log = Log()
    log.arrive("a", 0, caller="+79160000001")
    log.enter("a", "q_health", 5, topic="health")
    log.add(K.QUEUE_ANSWERED, 25.0004, call="a", queue="q_health", op="op1", wait_s=20.0004)
    log.add(K.CALL_ENDED, 125, call="a", who_hung_up="caller", cause="normal")
    log.arrive("b", 30, caller="+79160000001")
    log.enter("b", "q_health", 31, topic="health")
    log.add(K.QUEUE_ABANDONED, 33, call="b", queue="q_health", position=1, wait_s=2.0)
    log.add(K.CALL_ENDED, 33, call="b", who_hung_up="caller", cause="normal")
    store(db, tmp_path, log.events, batch=1)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert_same(db, start, start + timedelta(hours=1))
    (row,) = projected_report(db, start, start + timedelta(hours=1), None, ())
    assert (row.offered, row.answered, row.short_abandoned, row.repeat_calls) == (2, 1, 1, 1)
    assert row.answered_within_norm == 1  # 20.0004 s within the 30 s norm of q_health
    assert row.asa_s == 20.0
    assert row.talk_s == 100.0


def test_changed_norms_send_the_report_back_to_the_events(db: Database, tmp_path: Path) -> None:
    store(db, tmp_path, random_log(3, 50, DAY + timedelta(hours=9), 3600))
    other = MetricsConfig(queues={"q_health": QueueNorms(norm_s=10.0)})
    reason = projection_unusable(
        ProjectionQueries(db), start=DAY, end=DAY + timedelta(days=1), config=other
    )
    assert reason is not None and "q_health" in reason
    unaligned = projection_unusable(
        ProjectionQueries(db),
        start=DAY + timedelta(minutes=5),
        end=DAY + timedelta(days=1),
        config=CONFIG,
    )
    assert unaligned is not None
    assert projection_unusable(
        ProjectionQueries(db),
        start=DAY,
        end=DAY + timedelta(days=1),
        config=CONFIG,
        by=[D.OPERATOR],
    )


def test_a_writer_without_projections_makes_them_stale(db: Database, tmp_path: Path) -> None:
    store(db, tmp_path, random_log(5, 20, DAY + timedelta(hours=9), 3600))
    assert ProjectionQueries(db).is_current()

    async def plain() -> None:
        writer = EventStore(db, tmp_path / "k.jsonl")
        for e in random_log(6, 5, DAY + timedelta(hours=12), 600):
            writer.append(e)
        await writer.flush_all()
        writer.close()

    asyncio.run(plain())
    assert not ProjectionQueries(db).is_current()
    Projections(EventProjector(CONFIG)).rebuild(db)
    assert ProjectionQueries(db).is_current()
    assert_same(db, DAY, DAY + timedelta(days=1), SHAPES[:2])


class _BrokenProjector:
    def project(self, records: object) -> dict[str, list[dict[str, object]]]:
        raise RuntimeError("a bug in the projection")


def test_a_failing_projection_loses_no_event_and_marks_stale(db: Database, tmp_path: Path) -> None:
    events = random_log(9, 10, DAY + timedelta(hours=9), 600)

    async def run() -> None:
        writer = EventStore(db, tmp_path / "j.jsonl", projections=Projections(_BrokenProjector()))
        for e in events:
            writer.append(e)
        await writer.flush_all()
        assert writer.rejected_total == 0 and writer.journal_backlog == 0
        writer.close()

    asyncio.run(run())
    assert EventQueries(db).count() == len(events)
    assert not ProjectionQueries(db).is_current()
    Projections(EventProjector(CONFIG)).rebuild(db)
    assert ProjectionQueries(db).is_current()
