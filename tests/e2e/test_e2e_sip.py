"""``hotline serve`` with the demo: phones register over SIP and stay registered across a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from support.peers import run_sipp

pytestmark = pytest.mark.e2e
HOTLINE = Path(sys.executable).with_name("hotline")
SCENARIOS = Path(__file__).resolve().parents[1] / "integration" / "scenarios"


def _start(log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [str(HOTLINE), "serve"], env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT
        )


def _metric(base: str, name: str) -> float:
    for line in httpx.get(f"{base}/metrics", timeout=5).text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"metric {name} missing")


def _wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "hotline serve exited"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("not up")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)


def test_demo_phone_registers_and_binding_survives_restart(
    hotline_env: dict[str, str], tmp_path: Path
) -> None:
    init = subprocess.run(
        [str(HOTLINE), "init", "--demo", "--demo-password", "demo-pw-122"],
        env=dict(os.environ), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    base = f"http://127.0.0.1:{hotline_env['HOTLINE_HTTP_PORT']}"
    sip_port = hotline_env["HOTLINE_SIP_PORT"]
    log_path = tmp_path / "serve.log"
    proc = _start(log_path)
    try:
        _wait_up(base, proc)
        result = run_sipp(
            ["-sf", str(SCENARIOS / "register_stay.xml"), "-au", "1001", "-ap", "demo-pw-122",
             "-s", "1001", f"127.0.0.1:{sip_port}", "-m", "1", "-i", "127.0.0.1"],
            workdir=tmp_path / "sipp", timeout_s=30,
        )  # fmt: skip
        assert (result.successful, result.failed) == (1, 0), result.stdout[-2000:]
        assert _metric(base, "hotline_sip_registrations_total") == 1
        assert _metric(base, "hotline_sip_bindings") == 1
        time.sleep(0.5)  # the binding is written to the database off the event loop
        _stop(proc)
        proc = _start(log_path)
        _wait_up(base, proc)
        assert _metric(base, "hotline_sip_bindings") == 1, "binding lost across a restart"
    finally:
        if proc.poll() is None:
            _stop(proc)
    output = log_path.read_text(encoding="utf-8")
    assert "Traceback" not in output
    assert "bindings_restored" in output
