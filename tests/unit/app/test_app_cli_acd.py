"""``hotline erlang`` and ``hotline simulate`` through the real command line (CliRunner)."""

from __future__ import annotations

import io
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from hotline.acd.sim_config import queue_config_from_mapping
from hotline.acd.sim_draw import HandleModel, draw_calls
from hotline.acd.sim_input import parse_forecast, parse_staffing
from hotline.acd.simulator import IntervalGrid, Simulation, staffing_steps
from hotline.app import cli_acd
from hotline.app.cli import app

WORKED = ["erlang", "--calls", "100", "--interval-min", "30", "--aht-s", "180", "--target-s", "20"]


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _json(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)  # the whole of stdout is one document
    assert isinstance(document, dict)
    return document


def test_both_commands_are_registered() -> None:
    result = _run("--help")
    assert result.exit_code == 0
    assert "erlang" in result.stdout and "simulate" in result.stdout


# -- hotline erlang ----------------------------------------------------------------


def test_the_worked_example_as_a_table() -> None:
    result = _run(*WORKED, "--operators", "13")
    assert result.exit_code == 0, result.output
    lines = dict(re.split(r"\s{2,}", line.strip()) for line in result.stdout.splitlines())
    assert lines["Операторов"] == "13"
    assert lines["Вероятность ожидания"] == "28.5%"
    assert lines["Уровень обслуживания (20 с)"] == "79.6%"
    assert lines["Среднее время ответа (ASA), с"] == "17.1"
    assert lines["Загрузка операторов"] == "76.9%"
    assert lines["Модель"] == "Erlang C"
    assert result.stderr == ""


def test_the_worked_example_as_json() -> None:
    document = _json(_run(*WORKED, "--operators", "13", "--json"))
    assert document["model"] == "erlang_c"
    assert document["operators"] == 13 and document["scheduled_operators"] == 13
    assert document["traffic_erlangs"] == 10.0
    assert document["p_wait"] == pytest.approx(0.285, abs=5e-4)
    assert document["service_level"] == pytest.approx(0.796, abs=5e-4)
    assert document["asa_s"] == pytest.approx(17.1, abs=0.05)
    assert document["occupancy"] == pytest.approx(10 / 13, abs=1e-6)
    assert document["abandon_probability"] == 0.0
    assert document["stable"] is True
    assert set(document) == {
        "model",
        "inputs",
        "traffic_erlangs",
        "operators",
        "scheduled_operators",
        "p_wait",
        "service_level",
        "asa_s",
        "occupancy",
        "abandon_probability",
        "stable",
    }
    assert document["inputs"] == {
        "calls": 100.0,
        "interval_min": 30.0,
        "aht_s": 180.0,
        "target_s": 20.0,
        "patience_s": None,
        "shrinkage": 0.0,
        "sl_target": None,
    }


def test_the_headcount_for_80_in_20_is_14_and_shrinkage_schedules_20() -> None:
    document = _json(_run(*WORKED, "--sl-target", "0.8", "--shrinkage", "0.3", "--json"))
    assert document["operators"] == 14 and document["scheduled_operators"] == 20
    assert document["service_level"] == pytest.approx(0.888, abs=5e-4)
    table = _run(*WORKED, "--sl-target", "0.8", "--shrinkage", "0.3")
    assert "Операторов в графике (с учётом неявки 30%)" in table.stdout


def test_with_patience_it_is_erlang_a() -> None:
    document = _json(_run(*WORKED, "--operators", "12", "--patience-s", "120", "--json"))
    assert document["model"] == "erlang_a"
    assert document["service_level"] == pytest.approx(0.8256, abs=1e-3)
    assert document["abandon_probability"] == pytest.approx(0.0616, abs=1e-3)
    headcount = _json(_run(*WORKED, "--sl-target", "0.8", "--patience-s", "120", "--json"))
    assert headcount["operators"] == 12
    assert "Доля брошенных" in _run(*WORKED, "--operators", "12", "--patience-s", "120").stdout


def test_too_few_operators_is_unstable() -> None:
    document = _json(_run(*WORKED, "--operators", "9", "--json"))
    assert document["stable"] is False and document["asa_s"] is None
    assert document["service_level"] == 0.0
    table = _run(*WORKED, "--operators", "9")
    assert table.exit_code == 0 and "растёт без предела" in table.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "exactly one of --operators and --sl-target"),
        (["--operators", "13", "--sl-target", "0.8"], "exactly one of"),
        (["--sl-target", "1.5"], "between 0 and 1"),
    ],
)
def test_erlang_option_errors(extra: list[str], message: str) -> None:
    result = _run(*WORKED, *extra)
    assert result.exit_code == 2
    assert message in result.stderr and result.stdout == ""


def test_a_zero_handle_time_is_refused() -> None:
    result = _run("erlang", "--calls", "100", "--aht-s", "0", "--operators", "3")
    assert result.exit_code == 2 and "aht_s must be" in result.stderr


# -- hotline simulate --------------------------------------------------------------

FORECAST = """start,calls,aht_s,patience_s
08:00,60,180,120
08:30,100,180,120
09:00,140,200,
"""
STAFFING = "start,operators\n08:00,8\n08:30,13\n09:00,12\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "f.csv").write_text(FORECAST, encoding="utf-8")
    (tmp_path / "s.csv").write_text(STAFFING, encoding="utf-8")
    return {"f": str(tmp_path / "f.csv"), "s": str(tmp_path / "s.csv"), "dir": str(tmp_path)}


def _simulate(files: dict[str, str], *extra: str) -> Result:
    return _run("simulate", "--forecast", files["f"], "--staffing", files["s"], *extra)


def test_a_small_simulation_with_a_fixed_seed_gives_stable_numbers(files: dict[str, str]) -> None:
    document = _json(_simulate(files, "--seed", "7", "--days", "2", "--json"))
    assert document["kind"] == "simulation" and document["days"] == 2 and document["seed"] == 7
    assert document["queue"] == {
        "queue_id": "sim",
        "sl_norm_s": 20.0,
        "max_wait_s": 120.0,
        "wrap_up_s": 10.0,
        "strategy": "longest-idle",
        "short_abandon_s": 5.0,
    }
    intervals = document["intervals"]
    assert isinstance(intervals, list)
    assert [(i["start"], i["end"], i["operators"]) for i in intervals] == [
        ("08:00", "08:30", 8),
        ("08:30", "09:00", 13),
        ("09:00", "09:30", 12),
    ]
    totals = document["totals"]
    assert isinstance(totals, dict)
    keys = ("offered", "answered", "abandoned", "short_abandoned", "timed_out", "max_queue")
    assert {k: totals[k] for k in keys} == {
        "offered": 613,
        "answered": 532,
        "abandoned": 8,
        "short_abandoned": 1,
        "timed_out": 72,  # 09:00-09:30 is understaffed and its callers never hang up
        "max_queue": 16,
    }
    assert totals["service_level"] == pytest.approx(0.5915, abs=5e-5)
    assert totals["asa_s"] == pytest.approx(26.90, abs=5e-3)
    assert totals["unfinished"] == 0
    assert sum(i["offered"] for i in intervals) == totals["offered"]
    # the same seed gives the same document; another seed another one
    assert _json(_simulate(files, "--seed", "7", "--days", "2", "--json")) == document
    assert _json(_simulate(files, "--seed", "8", "--days", "2", "--json")) != document


def test_the_simulation_table(files: dict[str, str]) -> None:
    result = _simulate(files, "--seed", "7")
    assert result.exit_code == 0, result.output
    for label in ("Интервал", "Поступило", "Отвечено", "Брошено", "Сверх нормы ожид.", "Итого"):
        assert label in result.stdout
    assert "08:00–08:30" in result.stdout and "УО (20 с)" in result.stdout


def test_a_queue_configuration_from_yaml(files: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "q.yaml"
    config.write_text("sl_norm_s: 30\nmax_wait_s: null\nwrap_up_s: 5\n", encoding="utf-8")
    document = _json(_simulate(files, "--queue-config", str(config), "--json"))
    queue = document["queue"]
    assert isinstance(queue, dict)
    assert (queue["sl_norm_s"], queue["max_wait_s"], queue["wrap_up_s"]) == (30.0, None, 5.0)
    totals = document["totals"]
    assert isinstance(totals, dict) and totals["timed_out"] == 0


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("sl_norm_s: -3\n", "field sl_norm_s: must be a finite number of seconds > 0"),
        ("max_wait: 60\n", "field max_wait: unknown field"),
        ("tiers: [{after_s: 0, min_level: 12}]\n", "field tiers[0].min_level"),
        ("sl_norm_s: [1\n", "not valid YAML (line 2)"),
        ("- 1\n- 2\n", "field queue: the configuration must be a mapping"),
    ],
)
def test_a_bad_queue_configuration(
    files: dict[str, str], tmp_path: Path, yaml_text: str, message: str
) -> None:
    config = tmp_path / "q.yaml"
    config.write_text(yaml_text, encoding="utf-8")
    result = _simulate(files, "--queue-config", str(config), "--json")
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"hotline: {config}: ") and message in line


@pytest.mark.parametrize(
    ("which", "text", "where"),
    [
        ("f", "start,aht_s\n08:00,180\n", "row 1, column 'calls': missing column"),
        ("f", "start,calls,aht_s\n8.00,10,180\n", "row 2, column 'start': '8.00' is not a time"),
        ("f", "start,calls,aht_s\n08:00,10,180\n08:30,-4,180\n", "row 3, column 'calls': -4 is"),
        ("s", "start,operators\n08:00,x\n", "row 2, column 'operators': 'x' is not a number"),
        ("s", "start,operators\n08:10,3\n", "row 2, column 'start': the plan starts at 08:10"),
        ("f", "start,calls,aht_s\n08:00,10,5\n", "row 2, column 'aht_s': 5 s leaves no talk time"),
    ],
)
def test_a_bad_table_is_one_line_naming_file_row_and_column(
    files: dict[str, str], which: str, text: str, where: str
) -> None:
    Path(files[which]).write_text(text, encoding="utf-8")
    result = _simulate(files, "--json")
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"hotline: {files[which]}, ") and where in line


def test_unreadable_inputs(files: dict[str, str]) -> None:
    missing = _run("simulate", "--forecast", files["f"] + ".nope", "--staffing", files["s"])
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
    Path(files["f"]).write_bytes(b"start,calls,aht_s\n08:00,\xff,180\n")
    assert "not UTF-8" in _simulate(files).stderr


def test_talk_time_options(files: dict[str, str], tmp_path: Path) -> None:
    samples = tmp_path / "talk.txt"
    samples.write_text("talk_s\n60\n240\n", encoding="utf-8")
    document = _json(_simulate(files, "--handle-samples", str(samples), "--json"))
    assert document["handle"] == {"distribution": "samples", "cv": None, "samples": 2}
    document = _json(_simulate(files, "--handle", "exponential", "--json"))
    assert document["handle"] == {"distribution": "exponential", "cv": None, "samples": 0}
    document = _json(_simulate(files, "--handle-cv", "0.5", "--json"))
    assert document["handle"] == {"distribution": "lognormal", "cv": 0.5, "samples": 0}
    assert _simulate(files, "--handle-cv", "0").exit_code == 2


def test_an_html_chart(files: dict[str, str]) -> None:
    chart = Path(files["dir"]) / "day.html"
    result = _simulate(files, "--seed", "7", "--chart", str(chart), "--json")
    document = _json(result)
    assert "график записан" in result.stderr
    page = chart.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "http" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )  # self-contained: nothing fetched from anywhere
    svg = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + len("</svg>")])
    rects = svg.findall("{http://www.w3.org/2000/svg}rect")
    intervals = document["intervals"]
    assert isinstance(intervals, list)
    assert len(rects) == 3 * len(intervals)  # SL, queue length and longest wait per interval
    assert "цель 80%" in page and "предельное ожидание 120 с" in page


def test_a_png_chart_is_a_real_image(files: dict[str, str]) -> None:
    png = Path(files["dir"]) / "day.png"
    result = _simulate(files, "--seed", "7", "--chart", str(png))
    assert result.exit_code == 0, result.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 1000)
    assert len(data) > 20_000  # three panels of bars, not an empty canvas
    assert _simulate(files, "--chart", str(Path(files["dir"]) / "day.svg")).exit_code == 2


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_on_a_terminal_does_not_change_the_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forecast = parse_forecast(FORECAST, "f.csv")
    grid = IntervalGrid.from_forecast(forecast, 2)
    steps = staffing_steps(parse_staffing(STAFFING, "s.csv"), grid, "s.csv")
    queue = queue_config_from_mapping({})

    def simulation() -> Simulation:
        calls = draw_calls(
            forecast, days=2, wrap_up_s=10, handle=HandleModel(), rng=np.random.default_rng(3)
        )
        return Simulation(queue, calls, steps, grid, seed=3)

    terminal = _Terminal()
    monkeypatch.setattr(cli_acd, "PROGRESS_MIN_CALLS", 1)
    monkeypatch.setattr(sys, "stderr", terminal)
    shown = cli_acd._run(simulation(), 1000, grid.end_s)
    assert shown == simulation().run()
    assert "Моделирование" in terminal.getvalue()


def test_simulate_a_queue_of_the_database(
    files: dict[str, str], hotline_env: dict[str, str]
) -> None:
    from hotline.app.settings import load_settings
    from hotline.store.db import Database
    from hotline.store.queues import QueuesRepository, StoredQueue

    assert _simulate(files, "--queue", "health").exit_code == 2  # no database yet
    init = _run("init", "--demo", "--demo-password", "pw-demo")
    assert init.exit_code == 0, init.stderr
    document = _json(_simulate(files, "--queue", "health", "--seed", "7", "--json"))
    assert document["queue"]["queue_id"] == "health"
    assert document["queue"]["sl_norm_s"] == 20.0 and document["queue"]["max_wait_s"] == 120.0
    db = Database(load_settings().database_url)
    try:
        queues = QueuesRepository(db)
        assert [q.queue_id for q in queues.all()] == [
            "education", "general", "health", "military", "services", "social",
        ]  # fmt: skip
        queues.save(StoredQueue("strict", "Строгая", "health", {"sl_norm_s": 10, "max_wait_s": 60}))
        queues.save(StoredQueue("broken", "Сломанная", "health", {"sl_norm_s": "soon"}))
    finally:
        db.dispose()
    strict = _json(_simulate(files, "--queue", "strict", "--seed", "7", "--json"))
    assert strict["queue"]["sl_norm_s"] == 10.0 and strict["queue"]["max_wait_s"] == 60.0
    broken = _simulate(files, "--queue", "broken")
    assert (
        broken.exit_code == 2 and "queue 'broken' in the database: field sl_norm_s" in broken.stderr
    )
    missing = _simulate(files, "--queue", "nope")
    assert missing.exit_code == 2 and "queue 'nope' is not in the database" in missing.stderr
    both = _simulate(files, "--queue", "health", "--queue-config", files["f"])
    assert both.exit_code == 2 and "exclude each other" in both.stderr
