"""Reports summed from the store's interval rollups instead of replaying raw events.

For a long period, replaying every event is slow; the store keeps
15-minute rollups of the very counters a report row is made of
(:mod:`hotline.reports.metrics_counters`), plus the call records, visits and
operator spans.  :func:`report_from_projections` sums them into the same
:class:`~hotline.reports.metrics_row.MetricRow` objects that
:func:`~hotline.reports.metrics.compute_report` computes from the events,
through the same :func:`~hotline.reports.metrics_counters.build_row`, so the
figures are identical (the tests compare them field for field).

:func:`projection_unusable` says when the rollups cannot answer exactly and
the raw events must be used instead: a grouping by operator, a period or a
time zone not aligned with 15-minute UTC buckets, a repeat window other than
24 h, or queue norms that changed since the rollups were made (rebuild them
with ``hotline report rebuild``).

Layer L1: pure (the source is any object with the methods of
:class:`ProjectionSource`; the store's ``ProjectionQueries`` is one).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from hotline.reports.events import CallCentreEvent, Direction
from hotline.reports.metrics import Grouper, add_span_pieces
from hotline.reports.metrics_config import (
    DEFAULT_REPEAT_WINDOW_S,
    Dimension,
    Interval,
    MetricsConfig,
    buckets_between,
)
from hotline.reports.metrics_counters import CallCounters, QueueCounters, build_row
from hotline.reports.metrics_facts import OperatorSpan, SpanKind
from hotline.reports.metrics_operators import derive_operator_spans
from hotline.reports.metrics_row import GroupKey, MetricRow
from hotline.reports.metrics_service import Percentiles
from hotline.reports.projection import BUCKET_MS, ms_of

__all__ = [
    "PROJECTION_DIMENSIONS",
    "ProjectionSource",
    "projection_unusable",
    "report_from_projections",
]

PROJECTION_DIMENSIONS: Final = frozenset(
    {Dimension.QUEUE, Dimension.TOPIC, Dimension.TRUNK, Dimension.DIRECTION}
)
_CALL_DIMENSIONS: Final = frozenset({Dimension.TOPIC, Dimension.TRUNK, Dimension.DIRECTION})
_COLUMN: Final = {
    Dimension.QUEUE: "queue_id",
    Dimension.TOPIC: "topic",
    Dimension.TRUNK: "trunk",
    Dimension.DIRECTION: "direction",
}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_QUARTER: Final = timedelta(minutes=15)
_LOOKBACK: Final = timedelta(hours=24)  # what the store reads before a raw report's period

Row = dict[str, Any]


class ProjectionSource(Protocol):
    """What a projection report reads (``hotline.store.projection_queries.ProjectionQueries``)."""

    def queue_norms(self, start_ms: int, end_ms: int) -> set[tuple[str, int, int]]: ...
    def queue_sums(
        self, start_ms: int, end_ms: int, group: Sequence[str], boundaries: Sequence[int] = ()
    ) -> list[Row]: ...
    def call_sums(
        self, start_ms: int, end_ms: int, group: Sequence[str], boundaries: Sequence[int] = ()
    ) -> list[Row]: ...
    def time_to_operator_percentiles(
        self, start_ms: int, end_ms: int, group: Sequence[str], boundaries: Sequence[int] = ()
    ) -> list[Row]: ...
    def spans(self, start_ms: int, end_ms: int) -> list[Row]: ...
    def span_sums(self, start_ms: int, end_ms: int, since_ms: int) -> dict[str, int]: ...


def _aligned(ts: datetime) -> bool:
    return ms_of(ts) % BUCKET_MS == 0


def projection_unusable(
    source: ProjectionSource,
    *,
    start: datetime,
    end: datetime,
    config: MetricsConfig,
    by: Sequence[Dimension] = (),
) -> str | None:
    """Why the rollups cannot give this report exactly; None when they can."""
    if not set(by) <= PROJECTION_DIMENSIONS:
        return "grouping by operator needs the raw events"
    if not (_aligned(start) and _aligned(end)):
        return "the period does not start and end on a quarter of an hour"
    for at in (start, end):
        offset = at.astimezone(config.tz).utcoffset() or timedelta(0)
        if offset % _QUARTER:
            return "the time zone is not a whole number of quarter hours from UTC"
    if config.repeat_window_s != DEFAULT_REPEAT_WINDOW_S:
        return "the repeat-call window differs from the one the projections use"
    for queue_id, norm_ms, short_ms in source.queue_norms(ms_of(start), ms_of(end)):
        norms = config.norms(queue_id)
        if (round(norms.norm_s * 1000), round(norms.short_abandon_s * 1000)) != (
            norm_ms,
            short_ms,
        ):
            return f"the norms of queue {queue_id!r} changed: run `hotline report rebuild`"
    return None


def _direction(value: object) -> Direction | None:
    return Direction(str(value)) if value is not None else None


def _key(g: Grouper, row: Row, group: Sequence[str], starts: Sequence[datetime]) -> GroupKey:
    at = starts[int(row["bucket"])] if starts else None
    return g.key(
        at,
        queue_id=row.get("queue_id") if "queue_id" in group else None,
        topic=row.get("topic") if "topic" in group else None,
        trunk=row.get("trunk") if "trunk" in group else None,
        direction=_direction(row.get("direction")) if "direction" in group else None,
    )


def _span(row: Row, end: datetime) -> OperatorSpan:
    start = _EPOCH + timedelta(milliseconds=int(row["from_ms"]))
    to_ms = row["to_ms"]
    return OperatorSpan(
        str(row["operator_id"]),
        SpanKind(str(row["kind"])),
        start,
        _EPOCH + timedelta(milliseconds=int(to_ms)) if to_ms is not None else max(start, end),
        open=to_ms is None,
        call_id=str(row["call_id"]),
    )


def report_from_projections(
    source: ProjectionSource,
    *,
    start: datetime,
    end: datetime,
    config: MetricsConfig | None = None,
    interval: Interval | None = None,
    by: Sequence[Dimension] = (),
    operator_events: Iterable[CallCentreEvent] = (),
) -> tuple[MetricRow, ...]:
    """The rows :func:`~hotline.reports.metrics.compute_report` would give, from rollups.

    Check :func:`projection_unusable` first.  ``operator_events``: the
    operators' login/logout/state events the raw report would see (those of
    the period and the day before, and each operator's last ones before
    that); needed only without grouping dimensions (operator time).
    """
    config = config or MetricsConfig()
    dims = frozenset(by)
    group = [_COLUMN[d] for d in Dimension if d in dims]
    lo, hi = ms_of(start), ms_of(end)
    g = Grouper(interval, dims, config)
    # The report's buckets (local days, months, ...); the store sums its rollups into them.
    starts: list[datetime] = []
    if interval is not None:
        starts = [b for b, _a, _b in buckets_between(start, end, interval, config.tz)]
    boundaries = [ms_of(b) for b in starts]
    counters: dict[GroupKey, QueueCounters] = defaultdict(QueueCounters)
    for row in source.queue_sums(lo, hi, group, boundaries):
        c = QueueCounters(**{k: int(row[k] or 0) for k in QueueCounters.__dataclass_fields__})
        if row.get("max_wait_ms") is None:
            c.max_wait_ms = -1
        key = _key(g, row, group, starts)
        counters[key].add(c)
        g.group(key)
    percentiles: dict[GroupKey, Percentiles] = {}
    for row in source.time_to_operator_percentiles(lo, hi, group, boundaries):
        percentiles[_key(g, row, group, starts)] = Percentiles(
            row["p50_ms"] / 1000, row["p90_ms"] / 1000, row["max_ms"] / 1000
        )
    calls_apply = dims <= _CALL_DIMENSIONS
    calls: dict[GroupKey, CallCounters] = defaultdict(CallCounters)
    if calls_apply:
        call_group = [c for c in group if c != "queue_id"]
        for row in source.call_sums(lo, hi, call_group, boundaries):
            key = _key(g, row, call_group, starts)
            calls[key].add(
                CallCounters(**{k: int(row[k] or 0) for k in CallCounters.__dataclass_fields__})
            )
            g.group(key)
    operators_apply = not dims
    if operators_apply:
        since_ms = ms_of(start - _LOOKBACK)
        if interval is None:
            # One group: the store sums the calls' operator time cut at the period in SQL.
            whole = g.group(g.key(None))
            for kind, ms in source.span_sums(lo, hi, since_ms).items():
                whole.ms[SpanKind(kind)].append(ms)
        else:
            spans = [
                _span(r, end)
                for r in source.spans(lo, hi)
                if r["to_ms"] is not None or int(r.get("call_last_ms") or since_ms) >= since_ms
            ]
            add_span_pieces(g, spans, start, end)
        add_span_pieces(g, derive_operator_spans(operator_events, end=end), start, end)
    if interval is not None and not dims:
        for bucket, _a, _b in buckets_between(start, end, interval, config.tz):
            g.group(g.key(bucket))
    elif interval is None and not dims:
        g.group(g.key(None))
    rows = [
        build_row(
            key,
            counters.get(key, QueueCounters()),
            time_to_operator_s=percentiles.get(key, ()),
            calls=calls.get(key, CallCounters()) if calls_apply else None,
            operator_ms=grp.ms if operators_apply else None,
        )
        for key, grp in g.groups.items()
    ]
    rows.sort(key=lambda r: r.key.sort_key())
    return tuple(rows)
