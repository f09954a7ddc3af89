"""``hotline report`` over the projections: rebuild, then the same output as the raw events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hotline.app.cli import app
from hotline.store.queues import StoredQueue
from support.eventdb import seed_database
from unit.reports.reports_random import random_log

START = datetime(2026, 3, 2, 8, tzinfo=UTC)
DAY = ["--from", "2026-03-02", "--to", "2026-03-02"]


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["report", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def seeded(hotline_env: dict[str, str], tmp_path: Path) -> Path:
    queue = StoredQueue("q_health", "Здравоохранение", "health", {"sl_norm_s": 30.0})
    seed_database(tmp_path, random_log(21, 60, START, 8 * 3600), [queue])
    return tmp_path


def test_projections_are_stale_until_rebuilt_then_give_the_same_json(seeded: Path) -> None:
    code, _out, err = _run("summary", *DAY, "--source", "projections")
    assert code == 1 and "rebuild" in err
    code, _out, err = _run("rebuild")
    assert code == 0, err
    assert "60 calls" in err
    for extra in (
        [],
        ["--by", "queue"],
        ["--by", "topic", "--interval", "60m"],
        ["--interval", "15m", "--tz", "Europe/Moscow"],
    ):
        code, raw, err = _run("summary", *DAY, *extra, "--format", "json", "--source", "events")
        assert code == 0, err
        code, projected, err = _run(
            "summary", *DAY, *extra, "--format", "json", "--source", "projections"
        )
        assert code == 0, err
        assert json.loads(projected) == json.loads(raw), extra
    code, _out, err = _run("summary", *DAY, "--by", "operator", "--source", "projections")
    assert code == 1 and "operator" in err


def test_cdr_search_from_projections_equals_raw(seeded: Path) -> None:
    assert _run("rebuild")[0] == 0
    for extra in ([], ["--number", "9160000001"], ["--topic", "health"], ["--operator", "op1"]):
        args = ["cdr", *DAY, *extra, "--format", "json", "--show-numbers"]
        code, raw, err = _run(*args, "--source", "events")
        assert code == 0, err
        code, projected, err = _run(*args, "--source", "projections")
        assert code == 0, err
        assert json.loads(projected) == json.loads(raw), extra
        assert json.loads(raw)["rows"] or extra


def test_rebuild_of_a_period_needs_both_ends(seeded: Path) -> None:
    code, _out, err = _run("rebuild", "--from", "2026-03-02")
    assert code == 2 and "--to" in err
    code, _out, err = _run("rebuild", *DAY)
    assert code == 0, err


def test_unknown_source(seeded: Path) -> None:
    code, _out, err = _run("summary", *DAY, "--source", "cache")
    assert code == 2 and "--source" in err
