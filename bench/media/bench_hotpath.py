"""CPU cost of the media engine's own work per packet, without sockets or a load generator.

Run: ``python bench/media/bench_hotpath.py [--calls 300] [--seconds 10] [--no-record]``.

N bridged (PCMA caller, PCMU operator: every packet transcoded) and recorded
calls are set up on a real :class:`~hotline.media.engine.MediaEngine` on a fake
clock; the pacer task is stopped and its tick is called every 20 ms of fake
time instead.  Every leg's socket transport is swapped for one that only
counts, so the figure is the engine's Python work per received packet (the
receive path, relay, statistics, recorder, pacer, writer thread), without the
kernel's send and receive cost and independent of what else the machine runs:
CPU time of this process (all threads) divided by the packets fed.  The
packets are built before the clock starts.  Compare two versions of the code
with this figure; judge capacity with ``bench_engine.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import struct
import sys
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from hotline.media.codecs import PCMA, PCMU
from hotline.media.eng_events import EngineConfig
from hotline.media.engine import MediaEngine

TICK_S = 0.02
SOURCE = ("127.0.0.1", 40000)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def utcnow(self) -> datetime:
        return datetime.now(UTC)


class CountingTransport:
    """Stands in for a leg's datagram transport: counts what would be sent."""

    def __init__(self) -> None:
        self.sent = 0

    def sendto(self, data: bytes | bytearray, addr: Any = None) -> None:
        self.sent += 1

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class Span:
    def __init__(self, first: int, last: int) -> None:
        self.first, self.last = first, last


async def run(calls: int, seconds: float, *, record: bool, profile: str | None) -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory(prefix="bench-hotpath-") as recordings:
        engine = MediaEngine(
            clock, Span(32000, 33999), "127.0.0.1", recordings, config=EngineConfig()
        )
        await engine.start()
        pacer_task = engine._pacer_task
        assert pacer_task is not None
        pacer_task.cancel()
        legs = []
        for _call in range(calls):
            caller = await engine.create_leg(codec="PCMA", remote=SOURCE)
            operator = await engine.create_leg(codec="PCMU", remote=SOURCE)
            engine.bridge(caller.leg_id, operator.leg_id)
            if record:
                engine.start_recording(caller.leg_id, operator.leg_id)
            legs += [engine._legs[caller.leg_id], engine._legs[operator.leg_id]]
            clock.now += 1.0 / calls  # the calls start over one second, not at one instant
        fakes = []
        for leg in legs:
            real = leg.rtp_transport
            fake = CountingTransport()
            leg.rtp_transport = fake  # type: ignore[assignment]
            fakes.append((leg, real, fake))
        header = struct.Struct("!BBHII")
        pcm = np.round(8000 * np.sin(2 * np.pi * 1000 * np.arange(160) / 8000)).astype(np.int16)
        payloads = {8: PCMA.encode(pcm), 0: PCMU.encode(pcm)}
        ticks = round(seconds / TICK_S)
        packets = [
            [
                header.pack(0x80, pt, tick & 0xFFFF, tick * 160, index + 1) + payloads[pt]
                for index, pt in enumerate(8 if i % 2 == 0 else 0 for i in range(len(legs)))
            ]
            for tick in range(ticks)
        ]
        receivers = [leg.datagram_received for leg in legs]
        pacer = engine._pacer
        gc.collect()
        profiler: Any = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        tick_times: list[float] = []
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        for tick in range(ticks):
            row = packets[tick]
            base = clock.now
            for index, receive in enumerate(receivers):
                # The packets of a tick arrive spread over it, as from real phones.
                clock.now = base + index * (TICK_S / len(receivers))
                receive(row[index], SOURCE)
            clock.now = base + TICK_S
            tick_start = time.thread_time()
            pacer.tick(clock.now)
            tick_times.append(time.thread_time() - tick_start)
        loop_cpu = time.process_time() - cpu_start
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        writer = engine._recordings.writer
        if writer is not None:
            await writer.drain()
        cpu = time.process_time() - cpu_start
        wall = time.perf_counter() - wall_start
        fed = ticks * len(legs)
        sent = sum(fake.sent for _leg, _real, fake in fakes)
        for leg, real, _fake in fakes:
            leg.rtp_transport = real
        await engine.close()
    print(
        f"calls={calls} record={record} packets={fed} relayed={sent} "
        f"µs CPU/packet: {cpu / fed * 1e6:.2f} (event-loop part {loop_cpu / fed * 1e6:.2f}); "
        f"wall {wall:.1f} s for {seconds:.0f} s of media "
        f"(= {seconds / cpu * calls:.0f} calls per fully used core, sockets not counted); "
        f"pacer tick CPU p50/p99/max {np.percentile(tick_times, 50) * 1e3:.2f}/"
        f"{np.percentile(tick_times, 99) * 1e3:.2f}/{max(tick_times) * 1e3:.2f} ms; "
        f"internal errors {engine.metrics.internal_errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", help="write cProfile stats of the first run to this file")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}", flush=True)
    for attempt in range(args.repeat):
        asyncio.run(
            run(
                args.calls,
                args.seconds,
                record=not args.no_record,
                profile=args.profile if attempt == 0 else None,
            )
        )


if __name__ == "__main__":
    main()
