"""``hotline serve`` as a subprocess: health, metrics, and a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e
HOTLINE = Path(sys.executable).with_name("hotline")


def _wait_healthy(
    base: str, proc: subprocess.Popen[bytes], timeout_s: float = 120.0
) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"hotline serve exited early with {proc.returncode}")
        try:
            return httpx.get(f"{base}/healthz", timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("hotline serve did not answer /healthz in time")


@pytest.fixture
def served(
    hotline_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(HOTLINE), "serve"], env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield proc, f"http://127.0.0.1:{hotline_env['HOTLINE_HTTP_PORT']}", log_path
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        print(f"serve log kept at {log_path}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_health_metrics_and_clean_stop(
    served: tuple[subprocess.Popen[bytes], str, Path], sig: signal.Signals
) -> None:
    proc, base, log_path = served
    health = _wait_healthy(base, proc)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    metrics = httpx.get(f"{base}/metrics", timeout=5.0)
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# TYPE hotline_bus_dropped_total counter" in metrics.text
    assert 'hotline_node_state{state="running"} 1.0' in metrics.text
    started = time.monotonic()
    proc.send_signal(sig)
    proc.wait(timeout=10)
    elapsed = time.monotonic() - started
    output = log_path.read_text(encoding="utf-8")
    assert elapsed < 5.0, output
    assert proc.returncode == 0, output
    assert "Traceback" not in output
    assert '"event": "node stopped"' in output


def test_port_in_use_is_one_clear_line(hotline_env: dict[str, str]) -> None:
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", int(hotline_env["HOTLINE_HTTP_PORT"])))
        blocker.listen(1)
        proc = subprocess.run(
            [str(HOTLINE), "serve"],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert (
        f"hotline: cannot start: HTTP 127.0.0.1:{hotline_env['HOTLINE_HTTP_PORT']}" in proc.stderr
    )
