"""``hotline report staffing`` over a private SQLite database."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from hotline.acd.erlang import erlang_c_headcount
from hotline.app.cli import app
from hotline.store.queues import StoredQueue
from support.eventdb import seed_database
from unit.reports.reports_log import K, Log

PERIOD = ["--from", "2026-03-02T09:00", "--to", "2026-03-02T10:00", "--tz", "UTC"]


def _log() -> Log:
    log = Log()
    log.add(K.OPERATOR_LOGIN, -600, op="op1")  # before the period
    log.add(K.OPERATOR_LOGIN, 0, op="op2")
    log.add(K.OPERATOR_LOGOUT, 1800, op="op2")
    for i in range(100):  # 100 calls in the first half hour, AHT 180 s
        s = i * 18.0
        log.arrive(f"c{i}", s)
        log.enter(f"c{i}", "health", s, topic="health")
        log.answer(f"c{i}", "health", "op1", s, 0.0)
        log.end(f"c{i}", s + 180)
    return log


@pytest.fixture
def seeded(hotline_env: dict[str, str], tmp_path: Path) -> Path:
    queue = StoredQueue("health", "Здравоохранение", "health", {"sl_norm_s": 20.0})
    seed_database(tmp_path, _log().events, [queue])
    return tmp_path


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["report", "staffing", *args])
    return result.exit_code, result.stdout, result.stderr


def test_staffing_defaults_to_the_service_time_zone(
    seeded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The events lie 09:00-10:00 UTC: 12:00-13:00 in Moscow, the default zone.
    moscow = ["--from", "2026-03-02T12:00", "--to", "2026-03-02T13:00", "--format", "json"]
    code, out, err = _run(*moscow)
    assert code == 0, err
    assert [r["offered"] for r in json.loads(out)["rows"]] == [100, 0]
    monkeypatch.setenv("HOTLINE_TIMEZONE", "UTC")  # the same wall times are 3 h later
    code, out, err = _run(*moscow)
    assert code == 0, err
    assert sum(r["offered"] for r in json.loads(out)["rows"]) == 0


def test_staffing_json(seeded: Path) -> None:
    code, out, err = _run(*PERIOD, "--format", "json")
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert [r["queue_id"] for r in rows] == ["health", "health"]
    first, second = rows
    assert first["offered"] == 100
    assert first["aht_s"] == 180.0
    assert first["traffic_erlangs"] == 10.0
    assert first["erlang_c_agents"] == erlang_c_headcount(10.0, 180.0, 20.0, 0.8) == 14
    assert first["scheduled_agents"] == 20
    assert first["logged_in_avg"] == 2.0
    assert first["logged_in_max"] == 2
    assert second["offered"] == 0
    assert second["logged_in_avg"] == 1.0


def test_staffing_options_and_csv(seeded: Path) -> None:
    code, out, err = _run(
        *PERIOD, "--interval", "60m", "--sl-target", "0.9", "--shrinkage", "0", "--format", "csv"
    )
    assert code == 0, err
    reader = list(csv.reader(io.StringIO(out.lstrip("\ufeff"))))
    header, row = reader[0], reader[1]
    assert "Нужно операторов (Эрланг C)" in header
    needed = row[header.index("Нужно операторов (Эрланг C)")]
    assert int(needed) == erlang_c_headcount(5.0, 180.0, 20.0, 0.9)
    assert row[header.index("Нужно в графике (с учётом потерь времени)")] == needed


def test_staffing_xlsx_table_and_filters(seeded: Path) -> None:
    target = seeded / "staffing.xlsx"
    code, _out, err = _run(*PERIOD, "--format", "xlsx", "--output", str(target))
    assert code == 0, err
    sheet = load_workbook(target).active
    assert sheet is not None
    assert sheet.max_row == 3
    code, out, err = _run(*PERIOD)
    assert code == 0, err
    assert "health" in out
    code, out, err = _run(*PERIOD, "--queue", "other", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["rows"] == []


@pytest.mark.parametrize(
    "args",
    [
        ["--sl-target", "1"],
        ["--shrinkage", "-0.1"],
        ["--interval", "7m"],
        ["--patience", "0"],
        ["--format", "xlsx"],
    ],
)
def test_staffing_bad_options_exit_2(hotline_env: dict[str, str], args: list[str]) -> None:
    code, _out, err = _run(*PERIOD, *args)
    assert code == 2
    assert err.startswith("hotline report:")
