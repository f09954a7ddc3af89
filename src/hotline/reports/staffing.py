"""The staffing view (R9): offered load, AHT and the headcount each queue needs.

docs/metrics.md, "Staffing (Erlang C, Erlang A)": A = λ · AHT (traffic in
Erlangs); the Erlang C headcount is the fewest operators N whose
SL(t) = 1 − P(wait) · e^{−(N−A)·t/AHT} reaches the target at the queue's norm
t; Erlang A adds the callers' patience (closer to a hotline with a hard wait
norm); Scheduled = N ÷ (1 − shrinkage).  The formulas live in
:mod:`hotline.acd.erlang`, which this module may not import (acd and
reports are sibling layers, architecture.md): the caller hands it in as
``erlang=`` (the module itself satisfies :class:`ErlangModel`).  This
module feeds it with figures recomputed from the raw events:

* offered load: docs/metrics.md "Offered" (calls that entered the queue),
  counted in the interval in which they entered it;
* AHT: docs/metrics.md "AHT" = (talk + hold + wrap-up) ÷ handled calls, in
  the interval in which the operator answered; an interval with offered
  calls but no completed handling falls back to the queue's AHT over the
  whole period;
* patience: a configured value, or else the mean wait of the queue's
  abandoned calls over the period (an estimate that errs low: callers who
  were answered had at least their wait of patience);
* operators logged in: from ``operator.login``/``operator.logout`` (and
  ``operator.state`` ``logged_out``), time-weighted average and maximum per
  interval.  Operators are not bound to one queue in the events, so the
  logged-in figures are the whole centre's, the same in every queue's row.

Layer L1: pure, no clock, no I/O.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hotline.reports.events import CallCentreEvent, EventKind
from hotline.reports.metrics import compute_report
from hotline.reports.metrics_config import (
    Dimension,
    Interval,
    MetricsConfig,
    buckets_between,
)
from hotline.reports.metrics_facts import OperatorSpan, SpanKind
from hotline.reports.metrics_operators import derive_operator_spans

__all__ = [
    "DEFAULT_SHRINKAGE",
    "DEFAULT_SL_TARGET",
    "ErlangModel",
    "LoggedIn",
    "StaffingConfig",
    "StaffingRow",
    "compute_staffing",
    "logged_in_by_interval",
]

DEFAULT_SL_TARGET = 0.8
DEFAULT_SHRINKAGE = 0.3


class ErlangModel(Protocol):
    """The Erlang C / Erlang A functions of :mod:`hotline.acd.erlang` (pass the module)."""

    def erlang_c_headcount(
        self, traffic: float, aht_s: float, target_s: float, service_level: float
    ) -> int: ...

    def erlang_c_service_level(
        self, servers: int, traffic: float, aht_s: float, target_s: float
    ) -> float: ...

    def erlang_a_headcount(
        self,
        arrival_rate_per_s: float,
        aht_s: float,
        patience_s: float,
        target_s: float,
        service_level: float,
    ) -> int: ...

    def scheduled_headcount(self, servers: int, shrinkage: float) -> int: ...


@dataclass(frozen=True, slots=True)
class StaffingConfig:
    """Targets of the staffing view.

    ``sl_target`` is the share of calls to answer within the queue's norm
    (0 < target < 1); ``shrinkage`` the share of paid time operators are not
    available (breaks, training), in [0, 1); ``patience_s`` a configured mean
    patience for Erlang A (None: estimate it from abandoned calls).
    """

    sl_target: float = DEFAULT_SL_TARGET
    shrinkage: float = DEFAULT_SHRINKAGE
    patience_s: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.sl_target < 1:
            raise ValueError("sl_target must be between 0 and 1 (exclusive)")
        if not 0 <= self.shrinkage < 1:
            raise ValueError("shrinkage must be in [0, 1)")
        if self.patience_s is not None and not (
            math.isfinite(self.patience_s) and self.patience_s > 0
        ):
            raise ValueError("patience_s must be a positive number")


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """Operators logged in during one interval: time-weighted average and maximum."""

    average: float
    maximum: int


@dataclass(frozen=True, slots=True)
class StaffingRow:
    """One interval of one queue: load, need (Erlang C / A, scheduled) and supply.

    Headcounts are None when there is no AHT to work with (no call of the
    queue was handled in the whole period); ``erlang_a_agents`` is None
    without a patience value.
    """

    interval_start: datetime
    queue_id: str
    offered: int
    handled: int
    aht_s: float | None
    traffic_erlangs: float | None
    norm_s: float
    sl_target: float
    erlang_c_agents: int | None
    erlang_c_service_level: float | None
    patience_s: float | None
    erlang_a_agents: int | None
    scheduled_agents: int | None
    logged_in_avg: float
    logged_in_max: int

    @property
    def shortfall(self) -> float | None:
        """Scheduled headcount minus the average logged in (positive: too few operators)."""
        if self.scheduled_agents is None:
            return None
        return self.scheduled_agents - self.logged_in_avg


def _max_concurrent(pieces: Sequence[tuple[datetime, datetime]]) -> int:
    marks: list[tuple[datetime, int]] = []
    for a, b in pieces:
        marks.append((a, 1))
        marks.append((b, -1))
    marks.sort(key=lambda m: (m[0], m[1]))  # a logout before a login at the same instant
    best = current = 0
    for _at, step in marks:
        current += step
        best = max(best, current)
    return best


def logged_in_by_interval(
    spans: Iterable[OperatorSpan],
    *,
    start: datetime,
    end: datetime,
    interval: Interval,
    config: MetricsConfig,
) -> dict[datetime, LoggedIn]:
    """Per interval bucket of ``[start, end)``: operators logged in (average over time, maximum).

    The average is logged-in operator-seconds ÷ the bucket's seconds within
    the period (docs/metrics.md, Utilisation uses the same logged-in time).
    """
    pieces: dict[datetime, list[tuple[datetime, datetime]]] = defaultdict(list)
    for span in spans:
        if span.kind is not SpanKind.LOGGED_IN:
            continue
        lo, hi = max(span.start, start), min(span.end, end)
        if hi <= lo:
            continue
        for bucket, a, b in buckets_between(lo, hi, interval, config.tz):
            pieces[bucket].append((a, b))
    result: dict[datetime, LoggedIn] = {}
    for bucket, a, b in buckets_between(start, end, interval, config.tz):
        length = (b - a).total_seconds()
        own = pieces.get(bucket, [])
        busy = math.fsum((y - x).total_seconds() for x, y in own)
        result[bucket] = LoggedIn(
            average=busy / length if length > 0 else 0.0, maximum=_max_concurrent(own)
        )
    return result


def _mean_abandoned_wait(
    events: Sequence[CallCentreEvent], start: datetime, end: datetime
) -> dict[str, float]:
    waits: dict[str, list[float]] = defaultdict(list)
    for e in events:
        if e.kind is EventKind.QUEUE_ABANDONED and e.queue_id is not None:
            wait = e.number("wait_s")
            if wait is not None and wait > 0 and start <= e.timestamp < end:
                waits[e.queue_id].append(wait)
    return {q: math.fsum(w) / len(w) for q, w in waits.items()}


def _period_aht(
    events: Sequence[CallCentreEvent], start: datetime, end: datetime, config: MetricsConfig
) -> dict[str, float]:
    rows = compute_report(events, start=start, end=end, config=config, by=(Dimension.QUEUE,))
    return {
        r.key.queue_id: r.aht_s
        for r in rows
        if r.key.queue_id is not None and r.aht_s is not None and r.aht_s > 0
    }


def compute_staffing(
    events: Iterable[CallCentreEvent],
    *,
    erlang: ErlangModel,
    start: datetime,
    end: datetime,
    interval: Interval = Interval.MIN30,
    config: MetricsConfig | None = None,
    staffing: StaffingConfig | None = None,
    queue_id: str | None = None,
) -> tuple[StaffingRow, ...]:
    """The staffing view of ``[start, end)``: one row per interval bucket and queue.

    Every queue that saw a call in the period has a row in every bucket
    (empty buckets need 0 operators); rows are ordered by time, then queue.
    Pass the whole of every call touching the period, as for
    :func:`~hotline.reports.metrics.compute_report`.
    """
    config = config or MetricsConfig()
    staffing = staffing or StaffingConfig()
    events = list(events)
    rows = compute_report(
        events, start=start, end=end, config=config, interval=interval, by=(Dimension.QUEUE,)
    )
    by_key = {
        (r.key.interval_start, r.key.queue_id): r
        for r in rows
        if r.key.interval_start is not None and r.key.queue_id is not None
    }
    queues = sorted({q for _b, q in by_key if q is not None})
    if queue_id is not None:
        queues = [q for q in queues if q == queue_id]
    period_aht = _period_aht(events, start, end, config)
    patience = _mean_abandoned_wait(events, start, end)
    logged = logged_in_by_interval(
        derive_operator_spans(events, end=end),
        start=start,
        end=end,
        interval=interval,
        config=config,
    )
    out: list[StaffingRow] = []
    for bucket, a, b in buckets_between(start, end, interval, config.tz):
        seconds = (b - a).total_seconds()
        supply = logged.get(bucket, LoggedIn(0.0, 0))
        for q in queues:
            row = by_key.get((bucket, q))
            offered = row.offered if row is not None else 0
            handled = row.handled if row is not None else 0
            aht = row.aht_s if row is not None and row.aht_s else period_aht.get(q)
            out.append(
                _staffing_row(
                    erlang,
                    bucket,
                    q,
                    offered=offered,
                    handled=handled,
                    aht_s=aht,
                    seconds=seconds,
                    norm_s=config.norms(q).norm_s,
                    staffing=staffing,
                    patience_s=staffing.patience_s or patience.get(q),
                    supply=supply,
                )
            )
    return tuple(out)


def _staffing_row(
    erlang: ErlangModel,
    bucket: datetime,
    queue_id: str,
    *,
    offered: int,
    handled: int,
    aht_s: float | None,
    seconds: float,
    norm_s: float,
    staffing: StaffingConfig,
    patience_s: float | None,
    supply: LoggedIn,
) -> StaffingRow:
    traffic: float | None = None
    c_agents: int | None = None
    c_sl: float | None = None
    a_agents: int | None = None
    scheduled: int | None = None
    if aht_s is not None and seconds > 0:
        rate = offered / seconds  # λ, calls per second
        traffic = rate * aht_s  # docs/metrics.md: A = λ · AHT
        c_agents = erlang.erlang_c_headcount(traffic, aht_s, norm_s, staffing.sl_target)
        c_sl = erlang.erlang_c_service_level(c_agents, traffic, aht_s, norm_s) if c_agents else None
        if patience_s is not None:
            a_agents = erlang.erlang_a_headcount(
                rate, aht_s, patience_s, norm_s, staffing.sl_target
            )
        # docs/metrics.md: Scheduled = N ÷ (1 − shrinkage), from the Erlang C need.
        scheduled = erlang.scheduled_headcount(c_agents, staffing.shrinkage)
    return StaffingRow(
        interval_start=bucket,
        queue_id=queue_id,
        offered=offered,
        handled=handled,
        aht_s=aht_s,
        traffic_erlangs=traffic,
        norm_s=norm_s,
        sl_target=staffing.sl_target,
        erlang_c_agents=c_agents,
        erlang_c_service_level=c_sl,
        patience_s=patience_s,
        erlang_a_agents=a_agents,
        scheduled_agents=scheduled,
        logged_in_avg=supply.average,
        logged_in_max=supply.maximum,
    )
