"""AHT, occupancy and utilisation on hand-made logs (docs/metrics.md)."""

from __future__ import annotations

import pytest
from reports_log import K, Log, at

from hotline.reports.metrics import MetricRow, compute_report
from hotline.reports.metrics_config import Dimension, Interval

START, END = at(0), at(3600)


def _rows(log: Log, *by: Dimension, interval: Interval | None = None) -> list[MetricRow]:
    return list(compute_report(log.events, start=START, end=END, by=by, interval=interval))


def _two_calls() -> Log:
    """op1: call c1 talk 50 + hold 10 + wrap-up 15 = 75; call c2 talk 45, no wrap-up."""
    log = Log()
    log.arrive("c1", 0)
    log.enter("c1", "q", 0)
    log.answer("c1", "q", "op1", 5, 5)
    log.add(K.CALL_HELD, 20, call="c1", op="op1")
    log.add(K.CALL_RESUMED, 30, call="c1", op="op1")
    log.end("c1", 65)
    log.add(K.WRAPUP_STARTED, 65, call="c1", op="op1")
    log.add(K.WRAPUP_ENDED, 80, call="c1", op="op1")
    log.arrive("c2", 100)
    log.enter("c2", "q", 100)
    log.answer("c2", "q", "op1", 110, 10)
    log.end("c2", 155)
    return log


def test_aht_is_talk_plus_hold_plus_wrapup_per_handled_call() -> None:
    (row,) = _rows(_two_calls())
    assert row.handled == 2
    assert (row.talk_s, row.hold_s, row.wrapup_s) == (95.0, 10.0, 15.0)
    assert row.aht_s == pytest.approx((75 + 45) / 2)


def test_an_unfinished_handling_is_not_in_aht() -> None:
    log = _two_calls()
    log.arrive("c3", 200)
    log.enter("c3", "q", 200)
    log.answer("c3", "q", "op1", 210, 10)  # still talking at the end of the period
    (row,) = _rows(log)
    assert row.handled == 2
    assert row.aht_s == pytest.approx(60.0)


def test_transfer_ends_the_first_operators_handling_and_starts_the_second() -> None:
    log = Log()
    log.arrive("c", 0)
    log.enter("c", "q", 0)
    log.answer("c", "q", "op1", 10, 10)
    log.add(
        K.CALL_TRANSFERRED, 40, call="c", op="op1", kind="attended", to="op2", to_type="operator"
    )
    log.end("c", 100)
    rows = {r.key.operator_id: r for r in _rows(log, Dimension.OPERATOR)}
    assert rows["op1"].talk_s == 30.0
    assert rows["op2"].talk_s == 60.0
    assert rows["op2"].offered == 0  # the visit belongs to the operator who answered it
    assert rows["op1"].offered == 1


def _operator_day() -> Log:
    """op1 logs in at 0, ready; an offer rings at 100; talks 105–165; wrap-up to 180;
    ready; not ready 300–350; ready; logs out at 400."""
    log = Log()
    log.add(K.OPERATOR_LOGIN, 0, op="op1")
    log.state("op1", 0, "ready")
    log.state("op1", 100, "reserved")
    log.arrive("c", 90)
    log.enter("c", "q", 90)
    log.answer("c", "q", "op1", 105, 15)
    log.state("op1", 105, "talking")
    log.end("c", 165)
    log.add(K.WRAPUP_STARTED, 165, call="c", op="op1")
    log.state("op1", 165, "wrap_up")
    log.add(K.WRAPUP_ENDED, 180, call="c", op="op1")
    log.state("op1", 180, "ready")
    log.state("op1", 300, "not_ready")
    log.state("op1", 350, "ready")
    log.add(K.OPERATOR_LOGOUT, 400, op="op1")
    return log


def test_occupancy_and_utilisation_per_operator_and_overall() -> None:
    log = _operator_day()
    work = 60 + 15
    ready_idle = 105 + (300 - 180) + (400 - 350)
    (op_row,) = _rows(log, Dimension.OPERATOR)
    (total,) = _rows(log)
    for row in (op_row, total):
        assert row.work_s == work
        assert row.ready_idle_s == ready_idle
        assert row.logged_in_s == 400
        assert row.occupancy == pytest.approx(work / (work + ready_idle))
        assert row.utilisation == pytest.approx(work / 400)


def test_operator_time_is_cut_at_interval_boundaries() -> None:
    log = _operator_day()
    rows = _rows(log, interval=Interval.MIN15)
    assert len(rows) == 4  # 09:00 … 09:45, empty buckets included
    first = rows[0]
    assert first.logged_in_s == 400
    assert sum(r.logged_in_s or 0 for r in rows) == 400
    # A login spanning two buckets is split between them.
    log2 = Log()
    log2.add(K.OPERATOR_LOGIN, 800, op="op1")
    log2.add(K.OPERATOR_LOGOUT, 1000, op="op1")
    rows2 = _rows(log2, interval=Interval.MIN15)
    assert [r.logged_in_s for r in rows2] == [100.0, 100.0, 0.0, 0.0]


def test_an_operator_still_logged_in_counts_to_the_end_of_the_period() -> None:
    log = Log()
    log.add(K.OPERATOR_LOGIN, -7200, op="op1")  # before the period: the look-back event
    log.state("op1", -7200, "ready")
    (row,) = _rows(log)
    assert row.logged_in_s == 3600
    assert row.ready_idle_s == 3600
    assert row.occupancy == 0.0


def test_operator_figures_do_not_apply_when_grouping_by_queue() -> None:
    (row,) = _rows(_operator_day(), Dimension.QUEUE)
    assert row.key.queue_id == "q"
    assert row.occupancy is None
    assert row.logged_in_s is None
    assert row.handled == 1
