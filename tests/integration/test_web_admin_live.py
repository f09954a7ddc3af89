"""Administration changes take effect without a restart, on a real node.

``hotline init --demo`` then ``hotline serve`` (a subprocess, as the e2e tests run it).  The
administrator logs in over HTTP, shortens the general queue's maximum wait and replaces the
main voice-menu flow with one whose greeting says something new and leads straight to the
general queue, and adds a trunk (the call path's trunk table takes it at once).  A SIPp call to 122 then hears the new flow (the node logs the flow it runs and
renders the new greeting before the call: no prompt plays as silence) and, with no operator
logged in, leaves the general queue at the new 4 s norm instead of the demo's 120 s.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from support.peers import require, run_sipp
from support.scenarios import ANSWER_BYE_STEPS, caller_scenario

pytestmark = pytest.mark.integration
HOTLINE = Path(sys.executable).with_name("hotline")
PASSWORD = "admin-live-122"
PCAP_DIR = Path("/usr/share/sip-tester")
NEW_GREETING = "Здравствуйте! Линия 122 работает по новому меню."
NEW_FLOW = f"""
format: 1
name: edited-live
start: greeting
prompts:
  greeting: {NEW_GREETING}
nodes:
  - {{id: greeting, kind: play, prompts: [greeting], next: operator}}
  - {{id: operator, kind: queue, queue: general}}
"""
MAX_WAIT_S = 4.0


def _wait(check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _metric(base: str, name: str) -> float:
    for line in httpx.get(f"{base}/metrics", timeout=5).text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"metric {name} missing")


def _takes_calls(base: str) -> bool:
    """The capacity guard takes new calls (a loaded machine can make it busy for a while)."""
    text = httpx.get(f"{base}/metrics", timeout=5).text
    if "hotline_capacity_state{" not in text:
        return True
    return 'hotline_capacity_state{state="normal"} 1.0' in text


def _logged(path: Path, event: str) -> list[dict[str, object]]:
    """The node's JSON log lines whose event is ``event``."""
    found = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if event in line:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == event:
                found.append(record)
    return found


def test_queue_and_flow_changes_apply_to_the_next_call_without_a_restart(
    hotline_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require("sipp")
    require("espeak-ng")
    base_port = 44000 + 2 * random.randrange(0, 2000)
    monkeypatch.setenv("HOTLINE_SIP_HOST", "127.0.0.1")
    monkeypatch.setenv("HOTLINE_RTP_PORTS", f"{base_port}-{base_port + 99}")
    init = subprocess.run(
        [str(HOTLINE), "init", "--demo", "--demo-password", PASSWORD],
        env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    base = f"http://127.0.0.1:{hotline_env['HOTLINE_HTTP_PORT']}"
    sip_port = hotline_env["HOTLINE_SIP_PORT"]
    log_path = tmp_path / "serve.log"
    print(f"node log: {log_path}")
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [str(HOTLINE), "serve"], env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait(lambda: httpx.get(f"{base}/healthz", timeout=1).status_code == 200, "healthz", 120)
        _wait(lambda: bool(_logged(log_path, "calls ready")), "the call path", 120)
        with httpx.Client(base_url=base, timeout=10) as http:
            r = http.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
            assert r.status_code == 200, r.text
            csrf = {"X-CSRF-Token": r.json()["csrf_token"]}
            # The demo flow is stored as "main": the page edits the flow the node runs.
            shown = http.get("/api/v1/admin/flows/main").json()
            assert shown["stored"] is True and "name: hotline-122" in shown["yaml"]
            queue = {"name": "Общая очередь", "topic": "general", "config": {"max_wait_s": 4}}
            r = http.put("/api/v1/admin/queues/general", json=queue, headers=csrf)
            assert r.json() == {"saved": True, "applied": True, "restart_needed": False}
            r = http.put("/api/v1/admin/flows/main", json={"yaml": NEW_FLOW}, headers=csrf)
            assert r.json() == {"saved": True, "applied": True, "restart_needed": False}, r.text
            trunk = {"name": "live-trunk", "host": "127.0.0.2", "inbound_numbers": ["122"]}
            r = http.put("/api/v1/admin/trunks/live-trunk", json=trunk, headers=csrf)
            assert r.json() == {"saved": True, "applied": True, "restart_needed": False}, r.text
            listed = {q["queue_id"]: q for q in http.get("/api/v1/admin/queues").json()}
            assert listed["general"]["config"]["max_wait_s"] == MAX_WAIT_S
            assert http.get("/api/v1/admin/flows/main").json()["yaml"] == NEW_FLOW
        _wait(lambda: bool(_logged(log_path, "new menu prompts ready")), "the new greeting")
        _wait(lambda: bool(_logged(log_path, "trunks reloaded")), "the trunk table", 10)
        missing_before = _metric(base, "hotline_ivr_prompts_missing_total")
        _wait(lambda: _takes_calls(base), "the capacity guard to take calls", 90)

        workdir = tmp_path / "sipp"
        (workdir / "pcap").mkdir(parents=True)
        shutil.copy(PCAP_DIR / "g711a.pcap", workdir / "pcap" / "g711a.pcap")
        steps = f"""  <nop><action><exec play_pcap_audio="pcap/g711a.pcap"/></action></nop>
{ANSWER_BYE_STEPS.replace('timeout="20000"', 'timeout="40000"')}"""
        (workdir / "caller.xml").write_text(
            caller_scenario("admin live", steps, tag="live"), encoding="ascii"
        )
        args = ["-sf", "caller.xml", f"127.0.0.1:{sip_port}", "-s", "122", "-m", "1"]
        args += ["-i", "127.0.0.1", "-mi", "127.0.0.1"]
        started = time.monotonic()
        result = run_sipp(args, workdir=workdir, timeout_s=60)
        took_s = time.monotonic() - started
        assert result.returncode == 0 and result.successful == 1, (
            f"SIPp failed, logs in {workdir}\n{result.stdout[-2000:]}"
        )
        assert took_s < 40.0  # the demo's 120 s maximum wait would still hold the call
        _wait(lambda: _metric(base, "hotline_calls_active") == 0, "the call to end")
        assert (
            _metric(base, "hotline_ivr_prompts_missing_total") == missing_before
        )  # greeting spoken
        menu_calls = _logged(log_path, "call in the voice menu")
        assert [c.get("flow") for c in menu_calls] == ["edited-live"]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    output = log_path.read_text(encoding="utf-8")
    assert "Traceback" not in output, output[-3000:]
    data_dir = Path(hotline_env["HOTLINE_DATA_DIR"])
    with sqlite3.connect(data_dir / "hotline.db") as db:
        rows = db.execute(
            "SELECT kind, queue_id, ts_ms FROM events WHERE call_id IS NOT NULL ORDER BY seq"
        ).fetchall()
    kinds = [kind for kind, _q, _t in rows]
    assert "call.ivr_choice" not in kinds  # the new flow has no menu
    entered = [(q, t) for k, q, t in rows if k == "queue.entered"]
    timed_out = [(q, t) for k, q, t in rows if k == "queue.timed_out"]
    assert [q for q, _ in entered] == ["general"] and [q for q, _ in timed_out] == ["general"]
    waited_s = (timed_out[0][1] - entered[0][1]) / 1000
    assert MAX_WAIT_S - 0.5 <= waited_s <= MAX_WAIT_S + 1.5, waited_s
