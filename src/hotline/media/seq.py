"""Sequence-number and timestamp arithmetic with wrap-around, in one place.

RTP sequence numbers are 16-bit and RTP timestamps 32-bit unsigned counters that
wrap (RFC 3550 §5.1).  Comparisons use serial-number arithmetic (RFC 1982): ``a``
precedes ``b`` when ``b - a`` modulo 2**bits lies in the lower half of the ring.

:class:`SequenceTracker` is the RFC 3550 Appendix A.1 source-validation
algorithm (``init_seq`` / ``update_seq``): probation until ``min_sequential``
packets arrive in order, the extended highest sequence number (cycles × 2**16 +
max), and re-synchronisation after a large jump when two sequential packets
confirm that the sender restarted.  It also keeps a small bitmap of recently seen
sequence numbers so that duplicates can be told apart from late packets.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = [
    "MAX_DROPOUT",
    "MAX_MISORDER",
    "MIN_SEQUENTIAL",
    "SEQ_MOD",
    "TS_MOD",
    "SeqVerdict",
    "SequenceTracker",
    "seq_add",
    "seq_diff",
    "seq_lt",
    "ts_add",
    "ts_diff",
    "ts_lt",
]

SEQ_MOD: Final = 1 << 16
TS_MOD: Final = 1 << 32
_SEQ_MASK: Final = SEQ_MOD - 1
_TS_MASK: Final = TS_MOD - 1
_SEQ_HALF: Final = SEQ_MOD >> 1
_TS_HALF: Final = TS_MOD >> 1

# RFC 3550 A.1 constants.
MAX_DROPOUT: Final = 3000
MAX_MISORDER: Final = 100
MIN_SEQUENTIAL: Final = 2

_HISTORY_BITS: Final = 256  # how far back duplicates are recognised
_HISTORY_MASK: Final = (1 << _HISTORY_BITS) - 1


def seq_diff(a: int, b: int) -> int:
    """Signed distance from sequence number ``a`` to ``b`` in [-32768, 32767] (``b - a``)."""
    return ((b - a + _SEQ_HALF) & _SEQ_MASK) - _SEQ_HALF


def seq_lt(a: int, b: int) -> bool:
    """True when sequence number ``a`` precedes ``b`` (RFC 1982 serial comparison)."""
    return seq_diff(a, b) > 0


def seq_add(a: int, n: int) -> int:
    """Sequence number ``n`` steps after ``a`` (``n`` may be negative)."""
    return (a + n) & _SEQ_MASK


def ts_diff(a: int, b: int) -> int:
    """Signed distance from timestamp ``a`` to ``b`` in [-2**31, 2**31 - 1] (``b - a``)."""
    return ((b - a + _TS_HALF) & _TS_MASK) - _TS_HALF


def ts_lt(a: int, b: int) -> bool:
    """True when timestamp ``a`` precedes ``b`` (RFC 1982 serial comparison)."""
    return ts_diff(a, b) > 0


def ts_add(a: int, n: int) -> int:
    """Timestamp ``n`` units after ``a`` (``n`` may be negative)."""
    return (a + n) & _TS_MASK


class SeqVerdict(enum.Enum):
    """What :meth:`SequenceTracker.update` made of one sequence number."""

    IN_ORDER = "in_order"
    """The new highest sequence number (possibly after a gap or a wrap)."""
    LATE = "late"
    """Behind the highest, not seen before: reordered or late."""
    DUPLICATE = "duplicate"
    """Behind or at the highest and already seen."""
    PROBATION = "probation"
    """The source is not validated yet (RFC 3550 A.1 ``probation``); not counted."""
    JUMP = "jump"
    """A large jump, held back until the next packet confirms it; not counted."""
    RESTART = "restart"
    """Two sequential packets after a jump: the sender restarted; state re-initialised."""


class SequenceTracker:
    """RFC 3550 A.1 per-source sequence state with an extended highest sequence number.

    ``received`` counts every accepted packet including late ones and duplicates,
    as RFC 3550 §6.4.1 requires for the cumulative loss (which may go negative).
    """

    __slots__ = (
        "bad_seq",
        "base_seq",
        "cycles",
        "duplicates",
        "history",
        "max_seq",
        "min_sequential",
        "probation",
        "received",
    )

    def __init__(self, first_seq: int, *, min_sequential: int = MIN_SEQUENTIAL) -> None:
        """Start tracking a source whose first packet carried ``first_seq``.

        The tracker does not count ``first_seq`` itself: feed that packet to
        :meth:`update` too.  With ``min_sequential`` = 1 it is accepted at once;
        with the RFC's default of 2 it waits for one more packet in sequence.
        """
        self.min_sequential = max(min_sequential, 1)
        self.cycles = 0
        self.base_seq = first_seq
        self.bad_seq = SEQ_MOD + 1  # "so seq == bad_seq is false"
        self.received = 0
        self.duplicates = 0
        self.history = 0
        self.max_seq = (first_seq - 1) & _SEQ_MASK
        self.probation = self.min_sequential

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.duplicates = 0
        self.history = 1

    @property
    def extended_max(self) -> int:
        """Extended highest sequence number received (cycles × 65536 + max_seq)."""
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        """Packets expected so far: extended max − base + 1 (RFC 3550 A.3); 0 in probation."""
        if self.probation:
            return 0
        return self.cycles + self.max_seq - self.base_seq + 1

    @property
    def validated(self) -> bool:
        """True once probation is over."""
        return self.probation == 0

    def update(self, seq: int) -> SeqVerdict:
        """Account for one packet with sequence number ``seq`` (RFC 3550 A.1 ``update_seq``)."""
        udelta = (seq - self.max_seq) & _SEQ_MASK
        if self.probation:
            if seq == (self.max_seq + 1) & _SEQ_MASK:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received = 1
                    return SeqVerdict.IN_ORDER
            else:
                self.probation = self.min_sequential - 1
                self.max_seq = seq
            return SeqVerdict.PROBATION
        if udelta == 0:
            self.duplicates += 1
            self.received += 1
            return SeqVerdict.DUPLICATE
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += SEQ_MOD
            self.max_seq = seq
            self.history = ((self.history << udelta) | 1) & _HISTORY_MASK
            self.received += 1
            return SeqVerdict.IN_ORDER
        if udelta <= SEQ_MOD - MAX_MISORDER:
            if seq == self.bad_seq:
                self._init_seq(seq)
                self.received = 1
                return SeqVerdict.RESTART
            self.bad_seq = (seq + 1) & _SEQ_MASK
            return SeqVerdict.JUMP
        # Behind the highest by at most MAX_MISORDER: duplicate or reordered.
        back = SEQ_MOD - udelta
        self.received += 1
        if back < _HISTORY_BITS:
            bit = 1 << back
            if self.history & bit:
                self.duplicates += 1
                return SeqVerdict.DUPLICATE
            self.history |= bit
        return SeqVerdict.LATE
