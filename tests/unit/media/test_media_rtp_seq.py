"""Sequence/timestamp wrap-around arithmetic and the RFC 3550 A.1 source tracker."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.media.seq import (
    MAX_DROPOUT,
    SequenceTracker,
    SeqVerdict,
    seq_add,
    seq_diff,
    seq_lt,
    ts_add,
    ts_diff,
    ts_lt,
)


@pytest.mark.parametrize(
    ("a", "b", "diff"),
    [
        (0, 1, 1),
        (1, 0, -1),
        (65535, 0, 1),
        (0, 65535, -1),
        (65530, 4, 10),
        (4, 65530, -10),
        (0, 32767, 32767),
        (0, 32768, -32768),
        (100, 100, 0),
    ],
)
def test_seq_diff_wraps(a: int, b: int, diff: int) -> None:
    assert seq_diff(a, b) == diff
    assert seq_lt(a, b) is (diff > 0)


def test_ts_diff_wraps() -> None:
    assert ts_diff(0xFFFFFF60, 0) == 160
    assert ts_diff(0, 0xFFFFFF60) == -160
    assert ts_lt(0xFFFFFF60, 160)
    assert not ts_lt(160, 0xFFFFFF60)
    assert ts_diff(0, 1 << 31) == -(1 << 31)
    assert ts_add(0xFFFFFFFF, 1) == 0
    assert ts_add(0, -160) == 0xFFFFFF60


def test_seq_add_wraps_both_ways() -> None:
    assert seq_add(65535, 1) == 0
    assert seq_add(0, -1) == 65535
    assert seq_add(10, 65536) == 10


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(-32768, 32767))
def test_seq_add_and_diff_are_inverse(a: int, n: int) -> None:
    assert seq_diff(a, seq_add(a, n)) == n


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 0xFFFFFFFF), st.integers(-(1 << 31), (1 << 31) - 1))
def test_ts_add_and_diff_are_inverse(a: int, n: int) -> None:
    assert ts_diff(a, ts_add(a, n)) == n


def _feed(tracker: SequenceTracker, seqs: list[int]) -> list[SeqVerdict]:
    return [tracker.update(seq) for seq in seqs]


def test_probation_needs_two_sequential_packets() -> None:
    tracker = SequenceTracker(100)
    assert tracker.update(100) is SeqVerdict.PROBATION
    assert tracker.expected == 0
    assert tracker.update(101) is SeqVerdict.IN_ORDER
    assert tracker.validated
    assert (tracker.base_seq, tracker.received, tracker.expected) == (101, 1, 1)


def test_probation_restarts_on_a_gap() -> None:
    tracker = SequenceTracker(100)
    assert _feed(tracker, [100, 105, 106]) == [
        SeqVerdict.PROBATION,
        SeqVerdict.PROBATION,
        SeqVerdict.IN_ORDER,
    ]
    assert tracker.base_seq == 106


def test_no_probation_accepts_first_packet() -> None:
    tracker = SequenceTracker(0, min_sequential=1)
    assert tracker.update(0) is SeqVerdict.IN_ORDER
    assert (tracker.cycles, tracker.extended_max, tracker.expected) == (0, 0, 1)


def test_wrap_increments_cycles() -> None:
    tracker = SequenceTracker(65534, min_sequential=1)
    verdicts = _feed(tracker, [65534, 65535, 0, 1])
    assert verdicts == [SeqVerdict.IN_ORDER] * 4
    assert tracker.cycles == 65536
    assert tracker.extended_max == 65537
    assert tracker.expected == 4
    assert tracker.received == 4


def test_loss_late_and_duplicate() -> None:
    tracker = SequenceTracker(10, min_sequential=1)
    assert _feed(tracker, [10, 11, 14, 12, 12, 14, 15]) == [
        SeqVerdict.IN_ORDER,
        SeqVerdict.IN_ORDER,
        SeqVerdict.IN_ORDER,
        SeqVerdict.LATE,
        SeqVerdict.DUPLICATE,
        SeqVerdict.DUPLICATE,
        SeqVerdict.IN_ORDER,
    ]
    assert tracker.expected == 6  # 10..15
    assert tracker.received == 7  # duplicates count (RFC 3550 §6.4.1)
    assert tracker.duplicates == 2


def test_late_packet_across_the_wrap() -> None:
    tracker = SequenceTracker(65535, min_sequential=1)
    assert _feed(tracker, [65535, 1, 0]) == [
        SeqVerdict.IN_ORDER,
        SeqVerdict.IN_ORDER,
        SeqVerdict.LATE,
    ]
    assert tracker.extended_max == 65537
    assert tracker.expected == 3


def test_large_jump_held_then_restart_on_two_sequential() -> None:
    tracker = SequenceTracker(1000, min_sequential=1)
    _feed(tracker, [1000, 1001])
    assert tracker.update(1001 + MAX_DROPOUT + 10) is SeqVerdict.JUMP
    assert tracker.received == 2
    assert tracker.update(1001 + MAX_DROPOUT + 11) is SeqVerdict.RESTART
    assert tracker.base_seq == 1001 + MAX_DROPOUT + 11
    assert tracker.received == 1
    assert tracker.expected == 1
    assert tracker.update(1001 + MAX_DROPOUT + 12) is SeqVerdict.IN_ORDER


def test_isolated_jump_is_ignored() -> None:
    tracker = SequenceTracker(1000, min_sequential=1)
    _feed(tracker, [1000, 1001])
    assert tracker.update(30000) is SeqVerdict.JUMP
    assert tracker.update(1002) is SeqVerdict.IN_ORDER
    assert tracker.extended_max == 1002
    assert tracker.expected == 3


def test_far_behind_is_a_jump_not_late() -> None:
    tracker = SequenceTracker(5000, min_sequential=1)
    _feed(tracker, [5000, 5001])
    # More than MAX_MISORDER (100) behind: treated like a jump (A.1).
    assert tracker.update(4800) is SeqVerdict.JUMP
    assert tracker.update(4950) is SeqVerdict.LATE


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 0xFFFF),
    st.lists(st.booleans(), min_size=1, max_size=400),
)
def test_expected_minus_received_is_loss_for_in_order_streams(
    start: int, delivered: list[bool]
) -> None:
    tracker = SequenceTracker(start, min_sequential=1)
    tracker.update(start)
    got = 1
    for offset, arrives in enumerate(delivered, start=1):
        if arrives:
            tracker.update(seq_add(start, offset))
            got += 1
    last = max([0] + [offset for offset, ok in enumerate(delivered, start=1) if ok])
    assert tracker.expected == last + 1
    assert tracker.received == got
    assert tracker.extended_max == start + last
