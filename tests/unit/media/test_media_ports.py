"""The RTP/RTCP port pool: even/odd pairs, quarantine, exhaustion, no leaks."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.core.errors import HotlineError, LocalProtocolError
from hotline.media.ports import PortExhaustedError, PortPair, RtpPortPool


def test_pairs_are_even_rtp_and_next_odd_rtcp() -> None:
    pool = RtpPortPool(20001, 20010, quarantine_s=5.0)
    pairs = [pool.allocate(0.0) for _ in range(4)]
    assert [(p.rtp, p.rtcp) for p in pairs] == [
        (20002, 20003),
        (20004, 20005),
        (20006, 20007),
        (20008, 20009),
    ]
    assert pool.capacity == 4
    with pytest.raises(PortExhaustedError) as caught:
        pool.allocate(0.0)
    assert isinstance(caught.value, HotlineError)
    assert "20001-20010" in str(caught.value)
    assert caught.value.in_use == 4


def test_range_with_an_odd_last_port_keeps_the_last_pair() -> None:
    pool = RtpPortPool(20000, 20003)
    assert [pool.allocate(0.0).rtp for _ in range(2)] == [20000, 20002]


def test_released_pair_is_quarantined_then_reused() -> None:
    pool = RtpPortPool(20000, 20003, quarantine_s=5.0)
    a = pool.allocate(0.0)
    b = pool.allocate(0.0)
    pool.release(a, 10.0)
    assert pool.in_use == 1
    assert pool.quarantined == 1
    assert pool.available(14.9) == 0
    with pytest.raises(PortExhaustedError) as caught:
        pool.allocate(14.9)
    assert caught.value.quarantined == 1
    assert pool.allocate(15.0) == a
    pool.release(b, 20.0)
    pool.release(a, 21.0)
    # FIFO: the pair released first comes back first.
    assert pool.allocate(30.0) == b
    assert pool.allocate(30.0) == a


def test_zero_quarantine_reuses_at_once() -> None:
    pool = RtpPortPool(20000, 20001, quarantine_s=0.0)
    pair = pool.allocate(0.0)
    pool.release(pair, 0.0)
    assert pool.allocate(0.0) == pair


def test_double_release_and_foreign_pairs_are_bugs() -> None:
    pool = RtpPortPool(20000, 20009)
    pair = pool.allocate(0.0)
    pool.release(pair, 1.0)
    with pytest.raises(LocalProtocolError):
        pool.release(pair, 2.0)
    with pytest.raises(LocalProtocolError):
        pool.release(PortPair(30000), 2.0)
    assert pool.in_use == 0


@pytest.mark.parametrize(
    ("first", "last"), [(0, 100), (20000, 70000), (20001, 20002), (20000, 20000)]
)
def test_bad_ranges_are_refused(first: int, last: int) -> None:
    with pytest.raises(ValueError):
        RtpPortPool(first, last)


def test_from_span_reads_first_and_last() -> None:
    class Span:
        first = 40000
        last = 40003

    pool = RtpPortPool.from_span(Span(), quarantine_s=1.0)
    assert (pool.first, pool.last, pool.capacity, pool.quarantine_s) == (40000, 40003, 2, 1.0)


def test_thousands_of_random_allocations_and_releases_leak_nothing() -> None:
    rng = random.Random(122)
    pool = RtpPortPool(20000, 20999, quarantine_s=2.0)
    held: list[PortPair] = []
    now = 0.0
    allocations = releases = 0
    for _ in range(20_000):
        now += rng.random() * 0.01
        if held and (rng.random() < 0.5 or pool.available(now) == 0):
            pair = held.pop(rng.randrange(len(held)))
            pool.release(pair, now)
            releases += 1
        else:
            pair = pool.allocate(now)
            assert pair not in held
            held.append(pair)
            allocations += 1
        assert pool.in_use == len(held)
        free = pool.available(now)  # thaws first
        assert pool.in_use + pool.quarantined + free == 500
    assert allocations > 5000
    assert allocations == releases + len(held)
    for pair in held:
        pool.release(pair, now)
    assert pool.in_use == 0
    assert pool.available(now + 2.0) == 500


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 3)), max_size=60))
def test_every_pair_is_in_exactly_one_place(steps: list[tuple[bool, float]]) -> None:
    pool = RtpPortPool(30000, 30011, quarantine_s=1.5)
    held: list[PortPair] = []
    now = 0.0
    for allocate, advance in steps:
        now += advance
        if allocate:
            try:
                held.append(pool.allocate(now))
            except PortExhaustedError:
                assert pool.available(now) == 0
        elif held:
            pool.release(held.pop(0), now)
        assert len({p.rtp for p in held}) == len(held)
        assert all(p.rtp % 2 == 0 and 30000 <= p.rtp < p.rtcp <= 30011 for p in held)
        free = pool.available(now)  # thaws first
        assert pool.in_use + pool.quarantined + free == 6
