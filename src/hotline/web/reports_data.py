"""The figures behind the report pages, read from the store (blocking: call in a thread).

The same glue as ``hotline report`` (``hotline.app.cli_report``), which the
web layer may not import: per-queue norms from the stored queues, the
events of every call touching the period, and the pure report functions
(:func:`~hotline.reports.metrics.compute_report`,
:func:`~hotline.reports.staffing.compute_staffing`).  Calls of a medical
topic are left out of call lists for users without ``medical_secrecy``.

A :class:`Period` holds UTC instants and the service's time zone
(``HOTLINE_TIMEZONE``): intervals are cut and every time a person reads is
shown in that zone, named once by :func:`zone_label`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from hotline.acd import erlang
from hotline.core.errors import ConfigurationError, RemoteProtocolError
from hotline.reports.cdr import CallDetailRecord
from hotline.reports.events import CallCentreEvent, event_from_record
from hotline.reports.export import Cell, ReportTable
from hotline.reports.metrics import compute_report
from hotline.reports.metrics_config import Dimension, Interval, MetricsConfig, QueueNorms
from hotline.reports.metrics_row import MetricRow
from hotline.reports.staffing import StaffingConfig, StaffingRow, compute_staffing
from hotline.store.db import Database
from hotline.store.event_queries import EventQueries
from hotline.store.queues import QueuesRepository
from hotline.web.recordings_search import RecordingQuery, find_cdrs

__all__ = [
    "STAFFING_COLUMNS",
    "Period",
    "call_records",
    "metrics_config",
    "report_events",
    "staffing_rows",
    "staffing_table",
    "summary_rows",
    "zone_label",
]

STAFFING_COLUMNS: Final = (
    "interval_start",
    "queue_id",
    "offered",
    "handled",
    "aht_s",
    "traffic_erlangs",
    "norm_s",
    "erlang_c_agents",
    "erlang_a_agents",
    "scheduled_agents",
    "logged_in_avg",
    "logged_in_max",
    "shortfall",
)
_DIGITS: Final = 3


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` as aware datetimes; ``tz`` cuts the intervals and shows the times."""

    start: datetime
    end: datetime
    interval: Interval
    tz: tzinfo = UTC


def _offset(tz: tzinfo, at: datetime) -> str:
    delta = at.astimezone(tz).utcoffset() or timedelta(0)
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def zone_label(tz: tzinfo, start: datetime, end: datetime) -> str:
    """The zone as a person reads it: ``Europe/Moscow, UTC+03:00``.

    Both offsets are named when they differ within ``[start, end)`` (a zone
    with summer time); ``UTC`` alone for UTC.
    """
    name = str(tz)
    offsets = dict.fromkeys(_offset(tz, at) for at in (start, end - timedelta(microseconds=1)))
    if name == "UTC" and list(offsets) == ["UTC+00:00"]:
        return name
    return f"{name}, {' / '.join(offsets)}"


def metrics_config(db: Database, tz: tzinfo = UTC, *, strict: bool = False) -> MetricsConfig:
    """Each stored queue's norms (metrics.md: SL threshold, short abandon, maximum wait).

    A queue with unusable norms keeps the defaults, or with ``strict`` raises
    :class:`ConfigurationError` naming the queue (the command line's choice).
    """
    norms: dict[str, QueueNorms] = {}
    for q in QueuesRepository(db).all():
        try:
            max_wait = q.config.get("max_wait_s")
            norms[q.queue_id] = QueueNorms(
                norm_s=float(q.config.get("sl_norm_s", 20.0)),
                short_abandon_s=float(q.config.get("short_abandon_s", 5.0)),
                max_wait_s=float(max_wait) if max_wait is not None else None,
            )
        except (ConfigurationError, TypeError, ValueError) as exc:
            if strict:
                raise ConfigurationError(f"queue {q.queue_id}", f"bad norm: {exc}") from None
            continue
    return MetricsConfig(queues=norms, tz=tz)


def report_events(db: Database, start: datetime, end: datetime) -> list[CallCentreEvent]:
    """Every event a report on ``[start, end)`` needs (a damaged event is skipped)."""
    events = []
    for stored in EventQueries(db).for_report(start, end):
        try:
            events.append(event_from_record(stored))
        except RemoteProtocolError:
            continue
    return events


def summary_rows(
    db: Database, period: Period, by: Sequence[Dimension] = (), *, with_interval: bool = True
) -> tuple[MetricRow, ...]:
    return compute_report(
        report_events(db, period.start, period.end),
        start=period.start,
        end=period.end,
        config=metrics_config(db, period.tz),
        interval=period.interval if with_interval else None,
        by=by,
    )


def staffing_rows(db: Database, period: Period) -> tuple[StaffingRow, ...]:
    return compute_staffing(
        report_events(db, period.start, period.end),
        erlang=erlang,
        start=period.start,
        end=period.end,
        interval=period.interval,
        config=metrics_config(db, period.tz),
        staffing=StaffingConfig(),
    )


def _cell(row: StaffingRow, key: str, tz: tzinfo) -> Cell:
    value = getattr(row, key)
    if key == "interval_start":
        return row.interval_start.astimezone(tz).replace(tzinfo=None)
    if isinstance(value, float):
        return round(value, _DIGITS) if math.isfinite(value) else None
    if value is None or isinstance(value, int | str):
        return value
    return str(value)


def staffing_table(rows: Sequence[StaffingRow], tz: tzinfo = UTC) -> ReportTable:
    data = tuple(tuple(_cell(r, k, tz) for k in STAFFING_COLUMNS) for r in rows)
    return ReportTable(title="Потребность в операторах", keys=STAFFING_COLUMNS, rows=data)


def call_records(db: Database, period: Period) -> list[CallDetailRecord]:
    return find_cdrs(db, RecordingQuery(start=period.start, end=period.end))
