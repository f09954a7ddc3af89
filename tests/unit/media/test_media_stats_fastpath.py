"""ReceiveStats' inlined in-order path gives exactly what the RFC 3550 A.1/A.8 reference gives.

The reference below feeds the same packets to a plain
:class:`~hotline.media.seq.SequenceTracker` and applies the A.8 jitter formula
packet by packet, with no shortcut; any packet order, loss, duplication, jump,
wrap-around or SSRC change must give the same counters and the same jitter.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.media.seq import SequenceTracker, SeqVerdict, ts_diff
from hotline.media.stats import ReceiveStats

RATE = 8000


class Reference:
    """RFC 3550 A.1 + A.8 without the fast path (one source at a time)."""

    def __init__(self) -> None:
        self.ssrc: int | None = None
        self._reset()

    def _reset(self) -> None:
        self.tracker: SequenceTracker | None = None
        self.last: tuple[float, int] | None = None
        self.jitter = 0.0
        self.late = 0
        self.invalid = 0
        self.bytes = 0

    def receive(self, ssrc: int, seq: int, ts: int, now: float, size: int) -> SeqVerdict:
        if ssrc != self.ssrc:
            self._reset()
            self.ssrc = ssrc
        if self.tracker is None:
            self.tracker = SequenceTracker(seq)
        verdict = self.tracker.update(seq)
        if verdict in (SeqVerdict.PROBATION, SeqVerdict.JUMP):
            self.invalid += 1
            return verdict
        if verdict is SeqVerdict.DUPLICATE:
            return verdict
        if verdict is SeqVerdict.RESTART:
            self.last = None
        if verdict is SeqVerdict.LATE:
            self.late += 1
        self.bytes += size
        if self.last is not None:
            delta = (now - self.last[0]) * RATE - ts_diff(self.last[1], ts)
            self.jitter += (abs(delta) - self.jitter) / 16.0
        self.last = (now, ts)
        return verdict


steps = st.lists(
    st.tuples(
        st.sampled_from([1, 1, 1, 1, 1, 2, 3, 0, -1, -2, -50, 40, 3500, 30000]),
        st.floats(min_value=0.0, max_value=0.05),  # arrival jitter
        st.booleans(),  # a new SSRC (taken on every fifth index)
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(start=st.integers(0, 0xFFFF), ts0=st.integers(0, 0xFFFFFFFF), script=steps)
def test_fast_path_matches_the_reference(
    start: int, ts0: int, script: list[tuple[int, float, bool]]
) -> None:
    stats = ReceiveStats(RATE)
    reference = Reference()
    ssrc, index = 0x1000, 0
    for step, delay, new_source in script:
        if new_source and index % 5 == 4:
            ssrc += 1
        index += step
        seq = (start + index) & 0xFFFF
        ts = (ts0 + index * 160) & 0xFFFFFFFF
        now = 10.0 + index * 0.02 + delay
        assert stats.receive(ssrc, seq, ts, now, 160) is reference.receive(ssrc, seq, ts, now, 160)
        tracker = reference.tracker
        assert tracker is not None
        assert (stats.received, stats.expected, stats.duplicates) == (
            tracker.received,
            tracker.expected,
            tracker.duplicates,
        )
        assert (stats.late, stats.invalid, stats.bytes_received) == (
            reference.late,
            reference.invalid,
            reference.bytes,
        )
        assert stats.jitter == reference.jitter
