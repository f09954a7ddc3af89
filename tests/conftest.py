"""Fixtures shared by every tier."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from support.nodeenv import TEST_NODE_CAPACITY

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port that is free right now on ``host`` for ``kind`` (TCP or UDP)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def hotline_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for a private Hotline instance in ``tmp_path`` (no HOTLINE_* leaks in)."""
    import os

    for key in list(os.environ):
        if key.startswith("HOTLINE_"):
            monkeypatch.delenv(key)
    env = {
        "HOTLINE_DATA_DIR": str(tmp_path / "var"),
        "HOTLINE_HTTP_PORT": str(free_port()),
        "HOTLINE_SIP_PORT": str(free_port(socket.SOCK_DGRAM)),
        "HOTLINE_LOG_FORMAT": "json",
        **TEST_NODE_CAPACITY,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
