"""Capacity guard settings: the lateness levels of ``[capacity]`` / ``HOTLINE_CAPACITY__*``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hotline.app.settings import CapacitySettings, load_settings
from hotline.calls.capacity import CapacityLimits
from hotline.core.errors import ConfigurationError


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("HOTLINE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "var"))
    return monkeypatch


def test_defaults_are_the_guards_own(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings(check_dirs=False)
    assert settings.capacity == CapacitySettings()
    limits = CapacityLimits(max_calls=1)
    assert (
        settings.capacity.busy_lateness_ms,
        settings.capacity.reject_lateness_ms,
        settings.capacity.clear_lateness_ms,
    ) == (limits.busy_lateness_ms, limits.reject_lateness_ms, limits.clear_lateness_ms)


def test_environment_relaxes_the_levels(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HOTLINE_CAPACITY__BUSY_LATENESS_MS", "30")
    clean_env.setenv("HOTLINE_CAPACITY__REJECT_LATENESS_MS", "120")
    clean_env.setenv("HOTLINE_CAPACITY__CLEAR_LATENESS_MS", "10")
    capacity = load_settings(check_dirs=False).capacity
    assert (capacity.clear_lateness_ms, capacity.busy_lateness_ms) == (10.0, 30.0)
    assert capacity.reject_lateness_ms == 120.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BUSY_LATENESS_MS", "50"),  # above the default reject level
        ("CLEAR_LATENESS_MS", "10"),  # equal to the default busy level
        ("BUSY_LATENESS_MS", "0"),
        ("REJECT_LATENESS_MS", "nan"),
    ],
)
def test_levels_out_of_order_name_the_group(
    clean_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    clean_env.setenv(f"HOTLINE_CAPACITY__{name}", value)
    with pytest.raises(ConfigurationError) as info:
        load_settings(check_dirs=False)
    assert info.value.setting.startswith("HOTLINE_CAPACITY")
