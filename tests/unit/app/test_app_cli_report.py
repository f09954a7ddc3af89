"""``hotline report``: summary, cdr and queue-log over a private SQLite database."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from hotline.app.cli import app
from hotline.store.queues import StoredQueue
from support.eventdb import seed_database
from unit.reports.reports_log import T0, K, Log

DAY = ["--from", "2026-03-02", "--to", "2026-03-02"]
E0 = int(T0.timestamp())


def _log() -> Log:
    log = Log()
    log.arrive("c1", 0, caller="+79161234567")
    log.enter("c1", "health", 0, topic="health")
    log.answer("c1", "health", "op1", 10, 10)
    log.end("c1", 100)
    log.queued_call("c2", "health", 200, outcome=K.QUEUE_ABANDONED, wait_s=40, topic="health")
    log.queued_call("c3", "social", 300, outcome=K.QUEUE_TIMED_OUT, wait_s=120, topic="social")
    log.queued_call("c4", "social", 4000, outcome=K.QUEUE_ANSWERED, wait_s=4, topic="social")
    return log


@pytest.fixture
def seeded(hotline_env: dict[str, str], tmp_path: Path) -> Path:
    # health answers within 5 s: c1 (10 s) is outside its norm.
    queue = StoredQueue("health", "Здравоохранение", "health", {"sl_norm_s": 5.0})
    seed_database(tmp_path, _log().events, [queue])
    return tmp_path


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["report", *args])
    return result.exit_code, result.stdout, result.stderr


def test_summary_json_by_queue_uses_stored_norms(seeded: Path) -> None:
    code, out, _err = _run("summary", *DAY, "--by", "queue", "--format", "json")
    assert code == 0, _err
    rows = {r["queue_id"]: r for r in json.loads(out)["rows"]}
    assert rows["health"]["offered"] == 2
    assert rows["health"]["abandoned"] == 1
    assert rows["health"]["timed_out"] == 0
    assert rows["health"]["service_level"] == 0.0
    assert rows["social"]["timed_out"] == 1
    assert rows["social"]["abandoned"] == 0
    assert rows["social"]["service_level"] == 0.5


def test_summary_table_in_the_terminal(seeded: Path) -> None:
    code, out, _err = _run("summary", *DAY, "--interval", "60m")
    assert code == 0, _err
    assert "Сводный отчёт" in out
    assert "Не принято" in out
    assert "2026-03-02 09:00:00" in out and "2026-03-02 10:00:00" in out


def test_summary_csv_and_xlsx_files(seeded: Path) -> None:
    path = seeded / "day.csv"
    code, _out, err = _run(
        "summary", *DAY, "--by", "topic", "--format", "csv", "--separator", ";", "-o", str(path)
    )
    assert code == 0, err
    assert "written" in err
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] == "Тематика"
    col = rows[0].index("Не принято: превышена норма ожидания")
    assert {r[0]: r[col] for r in rows[1:]} == {"health": "0", "social": "1"}
    xlsx = seeded / "day.xlsx"
    code, _out, err = _run("summary", *DAY, "--format", "xlsx", "--output", str(xlsx))
    assert code == 0, err
    ws = load_workbook(xlsx).active
    assert ws is not None
    header, total = list(ws.iter_rows(values_only=True))
    assert dict(zip(header, total, strict=True))["Поступило в очередь"] == 4


def test_cdr_masks_numbers_and_filters(seeded: Path) -> None:
    code, out, err = _run("cdr", *DAY, "--format", "json")
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert [r["call_id"] for r in rows] == ["c1", "c2", "c3", "c4"]
    assert rows[0]["caller"] == "+7********67"
    assert "+79161234567" not in out
    code, out, _err = _run(
        "cdr", *DAY, "--number", "9161234567", "--show-numbers", "--format", "json"
    )
    assert code == 0
    (row,) = json.loads(out)["rows"]
    assert (row["call_id"], row["caller"]) == ("c1", "+79161234567")
    code, out, _err = _run("cdr", *DAY, "--outcome", "timed_out", "--format", "json")
    assert [r["call_id"] for r in json.loads(out)["rows"]] == ["c3"]
    code, out, _err = _run(
        "cdr", *DAY, "--topic", "social", "--operator", "op1", "--format", "json"
    )
    assert [r["call_id"] for r in json.loads(out)["rows"]] == ["c4"]


def test_cdr_table_and_personal_data_note(seeded: Path) -> None:
    code, out, _err = _run("cdr", *DAY)
    assert code == 0
    assert "Детализация вызовов" in out and "не принят" in out
    help_text = CliRunner().invoke(app, ["report", "cdr", "--help"]).stdout
    assert "personal data" in help_text


def test_queue_log_file(seeded: Path) -> None:
    path = seeded / "queue_log"
    code, _out, err = _run("queue-log", *DAY, "--output", str(path))
    assert code == 0, err
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"{E0}|c1|health|NONE|ENTERQUEUE||+7********67|1"
    assert [ln.split("|")[4] for ln in lines].count("EXITWITHTIMEOUT") == 1
    assert f"{E0 + 420}|c3|social|NONE|EXITWITHTIMEOUT|1|1|120" in lines
    assert len(lines) == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summary", "--from", "2026-13-01", "--to", "2026-03-02"], "bad date"),
        (["summary", "--from", "2026-03-03", "--to", "2026-03-02"], "--to must be after"),
        (["summary", *DAY, "--interval", "5m"], "unknown --interval"),
        (["summary", *DAY, "--by", "colour"], "unknown --by"),
        (["summary", *DAY, "--format", "pdf"], "unknown --format"),
        (["summary", *DAY, "--format", "xlsx"], "needs --output"),
        (["summary", *DAY, "--separator", "|"], "bad --separator"),
        (["summary", *DAY, "--tz", "Mars/Olympus"], "unknown time zone"),
        (["cdr", *DAY, "--outcome", "lost"], "unknown --outcome"),
        (["cdr", *DAY, "--number", "abc"], "bad --number"),
        (["summary", "--from", "2024-01-01", "--to", "2026-03-02"], "at most"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    hotline_env: dict[str, str], args: list[str], message: str
) -> None:
    code, _out, err = _run(*args)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


def test_uninitialised_database_exits_1(hotline_env: dict[str, str]) -> None:
    code, _out, err = _run("summary", *DAY)
    assert code == 1
    assert "not initialised" in err
