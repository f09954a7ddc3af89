"""``hotline report staffing``: the staffing view (R9) from the stored events.

Per interval and queue: offered load, AHT, traffic in Erlangs, the Erlang C
(and, with a patience value, Erlang A) headcount for the queue's norm and
the service-level target, the scheduled headcount N ÷ (1 − shrinkage)
(docs/metrics.md, "Staffing (Erlang C, Erlang A)"), against the operators
actually logged in (time-weighted average and maximum).  The figures come
from :func:`hotline.reports.staffing.compute_staffing`; this module reads
the events and queue norms from the database and prints or exports the
table with the same options, dates and exit codes as the other
``hotline report`` commands (:mod:`hotline.app.cli_report`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import tzinfo
from typing import Annotated, Final

import typer

from hotline.acd import erlang
from hotline.app.cli_report import (
    _INTERVALS,
    _check_output,
    _database,
    _emit,
    _events,
    _fail,
    _format,
    _From,
    _LocalTz,
    _metrics_config,
    _Output,
    _period,
    _Sep,
    _separator,
    _To,
    _zone_name,
    report_app,
)
from hotline.reports.export import Cell, ReportTable
from hotline.reports.staffing import (
    DEFAULT_SHRINKAGE,
    DEFAULT_SL_TARGET,
    StaffingConfig,
    StaffingRow,
    compute_staffing,
)

__all__ = ["STAFFING_COLUMNS", "register", "staffing", "staffing_table"]

STAFFING_COLUMNS: Final = (
    "interval_start",
    "queue_id",
    "offered",
    "handled",
    "aht_s",
    "traffic_erlangs",
    "norm_s",
    "sl_target",
    "erlang_c_agents",
    "erlang_c_service_level",
    "patience_s",
    "erlang_a_agents",
    "scheduled_agents",
    "logged_in_avg",
    "logged_in_max",
    "shortfall",
)
_TERMINAL: Final = (
    "interval_start",
    "queue_id",
    "offered",
    "aht_s",
    "traffic_erlangs",
    "erlang_c_agents",
    "erlang_a_agents",
    "scheduled_agents",
    "logged_in_avg",
    "logged_in_max",
)
_DIGITS: Final = 3


def _cell(row: StaffingRow, key: str, tz: tzinfo) -> Cell:
    value = getattr(row, key)
    if key == "interval_start":
        return row.interval_start.astimezone(tz).replace(tzinfo=None)
    if isinstance(value, float):
        return round(value, _DIGITS)
    if value is None or isinstance(value, int | str):
        return value
    return str(value)


def staffing_table(
    rows: Sequence[StaffingRow], *, tz: tzinfo, title: str = "Потребность в операторах"
) -> ReportTable:
    """The staffing rows as a report table (Russian headers by :func:`~hotline.reports.labels_ru.label`)."""
    data = tuple(tuple(_cell(r, k, tz) for k in STAFFING_COLUMNS) for r in rows)
    return ReportTable(title=title, keys=STAFFING_COLUMNS, rows=data)


def _fraction(value: float, option: str, *, low_inclusive: bool) -> float:
    ok = math.isfinite(value) and (value >= 0 if low_inclusive else value > 0) and value < 1
    if not ok:
        span = "[0, 1)" if low_inclusive else "(0, 1)"
        raise _fail(f"bad {option} {value!r}: give a fraction in {span}")
    return value


def staffing(
    ctx: typer.Context,
    start: _From,
    end: _To,
    interval: Annotated[str, typer.Option("--interval", help="15m, 30m, 60m, day or month.")] = (
        "30m"
    ),
    queue: Annotated[str | None, typer.Option("--queue", help="Only this queue.")] = None,
    sl_target: Annotated[
        float, typer.Option("--sl-target", help="Share answered within the norm (0..1).")
    ] = DEFAULT_SL_TARGET,
    shrinkage: Annotated[
        float, typer.Option("--shrinkage", help="Share of paid time not available (0..1).")
    ] = DEFAULT_SHRINKAGE,
    patience: Annotated[
        float | None,
        typer.Option("--patience", help="Mean patience, s (default: from abandoned calls)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, xlsx or json.")] = "table",
    output: _Output = None,
    separator: _Sep = ",",
    tz_name: _LocalTz = None,
) -> None:
    """Operators needed per interval and queue (Erlang C / A) against those logged in."""
    lo, hi, tz = _period(start, end, _zone_name(ctx, tz_name))
    chosen = _format(fmt)
    sep = _separator(separator)
    step = _INTERVALS.get(interval)
    if step is None:
        raise _fail(f"unknown --interval {interval!r}: use 15m, 30m, 60m, day or month")
    target = _fraction(sl_target, "--sl-target", low_inclusive=False)
    shrink = _fraction(shrinkage, "--shrinkage", low_inclusive=True)
    if patience is not None and not (math.isfinite(patience) and patience > 0):
        raise _fail(f"bad --patience {patience!r}: give seconds > 0")
    config = StaffingConfig(sl_target=target, shrinkage=shrink, patience_s=patience)
    _check_output(chosen, output)
    db = _database(ctx)
    try:
        metrics_config = _metrics_config(db, tz)
        # The default look-back also brings logins made before the period (up to a day).
        events = _events(db, lo, hi)
    finally:
        db.dispose()
    rows = compute_staffing(
        events,
        erlang=erlang,
        start=lo,
        end=hi,
        interval=step,
        config=metrics_config,
        staffing=config,
        queue_id=queue,
    )
    _emit(staffing_table(rows, tz=tz), chosen, output, sep, _TERMINAL)


def register(app: typer.Typer) -> None:
    """Add ``staffing`` to ``hotline report`` (``app`` is the root ``hotline`` command)."""
    del app  # the report group is shared; the root command already holds it
    report_app.command("staffing")(staffing)
