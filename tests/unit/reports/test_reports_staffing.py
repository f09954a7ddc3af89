"""The staffing view on hand-made events, against hotline.acd.erlang values."""

from __future__ import annotations

import pytest

from hotline.acd import erlang
from hotline.acd.erlang import erlang_a_headcount, erlang_c_headcount
from hotline.reports.metrics_config import Interval, MetricsConfig, QueueNorms
from hotline.reports.staffing import StaffingConfig, compute_staffing
from unit.reports.reports_log import K, Log, at


def _busy_half_hour(log: Log, calls: int = 100, aht_s: float = 180.0) -> None:
    """``calls`` calls into q1 over the first 30 minutes, each answered at once."""
    step = 1800 / calls
    for i in range(calls):
        s = i * step
        c = f"c{i}"
        log.arrive(c, s)
        log.enter(c, "q1", s)
        log.answer(c, "q1", f"op{i % 20}", s, 0.0)
        log.end(c, s + aht_s)


def test_hundred_calls_in_half_an_hour_need_fourteen_operators() -> None:
    log = Log()
    _busy_half_hour(log)
    rows = compute_staffing(
        log.events, erlang=erlang, start=at(0), end=at(3600), interval=Interval.MIN30
    )
    assert [r.interval_start for r in rows] == [at(0), at(1800)]
    first, second = rows
    assert first.queue_id == "q1"
    assert first.offered == 100
    assert first.handled == 100
    assert first.aht_s == pytest.approx(180.0)
    assert first.traffic_erlangs == pytest.approx(10.0)
    assert first.norm_s == 20.0
    assert first.erlang_c_agents == erlang_c_headcount(10.0, 180.0, 20.0, 0.8) == 14
    assert first.erlang_c_service_level is not None and first.erlang_c_service_level >= 0.8
    assert first.scheduled_agents == 20  # 14 / (1 - 0.3) = 20
    assert first.erlang_a_agents is None  # no abandoned call, no patience configured
    # An empty interval needs nobody (AHT falls back to the period's).
    assert second.offered == 0
    assert second.erlang_c_agents == 0
    assert second.scheduled_agents == 0


def test_norm_target_and_shrinkage_are_used() -> None:
    log = Log()
    _busy_half_hour(log)
    config = MetricsConfig(queues={"q1": QueueNorms(norm_s=60.0)})
    rows = compute_staffing(
        log.events,
        erlang=erlang,
        start=at(0),
        end=at(1800),
        config=config,
        staffing=StaffingConfig(sl_target=0.9, shrinkage=0.5, patience_s=120.0),
    )
    (row,) = rows
    assert row.norm_s == 60.0
    assert row.erlang_c_agents == erlang_c_headcount(10.0, 180.0, 60.0, 0.9)
    assert row.scheduled_agents == 2 * row.erlang_c_agents
    expected_a = erlang_a_headcount(100 / 1800, 180.0, 120.0, 60.0, 0.9)
    assert row.erlang_a_agents == expected_a
    assert row.patience_s == 120.0


def test_patience_is_estimated_from_abandoned_calls() -> None:
    log = Log()
    _busy_half_hour(log, calls=50)
    log.queued_call("a1", "q1", 100, outcome=K.QUEUE_ABANDONED, wait_s=30)
    log.queued_call("a2", "q1", 200, outcome=K.QUEUE_ABANDONED, wait_s=90)
    (row,) = compute_staffing(log.events, erlang=erlang, start=at(0), end=at(1800))
    assert row.offered == 52
    assert row.patience_s == pytest.approx(60.0)
    assert row.erlang_a_agents == erlang_a_headcount(52 / 1800, 180.0, 60.0, 20.0, 0.8)


def test_logged_in_average_and_maximum() -> None:
    log = Log()
    _busy_half_hour(log, calls=10)
    log.add(K.OPERATOR_LOGIN, 0, op="a")
    log.add(K.OPERATOR_LOGOUT, 900, op="a")
    log.add(K.OPERATOR_LOGIN, 600, op="b")
    log.add(K.OPERATOR_LOGOUT, 2700, op="b")
    log.add(K.OPERATOR_LOGIN, 1200, op="c")  # still logged in at the end
    rows = compute_staffing(
        log.events, erlang=erlang, start=at(0), end=at(3600), interval=Interval.MIN30
    )
    assert [(r.logged_in_avg, r.logged_in_max) for r in rows] == [(1.5, 2), (1.5, 2)]
    assert rows[0].shortfall == pytest.approx(rows[0].scheduled_agents - 1.5)  # type: ignore[operator]


def test_queue_filter_and_bad_targets() -> None:
    log = Log()
    _busy_half_hour(log, calls=10)
    log.queued_call("x", "q2", 10, outcome=K.QUEUE_ANSWERED, wait_s=5)
    all_rows = compute_staffing(log.events, erlang=erlang, start=at(0), end=at(1800))
    assert [r.queue_id for r in all_rows] == ["q1", "q2"]
    only = compute_staffing(log.events, erlang=erlang, start=at(0), end=at(1800), queue_id="q2")
    assert [r.queue_id for r in only] == ["q2"]
    assert only[0].aht_s == pytest.approx(60.0)
    with pytest.raises(ValueError, match="sl_target"):
        StaffingConfig(sl_target=1.0)
    with pytest.raises(ValueError, match="shrinkage"):
        StaffingConfig(shrinkage=1.0)
    with pytest.raises(ValueError, match="patience"):
        StaffingConfig(patience_s=0.0)
