"""Per-packet cost of the media packet cores on one CPU core.

Run: ``python bench/media/bench_codecs.py [--seconds 0.5]``.

Figures are operations per second (best of five runs of about ``--seconds``
each), pure CPU, no sockets: G.711 encode/decode of 160-sample (20 ms)
frames, A-law/µ-law transcoding, RTP parse/serialize (full object and the fast
peek/pack helpers), receive statistics, the RFC 4733 receiver and the in-band
DTMF detector.  "streams" is how many 50-packet-per-second streams one core
could sustain doing only that operation.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np

from hotline.media.codecs import PCMA, PCMU, alaw_to_ulaw
from hotline.media.dtmf import TelephoneEventReceiver, telephone_event_frames
from hotline.media.goertzel import GoertzelDtmfDetector
from hotline.media.rtp import RtpPacket, pack_rtp_header, peek_rtp_header
from hotline.media.stats import ReceiveStats

PACKETS_PER_STREAM_S = 50


def machine() -> str:
    """Cores, CPU model, Python and numpy versions."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"nproc={os.cpu_count()} cpu={model!r} python={platform.python_version()} "
        f"({platform.python_implementation()}) numpy={np.__version__}"
    )


def rate(operation: Callable[[int], None], seconds: float) -> float:
    """Operations per second: ``operation(n)`` performs n operations."""
    n = 1000
    while True:
        start = time.perf_counter()
        operation(n)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 5 or n > 10_000_000:
            break
        n *= 4
    n = max(int(n * seconds / max(elapsed, 1e-9)), 1)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        operation(n)
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    seconds = parser.parse_args().seconds

    rng = np.random.default_rng(122)
    pcm = np.round(rng.normal(0, 3000, 160)).clip(-32768, 32767).astype(np.int16)
    alaw = PCMA.encode(pcm)
    ulaw = PCMU.encode(pcm)
    packet = RtpPacket(8, 1000, 160_000, 0x1234ABCD, alaw)
    wire = bytes(packet)

    def encode_a(n: int) -> None:
        for _ in range(n):
            PCMA.encode(pcm)

    def encode_u(n: int) -> None:
        for _ in range(n):
            PCMU.encode(pcm)

    def decode_a(n: int) -> None:
        for _ in range(n):
            PCMA.decode(alaw)

    def decode_u(n: int) -> None:
        for _ in range(n):
            PCMU.decode(ulaw)

    def transcode(n: int) -> None:
        for _ in range(n):
            alaw_to_ulaw(alaw)

    def parse(n: int) -> None:
        for _ in range(n):
            RtpPacket.parse(wire)

    def serialize(n: int) -> None:
        for _ in range(n):
            bytes(packet)

    def peek(n: int) -> None:
        for _ in range(n):
            peek_rtp_header(wire)

    def pack(n: int) -> None:
        for seq in range(n):
            pack_rtp_header(8, seq & 0xFFFF, seq * 160 & 0xFFFFFFFF, 0x1234ABCD) + alaw

    def stats(n: int) -> None:
        receive_stats = ReceiveStats(8000)
        for seq in range(n):
            receive_stats.receive(0x1234ABCD, seq & 0xFFFF, seq * 160 & 0xFFFFFFFF, seq * 0.02)

    frames = telephone_event_frames("5", 101, duration_ms=200)

    def dtmf(n: int) -> None:
        receiver = TelephoneEventReceiver()
        done = 0
        timestamp = 0
        while done < n:
            for frame in frames:
                receiver.receive(1, timestamp, frame.payload, timestamp / 8000)
            receiver.next_event()
            timestamp += 4000
            done += len(frames)

    def inband(n: int) -> None:
        detector = GoertzelDtmfDetector()
        for _ in range(n):
            detector.process(pcm)

    print(f"machine: {machine()}")
    print(f"{'operation (20 ms frame / packet)':44} {'ops/s':>12} {'µs/op':>8} {'streams':>9}")
    for name, operation in (
        ("G.711 A-law encode 160 samples", encode_a),
        ("G.711 µ-law encode 160 samples", encode_u),
        ("G.711 A-law decode 160 bytes", decode_a),
        ("G.711 µ-law decode 160 bytes", decode_u),
        ("A-law → µ-law transcode 160 bytes", transcode),
        ("RtpPacket.parse (172 bytes)", parse),
        ("bytes(RtpPacket) (172 bytes)", serialize),
        ("peek_rtp_header", peek),
        ("pack_rtp_header + payload", pack),
        ("ReceiveStats.receive", stats),
        ("TelephoneEventReceiver.receive", dtmf),
        ("GoertzelDtmfDetector.process 160 samples", inband),
    ):
        ops = rate(operation, seconds)
        streams = ops / PACKETS_PER_STREAM_S
        print(f"{name:44} {ops:12,.0f} {1e6 / ops:8.2f} {streams:9,.0f}")


if __name__ == "__main__":
    main()
