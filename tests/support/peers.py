"""Real SIP peers for integration tests: SIPp and baresip, on loopback only.

Every run is bounded (SIPp with -m and a timeout; baresip killed at the end)
and writes its logs into the test's temporary directory, whose path is
printed when a test fails.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "run 'bash scripts/system-deps.sh' as root (Debian packages sip-tester, baresip)"


def require(binary: str) -> str:
    """The path of ``binary``; fails (never skips) with the install hint when absent."""
    path = shutil.which(binary)
    if path is None:
        raise AssertionError(f"{binary} is not installed: {INSTALL_HINT}")
    return path


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class SippResult:
    returncode: int
    stdout: str
    stderr: str
    successful: int
    failed: int
    workdir: Path


def _stat_counts(workdir: Path) -> tuple[int, int]:
    """(successful, failed) from SIPp's -trace_stat CSV (last line, cumulative columns)."""
    files = sorted(workdir.glob("*_.csv")) + sorted(workdir.glob("stat*.csv"))
    for path in files:
        lines = [ln for ln in path.read_text(encoding="latin-1").splitlines() if ln.strip()]
        if len(lines) < 2:
            continue
        header = lines[0].split(";")
        last = lines[-1].split(";")
        try:
            ok = int(last[header.index("SuccessfulCall(C)")])
            bad = int(last[header.index("FailedCall(C)")])
        except (ValueError, IndexError):
            continue
        return ok, bad
    return 0, 0


def run_sipp(
    args: list[str],
    *,
    workdir: Path,
    timeout_s: float = 120.0,
) -> SippResult:
    """Run SIPp to completion (it must be bounded by -m) and collect its statistics."""
    sipp = require("sipp")
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sipp,
        *args,
        "-nostdin",
        "-trace_stat",
        "-stf",
        str(workdir / "stat.csv"),
        "-trace_err",
        "-error_file",
        str(workdir / "errors.log"),
        "-timeout",
        f"{int(timeout_s)}s",
        "-timeout_error",
    ]
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout_s + 30,
        check=False,
    )
    ok, bad = _stat_counts(workdir)
    return SippResult(proc.returncode, proc.stdout, proc.stderr, ok, bad, workdir)


@dataclass(slots=True)
class Baresip:
    """A running baresip instance with its control port (ctrl_tcp, JSON netstrings)."""

    proc: subprocess.Popen[bytes]
    workdir: Path
    sip_port: int
    ctrl_port: int

    def log(self) -> str:
        return (self.workdir / "baresip.log").read_text(encoding="utf-8", errors="replace")

    def command(self, command: str, params: str = "", timeout_s: float = 5.0) -> str:
        """Send one ctrl_tcp command and return the raw response text."""
        import json

        payload = json.dumps({"command": command, "params": params, "token": "t1"}).encode()
        frame = str(len(payload)).encode() + b":" + payload + b","
        with socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=timeout_s) as s:
            s.sendall(frame)
            deadline = time.monotonic() + timeout_s
            data = b""
            while time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if b'"response"' in data and data.endswith(b","):
                    break
        return data.decode("utf-8", errors="replace")

    def wait_log(self, needle: str, timeout_s: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if needle in self.log():
                return True
            if self.proc.poll() is not None:
                return needle in self.log()
            time.sleep(0.1)
        return False


def write_tone_wav(path: Path, *, frequency_hz: float, seconds: float, rate_hz: int = 8000) -> None:
    """A mono 16-bit WAV with one sine tone (baresip's aufile source needs 8 kHz for G.711)."""
    import wave

    import numpy as np

    t = np.arange(int(seconds * rate_hz)) / rate_hz
    samples = (np.sin(2 * np.pi * frequency_hz * t) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate_hz)
        out.writeframes(samples.tobytes())


@contextmanager
def baresip(
    workdir: Path,
    *,
    account: str,
    source_wav: Path | None = None,
    record_wav: Path | None = None,
) -> Iterator[Baresip]:
    """Start baresip with one account line; stop it on exit.

    ``account`` is a baresip account line, e.g.
    ``<sip:1001@127.0.0.1:5060>;auth_pass=pw;answermode=auto;audio_codecs=PCMA,PCMU``.
    """
    binary = require("baresip")
    workdir.mkdir(parents=True, exist_ok=True)
    sip_port = free_udp_port()
    ctrl_port = free_udp_port()
    modules_dir = Path("/usr/lib/baresip/modules")
    if source_wav is None:
        source_wav = workdir / "source.wav"
        write_tone_wav(source_wav, frequency_hz=440.0, seconds=5.0)
    source = f"aufile,{source_wav}"
    player = f"aufile,{record_wav}" if record_wav else "aufile,/dev/null"
    (workdir / "config").write_text(
        "\n".join(
            [
                "poll_method epoll",
                f"sip_listen 127.0.0.1:{sip_port}",
                f"module_path {modules_dir}",
                "module g711.so",
                "module aufile.so",
                "module ctrl_tcp.so",
                "module_app account.so",
                f"ctrl_tcp_listen 127.0.0.1:{ctrl_port}",
                f"audio_player {player}",
                f"audio_source {source}",
                "audio_alert aufile,/dev/null",
                "rtp_ports 30000-30999",
                "net_interface 127.0.0.1",
                "",
            ]
        ),
        encoding="utf-8",
    )
    (workdir / "accounts").write_text(account + "\n", encoding="utf-8")
    (workdir / "contacts").write_text("", encoding="utf-8")
    log = (workdir / "baresip.log").open("wb")
    proc = subprocess.Popen(
        [binary, "-f", str(workdir), "-v", "-s"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=workdir,
    )
    peer = Baresip(proc, workdir, sip_port, ctrl_port)
    try:
        yield peer
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        log.close()
