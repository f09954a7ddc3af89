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

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol

from hotline.reports.events import CallCentreEvent, Direction
from hotline.reports.metrics_calls import derive_calls
from hotline.reports.metrics_config import (
    Dimension,
    Interval,
    MetricsConfig,
    bucket_start,
    buckets_between,
)
from hotline.reports.metrics_counters import CallCounters, QueueCounters, build_row
from hotline.reports.metrics_facts import OperatorSpan, SpanKind
from hotline.reports.metrics_operators import derive_operator_spans
from hotline.reports.metrics_row import GroupKey, MetricRow
from hotline.reports.metrics_service import repeat_call_ids

__all__ = [
    "CALL_DIMENSIONS",
    "OPERATOR_DIMENSIONS",
    "GroupKey",
    "Grouper",
    "MetricRow",
    "add_span_pieces",
    "compute_report",
]

CALL_DIMENSIONS: Final = frozenset({Dimension.TOPIC, Dimension.TRUNK, Dimension.DIRECTION})
"""Whole-call figures apply only when grouping by these (or nothing)."""
OPERATOR_DIMENSIONS: Final = frozenset({Dimension.OPERATOR})
"""Operator-time figures apply only when grouping by these (or nothing)."""
_MS: Final = timedelta(milliseconds=1)


@dataclass(slots=True)
class _Group:
    counters: QueueCounters = field(default_factory=QueueCounters)
    tto_s: list[float] = field(default_factory=list)
    calls: CallCounters = field(default_factory=CallCounters)
    ms: dict[SpanKind, list[int]] = field(default_factory=lambda: defaultdict(list))


class Grouper:
    """Rows by interval bucket and the chosen dimensions."""

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


def add_span_pieces(
    g: Grouper, spans: Iterable[OperatorSpan], start: datetime, end: datetime
) -> None:
    """Cut operator spans at ``[start, end)`` and at interval buckets, into ``g``'s groups
    (whole milliseconds, so that any grouping of the pieces sums to the same)."""
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
            g.group(key).ms[span.kind].append((b - a) // _MS)


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


def _record_key(g: Grouper, at: datetime, r: _Dimensioned) -> GroupKey:
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
    g = Grouper(interval, dims, config)
    for v in derived.visits:
        if _in(v.entered_at, start, end):
            grp = g.group(_record_key(g, v.entered_at, v))
            grp.counters.add_visit(v)
            if v.time_to_operator_s is not None:
                grp.tto_s.append(v.time_to_operator_s)
    for h in derived.handled:
        if _in(h.answered_at, start, end):
            g.group(_record_key(g, h.answered_at, h)).counters.add_handled(h)
    for cb in derived.callbacks:
        if _in(cb.at, start, end):
            key = g.key(
                cb.at,
                queue_id=cb.queue_id,
                topic=cb.topic,
                trunk=cb.trunk,
                direction=Direction.INBOUND,
            )
            g.group(key).counters.add_callback(cb)
    calls_apply = dims <= CALL_DIMENSIONS
    if calls_apply:
        repeats = repeat_call_ids(derived.calls, config.repeat_window_s)
        for c in derived.calls:
            if _in(c.arrived_at, start, end):
                key = g.key(c.arrived_at, topic=c.topic, trunk=c.trunk, direction=c.direction)
                g.group(key).calls.add_call(c, c.call_id in repeats)
    operators_apply = dims <= OPERATOR_DIMENSIONS
    if operators_apply:
        add_span_pieces(g, derived.spans, start, end)
        add_span_pieces(g, derive_operator_spans(events, end=end), start, end)
    if interval is not None and not dims:
        for bucket, _a, _b in buckets_between(start, end, interval, config.tz):
            g.group(g.key(bucket))
    elif interval is None and not dims:
        g.group(g.key(None))
    rows = [
        build_row(
            key,
            grp.counters,
            time_to_operator_s=grp.tto_s,
            calls=grp.calls if calls_apply else None,
            operator_ms=grp.ms if operators_apply else None,
        )
        for key, grp in g.groups.items()
    ]
    rows.sort(key=lambda r: r.key.sort_key())
    return tuple(rows)
