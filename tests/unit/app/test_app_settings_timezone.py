"""HOTLINE_TIMEZONE: the service's local time for reports, checked when the settings load."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from hotline.app.cli import app
from hotline.app.settings import load_settings
from hotline.core.errors import ConfigurationError


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("HOTLINE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "var"))
    return monkeypatch


def test_the_default_is_moscow_time(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings(check_dirs=False)
    assert settings.timezone == "Europe/Moscow"
    moscow = datetime(2026, 3, 2, tzinfo=ZoneInfo(settings.timezone))
    assert moscow.utcoffset() == timedelta(hours=3)


@pytest.mark.parametrize("name", ["Asia/Yekaterinburg", "Asia/Vladivostok", "UTC"])
def test_the_environment_sets_any_iana_zone(clean_env: pytest.MonkeyPatch, name: str) -> None:
    clean_env.setenv("HOTLINE_TIMEZONE", name)
    assert load_settings(check_dirs=False).timezone == name


def test_the_file_sets_the_zone(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "hotline.toml"
    config.write_text('timezone = "Asia/Novosibirsk"\n', encoding="utf-8")
    assert load_settings(config, check_dirs=False).timezone == "Asia/Novosibirsk"
    clean_env.setenv("HOTLINE_TIMEZONE", "Europe/Kaliningrad")  # the environment wins
    assert load_settings(config, check_dirs=False).timezone == "Europe/Kaliningrad"


@pytest.mark.parametrize(
    "value",
    ["Mars/Olympus", "MSK", "europe/moscow", "Europe", "", "../etc/passwd", "/etc/localtime"],
)
def test_an_unknown_zone_names_the_setting(clean_env: pytest.MonkeyPatch, value: str) -> None:
    clean_env.setenv("HOTLINE_TIMEZONE", value)
    with pytest.raises(ConfigurationError) as info:
        load_settings(check_dirs=False)
    assert info.value.setting == "HOTLINE_TIMEZONE"
    assert info.value.problem.startswith("unknown time zone: use an IANA name")
    assert info.value.problem.endswith(f"(got {value!r})")


def test_an_unknown_zone_stops_the_command_with_one_line(hotline_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["serve"], env={"HOTLINE_TIMEZONE": "Mars/Olympus"})
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("hotline: invalid setting HOTLINE_TIMEZONE: unknown time zone")
