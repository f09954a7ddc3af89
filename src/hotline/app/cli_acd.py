"""``hotline erlang`` and ``hotline simulate``: staffing arithmetic and the simulator (R9).

Both commands print readable tables with Russian labels (the service's
users are Russian; the dictionary is :data:`MESSAGES`), or with ``--json``
exactly one JSON document on stdout, with English keys, while everything
else (progress, warnings, errors) goes to stderr.  Bad input (a table, the
queue configuration, an option) ends with one line on stderr naming the file,
row and column, and exit code 2.  docs/simulator.md describes the formats.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from hotline.acd.erlang import StaffingFigures
    from hotline.acd.model import QueueConfig
    from hotline.acd.sim_draw import HandleModel
    from hotline.acd.sim_stats import IntervalResult
    from hotline.acd.simulator import Simulation, SimulationResult

__all__ = ["EXIT_INPUT", "MESSAGES", "HandleChoice", "erlang", "register", "simulate"]

EXIT_INPUT: Final = 2
PROGRESS_MIN_CALLS: Final = 20_000  # show a progress bar on a terminal from this size on
_TABLE_LIMIT: Final = 1 << 20
_YAML_LIMIT: Final = 64 << 10
_SAMPLES_LIMIT: Final = 16 << 20

MESSAGES: Final[Mapping[str, str]] = {
    "model": "Модель",
    "traffic": "Нагрузка, Эрл",
    "operators": "Операторов",
    "scheduled": "Операторов в графике (с учётом неявки {shrinkage:.0%})",
    "p_wait": "Вероятность ожидания",
    "service_level": "Уровень обслуживания ({target} с)",
    "asa": "Среднее время ответа (ASA), с",
    "occupancy": "Загрузка операторов",
    "abandon": "Доля брошенных",
    "unstable": "очередь растёт без предела: операторов меньше, чем нагрузка",
    "interval": "Интервал",
    "offered": "Поступило",
    "answered": "Отвечено",
    "abandoned": "Брошено",
    "short": "Кор. сбросы",
    "timed_out": "Сверх нормы ожид.",
    "other": "Прочие",
    "sl": "УО ({target} с)",
    "asa_short": "ASA, с",
    "occupancy_short": "Загрузка",
    "max_queue": "Макс. очередь",
    "longest": "Макс. ожид., с",
    "total": "Итого",
    "unfinished": "не завершено звонков: {count} (ждали до конца моделирования)",
    "chart": "график записан: {path}",
    "progress": "Моделирование",
    "headline": "Моделирование: {days} сут., {calls} звонков, норма ответа {norm} с",
}


def _t(key: str, **values: object) -> str:
    return MESSAGES[key].format(**values)


class HandleChoice(StrEnum):
    """How ``hotline simulate`` draws talk times."""

    LOGNORMAL = "lognormal"
    EXPONENTIAL = "exponential"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"hotline: {message}", err=True)
    return typer.Exit(EXIT_INPUT)


def _number(value: float | None) -> float | None:
    """A JSON-safe number: None for infinity and NaN, rounded to 6 decimals."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, 6)


def _dump(document: Mapping[str, object]) -> None:
    typer.echo(json.dumps(document, ensure_ascii=False, allow_nan=False, indent=2))


def _console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return Console(file=stream, width=None if terminal else 160, highlight=False, soft_wrap=False)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _seconds(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.1f}"


# == hotline erlang ================================================================


def erlang(
    calls: Annotated[float, typer.Option("--calls", min=0.0, help="Calls per interval.")],
    aht_s: Annotated[float, typer.Option("--aht-s", min=0.0, help="Average handle time, s.")],
    interval_min: Annotated[
        float, typer.Option("--interval-min", min=0.0, help="Interval, minutes.")
    ] = 30.0,
    target_s: Annotated[
        float, typer.Option("--target-s", min=0.0, help="Service-level norm T, s.")
    ] = 20.0,
    operators: Annotated[
        int | None, typer.Option("--operators", min=0, help="Figures for this many operators.")
    ] = None,
    sl_target: Annotated[
        float | None,
        typer.Option("--sl-target", help="Headcount for this service level (0 < SL < 1)."),
    ] = None,
    patience_s: Annotated[
        float | None,
        typer.Option("--patience-s", min=0.0, help="Mean patience: Erlang A."),
    ] = None,
    shrinkage: Annotated[
        float, typer.Option("--shrinkage", min=0.0, max=0.99, help="Share of paid time off calls.")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Erlang C / Erlang A: P(wait), SL, ASA and occupancy, or the headcount for a target."""
    from hotline.acd import erlang as erl

    if (operators is None) == (sl_target is None):
        raise _fail("give exactly one of --operators and --sl-target")
    if sl_target is not None and not 0 < sl_target < 1:
        raise _fail("--sl-target must be between 0 and 1, e.g. 0.8")
    period_s = interval_min * 60.0
    try:
        traffic = erl.traffic_erlangs(calls, period_s, aht_s)
        rate = calls / period_s
        if operators is not None:
            servers = operators
        elif patience_s is None:
            servers = erl.erlang_c_headcount(traffic, aht_s, target_s, sl_target or 0.0)
        else:
            servers = erl.erlang_a_headcount(rate, aht_s, patience_s, target_s, sl_target or 0.0)
        if patience_s is None:
            figures = erl.erlang_c_figures(servers, traffic, aht_s, target_s)
        else:
            figures = erl.erlang_a(servers, rate, aht_s, patience_s, target_s)
        scheduled = erl.scheduled_headcount(servers, shrinkage)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    model = "erlang_c" if patience_s is None else "erlang_a"
    if as_json:
        _dump(
            {
                "model": model,
                "inputs": {
                    "calls": calls,
                    "interval_min": interval_min,
                    "aht_s": aht_s,
                    "target_s": target_s,
                    "patience_s": patience_s,
                    "shrinkage": shrinkage,
                    "sl_target": sl_target,
                },
                "traffic_erlangs": _number(traffic),
                "operators": servers,
                "scheduled_operators": scheduled,
                "p_wait": _number(figures.p_wait),
                "service_level": _number(figures.service_level),
                "asa_s": _number(figures.asa_s),
                "occupancy": _number(figures.occupancy),
                "abandon_probability": _number(figures.abandon_probability),
                "stable": patience_s is not None or servers > traffic,
            }
        )
        return
    _print_erlang(model, figures, scheduled, shrinkage, target_s, stable=servers > traffic)


def _print_erlang(
    model: str,
    figures: StaffingFigures,
    scheduled: int,
    shrinkage: float,
    target_s: float,
    *,
    stable: bool,
) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(justify="left")
    table.add_column(justify="right")
    table.add_row(_t("model"), "Erlang C" if model == "erlang_c" else "Erlang A")
    table.add_row(_t("traffic"), f"{figures.traffic_erlangs:.2f}")
    table.add_row(_t("operators"), str(figures.servers))
    if shrinkage > 0:
        table.add_row(_t("scheduled", shrinkage=shrinkage), str(scheduled))
    table.add_row(_t("p_wait"), _percent(figures.p_wait))
    table.add_row(_t("service_level", target=f"{target_s:g}"), _percent(figures.service_level))
    table.add_row(_t("asa"), _seconds(figures.asa_s))
    table.add_row(_t("occupancy"), _percent(figures.occupancy))
    if model == "erlang_a":
        table.add_row(_t("abandon"), _percent(figures.abandon_probability))
    console = _console()
    console.print(table)
    if model == "erlang_c" and not stable:
        typer.echo(f"hotline: {_t('unstable')}", err=True)


# == hotline simulate ==============================================================


def _read_text(path: Path, limit: int) -> str:
    try:
        with path.open("rb") as stream:
            data = stream.read(limit + 1)
    except OSError as exc:
        raise _fail(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise _fail(f"{path}: larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _load_queue(path: Path | None) -> QueueConfig:
    import yaml

    from hotline.acd.sim_config import queue_config_from_mapping
    from hotline.core.errors import ConfigurationError

    if path is None:
        return queue_config_from_mapping({})
    text = _read_text(path, _YAML_LIMIT)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise _fail(f"{path}: not valid YAML{where}") from None
    try:
        return queue_config_from_mapping(data)
    except ConfigurationError as exc:
        raise _fail(f"{path}: field {exc.setting}: {exc.problem}") from None


def _load_stored_queue(queue_id: str) -> QueueConfig:
    """A queue's configuration from the database named by the settings."""
    from sqlalchemy.exc import SQLAlchemyError

    from hotline.acd.sim_config import queue_config_from_mapping
    from hotline.app.settings import load_settings
    from hotline.core.errors import ConfigurationError
    from hotline.store.db import Database
    from hotline.store.queues import QueuesRepository

    try:
        settings = load_settings()
    except ConfigurationError as exc:
        raise _fail(f"invalid setting {exc}") from None
    db = Database(settings.database_url)
    try:
        if not db.is_initialised():
            raise _fail("no database: run `hotline init` first, or use --queue-config FILE")
        stored = QueuesRepository(db).get(queue_id)
    except SQLAlchemyError as exc:
        raise _fail(f"cannot read the database: {exc.__class__.__name__}") from None
    finally:
        db.dispose()
    if stored is None:
        raise _fail(f"queue {queue_id!r} is not in the database")
    data = {
        **stored.config,
        "queue_id": stored.queue_id,
        "name": stored.name,
        "topic": stored.topic,
    }
    try:
        return queue_config_from_mapping(data)
    except ConfigurationError as exc:
        raise _fail(
            f"queue {queue_id!r} in the database: field {exc.setting}: {exc.problem}"
        ) from None


def simulate(
    forecast: Annotated[Path, typer.Option("--forecast", help="Forecast CSV.", dir_okay=False)],
    staffing: Annotated[Path, typer.Option("--staffing", help="Staffing CSV.", dir_okay=False)],
    days: Annotated[int, typer.Option("--days", min=1, max=366, help="Days to simulate.")] = 1,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 1,
    queue_config: Annotated[
        Path | None, typer.Option("--queue-config", help="Queue YAML.", dir_okay=False)
    ] = None,
    queue_id: Annotated[
        str | None, typer.Option("--queue", help="A queue of the service's database, by id.")
    ] = None,
    handle: Annotated[
        HandleChoice, typer.Option("--handle", help="Talk-time distribution.")
    ] = HandleChoice.LOGNORMAL,
    handle_cv: Annotated[
        float, typer.Option("--handle-cv", min=0.0, max=10.0, help="Lognormal CV.")
    ] = 1.0,
    handle_samples: Annotated[
        Path | None,
        typer.Option(
            "--handle-samples", help="Recorded talk times, s, one a line.", dir_okay=False
        ),
    ] = None,
    sl_target: Annotated[
        float, typer.Option("--sl-target", min=0.0, max=1.0, help="SL target for the chart.")
    ] = 0.8,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    chart: Annotated[
        Path | None,
        typer.Option("--chart", help="Write a chart: FILE.html or FILE.png.", dir_okay=False),
    ] = None,
) -> None:
    """Simulate days of the queue on the router's own code: SL, ASA, abandons per interval."""
    import numpy as np

    from hotline.acd.sim_draw import HandleDistribution, HandleModel, draw_calls
    from hotline.acd.sim_input import (
        parse_forecast,
        parse_handle_samples,
        parse_staffing,
    )
    from hotline.acd.simulator import IntervalGrid, Simulation, staffing_steps
    from hotline.core.errors import RemoteProtocolError

    if chart is not None and chart.suffix.lower() not in (".html", ".png"):
        raise _fail(f"{chart}: the chart must be an .html or .png file")
    if queue_id is not None and queue_config is not None:
        raise _fail("--queue and --queue-config exclude each other")
    queue = _load_stored_queue(queue_id) if queue_id is not None else _load_queue(queue_config)
    try:
        table = parse_forecast(_read_text(forecast, _TABLE_LIMIT), str(forecast))
        plan = parse_staffing(_read_text(staffing, _TABLE_LIMIT), str(staffing))
        if handle_samples is not None:
            samples = parse_handle_samples(
                _read_text(handle_samples, _SAMPLES_LIMIT), str(handle_samples)
            )
            model = HandleModel(HandleDistribution.SAMPLES, samples=samples)
        else:
            model = HandleModel(HandleDistribution(handle.value), cv=handle_cv)
        grid = IntervalGrid.from_forecast(table, days)
        steps = staffing_steps(plan, grid, str(staffing))
        rng = np.random.default_rng(seed)
        calls = draw_calls(table, days=days, wrap_up_s=queue.wrap_up_s, handle=model, rng=rng)
    except (RemoteProtocolError, ValueError) as exc:
        raise _fail(str(exc)) from None
    simulation = Simulation(queue, calls, steps, grid, seed=seed)
    result = _run(simulation, len(calls), grid.end_s)
    if result.totals.unfinished:
        typer.echo(f"hotline: {_t('unfinished', count=result.totals.unfinished)}", err=True)
    if chart is not None:
        _write_chart(chart, result, queue, sl_target, forecast)
    if as_json:
        _dump(_simulation_document(result, queue, model, seed))
    else:
        _print_simulation(result, len(calls))


def _run(simulation: Simulation, calls: int, end_s: float) -> SimulationResult:
    if calls < PROGRESS_MIN_CALLS or not sys.stderr.isatty():
        return simulation.run()
    from rich.progress import Progress

    with Progress(console=_console(stderr=True), transient=True) as bar:
        task = bar.add_task(_t("progress"), total=1.0)
        step = 3600.0
        at = step
        while at < end_s + step:
            simulation.run_until(at)
            bar.update(task, completed=simulation.progress)
            at += step
    return simulation.run()


def _write_chart(
    path: Path, result: SimulationResult, queue: QueueConfig, sl_target: float, source: Path
) -> None:
    from hotline.acd.sim_chart import ChartInput, render_chart_html

    chart = ChartInput(
        title=f"{source.name}: {result.days} сут., {result.calls} звонков",
        sl_target=sl_target,
        sl_norm_s=queue.sl_norm_s,
        max_wait_s=queue.max_wait_s,
    )
    try:
        if path.suffix.lower() == ".png":
            from hotline.app.charts import render_chart_png

            render_chart_png(result.intervals, chart, path)
        else:
            path.write_text(render_chart_html(result.intervals, chart), encoding="utf-8")
    except OSError as exc:
        raise _fail(f"{path}: cannot write ({exc.strerror or exc})") from None
    typer.echo(f"hotline: {_t('chart', path=path)}", err=True)


def _figures(row: IntervalResult) -> dict[str, object]:
    return {
        "operators": row.operators,
        "offered": row.offered,
        "answered": row.answered,
        "abandoned": row.abandoned,
        "short_abandoned": row.short_abandoned,
        "timed_out": row.timed_out,
        "overflowed": row.overflowed,
        "callback": row.callback,
        "left_empty": row.left_empty,
        "left_full": row.left_full,
        "unfinished": row.unfinished,
        "answered_within_norm": row.answered_within,
        "service_level": _number(row.service_level),
        "service_level_answered_only": _number(row.service_level_answered_only),
        "asa_s": _number(row.asa_s),
        "abandon_rate": _number(row.abandon_rate),
        "timed_out_rate": _number(row.timed_out_rate),
        "p_wait": _number(row.p_wait),
        "occupancy": _number(row.occupancy),
        "max_queue": row.max_queue,
        "longest_wait_s": _number(row.longest_wait_s),
    }


def _simulation_document(
    result: SimulationResult, queue: QueueConfig, model: HandleModel, seed: int
) -> dict[str, object]:
    from hotline.acd.sim_input import format_clock

    intervals = [
        {
            "start": format_clock(row.start_s or 0),
            "end": format_clock((row.start_s or 0) + row.length_s),
            **_figures(row),
        }
        for row in result.intervals
    ]
    return {
        "kind": "simulation",
        "days": result.days,
        "seed": seed,
        "calls": result.calls,
        "interval_min": result.totals.length_s / 60,
        "queue": {
            "queue_id": queue.queue_id,
            "sl_norm_s": queue.sl_norm_s,
            "max_wait_s": queue.max_wait_s,
            "wrap_up_s": queue.wrap_up_s,
            "strategy": queue.strategy,
            "short_abandon_s": queue.short_abandon_s,
        },
        "handle": {
            "distribution": model.distribution.value,
            "cv": model.cv if model.distribution.value == "lognormal" else None,
            "samples": len(model.samples),
        },
        "intervals": intervals,
        "totals": _figures(result.totals),
    }


def _print_simulation(result: SimulationResult, calls: int) -> None:
    from rich.table import Table

    from hotline.acd.sim_input import format_clock

    norm = f"{result.sl_norm_s:g}"
    rows = [*result.intervals, result.totals]
    other = any(r.overflowed + r.callback + r.left_empty + r.left_full for r in rows)
    table = Table(title=_t("headline", days=result.days, calls=calls, norm=norm))
    columns: list[tuple[str, Callable[[IntervalResult], str]]] = [
        (_t("operators"), lambda r: str(r.operators)),
        (_t("offered"), lambda r: str(r.offered)),
        (_t("answered"), lambda r: str(r.answered)),
        (_t("abandoned"), lambda r: str(r.abandoned)),
        (_t("short"), lambda r: str(r.short_abandoned)),
        (_t("timed_out"), lambda r: str(r.timed_out)),
    ]
    if other:
        columns.append(
            (_t("other"), lambda r: str(r.overflowed + r.callback + r.left_empty + r.left_full))
        )
    columns += [
        (_t("sl", target=norm), lambda r: _percent(r.service_level)),
        (_t("asa_short"), lambda r: _seconds(r.asa_s)),
        (_t("occupancy_short"), lambda r: _percent(r.occupancy)),
        (_t("max_queue"), lambda r: str(r.max_queue)),
        (_t("longest"), lambda r: _seconds(r.longest_wait_s)),
    ]
    table.add_column(_t("interval"))
    for title, _ in columns:
        table.add_column(title, justify="right")
    for row in result.intervals:
        start = row.start_s or 0
        label = f"{format_clock(start)}–{format_clock(start + row.length_s)}"
        table.add_row(label, *(cell(row) for _, cell in columns))
    table.add_section()
    table.add_row(_t("total"), *(cell(result.totals) for _, cell in columns))
    _console().print(table)


def register(app: typer.Typer) -> None:
    """Add ``erlang`` and ``simulate`` to the ``hotline`` command."""
    app.command("erlang")(erlang)
    app.command("simulate")(simulate)
