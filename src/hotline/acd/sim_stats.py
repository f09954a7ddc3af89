"""The simulator's figures per interval, with the definitions of docs/metrics.md.

A call counts in the interval in which it arrived (its queue entry), whatever
time it leaves; operators' time is split at interval boundaries.  The figures:

Offered
    calls that arrived (entered the queue or were refused at its door).
Outcomes
    each call leaves with exactly one of answered, abandoned, short abandon,
    timed out, overflowed, callback, left empty, left full (metrics.md,
    "Call outcomes in a queue"); ``unfinished`` counts calls still waiting
    when the simulation stopped (none unless nobody could ever serve them).
Service level SL(T)
    answered within T ÷ (answered + abandoned + timed out); short abandons
    and callbacks are excluded; T is the queue's ``sl_norm_s``.  A call
    answered after exactly T seconds is within T.
ASA
    total wait of answered calls ÷ answered calls.
Abandon rate, timed-out rate
    abandoned (timed out) ÷ (offered − short abandons).
Occupancy
    (talk + hold + wrap-up) ÷ (talk + hold + wrap-up + ready idle), over all
    operators; time in RESERVED (an offer ringing) counts as ready idle,
    NOT_READY time counts in neither.
P(wait)
    share of offered calls that did not get an operator at once (waited > 0
    or were refused); Erlang C's P(wait) for comparison.
Max queue, longest wait
    the largest number of calls waiting at any moment of the interval, and
    the longest time a call that arrived in the interval spent in the queue
    (whatever its outcome).
"""

from __future__ import annotations

from dataclasses import dataclass

from hotline.acd.model import Outcome

__all__ = ["IntervalResult", "Tally"]


class Tally:
    """Mutable counters of one interval while the simulation runs."""

    __slots__ = (
        "answered_within",
        "busy_s",
        "delayed",
        "idle_s",
        "longest_wait_s",
        "max_queue",
        "offered",
        "operators",
        "outcomes",
        "wait_answered_s",
    )

    def __init__(self) -> None:
        self.offered = 0
        self.outcomes = dict.fromkeys(Outcome, 0)
        self.answered_within = 0
        self.delayed = 0
        self.wait_answered_s = 0.0
        self.longest_wait_s = 0.0
        self.max_queue = 0
        self.busy_s = 0.0
        self.idle_s = 0.0
        self.operators = 0

    def left(self, outcome: Outcome, wait_s: float, norm_s: float) -> None:
        """One call of this interval left the queue."""
        self.outcomes[outcome] += 1
        if wait_s > self.longest_wait_s:
            self.longest_wait_s = wait_s
        if outcome is Outcome.ANSWERED:
            self.wait_answered_s += wait_s
            if wait_s <= norm_s:
                self.answered_within += 1
            if wait_s > 0:
                self.delayed += 1
        else:
            self.delayed += 1

    def add(self, other: Tally) -> None:
        """Fold ``other`` in (sums, and maxima for the maxima)."""
        self.offered += other.offered
        for outcome, count in other.outcomes.items():
            self.outcomes[outcome] += count
        self.answered_within += other.answered_within
        self.delayed += other.delayed
        self.wait_answered_s += other.wait_answered_s
        self.longest_wait_s = max(self.longest_wait_s, other.longest_wait_s)
        self.max_queue = max(self.max_queue, other.max_queue)
        self.busy_s += other.busy_s
        self.idle_s += other.idle_s
        self.operators = max(self.operators, other.operators)

    def freeze(self, start_s: int | None, length_s: int, unfinished: int) -> IntervalResult:
        """The final figures."""
        counts = self.outcomes
        return IntervalResult(
            start_s=start_s,
            length_s=length_s,
            operators=self.operators,
            offered=self.offered,
            answered=counts[Outcome.ANSWERED],
            abandoned=counts[Outcome.ABANDONED],
            short_abandoned=counts[Outcome.SHORT_ABANDON],
            timed_out=counts[Outcome.TIMED_OUT],
            overflowed=counts[Outcome.OVERFLOWED],
            callback=counts[Outcome.CALLBACK],
            left_empty=counts[Outcome.LEFT_EMPTY],
            left_full=counts[Outcome.LEFT_FULL],
            unfinished=unfinished,
            answered_within=self.answered_within,
            delayed=self.delayed,
            wait_answered_s=self.wait_answered_s,
            longest_wait_s=self.longest_wait_s,
            max_queue=self.max_queue,
            busy_s=self.busy_s,
            idle_s=self.idle_s,
        )


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


@dataclass(frozen=True, slots=True, kw_only=True)
class IntervalResult:
    """The figures of one interval (``start_s`` None: the totals); see the module docstring."""

    start_s: int | None
    length_s: int
    operators: int  # the staffing plan in the interval (largest over the interval and days)
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    timed_out: int
    overflowed: int
    callback: int
    left_empty: int
    left_full: int
    unfinished: int
    answered_within: int
    delayed: int
    wait_answered_s: float
    longest_wait_s: float
    max_queue: int
    busy_s: float
    idle_s: float

    @property
    def service_level(self) -> float | None:
        """SL(T) = answered within T ÷ (answered + abandoned + timed out); None if 0/0."""
        return _ratio(self.answered_within, self.answered + self.abandoned + self.timed_out)

    @property
    def service_level_answered_only(self) -> float | None:
        """Answered within T ÷ answered (Asterisk's definition, for comparison)."""
        return _ratio(self.answered_within, self.answered)

    @property
    def asa_s(self) -> float | None:
        """Total wait of answered calls ÷ answered calls."""
        return _ratio(self.wait_answered_s, self.answered)

    @property
    def abandon_rate(self) -> float | None:
        """Abandoned ÷ (offered − short abandons)."""
        return _ratio(self.abandoned, self.offered - self.short_abandoned)

    @property
    def timed_out_rate(self) -> float | None:
        """Timed out ÷ (offered − short abandons)."""
        return _ratio(self.timed_out, self.offered - self.short_abandoned)

    @property
    def occupancy(self) -> float | None:
        """(talk + hold + wrap-up) ÷ (that + ready idle)."""
        return _ratio(self.busy_s, self.busy_s + self.idle_s)

    @property
    def p_wait(self) -> float | None:
        """Share of offered calls that did not reach an operator at once."""
        return _ratio(self.delayed, self.offered - self.unfinished)

    @property
    def ended(self) -> int:
        """Calls with an outcome (every offered call but the unfinished ones)."""
        return (
            self.answered
            + self.abandoned
            + self.short_abandoned
            + self.timed_out
            + self.overflowed
            + self.callback
            + self.left_empty
            + self.left_full
        )
