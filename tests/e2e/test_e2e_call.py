"""``hotline serve`` with the demo answers 122: ``hotline demo-call`` presses 2 in the voice menu,
the call waits in the health queue and a demo operator's baresip answers."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from support.peers import baresip, write_tone_wav

pytestmark = pytest.mark.e2e
HOTLINE = Path(sys.executable).with_name("hotline")
PASSWORD = "demo-pw-122"


def _metric(base: str, name: str) -> float:
    for line in httpx.get(f"{base}/metrics", timeout=5).text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"metric {name} missing")


def _wait(check: object, what: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if callable(check) and check():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_demo_call_to_122_reaches_operator_1001(
    hotline_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base_port = 44000 + 2 * random.randrange(0, 2000)
    monkeypatch.setenv("HOTLINE_SIP_HOST", "127.0.0.1")
    monkeypatch.setenv("HOTLINE_RTP_PORTS", f"{base_port}-{base_port + 99}")
    init = subprocess.run(
        [str(HOTLINE), "init", "--demo", "--demo-password", PASSWORD],
        env=dict(os.environ), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    base = f"http://127.0.0.1:{hotline_env['HOTLINE_HTTP_PORT']}"
    sip_port = hotline_env["HOTLINE_SIP_PORT"]
    log_path = tmp_path / "serve.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [str(HOTLINE), "serve"], env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait(lambda: httpx.get(f"{base}/healthz", timeout=1).status_code == 200, "healthz")
        source = tmp_path / "tone440.wav"
        write_tone_wav(source, frequency_hz=440.0, seconds=30.0)
        account = (
            f"<sip:1001@127.0.0.1:{sip_port};transport=udp>;auth_pass={PASSWORD};"
            "answermode=auto;audio_codecs=PCMA,PCMU;regint=120"
        )
        with baresip(tmp_path / "op1001", account=account, source_wav=source) as phone:
            _wait(lambda: _metric(base, "hotline_sip_bindings") == 1, "registration")
            time.sleep(1.5)  # the presence watcher makes 1001 READY within a second
            # The greeting with the recording notice takes ≈ 6.3 s and cannot be skipped;
            # the key goes in while the menu prompt plays (barge-in).
            result = subprocess.run(
                [str(HOTLINE), "demo-call", "--digit", "2", "--seconds", "3", "--menu-wait-s", "9"],
                env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert result.returncode == 0, (
                f"{result.stderr[-2000:]}\nbaresip:\n{phone.log()[-3000:]}"
            )
            assert "the demo call went through" in result.stdout
            assert "X-Hotline-Topic: health" in phone.log()
            _wait(lambda: _metric(base, "hotline_calls_active") == 0, "the call to end")
            assert _metric(base, "hotline_calls_total") == 1
            assert _metric(base, "hotline_media_legs_active") == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    output = log_path.read_text(encoding="utf-8")
    assert "Traceback" not in output, output[-3000:]
    data_dir = Path(hotline_env["HOTLINE_DATA_DIR"])
    with sqlite3.connect(data_dir / "hotline.db") as db:
        rows = db.execute("SELECT kind, operator_id FROM events ORDER BY seq").fetchall()
        queues = db.execute("SELECT queue_id FROM events WHERE kind = 'queue.entered'").fetchall()
    kinds = [kind for kind, _ in rows if kind != "operator.state"]
    assert kinds[:5] == [
        "call.arrived", "call.ivr_choice", "queue.entered", "queue.offered", "queue.answered",
    ]  # fmt: skip
    assert queues == [("health",)]
    assert {"call.ended", "recording.stored"} <= set(kinds)
    assert ("queue.answered", "1001") in rows
    recordings = list((data_dir / "recordings").glob("*.wav"))
    assert len(recordings) == 1 and recordings[0].stat().st_size > 44
