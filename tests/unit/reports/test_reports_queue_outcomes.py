"""Queue outcomes and service metrics on hand-made logs with known answers (docs/metrics.md)."""

from __future__ import annotations

import pytest
from reports_log import K, Log, at

from hotline.reports.metrics import MetricRow, compute_report
from hotline.reports.metrics_config import Dimension, MetricsConfig, QueueNorms

START, END = at(-3600), at(24 * 3600)


def _total(log: Log, config: MetricsConfig | None = None) -> MetricRow:
    (row,) = compute_report(log.events, start=START, end=END, config=config)
    return row


def _by_queue(log: Log, config: MetricsConfig | None = None) -> dict[str | None, MetricRow]:
    rows = compute_report(log.events, start=START, end=END, config=config, by=[Dimension.QUEUE])
    return {r.key.queue_id: r for r in rows}


def _mixed_day() -> Log:
    """Eight calls in queue q (norm 20 s, short abandon 5 s), one of each kind."""
    log = Log()
    log.queued_call("c1", "q", 0, outcome=K.QUEUE_ANSWERED, wait_s=10)
    log.queued_call("c2", "q", 100, outcome=K.QUEUE_ANSWERED, wait_s=30)
    log.queued_call("c3", "q", 200, outcome=K.QUEUE_ANSWERED, wait_s=20)  # exactly T: within
    log.queued_call("c4", "q", 300, outcome=K.QUEUE_ABANDONED, wait_s=40)
    log.queued_call("c5", "q", 400, outcome=K.QUEUE_ABANDONED, wait_s=3)  # short abandon
    log.queued_call("c6", "q", 500, outcome=K.QUEUE_TIMED_OUT, wait_s=120)
    log.queued_call("c7", "q", 700, outcome=K.QUEUE_CALLBACK_REQUESTED, wait_s=50)
    log.queued_call("c8", "q", 800, outcome=K.QUEUE_LEFT_EMPTY, wait_s=0)
    return log


def test_outcome_counts_are_mutually_exclusive_and_timed_out_is_its_own_line() -> None:
    row = _total(_mixed_day())
    assert row.offered == 8
    assert (row.answered, row.abandoned, row.short_abandoned, row.timed_out) == (3, 1, 1, 1)
    assert (row.callback, row.left_empty, row.left_full, row.overflowed) == (1, 1, 0, 0)
    assert row.unresolved == 0
    assert row.answered_within_norm == 2


def test_service_level_denominator_has_timed_out_and_excludes_short_abandons_and_callbacks() -> (
    None
):
    row = _total(_mixed_day())
    # answered within 20 s (c1, c3) ÷ (answered 3 + abandoned 1 + timed out 1)
    assert row.service_level == pytest.approx(2 / 5)
    assert row.service_level_answered_only == pytest.approx(2 / 3)


def test_asa_and_rates() -> None:
    row = _total(_mixed_day())
    assert row.asa_s == pytest.approx((10 + 30 + 20) / 3)
    # abandoned ÷ (offered − short abandons) = 1 / 7; timed out likewise.
    assert row.abandon_rate == pytest.approx(1 / 7)
    assert row.timed_out_rate == pytest.approx(1 / 7)
    assert row.longest_wait_s == 120


def test_short_abandon_boundary_follows_the_acd_and_per_queue_norms() -> None:
    log = Log()
    log.queued_call("a", "q", 0, outcome=K.QUEUE_ABANDONED, wait_s=4.999)
    log.queued_call("b", "q", 10, outcome=K.QUEUE_ABANDONED, wait_s=5.0)
    log.queued_call("c", "slow", 20, outcome=K.QUEUE_ABANDONED, wait_s=8.0)
    log.queued_call("d", "slow", 30, outcome=K.QUEUE_ANSWERED, wait_s=40.0)
    config = MetricsConfig(queues={"slow": QueueNorms(norm_s=60.0, short_abandon_s=10.0)})
    rows = _by_queue(log, config)
    assert (rows["q"].short_abandoned, rows["q"].abandoned) == (1, 1)
    assert (rows["slow"].short_abandoned, rows["slow"].abandoned) == (1, 0)
    # "slow" has a 60 s norm: the 40 s answer is within it; its short abandon is out of SL.
    assert rows["slow"].service_level == 1.0
    assert rows["q"].service_level == 0.0


def test_transfers_into_a_queue_count_once_per_queue() -> None:
    log = Log()
    log.arrive("c", 0)
    log.enter("c", "q1", 0)
    log.answer("c", "q1", "op1", 10, 10)
    log.add(K.CALL_TRANSFERRED, 50, call="c", op="op1", kind="blind", to="q2", to_type="queue")
    log.enter("c", "q2", 50)
    log.answer("c", "q2", "op2", 55, 5)
    # op2 sends it back to q1, where it waits again and is answered again.
    log.add(K.CALL_TRANSFERRED, 90, call="c", op="op2", kind="blind", to="q1", to_type="queue")
    log.enter("c", "q1", 90)
    log.answer("c", "q1", "op3", 130, 40)
    log.end("c", 200)
    rows = _by_queue(log)
    assert (rows["q1"].offered, rows["q1"].answered) == (1, 1)
    assert (rows["q2"].offered, rows["q2"].answered) == (1, 1)
    # q1's visit keeps the wait of its first answer.
    assert rows["q1"].asa_s == 10
    assert _total(log).offered == 2
    assert _total(log).handled == 3


def test_a_timed_out_call_that_overflows_counts_in_both_queues() -> None:
    log = Log()
    log.arrive("c", 0)
    log.enter("c", "q1", 0)
    log.time_out("c", "q1", 120, 120)
    log.enter("c", "q2", 120)
    log.abandon("c", "q2", 150, 30)
    log.end("c", 150)
    rows = _by_queue(log)
    assert (rows["q1"].offered, rows["q1"].timed_out, rows["q1"].abandoned) == (1, 1, 0)
    assert (rows["q2"].offered, rows["q2"].timed_out, rows["q2"].abandoned) == (1, 0, 1)
    assert rows["q1"].service_level == 0.0


@pytest.mark.parametrize("then", ["answered", "abandoned"])
def test_a_call_past_the_norm_stays_timed_out_after_the_assistant_hands_it_back(
    then: str,
) -> None:
    # The wait norm (120 s) sent the caller to the voice assistant, which handed it back
    # to the same queue: the decree counts the call as not accepted within the norm.
    log = Log()
    log.arrive("c", 0)
    log.enter("c", "q", 0)
    log.add(K.QUEUE_TIMED_OUT, 120, call="c", queue="q", wait_s=120.0, action="bot")
    log.add(K.CALL_BOT_STARTED, 120, call="c")
    log.add(K.CALL_BOT_ENDED, 150, call="c", result="handed_over", reason="caller_asked")
    log.enter("c", "q", 150)
    if then == "answered":
        log.answer("c", "q", "op1", 155, 5)
    else:
        log.abandon("c", "q", 153, 3)  # would be a short abandon on its own
    log.end("c", 200)
    row = _total(log)
    assert (row.offered, row.timed_out, row.answered, row.abandoned) == (1, 1, 0, 0)
    assert row.short_abandoned == 0 and row.answered_within_norm == 0
    assert row.service_level == 0.0
    if then == "answered":  # arrival to operator, the queue, the assistant and the queue again
        assert row.time_to_operator_p50_s == 155.0


def test_first_outcome_closes_the_entry_and_a_refusal_at_the_door_is_a_visit() -> None:
    log = Log()
    log.arrive("c", 0)
    log.enter("c", "q", 0)
    log.abandon("c", "q", 30, 30)
    log.time_out("c", "q", 31, 31)  # a late duplicate exit: ignored
    log.arrive("d", 0)
    log.add(K.QUEUE_LEFT_FULL, 1, call="d", queue="q")  # refused without entering
    row = _total(log)
    assert (row.offered, row.abandoned, row.timed_out, row.left_full) == (2, 1, 0, 1)


def test_a_call_still_waiting_is_unresolved() -> None:
    log = Log()
    log.arrive("c", 0)
    log.enter("c", "q", 0)
    row = _total(log)
    assert (row.offered, row.unresolved) == (1, 1)
    assert row.service_level is None
    assert row.asa_s is None


def test_callbacks_are_excluded_from_sl_and_their_own_outcome_is_apart() -> None:
    log = Log()
    log.queued_call("c", "q", 0, outcome=K.QUEUE_CALLBACK_REQUESTED, wait_s=30)
    log.queued_call("d", "q", 10, outcome=K.QUEUE_ANSWERED, wait_s=5)
    log.add(K.CALLBACK_ATTEMPTED, 600, call="c", queue="q", attempt=1)
    log.add(K.CALLBACK_ATTEMPTED, 900, call="c", queue="q", attempt=2)
    log.add(K.CALLBACK_COMPLETED, 960, call="c", queue="q")
    row = _total(log)
    assert row.callback == 1
    assert row.service_level == 1.0
    assert (row.callback_attempts, row.callbacks_completed) == (2, 1)


def test_empty_log_gives_one_empty_row() -> None:
    (row,) = compute_report([], start=START, end=END)
    assert row.offered == 0
    assert row.service_level is None
    assert row.calls == 0
    assert row.occupancy is None
