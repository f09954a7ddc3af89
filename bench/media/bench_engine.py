"""Capacity of the media engine: N bridged and recorded G.711 calls on loopback.

Run: ``python bench/media/bench_engine.py [--calls 50,100,200,300] [--seconds 20]``.

For each N the engine (this process, on uvloop unless ``--no-uvloop``) opens
2·N legs: a caller leg in PCMA and an operator leg in PCMU, bridged (so every
packet is transcoded A-law ↔ µ-law) and recorded to stereo WAV files in a
temporary directory.  A *separate process* plays the 2·N phones (sharing one
UDP socket; replies are told apart by SSRC), each sending a 20 ms G.711
packet per tick on absolute deadlines, spread over 10 phases of the tick,
and timing what comes back.  Figures:

- CPU: this process (event loop + recording writer thread) and the load
  generator, in % of one core, over the measured window; CPU per call;
- loss: packets sent by the generator that did not come back relayed;
- jitter: deviation of the arrival spacing from 20 ms at the receiving
  socket (p50/p99/max), next to the same figure for the generator's own send
  spacing (what it adds by itself), and the transit-time variation (arrival −
  send, minus the stream's minimum) p50/p99;
- memory per call: RSS growth of this process from before the legs to the
  end of the run, divided by N;
- disk: recording bytes written per second;
- the engine's own counters: late and skipped pacer ticks, dropped packets.

With ``--baseline`` (the default) each N is also run against a trivial echo
process (one UDP socket, each packet sent straight back with the SSRC of the
other leg of its call) just before the engine: the same generator, the same
machine load, so what the generator and the kernel add by themselves is
measured in the same run, and the engine's figures can be read against it.
``--repeat`` runs the whole series several times (the machine is shared).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import gc
import multiprocessing
import os
import platform
import resource
import selectors
import socket
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from hotline.core.clock import SystemClock
from hotline.media.codecs import PCMA, PCMU
from hotline.media.eng_events import EngineConfig
from hotline.media.engine import MediaEngine

TICK_S = 0.02
WARMUP_S = 1.0
SLOTS = 10


@dataclass(frozen=True)
class Span:
    first: int
    last: int


def machine() -> str:
    model = platform.processor() or "unknown"
    with (
        contextlib.suppress(OSError),
        open("/proc/cpuinfo", encoding="ascii", errors="replace") as info,
    ):
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"nproc={os.cpu_count()} cpu={model!r} python={platform.python_version()} "
        f"({platform.python_implementation()}) numpy={np.__version__} kernel={platform.release()}"
    )


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def machine_cpu() -> tuple[float, float, float]:
    """(busy, steal, total) jiffies of all CPUs, from /proc/stat (steal: taken by the host)."""
    with open("/proc/stat", encoding="ascii") as stat:
        # user nice system idle iowait irq softirq steal (guest time is inside user already)
        fields = [float(x) for x in stat.readline().split()[1:9]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    steal = fields[7] if len(fields) > 7 else 0.0
    return sum(fields) - idle - steal, steal, sum(fields)


def load_average() -> str:
    with open("/proc/loadavg", encoding="ascii") as load:
        return " ".join(load.read().split()[:3])


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of another process (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the load generator (a separate process) --------------------------------------------------


def _frames(codec: Any, freq: float, count: int) -> list[bytes]:
    n = np.arange(count * 160)
    pcm = np.round(8000 * np.sin(2 * np.pi * freq * n / 8000)).astype(np.int16)
    return [codec.encode(pcm[i * 160 : (i + 1) * 160]) for i in range(count)]


def generator(conn: Connection, calls: int, seconds: float) -> None:
    """2·calls phones: one packet per phone per tick, every packet that comes back timed.

    All phones share one UDP socket (the engine latches each leg onto it; what
    comes back is told apart by the SSRC of each leg's outgoing stream), so the
    generator spends its CPU on packets, not on polling hundreds of sockets.
    """
    legs = 2 * calls
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    conn.send(sock.getsockname())
    targets: list[tuple[str, int]]
    ssrcs: list[int]
    targets, ssrcs = conn.recv()
    index_of = {ssrc: index for index, ssrc in enumerate(ssrcs)}
    caller_frames = _frames(PCMA, 1000.0, 50)
    operator_frames = _frames(PCMU, 600.0, 50)
    header = struct.Struct("!BBHII")
    seq_ssrc = struct.Struct("!HII")
    arrivals = [array.array("d") for _ in range(legs)]
    arrival_seq = [array.array("l") for _ in range(legs)]
    send_times = [array.array("d") for _ in range(legs)]
    unknown = 0

    def drain() -> None:
        nonlocal unknown
        recv = sock.recv
        monotonic = time.monotonic
        while True:
            try:
                data = recv(2048)
            except BlockingIOError:
                return
            if data[1] & 0x7F not in (0, 8):
                continue  # RTCP of the engine that found no listener is not ours
            seq, _ts, ssrc = seq_ssrc.unpack_from(data, 2)
            index = index_of.get(ssrc)
            if index is None:
                unknown += 1
                continue
            arrivals[index].append(monotonic())
            arrival_seq[index].append(seq)

    total = round((seconds + WARMUP_S) / TICK_S)
    measure_from = round(WARMUP_S / TICK_S)
    # Real phones are not synchronised: each one sends in one of SLOTS phases of the tick.
    slot_s = TICK_S / SLOTS
    slots = [range(slot, legs, SLOTS) for slot in range(SLOTS)]
    conn.send("start")
    cpu_start = 0.0
    start = time.monotonic() + 0.05
    tick = 0
    while tick < total:
        if tick == measure_from:
            cpu_start = cpu_seconds()
            conn.send("measure")
        frame_index = tick % 50
        for slot, members in enumerate(slots):
            deadline = start + tick * TICK_S + slot * slot_s
            # Read until the slot's deadline, then send its packets.
            while True:
                wait = deadline - time.monotonic()
                if selector.select(max(wait, 0.0)):
                    drain()
                if wait <= 0:
                    break
            for index in members:
                is_caller = index % 2 == 0
                packet = (
                    header.pack(
                        0x80,
                        8 if is_caller else 0,
                        tick & 0xFFFF,
                        (tick * 160) & 0xFFFFFFFF,
                        index + 1,
                    )
                    + (caller_frames if is_caller else operator_frames)[frame_index]
                )
                send_times[index].append(time.monotonic())
                sock.sendto(packet, targets[index])
        tick += 1
    cpu_used = cpu_seconds() - cpu_start
    conn.send("stop")
    drain_until = time.monotonic() + 0.5
    while time.monotonic() < drain_until:
        if selector.select(0.05):
            drain()
    # Leg 2k (caller) and 2k+1 (operator) form a call: what one sends, the other receives.
    spacing: list[np.ndarray] = []
    transit: list[np.ndarray] = []
    send_spacing: list[np.ndarray] = []
    sent = received = 0
    for index in range(legs):
        peer = index ^ 1
        sent_times = np.frombuffer(send_times[peer], dtype=np.float64)[measure_from:]
        sent += len(sent_times)
        got_at = np.frombuffer(arrivals[index], dtype=np.float64)
        got_seq = np.frombuffer(arrival_seq[index], dtype=np.int64)
        if not len(got_seq):
            continue
        # The relay keeps sequence deltas: the first packet maps to tick 0 of the peer.
        tick_of = (got_seq - got_seq[0]) & 0xFFFF
        keep = tick_of >= measure_from
        got_at, tick_of = got_at[keep], tick_of[keep]
        received += len(np.unique(tick_of))
        spacing.append(np.abs(np.diff(got_at) - TICK_S))
        sent_all = np.frombuffer(send_times[peer], dtype=np.float64)
        valid = tick_of < len(sent_all)
        delay = got_at[valid] - sent_all[tick_of[valid]]
        if len(delay):
            transit.append(delay - delay.min())
        send_spacing.append(np.abs(np.diff(sent_times) - TICK_S))
    joined = np.concatenate(spacing) if spacing else np.zeros(1)
    joined_transit = np.concatenate(transit) if transit else np.zeros(1)
    joined_send = np.concatenate(send_spacing) if send_spacing else np.zeros(1)
    conn.send(
        {
            "cpu_s": cpu_used,
            "sent": sent,
            "received": received,
            "spacing_ms": [float(np.percentile(joined, q)) * 1e3 for q in (50, 99, 100)],
            "send_spacing_ms": [float(np.percentile(joined_send, q)) * 1e3 for q in (50, 99, 100)],
            "transit_ms": [float(np.percentile(joined_transit, q)) * 1e3 for q in (50, 99)],
            "unknown": unknown,
        }
    )
    sock.close()


# --- the echo baseline (a separate process) ----------------------------------------------------

ECHO_SSRC_BASE = 0x5000_0000


def echo(conn: Connection) -> None:
    """The cheapest possible "engine": send each packet back, as if relayed by the other leg.

    The generator numbers its phones' SSRCs ``index + 1``; the reply carries
    ``ECHO_SSRC_BASE + (index ^ 1)``, the SSRC the generator expects from the
    other leg of the call.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    conn.send(sock.getsockname())
    recvfrom, sendto = sock.recvfrom, sock.sendto
    ssrc_at = struct.Struct("!I")
    count = 0
    while True:
        count += 1
        if count & 0xFF == 0 and conn.poll():
            break
        try:
            data, addr = recvfrom(2048)
        except TimeoutError:
            if conn.poll():
                break
            continue
        out = bytearray(data)
        ssrc_at.pack_into(out, 8, ECHO_SSRC_BASE + ((ssrc_at.unpack_from(data, 8)[0] - 1) ^ 1))
        sendto(out, addr)
    sock.close()


def run_echo(calls: int, seconds: float) -> dict[str, Any]:
    """The generator against :func:`echo`: the floor of what we can measure on this machine."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    echo_parent, echo_child = ctx.Pipe()
    echo_proc = ctx.Process(target=echo, args=(echo_child,), daemon=True)
    echo_proc.start()
    proc = ctx.Process(target=generator, args=(child, calls, seconds), daemon=True)
    proc.start()
    try:
        echo_addr: tuple[str, int] = echo_parent.recv()
        parent.recv()  # the generator's address: the echo answers whoever sends
        legs = 2 * calls
        parent.send(([echo_addr] * legs, [ECHO_SSRC_BASE + index for index in range(legs)]))
        assert parent.recv() == "start"
        assert parent.recv() == "measure"
        assert echo_proc.pid is not None
        cpu_start, wall_start = process_cpu_seconds(echo_proc.pid), time.monotonic()
        busy_start, steal_start, total_start = machine_cpu()
        assert parent.recv() == "stop"
        cpu_used = process_cpu_seconds(echo_proc.pid) - cpu_start
        wall = time.monotonic() - wall_start
        busy_end, steal_end, total_end = machine_cpu()
        stats: dict[str, Any] = parent.recv()
    finally:
        echo_parent.send("stop")
        for process in (proc, echo_proc):
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    cores = os.cpu_count() or 1
    stats.update(
        kind="echo",
        packets_in=stats["sent"],
        calls=calls,
        wall_s=wall,
        engine_cpu_s=cpu_used,
        engine_sys_s=float("nan"),
        machine_busy_cores=(busy_end - busy_start) / (total_end - total_start) * cores,
        steal_cores=(steal_end - steal_start) / (total_end - total_start) * cores,
        load=load_average(),
        gc="-",
        rss_per_call=0.0,
        late_ticks=0,
        skipped_ticks=0,
        max_late_ms=0.0,
        disk_bytes_s=0.0,
        dropped=0,
        dropped_writes=0,
        internal_errors=0,
        leaked_ports=0,
    )
    return stats


# --- the engine side ----------------------------------------------------------------------------


class GcPauses:
    """Times the cyclic garbage collector's pauses of this process (they stall the loop)."""

    def __init__(self) -> None:
        self.started = 0.0
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append(time.perf_counter() - self.started)

    def summary(self) -> str:
        return ", ".join(
            f"gen{gen} {len(p)}x max {max(p, default=0.0) * 1e3:.1f} ms"
            for gen, p in self.pauses.items()
        )


async def run_one(
    calls: int, seconds: float, ports: Span, *, record: bool, recordings_root: str | None
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=generator, args=(child, calls, seconds), daemon=True)
    proc.start()
    with tempfile.TemporaryDirectory(prefix="bench-rec-", dir=recordings_root) as recordings:
        engine = MediaEngine(
            SystemClock(),
            ports,
            "127.0.0.1",
            recordings,
            config=EngineConfig(rtp_timeout_s=60.0),
        )
        await engine.start()
        try:
            phone: tuple[str, int] = await loop.run_in_executor(None, parent.recv)
            gc.collect()
            rss_before = rss_bytes()
            targets: list[tuple[str, int]] = []
            ssrcs: list[int] = []
            for _call in range(calls):
                caller = await engine.create_leg(codec="PCMA", remote=phone)
                operator = await engine.create_leg(codec="PCMU", remote=phone)
                ssrcs += [caller.ssrc, operator.ssrc]
                engine.bridge(caller.leg_id, operator.leg_id)
                if record:
                    engine.start_recording(caller.leg_id, operator.leg_id)
                targets += [("127.0.0.1", caller.rtp_port), ("127.0.0.1", operator.rtp_port)]
            parent.send((targets, ssrcs))
            assert await loop.run_in_executor(None, parent.recv) == "start"
            assert await loop.run_in_executor(None, parent.recv) == "measure"
            cpu_start, wall_start = cpu_seconds(), time.monotonic()
            sys_start = resource.getrusage(resource.RUSAGE_SELF).ru_stime
            busy_start, steal_start, total_start = machine_cpu()
            metrics = engine.metrics
            base = (
                metrics.pacer_late_ticks,
                metrics.pacer_skipped_ticks,
                metrics.bytes_recorded,
                metrics.packets_in,
            )
            metrics.pacer_max_late_s = 0.0
            gc_pauses = GcPauses()
            gc.callbacks.append(gc_pauses)
            assert await loop.run_in_executor(None, parent.recv) == "stop"
            gc.callbacks.remove(gc_pauses)
            cpu_used, wall = cpu_seconds() - cpu_start, time.monotonic() - wall_start
            sys_used = resource.getrusage(resource.RUSAGE_SELF).ru_stime - sys_start
            busy_end, steal_end, total_end = machine_cpu()
            rss_after = rss_bytes()
            stats: dict[str, Any] = await loop.run_in_executor(None, parent.recv)
            stats.update(
                kind="engine",
                calls=calls,
                wall_s=wall,
                engine_cpu_s=cpu_used,
                engine_sys_s=sys_used,
                machine_busy_cores=(busy_end - busy_start)
                / (total_end - total_start)
                * (os.cpu_count() or 1),
                steal_cores=(steal_end - steal_start)
                / (total_end - total_start)
                * (os.cpu_count() or 1),
                load=load_average(),
                gc=gc_pauses.summary(),
                rss_per_call=(rss_after - rss_before) / calls,
                late_ticks=metrics.pacer_late_ticks - base[0],
                skipped_ticks=metrics.pacer_skipped_ticks - base[1],
                max_late_ms=metrics.pacer_max_late_s * 1e3,
                disk_bytes_s=(metrics.bytes_recorded - base[2]) / wall,
                engine_pps_in=(metrics.packets_in - base[3]) / wall,
                packets_in=metrics.packets_in - base[3],
                dropped=metrics.dropped_unlatched + metrics.dropped_invalid + metrics.malformed,
                dropped_writes=metrics.recording_bytes_dropped,
                internal_errors=metrics.internal_errors,
            )
        finally:
            await engine.close()
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        leaked = engine.ports.in_use
    stats["leaked_ports"] = leaked
    return stats


def report(rows: list[dict[str, Any]], loop_name: str, seconds: float) -> None:
    print(f"machine: {machine()}")
    print(
        f"event loop: {loop_name}; {seconds:.0f} s measured per row after {WARMUP_S:.0f} s warm-up; "
        f"scheduling {'SCHED_RR' if os.sched_getscheduler(0) == os.SCHED_RR else 'normal'}"
    )
    print(
        "row    | calls | engine CPU % | CPU/call % | gen CPU % | loss %   | spacing dev p50/p99/max ms "
        "| gen send dev p99 ms | transit var p50/p99 ms | RSS/call KiB | disk MB/s "
        "| late/skipped ticks | max late ms | other CPU % | µs CPU/packet in (kernel part)"
    )
    for row in rows:
        wall = row["wall_s"]
        engine_pct = row["engine_cpu_s"] / wall * 100
        loss = 100 * (1 - row["received"] / row["sent"]) if row["sent"] else float("nan")
        sp = row["spacing_ms"]
        tr = row["transit_ms"]
        # Everything else the machine ran meanwhile (other processes, the kernel for others).
        other = row["machine_busy_cores"] * 100 - engine_pct - row["cpu_s"] / wall * 100
        print(
            f"{row['kind']:6s} | {row['calls']:5d} | {engine_pct:12.1f} | {engine_pct / row['calls']:10.3f} "
            f"| {row['cpu_s'] / wall * 100:9.1f} | {loss:8.4f} "
            f"| {sp[0]:7.2f} /{sp[1]:7.2f} /{sp[2]:7.1f} | {row['send_spacing_ms'][1]:19.2f} "
            f"| {tr[0]:8.2f} / {tr[1]:8.2f}   | {row['rss_per_call'] / 1024:12.1f} "
            f"| {row['disk_bytes_s'] / 1e6:9.2f} | {row['late_ticks']:7d}/{row['skipped_ticks']:<7d} "
            f"| {row['max_late_ms']:11.1f} | {other:11.1f} "
            f"| {row['engine_cpu_s'] / max(row['packets_in'], 1) * 1e6:6.2f} "
            f"({row['engine_sys_s'] / max(row['packets_in'], 1) * 1e6:.2f})"
        )
        print(
            f"      load average {row['load']}, CPU stolen by the host "
            f"{row['steal_cores'] * 100:.1f} %; GC pauses: {row['gc']}"
        )
        if row["dropped"] or row["dropped_writes"] or row["leaked_ports"] or row["internal_errors"]:
            print(
                f"      dropped packets {row['dropped']}, dropped recording bytes "
                f"{row['dropped_writes']}, leaked ports {row['leaked_ports']}, "
                f"internal errors {row['internal_errors']}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="50,100,200,300")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--ports", default="30000-31999")
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--no-record", action="store_true", help="bridge without recording")
    parser.add_argument("--recordings-root", help="where the temporary recordings go")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the echo baseline row before each N"
    )
    parser.add_argument("--repeat", type=int, default=1, help="run the whole series this often")
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="run the bench and its child processes (engine, generator, echo alike) under "
        "SCHED_RR, as a media node's service unit would (needs CAP_SYS_NICE); on a shared "
        "machine this keeps other jobs' scheduling delays out of the figures",
    )
    args = parser.parse_args()
    first, last = (int(part) for part in args.ports.split("-"))
    if args.realtime:
        # Inherited by the spawned processes and threads.
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))
    rows = []
    loop_name = "asyncio"
    runner: Any = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop

            runner = uvloop.run
            loop_name = f"uvloop {getattr(uvloop, '__version__', '?')}"
        except ImportError:
            loop_name = "asyncio (uvloop not installed)"
    series = [int(part) for part in args.calls.split(",")]
    for _round in range(args.repeat):
        for calls in series:
            if not args.no_baseline:
                rows.append(run_echo(calls, args.seconds))
            rows.append(
                runner(
                    run_one(
                        calls,
                        args.seconds,
                        Span(first, last),
                        record=not args.no_record,
                        recordings_root=args.recordings_root,
                    )
                )
            )
            print(f"... {calls} calls done", file=sys.stderr, flush=True)
    report(rows, f"{loop_name}; recording {'off' if args.no_record else 'on'}", args.seconds)


if __name__ == "__main__":
    main()
