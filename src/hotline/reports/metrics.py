"""Every metric of docs/metrics.md, by interval and dimension, from raw events.

:func:`compute_report` is the one entry point the terminal report, the
exports and the Situational Centre feed call: events in, one
:class:`MetricRow` per group out.  The formulas live in
:mod:`hotline.reports.metrics_service` (one function per metric, each
citing docs/metrics.md); the facts they count are rebuilt from the events by
:mod:`hotline.reports.metrics_calls` and
:mod:`hotline.reports.metrics_operators`.

Attribution (which row a fact lands in):

* queue outcomes, SL, ASA, time to operator: the interval in which the call
  *entered* the queue; the operator is the one who answered;
* AHT: the interval in which the operator answered;
* bot, IVR, repeat calls: the interval of the call's arrival; these are
  call-wide, so they are filled only when grouping by topic, trunk and
  direction (None in rows grouped by queue or operator);
* occupancy and utilisation: operator time cut at interval boundaries; filled
  only when grouping by operator or not at all ("per operator and overall").

Timed-out calls are always their own figure (``timed_out``), never merged
into ``abandoned``.  Pass the events of the day before ``start`` as well
(repeat calls look 24 h back) and the whole of every call that touches the
period (:mod:`hotline.store.event_queries` does both).

Layer L1: pure.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from hotline.reports.events import CallCentreEvent, Direction
from hotline.reports.metrics_calls import derive_calls
from hotline.reports.metrics_config import (
    Dimension,
    Interval,
    MetricsConfig,
    bucket_start,
    buckets_between,
)
from hotline.reports.metrics_facts import (
    CallbackFact,
    CallFacts,
    HandledCall,
    OperatorSpan,
    QueueOutcome,
    QueueVisit,
    SpanKind,
)
from hotline.reports.metrics_operators import derive_operator_spans
from hotline.reports.metrics_row import GroupKey, MetricRow
from hotline.reports.metrics_service import (
    abandon_rate,
    average_handle_time_s,
    average_speed_of_answer_s,
    bot_containment,
    count_outcome,
    ivr_self_service,
    occupancy,
    offered,
    repeat_call_ids,
    repeat_rate,
    service_level,
    service_level_answered_only,
    time_to_operator,
    timed_out_rate,
    utilisation,
)

__all__ = ["GroupKey", "MetricRow", "compute_report"]

_CALL_DIMENSIONS = frozenset({Dimension.TOPIC, Dimension.TRUNK, Dimension.DIRECTION})
_OPERATOR_DIMENSIONS = frozenset({Dimension.OPERATOR})
_O = QueueOutcome


@dataclass(slots=True)
class _Group:
    visits: list[QueueVisit] = field(default_factory=list)
    handled: list[HandledCall] = field(default_factory=list)
    calls: list[CallFacts] = field(default_factory=list)
    callbacks: list[CallbackFact] = field(default_factory=list)
    seconds: dict[SpanKind, list[float]] = field(default_factory=lambda: defaultdict(list))


class _Grouper:
    def __init__(
        self, interval: Interval | None, by: frozenset[Dimension], config: MetricsConfig
    ) -> None:
        self.interval = interval
        self.by = by
        self.tz = config.tz
        self.groups: dict[GroupKey, _Group] = defaultdict(_Group)

    def key(
        self,
        at: datetime | None,
        *,
        queue_id: str | None = None,
        topic: str | None = None,
        operator_id: str | None = None,
        trunk: str | None = None,
        direction: Direction | None = None,
    ) -> GroupKey:
        by = self.by
        return GroupKey(
            interval_start=(
                bucket_start(at, self.interval, self.tz)
                if self.interval is not None and at is not None
                else None
            ),
            queue_id=queue_id if Dimension.QUEUE in by else None,
            topic=topic if Dimension.TOPIC in by else None,
            operator_id=operator_id if Dimension.OPERATOR in by else None,
            trunk=trunk if Dimension.TRUNK in by else None,
            direction=direction if Dimension.DIRECTION in by else None,
        )

    def group(self, key: GroupKey) -> _Group:
        return self.groups[key]


def _in(at: datetime, start: datetime, end: datetime) -> bool:
    return start <= at < end


def _add_spans(g: _Grouper, spans: Iterable[OperatorSpan], start: datetime, end: datetime) -> None:
    for span in spans:
        lo, hi = max(span.start, start), min(span.end, end)
        if hi <= lo:
            continue
        if g.interval is None:
            pieces: Iterable[tuple[datetime | None, datetime, datetime]] = [(None, lo, hi)]
        else:
            pieces = buckets_between(lo, hi, g.interval, g.tz)
        for bucket, a, b in pieces:
            key = g.key(bucket, operator_id=span.operator_id)
            g.group(key).seconds[span.kind].append((b - a).total_seconds())


class _Dimensioned(Protocol):
    """A queue visit or a handled call: what a group key is made of."""

    @property
    def queue_id(self) -> str | None: ...
    @property
    def topic(self) -> str | None: ...
    @property
    def operator_id(self) -> str | None: ...
    @property
    def trunk(self) -> str | None: ...
    @property
    def direction(self) -> Direction: ...


def _record_key(g: _Grouper, at: datetime, r: _Dimensioned) -> GroupKey:
    return g.key(
        at,
        queue_id=r.queue_id,
        topic=r.topic,
        operator_id=r.operator_id,
        trunk=r.trunk,
        direction=r.direction,
    )


def compute_report(
    events: Iterable[CallCentreEvent],
    *,
    start: datetime,
    end: datetime,
    config: MetricsConfig | None = None,
    interval: Interval | None = None,
    by: Sequence[Dimension] = (),
) -> tuple[MetricRow, ...]:
    """Every metric for ``[start, end)``, one row per interval bucket and group.

    With an ``interval`` and no dimensions, every bucket of the period has a
    row, empty ones included; with dimensions, only groups that saw something.
    """
    config = config or MetricsConfig()
    dims = frozenset(by)
    events = list(events)
    derived = derive_calls(events, config, end=end)
    g = _Grouper(interval, dims, config)
    for v in derived.visits:
        if _in(v.entered_at, start, end):
            g.group(_record_key(g, v.entered_at, v)).visits.append(v)
    for h in derived.handled:
        if _in(h.answered_at, start, end):
            g.group(_record_key(g, h.answered_at, h)).handled.append(h)
    for cb in derived.callbacks:
        if _in(cb.at, start, end):
            key = g.key(
                cb.at,
                queue_id=cb.queue_id,
                topic=cb.topic,
                trunk=cb.trunk,
                direction=Direction.INBOUND,
            )
            g.group(key).callbacks.append(cb)
    calls_apply = dims <= _CALL_DIMENSIONS
    repeats: frozenset[str] = frozenset()
    if calls_apply:
        repeats = repeat_call_ids(derived.calls, config.repeat_window_s)
        for c in derived.calls:
            if _in(c.arrived_at, start, end):
                key = g.key(c.arrived_at, topic=c.topic, trunk=c.trunk, direction=c.direction)
                g.group(key).calls.append(c)
    operators_apply = dims <= _OPERATOR_DIMENSIONS
    if operators_apply:
        _add_spans(g, derived.spans, start, end)
        _add_spans(g, derive_operator_spans(events, end=end), start, end)
    if interval is not None and not dims:
        for bucket, _a, _b in buckets_between(start, end, interval, config.tz):
            g.group(g.key(bucket))
    elif interval is None and not dims:
        g.group(g.key(None))
    rows = [
        _row(key, grp, repeats, calls_apply=calls_apply, operators_apply=operators_apply)
        for key, grp in g.groups.items()
    ]
    rows.sort(key=lambda r: r.key.sort_key())
    return tuple(rows)


def _row(
    key: GroupKey,
    grp: _Group,
    repeats: frozenset[str],
    *,
    calls_apply: bool,
    operators_apply: bool,
) -> MetricRow:
    visits = grp.visits
    complete = [h for h in grp.handled if h.complete]
    waits = [v.wait_s for v in visits if v.wait_s is not None]
    tto = time_to_operator(visits)
    seconds = {kind: math.fsum(grp.seconds[kind]) for kind in SpanKind}
    work_s = math.fsum(grp.seconds[SpanKind.CONNECTED] + grp.seconds[SpanKind.WRAP_UP])
    calls = grp.calls
    return MetricRow(
        key=key,
        offered=offered(visits),
        answered=count_outcome(visits, _O.ANSWERED),
        answered_within_norm=sum(1 for v in visits if v.answered_within_norm),
        abandoned=count_outcome(visits, _O.ABANDONED),
        short_abandoned=count_outcome(visits, _O.SHORT_ABANDON),
        timed_out=count_outcome(visits, _O.TIMED_OUT),
        overflowed=count_outcome(visits, _O.OVERFLOWED),
        callback=count_outcome(visits, _O.CALLBACK),
        left_empty=count_outcome(visits, _O.LEFT_EMPTY),
        left_full=count_outcome(visits, _O.LEFT_FULL),
        unresolved=count_outcome(visits, _O.UNRESOLVED),
        callback_attempts=sum(1 for c in grp.callbacks if not c.completed),
        callbacks_completed=sum(1 for c in grp.callbacks if c.completed),
        service_level=service_level(visits),
        service_level_answered_only=service_level_answered_only(visits),
        asa_s=average_speed_of_answer_s(visits),
        longest_wait_s=max(waits) if waits else None,
        time_to_operator_p50_s=tto.p50_s if tto is not None else None,
        time_to_operator_p90_s=tto.p90_s if tto is not None else None,
        time_to_operator_max_s=tto.max_s if tto is not None else None,
        abandon_rate=abandon_rate(visits),
        timed_out_rate=timed_out_rate(visits),
        handled=len(complete),
        talk_s=math.fsum(h.talk_s for h in complete),
        hold_s=math.fsum(h.hold_s for h in complete),
        wrapup_s=math.fsum(h.wrapup_s or 0.0 for h in complete),
        aht_s=average_handle_time_s(complete),
        work_s=work_s if operators_apply else None,
        ready_idle_s=seconds[SpanKind.READY_IDLE] if operators_apply else None,
        logged_in_s=seconds[SpanKind.LOGGED_IN] if operators_apply else None,
        occupancy=occupancy(work_s, seconds[SpanKind.READY_IDLE]) if operators_apply else None,
        utilisation=(utilisation(work_s, seconds[SpanKind.LOGGED_IN]) if operators_apply else None),
        calls=sum(1 for c in calls if c.direction is Direction.INBOUND) if calls_apply else None,
        bot_calls=sum(1 for c in calls if c.bot_started) if calls_apply else None,
        bot_contained=sum(1 for c in calls if c.bot_contained) if calls_apply else None,
        bot_containment=bot_containment(calls) if calls_apply else None,
        ivr_self_served=sum(1 for c in calls if c.ivr_self_served) if calls_apply else None,
        ivr_self_service=ivr_self_service(calls) if calls_apply else None,
        repeat_calls=sum(1 for c in calls if c.call_id in repeats) if calls_apply else None,
        repeat_rate=repeat_rate(calls, repeats) if calls_apply else None,
        outbound_calls=(
            sum(1 for c in calls if c.direction is Direction.OUTBOUND) if calls_apply else None
        ),
        outbound_answered=sum(1 for c in calls if c.outbound_answered) if calls_apply else None,
        outbound_failed=sum(1 for c in calls if c.outbound_failed) if calls_apply else None,
    )
