"""``HOTLINE_REALTIME_PRIORITY``: SCHED_RR for the node, or a warning and normal scheduling."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hotline.app.node import apply_realtime_priority
from hotline.app.settings import load_settings
from hotline.core.errors import ConfigurationError


def test_none_leaves_scheduling_alone() -> None:
    before = os.sched_getscheduler(0)
    assert apply_realtime_priority(None) is False
    assert os.sched_getscheduler(0) == before


def test_a_priority_switches_a_process_to_round_robin_or_says_why_not() -> None:
    # In a child process, so that the test run itself keeps its scheduling.
    code = (
        "import os; from hotline.app.node import apply_realtime_priority as a;"
        "ok = a(5); print(ok, os.sched_getscheduler(0) == os.SCHED_RR)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    ).stdout.split()
    applied, round_robin = out[-2:]
    # As root (CI) it applies; without CAP_SYS_NICE it must decline, never crash.
    assert applied == round_robin
    if os.geteuid() == 0:
        assert applied == "True"


def test_the_setting_is_bounded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("HOTLINE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    assert load_settings(check_dirs=False).realtime_priority is None
    monkeypatch.setenv("HOTLINE_REALTIME_PRIORITY", "10")
    assert load_settings(check_dirs=False).realtime_priority == 10
    monkeypatch.setenv("HOTLINE_REALTIME_PRIORITY", "100")
    with pytest.raises(ConfigurationError):
        load_settings(check_dirs=False)
