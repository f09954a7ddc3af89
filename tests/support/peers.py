"""Real SIP peers for integration tests: SIPp and baresip, on loopback only.

Every run is bounded (SIPp with -m and a timeout; baresip killed at the end)
and writes its logs into the test's temporary directory, whose path is
printed when a test fails.

Ports.  Test nodes take their RTP ports from :data:`NODE_RTP_PORTS`
(``HOTLINE_RTP_PORTS`` of ``hotline serve`` and the media spans of in-process
nodes); the kernel hands out ephemeral ports from 32768 up.  Every baresip
gets a block of its own from :data:`BARESIP_PORTS` (SIP, control and RTP
ports), below both: a block is handed out only when each of its ports binds
(UDP, and TCP for SIP and control), and never twice while its phone runs, so
back-to-back or parallel phones cannot collide (a phone whose RTP port is
taken answers 500).  :func:`free_udp_port` never returns a port of
:data:`NODE_RTP_PORTS`.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

INSTALL_HINT = "run 'bash scripts/system-deps.sh' as root (Debian packages sip-tester, baresip)"


def require(binary: str) -> str:
    """The path of ``binary``; fails (never skips) with the install hint when absent."""
    path = shutil.which(binary)
    if path is None:
        raise AssertionError(f"{binary} is not installed: {INSTALL_HINT}")
    return path


NODE_RTP_PORTS: Final = range(42000, 55000)
"""Where test nodes' RTP ports lie: in-process nodes 42000–50199, ``hotline serve`` in the
e2e tests 44000–48199 and in the browser tests 46000–54199."""

BARESIP_PORT_BLOCK: Final = 100
"""Ports per baresip: SIP (UDP, TCP; the next one for SIP over TLS), control (TCP), RTP."""


def free_udp_port() -> int:
    """A free UDP port on loopback, outside :data:`NODE_RTP_PORTS`."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in NODE_RTP_PORTS:
            return port
    raise AssertionError("no free UDP port outside the test nodes' RTP ports")


@dataclass(frozen=True, slots=True)
class PortBlock:
    """A baresip's own ports: ``first`` SIP, ``first + 1`` kept for SIP over TLS (baresip
    listens there when built with TLS), ``first + 2`` control, from ``first + 4`` RTP."""

    first: int
    size: int = BARESIP_PORT_BLOCK

    @property
    def sip_port(self) -> int:
        return self.first

    @property
    def ctrl_port(self) -> int:
        return self.first + 2

    @property
    def rtp_first(self) -> int:
        return self.first + 4

    @property
    def rtp_last(self) -> int:
        return self.first + self.size - 1

    def config_line(self) -> str:
        """baresip's ``rtp_ports`` setting for this block."""
        return f"rtp_ports {self.rtp_first}-{self.rtp_last}"


def _binds(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class PortAllocator:
    """Blocks of ports for peers; see the module docstring."""

    def __init__(self, first: int, last: int, block: int = BARESIP_PORT_BLOCK) -> None:
        if block < 8 or block % 2 or first % 2:
            raise ValueError("blocks need an even start and at least 8 ports")
        self._starts = list(range(first, last - block + 2, block))
        self._block = block
        self._live: set[int] = set()
        self._lock = threading.Lock()

    def live(self) -> tuple[PortBlock, ...]:
        """The blocks handed out and not released."""
        with self._lock:
            return tuple(PortBlock(start, self._block) for start in sorted(self._live))

    def _free(self, block: PortBlock) -> bool:
        ports = range(block.first, block.first + block.size)
        if not all(_binds(port, socket.SOCK_DGRAM) for port in ports):
            return False
        return all(_binds(port, socket.SOCK_STREAM) for port in ports[:3])

    def acquire(self) -> PortBlock:
        """A block no live peer of this process holds, each of its ports free right now."""
        with self._lock:
            offset = random.randrange(len(self._starts))  # spread parallel test processes
            for start in self._starts[offset:] + self._starts[:offset]:
                block = PortBlock(start, self._block)
                if start not in self._live and self._free(block):
                    self._live.add(start)
                    return block
        raise AssertionError("no free block of ports for a test peer")

    def release(self, block: PortBlock) -> None:
        with self._lock:
            self._live.discard(block.first)

    @contextmanager
    def block(self) -> Iterator[PortBlock]:
        """A block for the life of the ``with`` (release it after the peer has exited)."""
        block = self.acquire()
        try:
            yield block
        finally:
            self.release(block)


BARESIP_PORTS: Final = PortAllocator(21000, 32699)
"""The process's baresip ports: above Hotline's default RTP ports (20000–20999), below
the kernel's ephemeral ports (32768 up) and :data:`NODE_RTP_PORTS`."""


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
    ports: PortBlock | None = None

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
    with BARESIP_PORTS.block() as ports:
        yield from _run_baresip(binary, workdir, ports, account, source_wav, record_wav)


def _run_baresip(
    binary: str,
    workdir: Path,
    ports: PortBlock,
    account: str,
    source_wav: Path | None,
    record_wav: Path | None,
) -> Iterator[Baresip]:
    sip_port, ctrl_port = ports.sip_port, ports.ctrl_port
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
                ports.config_line(),
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
    peer = Baresip(proc, workdir, sip_port, ctrl_port, ports)
    try:
        yield peer
    finally:
        stop_process(proc)
        log.close()


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate ``proc`` and wait for it (kill after 5 s)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
