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
"""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from hotline.reports.export import cdr_table, summary_table, to_csv, to_json, to_xlsx
from hotline.reports.metrics_config import Dimension, Interval
from hotline.reports.metrics_row import MetricRow
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
)

__all__ = ["ExportFormat", "ExportKind", "reports_api_router", "reports_pages_router"]

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
Since = Annotated[datetime | None, Query(description="from (ISO 8601; default: today 00:00 UTC)")]
Until = Annotated[datetime | None, Query(description="to, exclusive (default: now)")]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def period_of(
    request: Request, since: datetime | None, until: datetime | None, interval: Interval
) -> Period:
    now = context_of(request).clock.utcnow()
    end = _aware(until) if until is not None else now
    if not MIN_YEAR <= end.year <= MAX_YEAR:
        raise ApiError(ErrorCode.VALIDATION_FAILED)
    if since is not None:
        start = _aware(since)
    else:
        start = end.replace(hour=0, minute=0, second=0, microsecond=0)
        if start >= end:
            start = end - timedelta(days=1)
    if (
        not (start.year >= MIN_YEAR and end.year <= MAX_YEAR)
        or not start < end <= start + MAX_PERIOD
    ):
        raise ApiError(ErrorCode.VALIDATION_FAILED)
    return Period(start=start, end=end, interval=interval)


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
    return JSONResponse(document)


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
    return JSONResponse(json.loads(to_json(staffing_table(rows, period.tz))))


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
    if format is ExportFormat.CSV:
        body, media = await blocking(to_csv, table, delimiter=";"), "text/csv; charset=utf-8"
    else:
        body, media = await blocking(to_xlsx, table), XLSX
    stamp = period.start.strftime("%Y%m%d-%H%M")
    await record(
        request,
        who,
        AuditAction.EXPORTED,
        object=f"report:{kind.value}",
        details={
            "format": format.value,
            "since": period.start.isoformat(),
            "until": period.end.isoformat(),
            "rows": len(table.rows),
            "numbers": numbers,
        },
    )
    name = f"hotline-{kind.value}-{stamp}.{format.value}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    return Response(body, media_type=media, headers=headers)


reports_pages_router = APIRouter(include_in_schema=False)


def _chart(name: ChartName, db: Any, period: Period) -> bytes:
    if name is ChartName.INTERVALS:
        rows = summary_rows(db, period)
        return interval_chart(rows, tz=period.tz)
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
    svg = await blocking(_chart, name, context_of(request).db, period)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


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
    query = {
        "since": period.start.replace(tzinfo=None).isoformat(timespec="minutes"),
        "until": period.end.replace(tzinfo=None).isoformat(timespec="minutes"),
        "interval": period.interval.value,
    }
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
        staffing=staffing,
        may_export=who.has(Permission.REPORTS_EXPORT),
    )
