"""Report configuration, intervals and grouping dimensions (docs/metrics.md).

docs/metrics.md, "Intervals": 15, 30, 60 minutes, day, month; by queue, by
topic, by operator, by trunk; inbound and outbound apart.  Interval buckets
are cut in the service's local time zone (a day is a local day), so a
report for "1 March" in Moscow starts at 00:00 Moscow time.

Layer L1: pure.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from hotline.core.errors import ConfigurationError

__all__ = [
    "DEFAULT_NORM_S",
    "DEFAULT_REPEAT_WINDOW_S",
    "DEFAULT_SHORT_ABANDON_S",
    "Dimension",
    "Interval",
    "MetricsConfig",
    "QueueNorms",
    "bucket_start",
    "buckets_between",
    "next_bucket",
]

DEFAULT_NORM_S: Final = 20.0
DEFAULT_SHORT_ABANDON_S: Final = 5.0
DEFAULT_REPEAT_WINDOW_S: Final = 24 * 3600.0


class Interval(enum.StrEnum):
    """Report intervals of docs/metrics.md."""

    MIN15 = "15min"
    MIN30 = "30min"
    MIN60 = "60min"
    DAY = "day"
    MONTH = "month"


class Dimension(enum.StrEnum):
    """Grouping dimensions of docs/metrics.md (besides the interval)."""

    QUEUE = "queue"
    TOPIC = "topic"
    OPERATOR = "operator"
    TRUNK = "trunk"
    DIRECTION = "direction"


_MINUTES: Final = {Interval.MIN15: 15, Interval.MIN30: 30, Interval.MIN60: 60}


def _check_s(setting: str, value: float, *, positive: bool) -> None:
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ConfigurationError(
            setting, "must be a finite number of seconds" + (" > 0" * positive)
        )


@dataclass(frozen=True, slots=True)
class QueueNorms:
    """A queue's norms: SL threshold T, short-abandon limit and maximum wait."""

    norm_s: float = DEFAULT_NORM_S
    short_abandon_s: float = DEFAULT_SHORT_ABANDON_S
    max_wait_s: float | None = None

    def __post_init__(self) -> None:
        _check_s("norm_s", self.norm_s, positive=True)
        _check_s("short_abandon_s", self.short_abandon_s, positive=False)
        if self.max_wait_s is not None:
            _check_s("max_wait_s", self.max_wait_s, positive=True)


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """Per-queue norms (a default for unlisted queues), the local zone, repeat window."""

    queues: Mapping[str, QueueNorms] = field(default_factory=dict)
    default: QueueNorms = field(default_factory=QueueNorms)
    tz: tzinfo = UTC
    repeat_window_s: float = DEFAULT_REPEAT_WINDOW_S

    def __post_init__(self) -> None:
        _check_s("repeat_window_s", self.repeat_window_s, positive=True)

    def norms(self, queue_id: str | None) -> QueueNorms:
        """The norms of ``queue_id`` (the default ones when it has none of its own)."""
        if queue_id is None:
            return self.default
        return self.queues.get(queue_id, self.default)


def bucket_start(ts: datetime, interval: Interval, tz: tzinfo) -> datetime:
    """The start of the ``interval`` bucket holding ``ts``, as an aware datetime in ``tz``."""
    local = ts.astimezone(tz)
    if interval is Interval.MONTH:
        return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if interval is Interval.DAY:
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = _MINUTES[interval]
    minute_of_day = local.hour * 60 + local.minute
    floor = minute_of_day - minute_of_day % minutes
    return local.replace(hour=floor // 60, minute=floor % 60, second=0, microsecond=0)


def next_bucket(start: datetime, interval: Interval, tz: tzinfo) -> datetime:
    """The start of the bucket after the one starting at ``start``."""
    local = start.astimezone(tz)
    if interval is Interval.MONTH:
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        return local.replace(year=year, month=month, day=1)
    if interval is Interval.DAY:
        nxt = (local.date() + timedelta(days=1)).isoformat()
        return datetime.fromisoformat(nxt).replace(tzinfo=tz)
    step = timedelta(minutes=_MINUTES[interval])
    return (local.astimezone(UTC) + step).astimezone(tz)


def buckets_between(
    start: datetime, end: datetime, interval: Interval, tz: tzinfo
) -> Iterator[tuple[datetime, datetime, datetime]]:
    """``(bucket, piece_start, piece_end)`` for each bucket that ``[start, end)`` touches."""
    if end <= start:
        return
    bucket = bucket_start(start, interval, tz)
    while bucket < end:
        following = next_bucket(bucket, interval, tz)
        yield bucket, max(start, bucket), min(end, following)
        bucket = following
