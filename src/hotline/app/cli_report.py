"""``hotline report``: summaries, call detail records and queue_log from the database.

Three commands read the event table of the database named by the settings
(docs/metrics.md: every figure recomputed from raw events):

* ``hotline report summary``: every metric of docs/metrics.md by interval
  and dimension, in the terminal (a short table) or exported whole
  (CSV, XLSX, JSON);
* ``hotline report cdr``: call detail records, searchable by number, topic,
  operator and outcome; numbers masked unless ``--show-numbers``;
* ``hotline report queue-log``: the queue events as an Asterisk-style
  ``queue_log`` file;
* ``hotline report rebuild``: recompute the projections (call records and
  15-minute rollups) from the raw events, for a period or for everything.

``summary`` and ``cdr`` read the projections when they are current and can
answer exactly (``--source auto``, the default; see
:func:`hotline.reports.projection_report.projection_unusable`), otherwise
the raw events; both give the same figures.  ``--source events`` forces the
raw events, ``--source projections`` fails when they cannot answer.

Dates are ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]`` in ``--tz`` (default:
the service's zone, ``HOTLINE_TIMEZONE``); ``--to`` with a date alone includes that whole day.  A bad date or
option ends with one line on stderr and exit code 2; a database that is not
initialised or holds a malformed event, exit code 1.

This module is the database glue: ``hotline.reports`` stays pure (it may not
import ``hotline.store``), so the events are read here and handed to it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from hotline.core.errors import ConfigurationError, RemoteProtocolError
from hotline.reports.cdr import (
    CallDetailRecord,
    CdrFilter,
    CdrOutcome,
    build_cdrs,
    cdr_from_projection,
)
from hotline.reports.events import CallCentreEvent, event_from_record
from hotline.reports.export import ReportTable, cdr_table, summary_table, to_csv, to_json, to_xlsx
from hotline.reports.labels_ru import label
from hotline.reports.metrics import compute_report
from hotline.reports.metrics_config import Dimension, Interval, MetricsConfig
from hotline.reports.metrics_row import MetricRow
from hotline.reports.projection import EventProjector, ms_of
from hotline.reports.projection_report import projection_unusable, report_from_projections
from hotline.reports.queue_log import queue_log_lines, render_queue_log

if TYPE_CHECKING:
    from hotline.store.db import Database

__all__ = ["EXIT_DATA", "EXIT_USAGE", "OutputFormat", "Source", "register", "report_app"]

EXIT_USAGE: Final = 2
EXIT_DATA: Final = 1
MAX_PERIOD: Final = timedelta(days=400)
_INTERVALS: Final = {
    "15m": Interval.MIN15,
    "30m": Interval.MIN30,
    "60m": Interval.MIN60,
    "day": Interval.DAY,
    "month": Interval.MONTH,
}
_SUMMARY_TERMINAL: Final = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "timed_out",
    "service_level",
    "asa_s",
    "abandon_rate",
    "timed_out_rate",
    "aht_s",
)
_CDR_TERMINAL: Final = (
    "started_at",
    "caller",
    "topic",
    "queues",
    "operator_id",
    "wait_s",
    "talk_s",
    "outcome",
)
_MAX_CELL: Final = 20
_GROUP_KEYS: Final = ("interval_start", "queue_id", "topic", "operator_id", "trunk", "direction")
_PERSONAL_DATA: Final = (
    "Caller numbers are personal data: they are masked unless --show-numbers is given; "
    "show them only where your role allows it."
)

report_app = typer.Typer(
    name="report",
    help="Reports from the stored events: summary, call detail records, queue_log.",
    no_args_is_help=True,
)


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    XLSX = "xlsx"
    JSON = "json"


class Source(StrEnum):
    AUTO = "auto"
    EVENTS = "events"
    PROJECTIONS = "projections"


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"hotline report: {message}", err=True)
    return typer.Exit(code)


# -- options -----------------------------------------------------------------
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory ("Europe")
        raise _fail(f"unknown time zone {name!r} for --tz") from None


def _when(text: str, option: str, tz: tzinfo, *, end: bool) -> datetime:
    try:
        if len(text) == len("YYYY-MM-DD"):
            day = date.fromisoformat(text)
            if end:
                day += timedelta(days=1)
            return datetime(day.year, day.month, day.day, tzinfo=tz)
        at = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"bad date {text!r} for {option}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=tz)


def _zone_name(ctx: typer.Context, tz_name: str | None) -> str:
    """``--tz`` when given, else the service's zone (``HOTLINE_TIMEZONE``)."""
    if tz_name is not None:
        return tz_name
    from hotline.app.cli import load_cli_settings

    return load_cli_settings(ctx).timezone


def _period(start: str, end: str, tz_name: str) -> tuple[datetime, datetime, tzinfo]:
    tz = _zone(tz_name)
    lo = _when(start, "--from", tz, end=False)
    hi = _when(end, "--to", tz, end=True)
    if hi <= lo:
        raise _fail("--to must be after --from")
    if hi - lo > MAX_PERIOD:
        raise _fail(f"the period may span at most {MAX_PERIOD.days} days")
    return lo, hi, tz


def _format(value: str) -> OutputFormat:
    try:
        return OutputFormat(value)
    except ValueError:
        raise _fail(f"unknown --format {value!r}: use table, csv, xlsx or json") from None


def _source(value: str) -> Source:
    try:
        return Source(value)
    except ValueError:
        raise _fail(f"unknown --source {value!r}: use auto, events or projections") from None


def _separator(value: str) -> str:
    if value not in (",", ";"):
        raise _fail(f"bad --separator {value!r}: use ',' or ';'")
    return value


# -- the database ------------------------------------------------------------
def _database(ctx: typer.Context) -> Database:
    from hotline.app.cli import load_cli_settings
    from hotline.store.db import Database

    settings = load_cli_settings(ctx)
    db = Database(settings.database_url)
    if not db.is_initialised():
        db.dispose()
        raise _fail("the database is not initialised (run `hotline init`)", EXIT_DATA)
    return db


def _metrics_config(db: Database, tz: tzinfo) -> MetricsConfig:
    from hotline.web.reports_data import metrics_config

    try:
        return metrics_config(db, tz, strict=True)
    except ConfigurationError as exc:
        raise _fail(f"{exc}", EXIT_DATA) from None


def _events(
    db: Database,
    start: datetime,
    end: datetime,
    *,
    lookback: timedelta | None = None,
    topic: str | None = None,
    operator_id: str | None = None,
) -> list[CallCentreEvent]:
    from hotline.store.event_queries import DEFAULT_LOOKBACK, EventQueries

    stored = EventQueries(db).for_report(
        start,
        end,
        lookback=DEFAULT_LOOKBACK if lookback is None else lookback,
        topic=topic,
        operator_id=operator_id,
    )
    try:
        return [event_from_record(s) for s in stored]
    except RemoteProtocolError as exc:
        raise _fail(f"the event table holds a bad event: {exc}", EXIT_DATA) from None


# -- output ------------------------------------------------------------------
def _print_table(table: ReportTable, keys: Sequence[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    shown = [k for k in table.keys if k in keys]
    texts = [
        {k: _cell_text(v, k) for k, v in zip(table.keys, row, strict=True)} for row in table.rows
    ]
    out = Table(title=table.title)
    for k in shown:
        widest = max((len(t[k]) for t in texts), default=1)
        out.add_column(label(k), min_width=min(widest, _MAX_CELL))
    for t in texts:
        out.add_row(*(t[k] for k in shown))
    terminal = sys.stdout.isatty()
    console = Console(width=None if terminal else 200, highlight=False, soft_wrap=False)
    console.print(out)


def _cell_text(value: object, key: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        if key in ("service_level", "abandon_rate", "timed_out_rate"):
            return f"{value:.1%}"
        return f"{value:.1f}"
    return str(value)


def _check_output(fmt: OutputFormat, output: Path | None) -> None:
    if fmt is OutputFormat.TABLE and output is not None:
        raise _fail("--output needs --format csv, xlsx or json")
    if fmt is OutputFormat.XLSX and output is None:
        raise _fail("--format xlsx needs --output FILE")


def _emit(
    table: ReportTable,
    fmt: OutputFormat,
    output: Path | None,
    separator: str,
    terminal_keys: Sequence[str],
) -> None:
    _check_output(fmt, output)
    if fmt is OutputFormat.TABLE:
        _print_table(table, terminal_keys)
        return
    if fmt is OutputFormat.XLSX:
        data = to_xlsx(table)
    elif fmt is OutputFormat.CSV:
        data = to_csv(table, delimiter=separator)
    else:
        data = (to_json(table) + "\n").encode()
    if output is None:
        typer.echo(data, nl=False)
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror or exc}", EXIT_DATA) from None
    typer.echo(f"hotline report: {len(table.rows)} rows written to {output}", err=True)


# -- commands ----------------------------------------------------------------
_From = Annotated[str, typer.Option("--from", help="First day (or time) of the period.")]
_To = Annotated[str, typer.Option("--to", help="Last day (included), or end time (excluded).")]
_Tz = Annotated[str, typer.Option("--tz", help="Time zone of dates and intervals (IANA name).")]
_LocalTz = Annotated[
    str | None,
    typer.Option(
        "--tz",
        help="Time zone of dates and intervals (IANA name; default: HOTLINE_TIMEZONE).",
        show_default=False,
    ),
]
_Format = Annotated[str, typer.Option("--format", help="table, csv, xlsx or json.")]
_Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to FILE.", dir_okay=False)
]
_Sep = Annotated[str, typer.Option("--separator", help="CSV separator: ',' or ';'.")]
_SourceOpt = Annotated[
    str,
    typer.Option("--source", help="auto (projections when they can answer), events, projections."),
]


@report_app.command("summary")
def summary(
    ctx: typer.Context,
    start: _From,
    end: _To,
    interval: Annotated[
        str | None, typer.Option("--interval", help="15m, 30m, 60m, day or month.")
    ] = None,
    by: Annotated[
        list[str] | None,
        typer.Option("--by", help="Group by queue, topic, operator, trunk or direction (repeat)."),
    ] = None,
    fmt: _Format = "table",
    output: _Output = None,
    separator: _Sep = ",",
    tz_name: _LocalTz = None,
    source: _SourceOpt = "auto",
) -> None:
    """Every metric of docs/metrics.md for a period; timed-out calls on their own line."""
    lo, hi, tz = _period(start, end, _zone_name(ctx, tz_name))
    chosen = _format(fmt)
    sep = _separator(separator)
    _check_output(chosen, output)
    step: Interval | None = None
    if interval is not None:
        step = _INTERVALS.get(interval)
        if step is None:
            raise _fail(f"unknown --interval {interval!r}: use 15m, 30m, 60m, day or month")
    dims: list[Dimension] = []
    for name in by or []:
        try:
            dims.append(Dimension(name))
        except ValueError:
            raise _fail(
                f"unknown --by {name!r}: use queue, topic, operator, trunk or direction"
            ) from None
    wanted = _source(source)
    db = _database(ctx)
    try:
        config = _metrics_config(db, tz)
        rows = _summary_rows(db, wanted, lo, hi, config, step, dims)
    finally:
        db.dispose()
    table = summary_table(rows, tz=tz)
    _emit(table, chosen, output, sep, (*_GROUP_KEYS, *_SUMMARY_TERMINAL))


@report_app.command("cdr", help=f"Call detail records for a period.  {_PERSONAL_DATA}")
def cdr(
    ctx: typer.Context,
    start: _From,
    end: _To,
    number: Annotated[
        str | None, typer.Option("--number", help="Calls from or to this number (digits).")
    ] = None,
    topic: Annotated[str | None, typer.Option("--topic", help="Calls on this topic.")] = None,
    operator: Annotated[
        str | None, typer.Option("--operator", help="Calls handled by this operator.")
    ] = None,
    outcome: Annotated[
        str | None,
        typer.Option("--outcome", help="answered, abandoned, timed_out, short_abandon, ..."),
    ] = None,
    show_numbers: Annotated[
        bool,
        typer.Option("--show-numbers", help="Show full numbers (personal data!)."),
    ] = False,
    fmt: _Format = "table",
    output: _Output = None,
    separator: _Sep = ",",
    tz_name: _LocalTz = None,
    source: _SourceOpt = "auto",
) -> None:
    lo, hi, tz = _period(start, end, _zone_name(ctx, tz_name))
    chosen = _format(fmt)
    sep = _separator(separator)
    _check_output(chosen, output)
    wanted: CdrOutcome | None = None
    if outcome is not None:
        try:
            wanted = CdrOutcome(outcome)
        except ValueError:
            names = ", ".join(o.value for o in CdrOutcome)
            raise _fail(f"unknown --outcome {outcome!r}: use one of {names}") from None
    if number is not None and not any(c.isdigit() for c in number):
        raise _fail(f"bad --number {number!r}: give its digits")
    chosen_source = _source(source)
    where = CdrFilter(
        start=lo, end=hi, number=number, topic=topic, operator_id=operator, outcome=wanted
    )
    db = _database(ctx)
    try:
        config = _metrics_config(db, tz)
        records = _cdr_records(db, chosen_source, where, config)
    finally:
        db.dispose()
    table = cdr_table(
        records, show_numbers=show_numbers, tz=tz, russian_values=chosen is not OutputFormat.JSON
    )
    _emit(table, chosen, output, sep, _CDR_TERMINAL)


@report_app.command("queue-log")
def queue_log(
    ctx: typer.Context,
    start: _From,
    end: _To,
    output: Annotated[Path, typer.Option("--output", "-o", help="The queue_log file to write.")],
    show_numbers: Annotated[
        bool, typer.Option("--show-numbers", help="Full caller ids (personal data!).")
    ] = False,
    tz_name: _LocalTz = None,
) -> None:
    """The queue events as an Asterisk-style queue_log file (for existing tools)."""
    lo, hi, _tz = _period(start, end, _zone_name(ctx, tz_name))
    db = _database(ctx)
    try:
        events = _events(db, lo, hi, lookback=timedelta(0))
    finally:
        db.dispose()
    lines = queue_log_lines(events, start=lo, end=hi, show_numbers=show_numbers)
    try:
        output.write_text(render_queue_log(lines), encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror or exc}", EXIT_DATA) from None
    typer.echo(f"hotline report: {len(lines)} queue_log lines written to {output}", err=True)


@report_app.command("rebuild")
def rebuild(
    ctx: typer.Context,
    start: Annotated[
        str | None, typer.Option("--from", help="First day (or time); omit for everything.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (included).")] = None,
    tz_name: _LocalTz = None,
) -> None:
    """Recompute the projections (call records, 15-minute rollups) from the raw events."""
    lo = hi = None
    tz_name = _zone_name(ctx, tz_name)
    if (start is None) != (end is None):
        raise _fail("give both --from and --to, or neither (everything)")
    if start is not None and end is not None:
        lo, hi, _tz = _period(start, end, tz_name)
    from hotline.store.projections import Projections

    db = _database(ctx)
    try:
        projections = Projections(EventProjector(_metrics_config(db, _zone(tz_name))))
        calls = projections.rebuild(db, lo, hi)
    finally:
        db.dispose()
    typer.echo(f"hotline report: projections of {calls} calls rebuilt", err=True)


# -- projections or raw events -----------------------------------------------
def _summary_rows(
    db: Database,
    wanted: Source,
    lo: datetime,
    hi: datetime,
    config: MetricsConfig,
    step: Interval | None,
    dims: Sequence[Dimension],
) -> tuple[MetricRow, ...]:
    from hotline.store.event_queries import EventQueries
    from hotline.store.projection_queries import ProjectionQueries

    if wanted is not Source.EVENTS:
        source = ProjectionQueries(db)
        reason = (
            projection_unusable(source, start=lo, end=hi, config=config, by=dims)
            if source.is_current()
            else "the projections are not current (run `hotline report rebuild`)"
        )
        if reason is None:
            stored = EventQueries(db).operator_events_for_report(lo, hi) if not dims else []
            try:
                operator_events = [event_from_record(s) for s in stored]
            except RemoteProtocolError as exc:
                raise _fail(f"the event table holds a bad event: {exc}", EXIT_DATA) from None
            return report_from_projections(
                source,
                start=lo,
                end=hi,
                config=config,
                interval=step,
                by=dims,
                operator_events=operator_events,
            )
        if wanted is Source.PROJECTIONS:
            raise _fail(f"the projections cannot answer: {reason}", EXIT_DATA)
    events = _events(db, lo, hi)
    return compute_report(events, start=lo, end=hi, config=config, interval=step, by=dims)


def _cdr_records(
    db: Database, wanted: Source, where: CdrFilter, config: MetricsConfig
) -> tuple[CallDetailRecord, ...]:
    from hotline.store.projection_queries import ProjectionQueries

    assert where.start is not None and where.end is not None
    if wanted is not Source.EVENTS:
        source = ProjectionQueries(db)
        if source.is_current():
            rows = source.cdrs(
                ms_of(where.start),
                ms_of(where.end),
                number=where.number,
                topic=where.topic,
                operator_id=where.operator_id,
                outcome=where.outcome.value if where.outcome is not None else None,
            )
            return tuple(cdr_from_projection(r) for r in rows)
        if wanted is Source.PROJECTIONS:
            raise _fail("the projections are not current (run `hotline report rebuild`)", EXIT_DATA)
    # The store narrows by one criterion per event row; the filter does the rest.
    events = _events(
        db,
        where.start,
        where.end,
        lookback=timedelta(0),
        topic=where.topic,
        operator_id=where.operator_id if where.topic is None else None,
    )
    return build_cdrs(events, end=where.end, config=config, where=where)


def register(app: typer.Typer) -> None:
    """Add ``report`` to the ``hotline`` command."""
    app.add_typer(report_app, name="report")
