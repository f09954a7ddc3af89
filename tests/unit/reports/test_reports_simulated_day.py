"""A whole simulated day, stored through the real writer, recomputed from the store.

docs/metrics.md and issue 7: the reports recomputed from stored events equal
the simulator's own counts (offered, answered, abandoned, short abandons,
timed out, SL, ASA) for the queue, for the day and for every interval; both
from the raw events and from the projections.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from hotline.acd.sim_stats import IntervalResult
from hotline.reports.events import CallCentreEvent, event_from_record
from hotline.reports.metrics import compute_report
from hotline.reports.metrics_config import Dimension, Interval, MetricsConfig
from hotline.reports.metrics_row import MetricRow
from hotline.reports.projection import EventProjector
from hotline.reports.projection_report import report_from_projections
from hotline.store.db import Database
from hotline.store.event_queries import EventQueries
from hotline.store.events import EventStore
from hotline.store.projection_queries import ProjectionQueries
from hotline.store.projections import Projections
from unit.reports.reports_simday import DAY, QUEUE_ID, SimulatedDay, simulated_day


def store_day(
    db: Database, journal: Path, events: list[CallCentreEvent], config: MetricsConfig
) -> None:
    async def run() -> None:
        writer = EventStore(
            db, journal, batch_size=500, projections=Projections(EventProjector(config))
        )
        for e in events:
            writer.append(e)
        await writer.flush_all()
        writer.close()

    asyncio.run(run())


def assert_matches(row: MetricRow, counts: IntervalResult) -> None:
    assert row.offered == counts.offered
    assert row.answered == counts.answered
    assert row.abandoned == counts.abandoned
    assert row.short_abandoned == counts.short_abandoned
    assert row.timed_out == counts.timed_out
    assert row.left_empty == counts.left_empty and row.left_full == counts.left_full
    assert row.unresolved == counts.unfinished
    assert row.answered_within_norm == counts.answered_within
    assert row.service_level == counts.service_level
    # The store keeps whole milliseconds; the simulator adds float seconds.
    if counts.asa_s is None:
        assert row.asa_s is None
    else:
        assert row.asa_s == pytest.approx(counts.asa_s, rel=1e-9, abs=1e-9)


def day_reports(
    db: Database, day: SimulatedDay, interval: Interval | None
) -> tuple[tuple[MetricRow, ...], tuple[MetricRow, ...]]:
    start, end = DAY, DAY + timedelta(days=1)
    events = [event_from_record(s) for s in EventQueries(db).for_report(start, end)]
    by = (Dimension.QUEUE,)
    raw = compute_report(events, start=start, end=end, config=day.config, interval=interval, by=by)
    projected = report_from_projections(
        ProjectionQueries(db), start=start, end=end, config=day.config, interval=interval, by=by
    )
    return raw, projected


def test_a_simulated_day_recomputed_from_the_store_equals_the_simulators_counts(
    tmp_path: Path,
) -> None:
    staffing = "start,operators\n08:00,2\n10:00,3\n13:00,2\n17:00,2\n"
    day = simulated_day(seed=3, calls_per_half_hour=12.0, staffing=staffing)
    totals = day.result.totals
    assert totals.offered > 250 and totals.timed_out > 0 and totals.abandoned > 0
    db = Database(f"sqlite:///{tmp_path / 'sim.db'}")
    db.migrate()
    try:
        store_day(db, tmp_path / "j.jsonl", day.events, day.config)
        assert EventQueries(db).count() == len(day.events)
        raw, projected = day_reports(db, day, None)
        assert projected == raw
        (row,) = raw
        assert row.key.queue_id == QUEUE_ID
        assert_matches(row, totals)
        raw30, projected30 = day_reports(db, day, Interval.MIN30)
        assert projected30 == raw30
        by_start = {int((r.key.interval_start - DAY).total_seconds()): r for r in raw30}  # type: ignore[operator]
        for interval in day.result.intervals:
            assert interval.start_s is not None
            if interval.offered:
                assert_matches(by_start[interval.start_s], interval)
    finally:
        db.dispose()
