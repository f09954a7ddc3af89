"""Call-wide metrics: time to operator, bot containment, IVR self-service, repeat calls."""

from __future__ import annotations

import pytest
from reports_log import K, Log, at

from hotline.reports.events import Direction
from hotline.reports.metrics import MetricRow, compute_report
from hotline.reports.metrics_config import Dimension, MetricsConfig
from hotline.reports.metrics_service import percentile

START, END = at(0), at(24 * 3600)


def _total(log: Log, start: float = 0, end: float = 24 * 3600) -> MetricRow:
    (row,) = compute_report(log.events, start=at(start), end=at(end))
    return row


def test_time_to_operator_includes_ivr_and_bot_and_reports_p50_p90_max() -> None:
    log = Log()
    for i in range(10):
        call, t0 = f"c{i}", i * 1000
        log.arrive(call, t0)
        log.add(K.CALL_IVR_CHOICE, t0 + 2, call=call, menu="main", choice="1")
        log.add(K.CALL_BOT_STARTED, t0 + 3, call=call)
        log.add(K.CALL_BOT_ENDED, t0 + 4, call=call, result="handed_over")
        log.enter(call, "q", t0 + 5)
        tto = 10 * (i + 1)  # 10, 20, … 100 s from arrival
        log.answer(call, "q", "op1", t0 + tto, tto - 5)
        log.end(call, t0 + tto + 30)
    row = _total(log)
    assert (row.time_to_operator_p50_s, row.time_to_operator_p90_s) == (50.0, 90.0)
    assert row.time_to_operator_max_s == 100.0


def test_time_to_operator_counts_only_the_first_answer() -> None:
    log = Log()
    log.arrive("c", 0)
    log.enter("c", "q1", 0)
    log.answer("c", "q1", "op1", 30, 30)
    log.add(K.CALL_TRANSFERRED, 60, call="c", op="op1", kind="blind", to="q2", to_type="queue")
    log.enter("c", "q2", 60)
    log.answer("c", "q2", "op2", 300, 240)
    row = _total(log)
    assert row.time_to_operator_max_s == 30.0


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 90) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 90) == 4.0


def test_bot_containment() -> None:
    log = Log()
    for call, result, then_operator in [
        ("b1", "resolved", False),
        ("b2", "resolved", False),
        ("b3", "resolved", True),  # "resolved", yet the caller still reached an operator
        ("b4", "handed_over", True),
    ]:
        log.arrive(call, 0)
        log.add(K.CALL_BOT_STARTED, 1, call=call)
        log.add(K.CALL_BOT_ENDED, 30, call=call, result=result)
        if then_operator:
            log.enter(call, "q", 30)
            log.answer(call, "q", "op1", 40, 10)
        log.end(call, 100)
    log.arrive("plain", 0)
    log.end("plain", 5)
    row = _total(log)
    assert (row.calls, row.bot_calls, row.bot_contained) == (5, 4, 2)
    assert row.bot_containment == pytest.approx(0.5)


def test_ivr_self_service() -> None:
    log = Log()
    # 1: information message, then hung up in the IVR: self-served.
    log.arrive("c1", 0)
    log.add(K.CALL_IVR_CHOICE, 5, call="c1", menu="main", choice="5", info_message=True)
    log.end("c1", 40)
    # 2: information message, then still went to a queue.
    log.arrive("c2", 0)
    log.add(K.CALL_IVR_CHOICE, 5, call="c2", menu="main", choice="5", info_message=True)
    log.enter("c2", "q", 40)
    log.abandon("c2", "q", 60, 20)
    log.end("c2", 60)
    # 3: hung up in the IVR without hearing any information.
    log.arrive("c3", 0)
    log.end("c3", 3)
    # 4: information message, call not over yet.
    log.arrive("c4", 0)
    log.add(K.CALL_IVR_CHOICE, 5, call="c4", menu="main", choice="5", info_message=True)
    row = _total(log)
    assert (row.calls, row.ivr_self_served) == (4, 1)
    assert row.ivr_self_service == pytest.approx(0.25)


def _topic_call(log: Log, call: str, s: float, caller: str, topic: str) -> None:
    log.arrive(call, s, caller=caller)
    log.add(K.CALL_IVR_CHOICE, s + 1, call=call, topic=topic, menu="main", choice="1")
    log.end(call, s + 10)


def test_repeat_calls_same_caller_same_topic_within_24h_with_look_back() -> None:
    h = 3600
    log = Log()
    _topic_call(log, "a0", -2 * h, "+71", "health")  # before the period: history only
    _topic_call(log, "a1", 1 * h, "+71", "health")  # 3 h after a0: repeat
    _topic_call(log, "a2", 25 * h, "+71", "health")  # 24 h after a1: repeat (within 24 h)
    _topic_call(log, "a3", 50 * h, "+71", "health")  # 25 h after a2: not
    _topic_call(log, "b1", 2 * h, "+71", "social")  # other topic: not
    _topic_call(log, "c1", 3 * h, "+72", "health")  # other caller: not
    row = _total(log, 0, 72 * h)
    assert row.calls == 5
    assert row.repeat_calls == 2
    assert row.repeat_rate == pytest.approx(2 / 5)
    by_topic = {
        r.key.topic: r
        for r in compute_report(log.events, start=at(0), end=at(72 * h), by=[Dimension.TOPIC])
    }
    assert by_topic["health"].repeat_calls == 2
    assert by_topic["social"].repeat_calls == 0
    shorter = compute_report(
        log.events, start=at(0), end=at(72 * h), config=MetricsConfig(repeat_window_s=h)
    )
    assert shorter[0].repeat_calls == 0


def test_inbound_and_outbound_apart() -> None:
    log = Log()
    log.queued_call("in1", "q", 0, outcome=K.QUEUE_ANSWERED, wait_s=5)
    log.add(K.OUTBOUND_DIALED, 100, call="out1", op="op1", number="+73")
    log.add(K.OUTBOUND_ANSWERED, 110, call="out1")
    log.end("out1", 170, who="operator")
    log.add(K.OUTBOUND_DIALED, 200, call="out2", op="op1", number="+74")
    log.add(K.OUTBOUND_FAILED, 230, call="out2", cause="busy")
    rows = {
        r.key.direction: r
        for r in compute_report(log.events, start=START, end=END, by=[Dimension.DIRECTION])
    }
    inbound, outbound = rows[Direction.INBOUND], rows[Direction.OUTBOUND]
    assert (inbound.calls, inbound.offered, inbound.handled) == (1, 1, 1)
    assert (outbound.calls, outbound.offered) == (0, 0)
    assert (outbound.outbound_calls, outbound.outbound_answered, outbound.outbound_failed) == (
        2,
        1,
        1,
    )
    assert outbound.handled == 1
    assert outbound.aht_s == 60.0


def test_by_trunk_and_by_topic() -> None:
    log = Log()
    log.arrive("a", 0, trunk="rt")
    log.enter("a", "q", 0, topic="health")
    log.answer("a", "q", "op1", 5, 5)
    log.end("a", 50)
    log.arrive("b", 0, trunk="mts")
    log.enter("b", "q", 0, topic="social")
    log.time_out("b", "q", 120, 120)
    log.end("b", 121)
    rows = compute_report(log.events, start=START, end=END, by=[Dimension.TRUNK, Dimension.TOPIC])
    got = {(r.key.trunk, r.key.topic): (r.offered, r.answered, r.timed_out, r.calls) for r in rows}
    assert got == {("mts", "social"): (1, 0, 1, 1), ("rt", "health"): (1, 1, 0, 1)}
