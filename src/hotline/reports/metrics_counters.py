"""Additive counters behind every report row, and the one function that turns them into a row.

docs/metrics.md defines every figure as a ratio of counts or sums.  A
:class:`QueueCounters` (queue visits, handlings, call-backs) and a
:class:`CallCounters` (whole calls) hold exactly those counts and sums, as
integers (durations in whole milliseconds, the precision of event times), so
they add up in any order and any grouping to the same values: the counters of
a month are the sums of the counters of its 15-minute buckets.  Reports
computed from raw events (:func:`hotline.reports.metrics.compute_report`) and
reports summed from the store's interval rollups
(:mod:`hotline.reports.projection_report`) both end in :func:`build_row`, so
they cannot disagree.

Time to operator (percentiles) is not additive: it is passed as the list of
values.  Operator time (occupancy, utilisation) is passed as the pieces of
operator spans cut at interval boundaries, in whole milliseconds.

Layer L1: pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields

from hotline.reports.events import Direction
from hotline.reports.metrics_facts import (
    CallbackFact,
    CallFacts,
    HandledCall,
    QueueOutcome,
    QueueVisit,
    SpanKind,
)
from hotline.reports.metrics_row import GroupKey, MetricRow
from hotline.reports.metrics_service import (
    Percentiles,
    occupancy,
    ratio,
    time_to_operator,
    utilisation,
)

__all__ = [
    "CallCounters",
    "QueueCounters",
    "build_row",
    "call_counters",
    "queue_counters",
]

_O = QueueOutcome
_OUTCOME_FIELD = {
    _O.ANSWERED: "answered",
    _O.ABANDONED: "abandoned",
    _O.SHORT_ABANDON: "short_abandoned",
    _O.TIMED_OUT: "timed_out",
    _O.OVERFLOWED: "overflowed",
    _O.CALLBACK: "callback",
    _O.LEFT_EMPTY: "left_empty",
    _O.LEFT_FULL: "left_full",
    _O.UNRESOLVED: "unresolved",
}


@dataclass(slots=True)
class QueueCounters:
    """Counts and sums of queue visits (by entry), handlings (by answer) and call-backs."""

    offered: int = 0
    answered: int = 0
    answered_within_norm: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    timed_out: int = 0
    overflowed: int = 0
    callback: int = 0
    left_empty: int = 0
    left_full: int = 0
    unresolved: int = 0
    answered_wait_ms: int = 0
    #: The longest wait of any visit with a wait; -1 when none had one.
    max_wait_ms: int = -1
    callback_attempts: int = 0
    callbacks_completed: int = 0
    handled: int = 0
    connected_ms: int = 0
    talk_ms: int = 0
    hold_ms: int = 0
    wrapup_ms: int = 0

    def add(self, other: QueueCounters) -> None:
        for f in fields(self):
            name = f.name
            if name == "max_wait_ms":
                self.max_wait_ms = max(self.max_wait_ms, other.max_wait_ms)
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def add_visit(self, v: QueueVisit) -> None:
        self.offered += 1
        name = _OUTCOME_FIELD[v.outcome]
        setattr(self, name, getattr(self, name) + 1)
        wait_ms = v.wait_ms
        if wait_ms is not None:
            self.max_wait_ms = max(self.max_wait_ms, wait_ms)
        if v.outcome is _O.ANSWERED:
            self.answered_wait_ms += wait_ms or 0
        if v.answered_within_norm:
            self.answered_within_norm += 1

    def add_handled(self, h: HandledCall) -> None:
        if not h.complete:
            return
        self.handled += 1
        self.connected_ms += h.connected_ms
        self.talk_ms += h.talk_ms
        self.hold_ms += h.hold_ms
        self.wrapup_ms += h.wrapup_ms

    def add_callback(self, c: CallbackFact) -> None:
        if c.completed:
            self.callbacks_completed += 1
        else:
            self.callback_attempts += 1


@dataclass(slots=True)
class CallCounters:
    """Counts of whole calls by arrival (docs/metrics.md: bot, IVR, repeat calls)."""

    calls: int = 0
    outbound_calls: int = 0
    bot_calls: int = 0
    bot_contained: int = 0
    ivr_self_served: int = 0
    ivr_self_served_inbound: int = 0
    repeat_calls: int = 0
    outbound_answered: int = 0
    outbound_failed: int = 0

    def add(self, other: CallCounters) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def add_call(self, c: CallFacts, repeat: bool) -> None:
        inbound = c.direction is Direction.INBOUND
        self.calls += inbound
        self.outbound_calls += c.direction is Direction.OUTBOUND
        self.bot_calls += c.bot_started
        self.bot_contained += c.bot_contained
        self.ivr_self_served += c.ivr_self_served
        self.ivr_self_served_inbound += c.ivr_self_served and inbound
        self.repeat_calls += repeat
        self.outbound_answered += c.outbound_answered
        self.outbound_failed += c.outbound_failed


def queue_counters(
    visits: Iterable[QueueVisit],
    handled: Iterable[HandledCall] = (),
    callbacks: Iterable[CallbackFact] = (),
) -> QueueCounters:
    """The counters of these facts."""
    out = QueueCounters()
    for v in visits:
        out.add_visit(v)
    for h in handled:
        out.add_handled(h)
    for c in callbacks:
        out.add_callback(c)
    return out


def call_counters(calls: Iterable[CallFacts], repeats: frozenset[str]) -> CallCounters:
    """The counters of these calls (``repeats``: ids of the repeat calls)."""
    out = CallCounters()
    for c in calls:
        out.add_call(c, c.call_id in repeats)
    return out


def _seconds(ms: int) -> float:
    return ms / 1000


def build_row(
    key: GroupKey,
    q: QueueCounters,
    *,
    time_to_operator_s: Sequence[float] | Percentiles = (),
    calls: CallCounters | None = None,
    operator_ms: Mapping[SpanKind, Sequence[int]] | None = None,
) -> MetricRow:
    """The row of docs/metrics.md from the counters of one group.

    ``calls`` is None where whole-call figures do not apply to the grouping,
    ``operator_ms`` None where operator time does not (see
    :mod:`hotline.reports.metrics`).
    """
    # docs/metrics.md, SL(T): answered within T ÷ (answered + abandoned + timed out).
    sl_base = q.answered + q.abandoned + q.timed_out
    # docs/metrics.md, Abandon rate and Timed-out rate: ÷ (offered − short abandons).
    rate_base = q.offered - q.short_abandoned
    if isinstance(time_to_operator_s, Percentiles):
        tto_p: Percentiles | None = time_to_operator_s
    else:
        tto_p = time_to_operator(time_to_operator_s)
    handle_ms = q.connected_ms + q.wrapup_ms
    work_s = ready_s = logged_s = None
    if operator_ms is not None:
        work_ms = sum(operator_ms.get(SpanKind.CONNECTED, ())) + sum(
            operator_ms.get(SpanKind.WRAP_UP, ())
        )
        work_s = _seconds(work_ms)
        ready_s = _seconds(sum(operator_ms.get(SpanKind.READY_IDLE, ())))
        logged_s = _seconds(sum(operator_ms.get(SpanKind.LOGGED_IN, ())))
    c = calls
    return MetricRow(
        key=key,
        offered=q.offered,
        answered=q.answered,
        answered_within_norm=q.answered_within_norm,
        abandoned=q.abandoned,
        short_abandoned=q.short_abandoned,
        timed_out=q.timed_out,
        overflowed=q.overflowed,
        callback=q.callback,
        left_empty=q.left_empty,
        left_full=q.left_full,
        unresolved=q.unresolved,
        callback_attempts=q.callback_attempts,
        callbacks_completed=q.callbacks_completed,
        service_level=ratio(q.answered_within_norm, sl_base),
        # docs/metrics.md, SL answered-only: answered within T ÷ answered.
        service_level_answered_only=ratio(q.answered_within_norm, q.answered),
        # docs/metrics.md, ASA: total wait of answered calls ÷ answered calls.
        asa_s=ratio(_seconds(q.answered_wait_ms), q.answered),
        longest_wait_s=_seconds(q.max_wait_ms) if q.max_wait_ms >= 0 else None,
        # docs/metrics.md, Time to operator: p50/p90/max.
        time_to_operator_p50_s=tto_p.p50_s if tto_p is not None else None,
        time_to_operator_p90_s=tto_p.p90_s if tto_p is not None else None,
        time_to_operator_max_s=tto_p.max_s if tto_p is not None else None,
        abandon_rate=ratio(q.abandoned, rate_base),
        timed_out_rate=ratio(q.timed_out, rate_base),
        handled=q.handled,
        talk_s=_seconds(q.talk_ms),
        hold_s=_seconds(q.hold_ms),
        wrapup_s=_seconds(q.wrapup_ms),
        # docs/metrics.md, AHT: (talk + hold + wrap-up) ÷ handled calls.
        aht_s=ratio(_seconds(handle_ms), q.handled),
        work_s=work_s,
        ready_idle_s=ready_s,
        logged_in_s=logged_s,
        # docs/metrics.md, Occupancy and Utilisation.
        occupancy=occupancy(work_s, ready_s)
        if work_s is not None and ready_s is not None
        else None,
        utilisation=(
            utilisation(work_s, logged_s) if work_s is not None and logged_s is not None else None
        ),
        calls=c.calls if c else None,
        bot_calls=c.bot_calls if c else None,
        bot_contained=c.bot_contained if c else None,
        # docs/metrics.md, Bot containment, IVR self-service, Repeat calls.
        bot_containment=ratio(c.bot_contained, c.bot_calls) if c else None,
        ivr_self_served=c.ivr_self_served if c else None,
        ivr_self_service=ratio(c.ivr_self_served_inbound, c.calls) if c else None,
        repeat_calls=c.repeat_calls if c else None,
        repeat_rate=ratio(c.repeat_calls, c.calls) if c else None,
        outbound_calls=c.outbound_calls if c else None,
        outbound_answered=c.outbound_answered if c else None,
        outbound_failed=c.outbound_failed if c else None,
    )
