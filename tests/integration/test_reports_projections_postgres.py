"""Projections and reports on a real PostgreSQL (a private cluster) and SQLite side by side.

* a whole simulated day (the ACD simulator, live router code) stored through
  the real writer into both: the reports recomputed from each store equal the
  simulator's own counts, and SQLite and PostgreSQL give identical reports,
  from the raw events and from the projections;
* a generated day with every kind of call: identical reports and CDR
  searches on both databases, from the raw events and from the projections,
  also after a rebuild.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.reports.cdr import CdrFilter, build_cdrs, cdr_from_projection
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
from support.postgres import PostgresCluster, running_cluster
from unit.reports.reports_random import random_log
from unit.reports.reports_simday import DAY as SIM_DAY
from unit.reports.reports_simday import QUEUE_ID, simulated_day

pytestmark = pytest.mark.integration

D = Dimension
SHAPES: list[tuple[Interval | None, tuple[D, ...]]] = [
    (None, ()),
    (Interval.MIN15, ()),
    (Interval.DAY, (D.QUEUE,)),
    (Interval.MIN60, (D.QUEUE, D.TOPIC)),
    (None, (D.TOPIC, D.DIRECTION)),
    (None, (D.TRUNK,)),
]


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    log = tmp_path_factory.mktemp("postgres") / "server.log"
    with running_cluster(keep_log=log) as cluster:
        yield cluster


@pytest.fixture
def both(pg: PostgresCluster, tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    lite = Database(f"sqlite:///{tmp_path / 'h.db'}")
    post = Database(pg.new_database())
    for db in (lite, post):
        db.migrate()
    try:
        yield lite, post
    finally:
        lite.dispose()
        post.dispose()


def store(
    db: Database, journal: Path, events: Sequence[CallCentreEvent], config: MetricsConfig
) -> None:
    async def run() -> None:
        writer = EventStore(
            db, journal, batch_size=400, projections=Projections(EventProjector(config))
        )
        for e in events:
            writer.append(e)
            if writer.pending >= 400:
                await writer.flush_once()
        await writer.flush_all()
        writer.close()

    asyncio.run(run())


def reports(
    db: Database, start: datetime, end: datetime, config: MetricsConfig
) -> dict[
    tuple[Interval | None, tuple[D, ...]], tuple[tuple[MetricRow, ...], tuple[MetricRow, ...]]
]:
    events = [event_from_record(s) for s in EventQueries(db).for_report(start, end)]
    operator_events = [
        event_from_record(s) for s in EventQueries(db).operator_events_for_report(start, end)
    ]
    source = ProjectionQueries(db)
    assert source.is_current()
    out = {}
    for interval, by in SHAPES:
        assert projection_unusable(source, start=start, end=end, config=config, by=by) is None
        raw = compute_report(events, start=start, end=end, config=config, interval=interval, by=by)
        projected = report_from_projections(
            source,
            start=start,
            end=end,
            config=config,
            interval=interval,
            by=by,
            operator_events=operator_events,
        )
        assert projected == raw, (interval, by)
        out[interval, by] = (raw, projected)
    return out


def test_simulated_day_on_sqlite_and_postgresql(
    both: tuple[Database, Database], tmp_path: Path
) -> None:
    day = simulated_day(seed=5)
    totals = day.result.totals
    assert totals.offered > 1500 and totals.timed_out > 0
    lite, post = both
    store(lite, tmp_path / "a.jsonl", day.events, day.config)
    store(post, tmp_path / "b.jsonl", day.events, day.config)
    start, end = SIM_DAY, SIM_DAY + timedelta(days=1)
    on_lite = reports(lite, start, end, day.config)
    on_post = reports(post, start, end, day.config)
    assert on_lite == on_post
    (row,) = on_post[Interval.DAY, (D.QUEUE,)][0]
    assert row.key.queue_id == QUEUE_ID
    assert (row.offered, row.answered, row.abandoned, row.short_abandoned, row.timed_out) == (
        totals.offered,
        totals.answered,
        totals.abandoned,
        totals.short_abandoned,
        totals.timed_out,
    )
    assert row.service_level == totals.service_level
    assert totals.asa_s is not None
    assert row.asa_s == pytest.approx(totals.asa_s, rel=1e-9)


def test_generated_day_identical_on_both_databases(
    both: tuple[Database, Database], tmp_path: Path
) -> None:
    config = MetricsConfig(queues={"q_health": QueueNorms(norm_s=30.0)})
    start = datetime(2026, 3, 2, tzinfo=UTC)
    events = random_log(17, 800, start + timedelta(hours=7), 12 * 3600)
    lite, post = both
    store(lite, tmp_path / "a.jsonl", events, config)
    store(post, tmp_path / "b.jsonl", events, config)
    end = start + timedelta(days=1)
    assert reports(lite, start, end, config) == reports(post, start, end, config)
    for db in (lite, post):
        Projections(EventProjector(config)).rebuild(db)
    assert reports(lite, start, end, config) == reports(post, start, end, config)
    for where in (
        CdrFilter(start=start, end=end),
        CdrFilter(start=start, end=end, number="9160000003"),
        CdrFilter(start=start, end=end, topic="health"),
        CdrFilter(start=start, end=end, operator_id="op2"),
    ):
        found = []
        for db in (lite, post):
            rows = ProjectionQueries(db).cdrs(
                int(start.timestamp() * 1000),
                int(end.timestamp() * 1000),
                number=where.number,
                topic=where.topic,
                operator_id=where.operator_id,
            )
            found.append(tuple(cdr_from_projection(r) for r in rows))
            raw = [event_from_record(s) for s in EventQueries(db).for_report(start, end)]
            assert found[-1] == build_cdrs(raw, end=end, config=config, where=where)
        assert found[0] == found[1]
