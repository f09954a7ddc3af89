"""``hotline report``: dates and intervals in HOTLINE_TIMEZONE unless ``--tz`` says otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hotline.app.cli import app
from support.eventdb import seed_database
from unit.reports.reports_log import K, Log

DAY = ["--from", "2026-03-02", "--to", "2026-03-02", "--interval", "60m", "--format", "json"]


@pytest.fixture
def seeded(hotline_env: dict[str, str], tmp_path: Path) -> Path:
    # T0 is 2 March 2026, 09:00 UTC; the Moscow day is T0 - 12 h .. T0 + 12 h.
    log = Log()
    log.queued_call("before", "social", -12 * 3600 - 1, outcome=K.QUEUE_ANSWERED, wait_s=5)
    log.queued_call("first", "social", -12 * 3600, outcome=K.QUEUE_ANSWERED, wait_s=5)
    log.queued_call("noon", "social", 0, outcome=K.QUEUE_ANSWERED, wait_s=5)
    log.queued_call("after", "social", 12 * 3600, outcome=K.QUEUE_ANSWERED, wait_s=5)
    seed_database(tmp_path, log.events, [])
    return tmp_path


def _busy(*args: str, env: dict[str, str] | None = None) -> dict[str, int]:
    result = CliRunner().invoke(app, ["report", "summary", *DAY, *args], env=env)
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    return {r["interval_start"]: r["offered"] for r in rows if r["offered"]}


def test_the_default_zone_is_the_setting(seeded: Path) -> None:
    assert _busy() == {"2026-03-02T00:00:00": 1, "2026-03-02T12:00:00": 1}  # Moscow
    utc = _busy(env={"HOTLINE_TIMEZONE": "UTC"})
    assert utc == {"2026-03-02T09:00:00": 1, "2026-03-02T21:00:00": 1}


def test_tz_overrides_the_setting(seeded: Path) -> None:
    got = _busy("--tz", "UTC", env={"HOTLINE_TIMEZONE": "Asia/Vladivostok"})
    assert got == {"2026-03-02T09:00:00": 1, "2026-03-02T21:00:00": 1}
    got = _busy("--tz", "Europe/Moscow", env={"HOTLINE_TIMEZONE": "UTC"})
    assert got == {"2026-03-02T00:00:00": 1, "2026-03-02T12:00:00": 1}


def test_a_bad_setting_is_reported_when_no_tz_is_given(seeded: Path) -> None:
    result = CliRunner().invoke(
        app, ["report", "summary", *DAY], env={"HOTLINE_TIMEZONE": "Mars/Olympus"}
    )
    assert result.exit_code == 2
    assert "HOTLINE_TIMEZONE" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_directory_of_zones_is_not_a_zone(seeded: Path) -> None:
    result = CliRunner().invoke(app, ["report", "summary", *DAY, "--tz", "Europe"])
    assert result.exit_code == 2
    assert result.stderr == "hotline report: unknown time zone 'Europe' for --tz\n"
