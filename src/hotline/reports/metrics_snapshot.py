"""The real-time picture: calls waiting, longest wait against the norm,
operators by state, SL today per queue (issue 7, docs/metrics.md).

:func:`realtime_snapshot` takes today's events and ``now`` (an aware
datetime handed in by the caller: this module reads no clock).  For the
operators' states, pass each operator's last ``operator.login``/``logout``/
``state`` event from before today too.

Layer L1: pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Final

from hotline.reports.events import CallCentreEvent, EventKind, OperatorStateName
from hotline.reports.metrics_calls import derive_calls, seconds_between
from hotline.reports.metrics_config import Interval, MetricsConfig, bucket_start
from hotline.reports.metrics_facts import QueueOutcome, QueueVisit
from hotline.reports.metrics_operators import current_states
from hotline.reports.metrics_service import count_outcome, offered, service_level

__all__ = ["QueueSnapshot", "Snapshot", "realtime_snapshot", "waiting_since"]

_LEAVING: Final = frozenset(
    {
        EventKind.QUEUE_ANSWERED,
        EventKind.QUEUE_ABANDONED,
        EventKind.QUEUE_TIMED_OUT,
        EventKind.QUEUE_OVERFLOWED,
        EventKind.QUEUE_CALLBACK_REQUESTED,
        EventKind.QUEUE_LEFT_EMPTY,
        EventKind.QUEUE_LEFT_FULL,
    }
)


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """One queue right now, and its day so far (local day of ``MetricsConfig.tz``)."""

    queue_id: str
    waiting: int
    longest_wait_s: float | None
    norm_s: float
    max_wait_s: float | None
    wait_vs_norm: float | None  # longest wait ÷ norm: above 1 means over the norm
    over_norm: bool
    offered_today: int
    answered_today: int
    abandoned_today: int
    timed_out_today: int
    service_level_today: float | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole centre at ``at``."""

    at: datetime
    calls_waiting: int
    longest_wait_s: float | None
    queues: tuple[QueueSnapshot, ...]
    operators_by_state: Mapping[OperatorStateName, int]
    operators_logged_in: int


def waiting_since(events: Iterable[CallCentreEvent], *, now: datetime) -> dict[str, list[datetime]]:
    """Per queue, when each call that is in it at ``now`` entered it."""
    by_call: dict[str, list[CallCentreEvent]] = defaultdict(list)
    for e in events:
        if e.call_id is not None and e.timestamp <= now:
            by_call[e.call_id].append(e)
    waiting: dict[str, list[datetime]] = defaultdict(list)
    for evs in by_call.values():
        current: dict[str, datetime] = {}
        for e in sorted(evs, key=lambda e: e.timestamp):
            if e.kind is EventKind.QUEUE_ENTERED and e.queue_id is not None:
                current[e.queue_id] = e.timestamp
            elif e.kind in _LEAVING and e.queue_id is not None:
                current.pop(e.queue_id, None)
            elif e.kind is EventKind.CALL_ENDED:
                current.clear()
        for queue_id, since in current.items():
            waiting[queue_id].append(since)
    return waiting


def realtime_snapshot(
    events: Iterable[CallCentreEvent],
    *,
    now: datetime,
    config: MetricsConfig | None = None,
    queue_ids: Iterable[str] = (),
) -> Snapshot:
    """The snapshot at ``now``; queues listed in ``config`` or ``queue_ids`` always appear."""
    config = config or MetricsConfig()
    events = [e for e in events if e.timestamp <= now]
    waiting = waiting_since(events, now=now)
    day_start = bucket_start(now, Interval.DAY, config.tz)
    today: dict[str, list[QueueVisit]] = defaultdict(list)
    for v in derive_calls(events, config, end=now).visits:
        if day_start <= v.entered_at <= now:
            today[v.queue_id].append(v)
    names = sorted({*config.queues, *queue_ids, *waiting, *today})
    queues = tuple(_queue(q, waiting.get(q, []), today.get(q, []), now, config) for q in names)
    states = current_states(events, now=now)
    counts: dict[OperatorStateName, int] = defaultdict(int)
    for state in states.values():
        if state is not OperatorStateName.LOGGED_OUT:
            counts[state] += 1
    longest = [q.longest_wait_s for q in queues if q.longest_wait_s is not None]
    return Snapshot(
        at=now,
        calls_waiting=sum(q.waiting for q in queues),
        longest_wait_s=max(longest) if longest else None,
        queues=queues,
        operators_by_state=MappingProxyType(dict(sorted(counts.items()))),
        operators_logged_in=sum(counts.values()),
    )


def _queue(
    queue_id: str,
    entered: list[datetime],
    visits: list[QueueVisit],
    now: datetime,
    config: MetricsConfig,
) -> QueueSnapshot:
    norms = config.norms(queue_id)
    longest = max((seconds_between(t, now) for t in entered), default=None)
    return QueueSnapshot(
        queue_id=queue_id,
        waiting=len(entered),
        longest_wait_s=longest,
        norm_s=norms.norm_s,
        max_wait_s=norms.max_wait_s,
        wait_vs_norm=longest / norms.norm_s if longest is not None else None,
        over_norm=longest is not None and longest > norms.norm_s,
        offered_today=offered(visits),
        answered_today=count_outcome(visits, QueueOutcome.ANSWERED),
        abandoned_today=count_outcome(visits, QueueOutcome.ABANDONED),
        timed_out_today=count_outcome(visits, QueueOutcome.TIMED_OUT),
        service_level_today=service_level(visits),
    )
