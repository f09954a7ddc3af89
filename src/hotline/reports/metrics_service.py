"""The formulas of docs/metrics.md, one function each, over derived facts.

Every ratio returns None when its denominator is zero (nothing to report is
not 0 % and not 100 %).  Sums of seconds use :func:`math.fsum` (correctly
rounded), so a report does not depend on the order in which events were
stored or read back: SQLite and PostgreSQL give the same figures to the bit.  Layer L1: pure.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from hotline.reports.events import Direction
from hotline.reports.metrics_facts import CallFacts, HandledCall, QueueOutcome, QueueVisit

__all__ = [
    "Percentiles",
    "abandon_rate",
    "average_handle_time_s",
    "average_speed_of_answer_s",
    "bot_containment",
    "count_outcome",
    "ivr_self_service",
    "occupancy",
    "offered",
    "percentile",
    "ratio",
    "repeat_call_ids",
    "repeat_rate",
    "service_level",
    "service_level_answered_only",
    "time_to_operator",
    "timed_out_rate",
    "utilisation",
]

_O = QueueOutcome


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, None when the denominator is zero."""
    return numerator / denominator if denominator else None


def offered(visits: Iterable[QueueVisit]) -> int:
    """docs/metrics.md, Offered: calls that entered the queue (once per queue).

    :func:`~hotline.reports.metrics_calls.derive_calls` already merges
    re-entries of a call into the same queue into one visit.
    """
    return sum(1 for _ in visits)


def count_outcome(visits: Iterable[QueueVisit], outcome: QueueOutcome) -> int:
    """docs/metrics.md, "Call outcomes in a queue": visits that ended with ``outcome``."""
    return sum(1 for v in visits if v.outcome is outcome)


def service_level(visits: Sequence[QueueVisit]) -> float | None:
    """docs/metrics.md, Service level SL(T).

    answered within T ÷ (answered + abandoned + timed out); T is each
    queue's own norm.  Short abandons and callbacks are excluded (as are
    overflows, left empty/full and unresolved visits, which are not in the
    formula at all).
    """
    within = sum(1 for v in visits if v.answered_within_norm)
    base = sum(1 for v in visits if v.outcome in (_O.ANSWERED, _O.ABANDONED, _O.TIMED_OUT))
    return ratio(within, base)


def service_level_answered_only(visits: Sequence[QueueVisit]) -> float | None:
    """docs/metrics.md, SL answered-only (Asterisk's): answered within T ÷ answered."""
    within = sum(1 for v in visits if v.answered_within_norm)
    return ratio(within, count_outcome(visits, _O.ANSWERED))


def average_speed_of_answer_s(visits: Sequence[QueueVisit]) -> float | None:
    """docs/metrics.md, ASA: total wait of answered calls ÷ answered calls."""
    waits = [v.wait_s or 0.0 for v in visits if v.outcome is _O.ANSWERED]
    return ratio(math.fsum(waits), len(waits))


def abandon_rate(visits: Sequence[QueueVisit]) -> float | None:
    """docs/metrics.md, Abandon rate: abandoned ÷ (offered − short abandons)."""
    base = offered(visits) - count_outcome(visits, _O.SHORT_ABANDON)
    return ratio(count_outcome(visits, _O.ABANDONED), base)


def timed_out_rate(visits: Sequence[QueueVisit]) -> float | None:
    """docs/metrics.md, Timed-out rate: timed out ÷ (offered − short abandons)."""
    base = offered(visits) - count_outcome(visits, _O.SHORT_ABANDON)
    return ratio(count_outcome(visits, _O.TIMED_OUT), base)


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile (0 < p <= 100): an observed value, never invented."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(p / 100.0 * len(ordered)), 1)
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Percentiles:
    """p50, p90 and max of a distribution, in seconds."""

    p50_s: float
    p90_s: float
    max_s: float


def time_to_operator(visits: Iterable[QueueVisit] | Iterable[float]) -> Percentiles | None:
    """docs/metrics.md, Time to operator: first INVITE to operator answer, IVR and bot
    included; p50/p90/max over the calls that reached an operator (their visits, or
    the values in seconds)."""
    values: list[float] = []
    for v in visits:
        if isinstance(v, QueueVisit):
            if v.time_to_operator_s is not None:
                values.append(v.time_to_operator_s)
        else:
            values.append(v)
    if not values:
        return None
    p50 = percentile(values, 50)
    p90 = percentile(values, 90)
    assert p50 is not None and p90 is not None
    return Percentiles(p50, p90, max(values))


def average_handle_time_s(handled: Iterable[HandledCall]) -> float | None:
    """docs/metrics.md, AHT: (talk + hold + wrap-up) ÷ handled calls (complete handlings)."""
    times = [h.handle_s for h in handled if h.complete]
    return ratio(math.fsum(times), len(times))


def occupancy(work_s: float, ready_idle_s: float) -> float | None:
    """docs/metrics.md, Occupancy: (talk + hold + wrap-up) ÷ (that + ready idle)."""
    return ratio(work_s, work_s + ready_idle_s)


def utilisation(work_s: float, logged_in_s: float) -> float | None:
    """docs/metrics.md, Utilisation: (talk + hold + wrap-up) ÷ logged-in time."""
    return ratio(work_s, logged_in_s)


def bot_containment(calls: Sequence[CallFacts]) -> float | None:
    """docs/metrics.md, Bot containment: bot calls resolved without an operator ÷ bot calls."""
    bot = [c for c in calls if c.bot_started]
    return ratio(sum(1 for c in bot if c.bot_contained), len(bot))


def ivr_self_service(calls: Sequence[CallFacts]) -> float | None:
    """docs/metrics.md, IVR self-service: calls that ended in the IVR with an
    information message ÷ calls (inbound calls that arrived)."""
    inbound = [c for c in calls if c.direction is Direction.INBOUND]
    return ratio(sum(1 for c in inbound if c.ivr_self_served), len(inbound))


def repeat_call_ids(calls: Iterable[CallFacts], window_s: float) -> frozenset[str]:
    """docs/metrics.md, Repeat calls: inbound calls from the same caller number on the
    same topic as an earlier call that arrived at most ``window_s`` (24 h) before.

    Pass the calls of the ``window_s`` before the report period too, so that
    the first calls of the period see their history.  Calls without a caller
    number or a topic cannot repeat.
    """
    groups: dict[tuple[str, str], list[CallFacts]] = defaultdict(list)
    for c in calls:
        if c.direction is Direction.INBOUND and c.caller and c.topic is not None:
            groups[c.caller, c.topic].append(c)
    repeats: set[str] = set()
    for group in groups.values():
        group.sort(key=lambda c: (c.arrived_at, c.call_id))
        for earlier, later in pairwise(group):
            if (later.arrived_at - earlier.arrived_at).total_seconds() <= window_s:
                repeats.add(later.call_id)
    return frozenset(repeats)


def repeat_rate(calls: Sequence[CallFacts], repeats: frozenset[str]) -> float | None:
    """docs/metrics.md, Repeat calls ÷ calls (inbound calls that arrived)."""
    inbound = [c for c in calls if c.direction is Direction.INBOUND]
    return ratio(sum(1 for c in inbound if c.call_id in repeats), len(inbound))
