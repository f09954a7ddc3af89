"""The shape of a report row: its group key and every figure of docs/metrics.md.

Layer L1: pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hotline.reports.events import Direction

__all__ = ["GroupKey", "MetricRow"]


@dataclass(frozen=True, slots=True)
class GroupKey:
    """Which interval bucket and group a row is about; None = not grouped by that."""

    interval_start: datetime | None = None
    queue_id: str | None = None
    topic: str | None = None
    operator_id: str | None = None
    trunk: str | None = None
    direction: Direction | None = None

    def sort_key(self) -> tuple[tuple[bool, str], ...]:
        """Order rows by time, then queue, topic, operator, trunk, direction (None first)."""
        # Instants, not local wall-clock strings, so that buckets sort in time order.
        at = self.interval_start
        parts = (
            f"{at.timestamp():020.3f}" if at is not None else None,
            self.queue_id,
            self.topic,
            self.operator_id,
            self.trunk,
            self.direction.value if self.direction is not None else None,
        )
        return tuple((p is not None, p or "") for p in parts)


@dataclass(frozen=True, slots=True)
class MetricRow:
    """Every metric of docs/metrics.md for one group.

    Counts are of queue visits (a call counts once per queue it entered).
    ``timed_out`` is the decree's "not accepted because the maximum waiting
    norm was exceeded" and is never part of ``abandoned``.  Ratios are None
    when their denominator is zero; figures that do not apply to the
    grouping (call-wide or operator-time figures) are None.
    """

    key: GroupKey
    # Queue outcomes (docs/metrics.md, "Call outcomes in a queue").
    offered: int
    answered: int
    answered_within_norm: int
    abandoned: int
    short_abandoned: int
    timed_out: int
    overflowed: int
    callback: int
    left_empty: int
    left_full: int
    unresolved: int
    callback_attempts: int
    callbacks_completed: int
    # Service metrics.
    service_level: float | None
    service_level_answered_only: float | None
    asa_s: float | None
    longest_wait_s: float | None
    time_to_operator_p50_s: float | None
    time_to_operator_p90_s: float | None
    time_to_operator_max_s: float | None
    abandon_rate: float | None
    timed_out_rate: float | None
    # Handling (complete handlings answered in the group).
    handled: int
    talk_s: float
    hold_s: float
    wrapup_s: float
    aht_s: float | None
    # Operator time (per operator and overall).
    work_s: float | None
    ready_idle_s: float | None
    logged_in_s: float | None
    occupancy: float | None
    utilisation: float | None
    # Whole calls (by arrival).
    calls: int | None
    bot_calls: int | None
    bot_contained: int | None
    bot_containment: float | None
    ivr_self_served: int | None
    ivr_self_service: float | None
    repeat_calls: int | None
    repeat_rate: float | None
    outbound_calls: int | None
    outbound_answered: int | None
    outbound_failed: int | None
