"""Report pages for supervisors and auditors: charts, totals, the staffing view, exports.

* ``/reports`` (``reports.view``): a period and an interval; totals with the
  timed-out calls on their own line; SVG charts (per interval, by topic, by
  operator: ``/reports/chart/{name}.svg``, drawn on the server); the staffing
  view (operators needed against logged in, per interval and queue);
  export buttons.
* ``GET /api/v1/reports/summary`` and ``/staffing``: the same figures as JSON.
* ``GET /api/v1/reports/export`` (``reports.export``): CSV or XLSX of the
  summary, the staffing view or the call records (numbers masked without
  ``personal_data.view``; medical calls only with ``medical_secrecy``);
  every export is written to the audit log.

Times are the service's local time (``HOTLINE_TIMEZONE``, carried by
:attr:`hotline.web.config.WebConfig.tz`): the default period is today from
local midnight; a time without an offset in a form or query is local; the
interval rows, the chart axis, the staffing view and the exports show local
times, and the zone is named once (the page's notice, the time column
headers of an export, ``time_zone`` in the JSON documents).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from hotline.reports.export import (
    ReportTable,
    cdr_table,
    summary_table,
    to_csv,
    to_json,
    to_xlsx,
)
from hotline.reports.labels_ru import label
from hotline.reports.metrics_config import Dimension, Interval
from hotline.reports.metrics_row import MetricRow
from hotline.reports.staffing import StaffingRow
from hotline.store.audit import AuditAction
from hotline.web.admin_common import blocking
from hotline.web.audit_api import record
from hotline.web.auth import Principal, context_of, require
from hotline.web.errors import ApiError, ErrorCode
from hotline.web.masking import may_see_topic
from hotline.web.pages import render
from hotline.web.permissions import Permission
from hotline.web.reports_charts import bar_chart, interval_chart
from hotline.web.reports_data import (
    Period,
    call_records,
    staffing_rows,
    staffing_table,
    summary_rows,
    zone_label,
)

__all__ = [
    "ExportFormat",
    "ExportKind",
    "ZonedTable",
    "period_of",
    "reports_api_router",
    "reports_pages_router",
]

MAX_PERIOD: Final = timedelta(days=93)
MIN_YEAR: Final = 2000
MAX_YEAR: Final = 2200
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TOTAL_KEYS: Final = (
    "offered",
    "answered",
    "answered_within_norm",
    "abandoned",
    "short_abandoned",
    "timed_out",
    "overflowed",
    "callback",
    "service_level",
    "asa_s",
    "abandon_rate",
    "timed_out_rate",
    "aht_s",
)
#: Export columns holding a local time: their header names the zone.
TIME_COLUMNS: Final = frozenset({"interval_start", "started_at", "answered_at", "ended_at"})


class ExportKind(enum.StrEnum):
    SUMMARY = "summary"
    STAFFING = "staffing"
    CALLS = "calls"


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


class ChartName(enum.StrEnum):
    INTERVALS = "intervals"
    TOPICS = "topics"
    OPERATORS = "operators"


_VIEW = Depends(require(Permission.REPORTS_VIEW))
_EXPORT = Depends(require(Permission.REPORTS_EXPORT))
_LOCAL = (
    "ISO 8601; a time without an offset is in the service's time zone "
    "(HOTLINE_TIMEZONE, default Europe/Moscow)"
)
Since = Annotated[
    datetime | None,
    Query(description=f"from ({_LOCAL}; default: today 00:00 in that zone)"),
]
Until = Annotated[datetime | None, Query(description=f"to, exclusive ({_LOCAL}; default: now)")]


@dataclass(frozen=True, slots=True)
class ZonedTable(ReportTable):
    """A report table whose time column headers name the zone of their local times."""

    zone: str = ""

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(
            f"{label(k)} ({self.zone})" if k in TIME_COLUMNS and self.zone else label(k)
            for k in self.keys
        )


def _utc(value: datetime, tz: tzinfo) -> datetime:
    """``value`` as UTC; a time without an offset is local time in ``tz``."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:  # before any arithmetic: no overflow
        raise ApiError(ErrorCode.VALIDATION_FAILED)
    return (value if value.tzinfo is not None else value.replace(tzinfo=tz)).astimezone(UTC)


def _local_midnight(at: datetime, tz: tzinfo, days_back: int = 0) -> datetime:
    day = at.astimezone(tz).date() - timedelta(days=days_back)
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def period_of(
    request: Request, since: datetime | None, until: datetime | None, interval: Interval
) -> Period:
    """The period asked for, in UTC, with the service's zone (default: today, local)."""
    ctx = context_of(request)
    tz = ctx.config.tz
    end = _utc(until, tz) if until is not None else ctx.clock.utcnow().astimezone(UTC)
    if since is not None:
        start = _utc(since, tz)
    else:
        start = _local_midnight(end, tz)
        if start >= end:
            start = _local_midnight(end, tz, days_back=1)
    if not start < end <= start + MAX_PERIOD:
        raise ApiError(ErrorCode.VALIDATION_FAILED)
    return Period(start=start, end=end, interval=interval, tz=tz)


def _zone(period: Period) -> str:
    return zone_label(period.tz, period.start, period.end)


def _local_text(at: datetime, tz: tzinfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _row_dict(row: MetricRow, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: getattr(row, k) for k in keys}


def _totals(rows: tuple[MetricRow, ...]) -> dict[str, Any]:
    return _row_dict(rows[0], TOTAL_KEYS) if rows else dict.fromkeys(TOTAL_KEYS)


reports_api_router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


@reports_api_router.get("/summary", summary="Report figures (docs/metrics.md) as JSON")
async def summary_json(
    request: Request,
    who: Annotated[Principal, _VIEW],
    since: Since = None,
    until: Until = None,
    interval: Interval = Interval.MIN60,
    by: Annotated[list[Dimension] | None, Query(max_length=3)] = None,
) -> JSONResponse:
    period = period_of(request, since, until, interval)
    rows = await blocking(summary_rows, context_of(request).db, period, by or ())
    document = json.loads(to_json(summary_table(rows, tz=period.tz)))
    return JSONResponse({**document, "time_zone": str(period.tz)})


@reports_api_router.get("/staffing", summary="Operators needed against logged in, as JSON")
async def staffing_json(
    request: Request,
    who: Annotated[Principal, _VIEW],
    since: Since = None,
    until: Until = None,
    interval: Interval = Interval.MIN60,
) -> JSONResponse:
    period = period_of(request, since, until, interval)
    rows = await blocking(staffing_rows, context_of(request).db, period)
    document = json.loads(to_json(staffing_table(rows, period.tz)))
    return JSONResponse({**document, "time_zone": str(period.tz)})


@reports_api_router.get(
    "/export",
    summary="Export a report as CSV or XLSX (audited)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, XLSX: {}}}},
)
async def export_report(
    request: Request,
    who: Annotated[Principal, _EXPORT],
    kind: ExportKind = ExportKind.SUMMARY,
    format: ExportFormat = ExportFormat.CSV,
    since: Since = None,
    until: Until = None,
    interval: Interval = Interval.MIN60,
) -> Response:
    period = period_of(request, since, until, interval)
    db = context_of(request).db
    numbers = False
    if kind is ExportKind.SUMMARY:
        table = summary_table(await blocking(summary_rows, db, period), tz=period.tz)
    elif kind is ExportKind.STAFFING:
        table = staffing_table(await blocking(staffing_rows, db, period), period.tz)
    else:
        found = await blocking(call_records, db, period)
        visible = [c for c in found if may_see_topic(who.permissions, c.topic)]
        numbers = who.has(Permission.PERSONAL_DATA_VIEW)
        table = cdr_table(visible, show_numbers=numbers, tz=period.tz, russian_values=True)
    table = ZonedTable(title=table.title, keys=table.keys, rows=table.rows, zone=_zone(period))
    if format is ExportFormat.CSV:
        body, media = await blocking(to_csv, table, delimiter=";"), "text/csv; charset=utf-8"
    else:
        body, media = await blocking(to_xlsx, table), XLSX
    stamp = period.start.astimezone(period.tz).strftime("%Y%m%d-%H%M")
    await record(
        request,
        who,
        AuditAction.EXPORTED,
        object=f"report:{kind.value}",
        details={
            "format": format.value,
            "since": period.start.isoformat(),
            "until": period.end.isoformat(),
            "time_zone": str(period.tz),
            "rows": len(table.rows),
            "numbers": numbers,
        },
    )
    name = f"hotline-{kind.value}-{stamp}.{format.value}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    return Response(body, media_type=media, headers=headers)


reports_pages_router = APIRouter(include_in_schema=False)


def _chart(name: ChartName, db: Any, period: Period, axis: str) -> bytes:
    if name is ChartName.INTERVALS:
        rows = summary_rows(db, period)
        return interval_chart(rows, tz=period.tz, time_axis=axis)
    dim = Dimension.TOPIC if name is ChartName.TOPICS else Dimension.OPERATOR
    grouped = [r for r in summary_rows(db, period, (dim,), with_interval=False)]
    attr = "topic" if dim is Dimension.TOPIC else "operator_id"
    names = [getattr(r.key, attr) or "—" for r in grouped]
    if dim is Dimension.TOPIC:
        series = {
            "offered": [float(r.offered) for r in grouped],
            "answered": [float(r.answered) for r in grouped],
            "abandoned": [float(r.abandoned) for r in grouped],
            "timed_out": [float(r.timed_out) for r in grouped],
        }
        return bar_chart(names, series, title="Звонки по тематикам")
    return bar_chart(
        names, {"answered": [float(r.handled) for r in grouped]}, title="Обработано операторами"
    )


@reports_pages_router.get("/reports/chart/{name}.svg")
async def chart_svg(
    request: Request,
    name: Annotated[ChartName, Path()],
    who: Annotated[Principal, _VIEW],
    since: Since = None,
    until: Until = None,
    interval: Interval = Interval.MIN60,
) -> Response:
    period = period_of(request, since, until, interval)
    ctx = context_of(request)
    axis = ctx.catalogue.text("reports.chart.time_axis", zone=_zone(period))
    svg = await blocking(_chart, name, ctx.db, period, axis)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _staffing_view(rows: tuple[StaffingRow, ...], tz: tzinfo) -> list[tuple[str, StaffingRow]]:
    """Each staffing row with the local start of its interval, as the page shows it."""
    return [(_local_text(r.interval_start, tz), r) for r in rows]


@reports_pages_router.get("/reports", response_class=HTMLResponse)
async def reports_page(
    request: Request,
    who: Annotated[Principal, _VIEW],
    since: Annotated[str | None, Query(max_length=32)] = None,
    until: Annotated[str | None, Query(max_length=32)] = None,
    interval: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    step = Interval(interval) if interval in {i.value for i in Interval} else Interval.MIN60
    error = False
    try:
        period = period_of(request, _parse(since), _parse(until), step)
    except ApiError:
        error = True
        period = period_of(request, None, None, step)
    db = context_of(request).db
    totals_rows = await blocking(summary_rows, db, period, with_interval=False)
    staffing = await blocking(staffing_rows, db, period)
    local = {
        k: at.astimezone(period.tz).replace(tzinfo=None).isoformat(timespec="minutes")
        for k, at in (("since", period.start), ("until", period.end))
    }
    query = {**local, "interval": period.interval.value}
    return render(
        request,
        "reports.html",
        who,
        error=error,
        query=query,
        query_string="&".join(f"{k}={v}" for k, v in query.items()),
        intervals=[(i.value, f"reports.interval.{i.value}") for i in Interval],
        export_kinds=[(k.value, f"reports.export.{k.value}") for k in ExportKind],
        totals=_totals(totals_rows),
        total_keys=[(k, f"reports.col.{k}") for k in TOTAL_KEYS],
        staffing=_staffing_view(staffing, period.tz),
        zone=_zone(period),
        may_export=who.has(Permission.REPORTS_EXPORT),
    )
