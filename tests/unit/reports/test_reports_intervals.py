"""Intervals (15/30/60 min, day, month) in the service's time zone; row order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from reports_log import K, Log, at

from hotline.core.errors import ConfigurationError
from hotline.reports import metrics
from hotline.reports.metrics import compute_report
from hotline.reports.metrics_config import (
    Dimension,
    Interval,
    MetricsConfig,
    QueueNorms,
    bucket_start,
    buckets_between,
    next_bucket,
)

MSK = ZoneInfo("Europe/Moscow")


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        (Interval.MIN15, datetime(2026, 3, 2, 12, 30, tzinfo=MSK)),
        (Interval.MIN30, datetime(2026, 3, 2, 12, 30, tzinfo=MSK)),
        (Interval.MIN60, datetime(2026, 3, 2, 12, 0, tzinfo=MSK)),
        (Interval.DAY, datetime(2026, 3, 2, tzinfo=MSK)),
        (Interval.MONTH, datetime(2026, 3, 1, tzinfo=MSK)),
    ],
)
def test_bucket_start_in_local_time(interval: Interval, expected: datetime) -> None:
    ts = datetime(2026, 3, 2, 9, 44, 59, tzinfo=UTC)  # 12:44:59 in Moscow
    assert bucket_start(ts, interval, MSK) == expected


def test_next_bucket_crosses_months_and_years() -> None:
    assert next_bucket(datetime(2025, 12, 1, tzinfo=MSK), Interval.MONTH, MSK) == datetime(
        2026, 1, 1, tzinfo=MSK
    )
    assert next_bucket(datetime(2026, 2, 28, tzinfo=MSK), Interval.DAY, MSK) == datetime(
        2026, 3, 1, tzinfo=MSK
    )
    odd = timezone(timedelta(hours=5, minutes=45))
    start = bucket_start(datetime(2026, 1, 1, 0, 20, tzinfo=UTC), Interval.MIN15, odd)
    assert start == datetime(2026, 1, 1, 6, 0, tzinfo=odd)
    assert next_bucket(start, Interval.MIN15, odd) == datetime(2026, 1, 1, 6, 15, tzinfo=odd)


def test_buckets_between_covers_a_span_exactly() -> None:
    a, b = at(0), at(4000)
    pieces = list(buckets_between(a, b, Interval.MIN30, UTC))
    assert [p[0] for p in pieces] == [at(0), at(1800), at(3600)]
    assert sum((p[2] - p[1]).total_seconds() for p in pieces) == 4000
    assert list(buckets_between(b, a, Interval.MIN30, UTC)) == []


def test_a_late_evening_call_in_utc_is_the_next_local_day() -> None:
    log = Log()
    # 21:30 UTC on 1 March = 00:30 on 2 March in Moscow.
    late = datetime(2026, 3, 1, 21, 30, tzinfo=UTC)
    offset = (late - at(0)).total_seconds()
    log.queued_call("c", "q", offset, outcome=K.QUEUE_ANSWERED, wait_s=5)
    config = MetricsConfig(tz=MSK)
    rows = compute_report(
        log.events,
        start=datetime(2026, 3, 1, tzinfo=MSK),
        end=datetime(2026, 3, 3, tzinfo=MSK),
        config=config,
        interval=Interval.DAY,
    )
    assert [(r.key.interval_start, r.offered) for r in rows] == [
        (datetime(2026, 3, 1, tzinfo=MSK), 0),
        (datetime(2026, 3, 2, tzinfo=MSK), 1),
    ]


def test_fifteen_minute_rows_attribute_calls_to_their_queue_entry() -> None:
    log = Log()
    log.queued_call("a", "q", 5 * 60, outcome=K.QUEUE_ANSWERED, wait_s=700)  # answered in bucket 2
    log.queued_call("b", "q", 20 * 60, outcome=K.QUEUE_TIMED_OUT, wait_s=120)
    log.queued_call("c", "q2", 21 * 60, outcome=K.QUEUE_ABANDONED, wait_s=30)
    rows = compute_report(log.events, start=at(0), end=at(3600), interval=Interval.MIN15)
    assert [(r.offered, r.answered, r.timed_out, r.abandoned) for r in rows] == [
        (1, 1, 0, 0),
        (2, 0, 1, 1),
        (0, 0, 0, 0),
        (0, 0, 0, 0),
    ]
    by_queue = compute_report(
        log.events, start=at(0), end=at(3600), interval=Interval.MIN15, by=[Dimension.QUEUE]
    )
    assert [(r.key.interval_start, r.key.queue_id) for r in by_queue] == [
        (at(0), "q"),
        (at(900), "q"),
        (at(900), "q2"),
    ]


def test_month_rows() -> None:
    log = Log()
    log.queued_call("feb", "q", -5 * 86400, outcome=K.QUEUE_ANSWERED, wait_s=5)
    log.queued_call("mar", "q", 0, outcome=K.QUEUE_ANSWERED, wait_s=50)
    rows = compute_report(
        log.events,
        start=datetime(2026, 2, 1, tzinfo=UTC),
        end=datetime(2026, 4, 1, tzinfo=UTC),
        interval=Interval.MONTH,
    )
    assert [(r.key.interval_start, r.service_level) for r in rows] == [
        (datetime(2026, 2, 1, tzinfo=UTC), 1.0),
        (datetime(2026, 3, 1, tzinfo=UTC), 0.0),
    ]


def test_config_validation() -> None:
    with pytest.raises(ConfigurationError, match="norm_s"):
        QueueNorms(norm_s=0)
    with pytest.raises(ConfigurationError, match="short_abandon_s"):
        QueueNorms(short_abandon_s=float("nan"))
    with pytest.raises(ConfigurationError, match="repeat_window_s"):
        MetricsConfig(repeat_window_s=-1)
    config = MetricsConfig(queues={"q": QueueNorms(norm_s=30)})
    assert config.norms("q").norm_s == 30
    assert config.norms("other").norm_s == 20
    assert config.norms(None).norm_s == 20


def test_public_surface() -> None:
    assert set(metrics.__all__) == {
        "CALL_DIMENSIONS",
        "OPERATOR_DIMENSIONS",
        "GroupKey",
        "Grouper",
        "MetricRow",
        "add_span_pieces",
        "compute_report",
    }
