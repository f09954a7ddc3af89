"""The real-time snapshot: calls waiting, longest wait vs norm, operators by state, SL today."""

from __future__ import annotations

from datetime import timedelta

import pytest
from reports_log import K, Log, at

from hotline.reports.events import OperatorStateName
from hotline.reports.metrics_config import MetricsConfig, QueueNorms
from hotline.reports.metrics_snapshot import realtime_snapshot


def _centre() -> Log:
    log = Log()
    # Yesterday: answered late; must not count in today's SL.
    log.queued_call("y", "health", -86400 + 600, outcome=K.QUEUE_ANSWERED, wait_s=100)
    # Today (09:00 UTC onwards): one answered in time, one timed out.
    log.queued_call("a", "health", 0, outcome=K.QUEUE_ANSWERED, wait_s=10)
    log.queued_call("b", "health", 100, outcome=K.QUEUE_TIMED_OUT, wait_s=120)
    # Waiting now (now = +1000 s): since 940 and 990 in health, since 700 in social.
    for call, queue, s in [("w1", "health", 940), ("w2", "health", 990), ("w3", "social", 700)]:
        log.arrive(call, s)
        log.enter(call, queue, s)
    # A call that entered and hung up without an outcome event is not waiting.
    log.arrive("gone", 900)
    log.enter("gone", "social", 900)
    log.end("gone", 950)
    # Operators: op1 talking, op2 ready, op3 not ready, op4 logged out, op5 only logged in.
    log.add(K.OPERATOR_LOGIN, -3600, op="op1")
    log.state("op1", -3600, "ready")
    log.state("op1", 900, "talking")
    log.state("op2", -100, "ready")
    log.state("op3", 10, "not_ready")
    log.add(K.OPERATOR_LOGIN, 0, op="op4")
    log.add(K.OPERATOR_LOGOUT, 500, op="op4")
    log.add(K.OPERATOR_LOGIN, 800, op="op5")
    # After "now": ignored.
    log.state("op2", 2000, "not_ready")
    log.arrive("future", 1500)
    log.enter("future", "health", 1500)
    return log


def test_snapshot() -> None:
    config = MetricsConfig(
        queues={"health": QueueNorms(norm_s=20, max_wait_s=120), "empty": QueueNorms()}
    )
    snap = realtime_snapshot(_centre().events, now=at(1000), config=config)
    assert snap.at == at(1000)
    queues = {q.queue_id: q for q in snap.queues}
    assert list(queues) == ["empty", "health", "social"]
    health, social, empty = queues["health"], queues["social"], queues["empty"]
    assert (health.waiting, health.longest_wait_s) == (2, 60.0)
    assert health.wait_vs_norm == pytest.approx(3.0)
    assert health.over_norm
    assert health.max_wait_s == 120
    assert (social.waiting, social.longest_wait_s, social.over_norm) == (1, 300.0, True)
    assert (empty.waiting, empty.longest_wait_s, empty.over_norm) == (0, None, False)
    assert snap.calls_waiting == 3
    assert snap.longest_wait_s == 300.0
    # Today: a (answered in 10 s), b (timed out), w1, w2 waiting → SL = 1 / 2.
    assert (health.offered_today, health.answered_today, health.timed_out_today) == (4, 1, 1)
    assert health.service_level_today == pytest.approx(0.5)
    assert snap.operators_by_state == {
        OperatorStateName.NOT_READY: 2,
        OperatorStateName.READY: 1,
        OperatorStateName.TALKING: 1,
    }
    assert snap.operators_logged_in == 4


def test_snapshot_at_midnight_starts_a_new_day() -> None:
    log = _centre()
    midnight = at(15 * 3600)  # 00:00 UTC on 3 March
    snap = realtime_snapshot(log.events, now=midnight + timedelta(seconds=1))
    health = {q.queue_id: q for q in snap.queues}["health"]
    assert health.offered_today == 0
    assert health.service_level_today is None
    assert health.waiting == 3  # w1, w2 and the one that entered at 1500 are still waiting
