"""Call setups per second (INVITE→200→ACK→BYE) against our node and SIPp's own UAS.

For each rate, SIPp's built-in `uac` scenario places calls for a fixed time
with no hold; we report the achieved rate, failed calls and the CPU of each
process.  SIPp's `uas` scenario, measured the same way, is the anchor.

Run: .venv/bin/python bench/sip/bench_calls.py [--rates 100,200,300,400] [--seconds 10]
Loopback only; every SIPp run is bounded by -m.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> str:
    model = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")),
        "?",
    )  # fmt: skip
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def run_uac(port: int, rate: int, seconds: int, workdir: Path) -> tuple[int, int, float, float]:
    calls = rate * seconds
    cmd = [
        "sipp", "-sn", "uac", f"127.0.0.1:{port}", "-s", "122", "-r", str(rate), "-m", str(calls),
        "-d", "0", "-i", "127.0.0.1", "-nostdin", "-trace_stat", "-stf", str(workdir / "s.csv"),
        "-timeout", f"{seconds * 3 + 30}s", "-l", str(rate * 4), "-max_recv_loops", "10000",
    ]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu = 0.0
    while proc.poll() is None:
        try:
            cpu = cpu_seconds(proc.pid)
        except OSError:
            break
        time.sleep(0.2)
    elapsed = time.monotonic() - start
    lines = (workdir / "s.csv").read_text().splitlines()
    header, last = lines[0].split(";"), lines[-1].split(";")
    ok = int(last[header.index("SuccessfulCall(C)")])
    bad = int(last[header.index("FailedCall(C)")])
    (workdir / "s.csv").unlink()
    return ok, bad, elapsed, cpu


def bench_target(
    name: str, server_cmd: list[str], port: int, rates: list[int], seconds: int
) -> None:
    server = subprocess.Popen(
        server_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        if name == "hotline":
            assert server.stdout is not None
            while "ready" not in (line := server.stdout.readline()):
                assert line, "the node exited"
        else:
            time.sleep(1.0)
        with tempfile.TemporaryDirectory() as tmp:
            for rate in rates:
                cpu0 = cpu_seconds(server.pid)
                ok, bad, elapsed, uac_cpu = run_uac(port, rate, seconds, Path(tmp))
                cpu = cpu_seconds(server.pid) - cpu0
                total = ok + bad
                achieved = total / elapsed if elapsed else 0
                fail_pct = 100 * bad / total if total else 100
                print(
                    f"{name:8} rate={rate:4}/s calls={total:5} achieved={achieved:6.1f}/s "
                    f"failed={fail_pct:5.2f}% server_cpu={100 * cpu / elapsed:5.1f}% "
                    f"sipp_uac_cpu={100 * uac_cpu / elapsed:5.1f}%",
                    flush=True,
                )
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=20)
        if name == "hotline" and out:
            print(f"         node: {out.strip().splitlines()[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="100,200,300,400,500")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--only", choices=["hotline", "sipp"], default=None)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    print(f"machine: {machine()}")
    if args.only in (None, "hotline"):
        port = free_port()
        bench_target(
            "hotline",
            [sys.executable, str(HERE / "answerer_node.py"), str(port)],
            port,
            rates,
            args.seconds,
        )
    if args.only in (None, "sipp"):
        port = free_port()
        uas = ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-nostdin", "-bg"]
        bench_target("sipp-uas", [*uas[:-1]], port, rates, args.seconds)


if __name__ == "__main__":
    main()
