"""Properties: reports of random logs equal the counts the generator knows."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from reports_log import K, Log, at

from hotline.reports.events import EventKind
from hotline.reports.metrics import compute_report
from hotline.reports.metrics_config import Dimension, Interval

OUTCOMES = [
    K.QUEUE_ANSWERED,
    K.QUEUE_ABANDONED,
    K.QUEUE_TIMED_OUT,
    K.QUEUE_OVERFLOWED,
    K.QUEUE_CALLBACK_REQUESTED,
    K.QUEUE_LEFT_EMPTY,
    K.QUEUE_LEFT_FULL,
]

calls_st = st.lists(
    st.tuples(
        st.sampled_from(["q1", "q2", "q3"]),
        st.sampled_from(OUTCOMES),
        st.integers(min_value=1, max_value=300),  # wait, s
        st.integers(min_value=0, max_value=20_000),  # arrival, s after T0
    ),
    max_size=40,
)


def _log(calls: list[tuple[str, EventKind, int, int]]) -> Log:
    log = Log()
    for i, (queue, outcome, wait, start) in enumerate(calls):
        log.queued_call(f"c{i}", queue, start, outcome=outcome, wait_s=wait)
    return log


@settings(max_examples=100, deadline=None)
@given(calls=calls_st, seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_counts_and_service_level_match_the_generator(
    calls: list[tuple[str, EventKind, int, int]], seed: int
) -> None:
    log = _log(calls)
    events = list(log.events)
    random.Random(seed).shuffle(events)  # log order must not matter
    rows = compute_report(events, start=at(0), end=at(86400), by=[Dimension.QUEUE])
    # Bit-for-bit the same as in log order (sums of seconds are order-independent).
    assert rows == compute_report(log.events, start=at(0), end=at(86400), by=[Dimension.QUEUE])
    for row in rows:
        mine = [c for c in calls if c[0] == row.key.queue_id]
        answered = [c for c in mine if c[1] is K.QUEUE_ANSWERED]
        abandoned = [c for c in mine if c[1] is K.QUEUE_ABANDONED and c[2] >= 5]
        short = [c for c in mine if c[1] is K.QUEUE_ABANDONED and c[2] < 5]
        timed_out = [c for c in mine if c[1] is K.QUEUE_TIMED_OUT]
        assert row.offered == len(mine)
        assert (row.answered, row.abandoned, row.short_abandoned, row.timed_out) == (
            len(answered),
            len(abandoned),
            len(short),
            len(timed_out),
        )
        outcomes = (
            row.answered
            + row.abandoned
            + row.short_abandoned
            + row.timed_out
            + row.overflowed
            + row.callback
            + row.left_empty
            + row.left_full
            + row.unresolved
        )
        assert outcomes == row.offered
        assert row.unresolved == 0
        base = len(answered) + len(abandoned) + len(timed_out)
        within = sum(1 for c in answered if c[2] <= 20)
        assert row.service_level == (within / base if base else None)
        assert row.handled == len(answered)
    assert sum(r.offered for r in rows) == len(calls)


@settings(max_examples=40, deadline=None)
@given(calls=calls_st)
def test_interval_rows_add_up_to_the_total(calls: list[tuple[str, EventKind, int, int]]) -> None:
    log = _log(calls)
    (total,) = compute_report(log.events, start=at(0), end=at(86400))
    for interval in (Interval.MIN15, Interval.MIN60, Interval.DAY):
        rows = compute_report(log.events, start=at(0), end=at(86400), interval=interval)
        assert sum(r.offered for r in rows) == total.offered
        assert sum(r.timed_out for r in rows) == total.timed_out
        assert sum(r.handled for r in rows) == total.handled
        assert sum(r.calls or 0 for r in rows) == total.calls
