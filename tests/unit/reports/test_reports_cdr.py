"""Call detail records projected from hand-made event logs (hotline.reports.cdr)."""

from __future__ import annotations

import pytest
from reports_log import K, Log, at

from hotline.reports.cdr import CdrFilter, CdrOutcome, build_cdrs, mask_number
from hotline.reports.events import Direction, HungUpBy
from hotline.reports.metrics_config import MetricsConfig, QueueNorms
from hotline.reports.metrics_facts import QueueOutcome

END = at(24 * 3600)


def _answered_call(log: Log) -> None:
    log.arrive("c1", 0, caller="+79161234567", trunk="rt")
    log.add(K.CALL_IVR_CHOICE, 5, call="c1", menu="main", choice="2")
    log.enter("c1", "health", 10, topic="health")
    log.add(K.QUEUE_OFFERED, 20, call="c1", queue="health", op="op7")
    log.answer("c1", "health", "op7", 25, 15)
    log.add(K.CALL_HELD, 60, call="c1", op="op7")
    log.add(K.CALL_RESUMED, 80, call="c1", op="op7")
    log.end("c1", 145, who="operator")
    log.add(
        K.RECORDING_STORED,
        146,
        call="c1",
        path="2026/03/02/c1.wav",
        sha256="0" * 64,
        size_bytes=1000,
        duration_s=120.0,
    )


def test_mask_number_keeps_first_and_last_two_digits() -> None:
    assert mask_number("+79161234567") == "+7********67"
    assert mask_number("8 (916) 123-45-67") == "8 (***) ***-**-67"
    assert mask_number("122") == "122"
    assert mask_number(None) is None


def test_answered_call_has_every_field() -> None:
    log = Log()
    _answered_call(log)
    (r,) = build_cdrs(log.events, end=END)
    assert r.call_id == "c1"
    assert (r.started_at, r.answered_at, r.ended_at) == (at(0), at(25), at(145))
    assert r.caller == "+79161234567"
    assert r.caller_masked == "+7********67"
    assert (r.trunk, r.direction, r.topic) == ("rt", Direction.INBOUND, "health")
    assert r.queues == ("health",)
    assert r.queue_outcomes == (("health", QueueOutcome.ANSWERED),)
    assert (r.operator_id, r.operators) == ("op7", ("op7",))
    assert r.wait_s == pytest.approx(15.0)
    assert r.talk_s == pytest.approx(120.0 - 20.0)
    assert r.hold_s == pytest.approx(20.0)
    assert r.outcome is CdrOutcome.ANSWERED
    assert r.hung_up_by is HungUpBy.OPERATOR
    assert r.end_cause == "normal"
    assert r.recording_path == "2026/03/02/c1.wav"
    assert r.duration_s == pytest.approx(145.0)


@pytest.mark.parametrize(
    ("kind", "wait_s", "expected"),
    [
        (K.QUEUE_ABANDONED, 40, CdrOutcome.ABANDONED),
        (K.QUEUE_ABANDONED, 3, CdrOutcome.SHORT_ABANDON),
        (K.QUEUE_TIMED_OUT, 120, CdrOutcome.TIMED_OUT),
        (K.QUEUE_CALLBACK_REQUESTED, 50, CdrOutcome.CALLBACK),
        (K.QUEUE_LEFT_EMPTY, 0, CdrOutcome.LEFT_EMPTY),
        (K.QUEUE_LEFT_FULL, 0, CdrOutcome.LEFT_FULL),
        (K.QUEUE_OVERFLOWED, 10, CdrOutcome.OVERFLOWED),
    ],
)
def test_queue_outcomes_follow_metrics_md(kind: K, wait_s: float, expected: CdrOutcome) -> None:
    log = Log()
    log.queued_call("c", "q", 0, outcome=kind, wait_s=wait_s)
    (r,) = build_cdrs(log.events, end=END)
    assert r.outcome is expected
    assert r.answered_at is None and r.operator_id is None and r.talk_s is None


def test_timed_out_then_answered_in_the_overflow_queue_is_answered_with_both_visits() -> None:
    log = Log()
    log.arrive("c", 0)
    log.enter("c", "q1", 0)
    log.time_out("c", "q1", 120, 120)
    log.enter("c", "q2", 120)
    log.answer("c", "q2", "op2", 130, 10)
    log.end("c", 200)
    (r,) = build_cdrs(log.events, end=END)
    assert r.outcome is CdrOutcome.ANSWERED
    assert r.queues == ("q1", "q2")
    assert r.queue_outcomes == (("q1", QueueOutcome.TIMED_OUT), ("q2", QueueOutcome.ANSWERED))
    assert r.wait_s == pytest.approx(130.0)
    assert r.hung_up_by is HungUpBy.CALLER


def test_short_abandon_limit_comes_from_the_queue_norms() -> None:
    log = Log()
    log.queued_call("c", "q", 0, outcome=K.QUEUE_ABANDONED, wait_s=8)
    config = MetricsConfig(queues={"q": QueueNorms(short_abandon_s=10)})
    (r,) = build_cdrs(log.events, end=END, config=config)
    assert r.outcome is CdrOutcome.SHORT_ABANDON


def test_calls_without_a_queue() -> None:
    log = Log()
    log.arrive("ivr", 0)
    log.add(K.CALL_IVR_CHOICE, 5, call="ivr", menu="main", choice="9", info_message=True)
    log.end("ivr", 30)
    log.arrive("live", 40)
    log.add(K.OUTBOUND_DIALED, 50, call="out1", op="op1", number="+74951112233")
    log.add(K.OUTBOUND_ANSWERED, 55, call="out1")
    log.end("out1", 100, who="operator")
    log.add(K.OUTBOUND_DIALED, 60, call="out2", number="+74951112244")
    log.add(K.OUTBOUND_FAILED, 70, call="out2", cause="busy")
    records = {r.call_id: r for r in build_cdrs(log.events, end=END)}
    assert records["ivr"].outcome is CdrOutcome.SELF_SERVICE
    assert records["live"].outcome is CdrOutcome.IN_PROGRESS
    assert records["live"].ended_at is None and records["live"].duration_s is None
    out1 = records["out1"]
    assert out1.outcome is CdrOutcome.OUTBOUND_ANSWERED
    assert out1.direction is Direction.OUTBOUND
    assert (out1.caller, out1.called, out1.called_masked) == (None, "+74951112233", "+7********33")
    assert records["out2"].outcome is CdrOutcome.OUTBOUND_FAILED
    assert [r.call_id for r in build_cdrs(log.events, end=END)] == ["ivr", "live", "out1", "out2"]


def _search_log() -> Log:
    log = Log()
    log.arrive("a", 0, caller="+79161234567")
    log.enter("a", "health", 0, topic="health")
    log.answer("a", "health", "op1", 10, 10)
    log.end("a", 100)
    log.arrive("b", 200, caller="+79997654321")
    log.enter("b", "social", 200, topic="social")
    log.time_out("b", "social", 320, 120)
    log.end("b", 321)
    log.arrive("c", 4000, caller="+79161234567")
    log.enter("c", "social", 4000, topic="social")
    log.answer("c", "social", "op2", 4005, 5)
    log.end("c", 4100)
    return log


@pytest.mark.parametrize(
    ("where", "ids"),
    [
        (CdrFilter(), ["a", "b", "c"]),
        (CdrFilter(number="9161234567"), ["a", "c"]),
        (CdrFilter(number="+7 (999) 765-43-21"), ["b"]),
        (CdrFilter(number="0000"), []),
        (CdrFilter(topic="social"), ["b", "c"]),
        (CdrFilter(operator_id="op2"), ["c"]),
        (CdrFilter(outcome=CdrOutcome.TIMED_OUT), ["b"]),
        (CdrFilter(outcome=CdrOutcome.ABANDONED), []),
        (CdrFilter(start=at(100), end=at(4000)), ["b"]),
        (CdrFilter(number="7916", topic="health"), ["a"]),
    ],
)
def test_search(where: CdrFilter, ids: list[str]) -> None:
    assert [r.call_id for r in build_cdrs(_search_log().events, end=END, where=where)] == ids
