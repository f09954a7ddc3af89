"""Throughput of the media cores on one CPU core: player tick, RTP framing, recorder, mixer, relay.

Run: ``python bench/media/bench_player_recorder.py [--players 1000] [--seconds 2]``.

Every figure is pure CPU work of the sans-IO cores (no sockets), measured
with ``time.perf_counter`` over a fixed simulated duration.  The 20 ms budget
line says what share of one core the work for the given number of legs takes
in real time.
"""

from __future__ import annotations

import argparse
import os
import platform
import struct
import sys
import time

import numpy as np

from hotline.media.codecs import PCMA, PCMU
from hotline.media.mixer import Mixer, relay_payload
from hotline.media.player import PlaybackItem, PlayerSet, PromptPart, TonePart, music_on_hold
from hotline.media.prompts import EncodedPrompt, encode_frames
from hotline.media.recorder import CallRecorder, RecordingChannel
from hotline.media.stream import OutgoingStream
from hotline.media.tones import BUSY, RINGBACK

TICK_S = 0.02


def machine() -> str:
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


def make_prompt(seconds: float) -> EncodedPrompt:
    n = np.arange(round(8000 * seconds))
    pcm = np.round(6000 * np.sin(2 * np.pi * 440 * n / 8000)).astype(np.int16)
    return EncodedPrompt("bench.wav", "PCMA", encode_frames(pcm, PCMA), seconds)


def bench_players(players: int, seconds: float) -> None:
    moh = make_prompt(30.0)
    menu = make_prompt(5.0)
    pset = PlayerSet()
    streams = []
    for i in range(players):
        player = pset.create(f"leg-{i}", PCMA)
        kind = i % 3
        if kind == 0:
            player.enqueue(music_on_hold("moh", moh))
        elif kind == 1:
            player.enqueue(PlaybackItem("ring", (TonePart(RINGBACK),)))
        else:
            for k in range(50):
                player.enqueue(PlaybackItem(f"m{k}", (PromptPart(menu), TonePart(BUSY, 200))))
        streams.append(OutgoingStream(ssrc=i, payload_type=8, initial_seq=0, initial_timestamp=0))
    ticks = round(seconds / TICK_S)
    pset.tick(0.0)  # warm the tone cache
    start = time.perf_counter()
    frames = 0
    for t in range(1, ticks + 1):
        frames += len(pset.tick(t * TICK_S))
        while pset.next_event() is not None:
            pass
    elapsed = time.perf_counter() - start
    per_tick_ms = elapsed / ticks * 1000
    print(
        f"PlayerSet.tick, {players} players: {frames / elapsed:,.0f} frames/s, "
        f"{per_tick_ms:.3f} ms per 20 ms tick ({per_tick_ms / 20 * 100:.1f} % of one core)"
    )
    # Player frames framed as RTP by each leg's OutgoingStream (the whole send path minus sendto).
    by_leg = dict(zip((f"leg-{i}" for i in range(players)), streams, strict=True))
    start = time.perf_counter()
    packets = 0
    for t in range(ticks + 1, 2 * ticks + 1):
        now = t * TICK_S
        for leg_id, payload in pset.tick(now):
            by_leg[leg_id].frame(payload, now)
            packets += 1
    elapsed = time.perf_counter() - start
    per_tick_ms = elapsed / ticks * 1000
    print(
        f"PlayerSet.tick + OutgoingStream.frame, {players} legs: {packets / elapsed:,.0f} packets/s, "
        f"{per_tick_ms:.3f} ms per tick ({per_tick_ms / 20 * 100:.1f} % of one core)"
    )


def bench_recorder(seconds: float) -> None:
    calls = 50
    frames = round(seconds / TICK_S)
    n = np.arange(160)
    caller = PCMA.encode(np.round(8000 * np.sin(2 * np.pi * 1000 * n / 8000)).astype(np.int16))
    operator = PCMU.encode(np.round(8000 * np.sin(2 * np.pi * 600 * n / 8000)).astype(np.int16))
    packets: list[tuple[bytes, bytes]] = []
    for i in range(frames):
        a = struct.pack("!BBHII", 0x80, 8, i & 0xFFFF, 160 * i, 1) + caller
        b = struct.pack("!BBHII", 0x80, 0, i & 0xFFFF, 160 * i + 999, 2) + operator
        packets.append((a, b))
    recorders = []
    for c in range(calls):
        rec = CallRecorder(f"call-{c}.wav", 0.0)
        rec.set_codec(RecordingChannel.CALLER, PCMA)
        rec.set_codec(RecordingChannel.OPERATOR, PCMU)
        recorders.append(rec)
    written = 0
    start = time.perf_counter()
    for i, (a, b) in enumerate(packets):
        now = (i + 1) * TICK_S
        for rec in recorders:
            rec.receive_rtp(RecordingChannel.CALLER, a, now)
            rec.receive_rtp(RecordingChannel.OPERATOR, b, now)
            for write in rec.pending_writes():
                written += len(write.data)
    for rec in recorders:
        rec.finish(frames * TICK_S)
        for write in rec.pending_writes():
            written += len(write.data)
    elapsed = time.perf_counter() - start
    total = 2 * calls * frames
    print(
        f"CallRecorder.receive_rtp (decode, place, flush, SHA-256): {total / elapsed:,.0f} packets/s "
        f"= {total / elapsed / 100:,.0f} recorded calls in real time; {written / elapsed / 1e6:.1f} MB/s of WAV"
    )


def bench_mixer(seconds: float) -> None:
    conferences = 50
    ticks = round(seconds / TICK_S)
    payload_a = PCMA.encode(np.full(160, 1000, dtype=np.int16))
    payload_u = PCMU.encode(np.full(160, -1000, dtype=np.int16))
    mixers = []
    for _ in range(conferences):
        mixer = Mixer()
        mixer.add("caller", PCMA)
        mixer.add("operator", PCMU)
        mixer.add("supervisor", PCMA)
        mixers.append(mixer)
    start = time.perf_counter()
    for _ in range(ticks):
        for mixer in mixers:
            mixer.push("caller", payload_a)
            mixer.push("operator", payload_u)
            mixer.push("supervisor", payload_a)
            mixer.tick()
    elapsed = time.perf_counter() - start
    rate = conferences * ticks / elapsed
    print(
        f"Mixer (3 parties, push 3 + tick): {rate:,.0f} conference ticks/s "
        f"= {rate / 50:,.0f} three-party conferences in real time"
    )


def bench_relay(seconds: float) -> None:
    frames = round(seconds / TICK_S) * 50
    payload = PCMA.encode(np.full(160, 1000, dtype=np.int16))
    packets = [
        struct.pack("!BBHII", 0x80, 8, i & 0xFFFF, 160 * i, 7) + payload for i in range(frames)
    ]
    stream = OutgoingStream(ssrc=1, payload_type=8, initial_seq=0, initial_timestamp=0)
    start = time.perf_counter()
    for i, packet in enumerate(packets):
        stream.relay(packet, i * TICK_S)
    elapsed = time.perf_counter() - start
    print(f"OutgoingStream.relay (rewrite seq/ts/ssrc): {frames / elapsed:,.0f} packets/s")
    start = time.perf_counter()
    for _ in range(frames):
        relay_payload(payload, "PCMA", "PCMU")
    elapsed = time.perf_counter() - start
    print(f"relay_payload PCMA→PCMU (160 bytes): {frames / elapsed:,.0f} payloads/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="simulated seconds per benchmark"
    )
    args = parser.parse_args(argv)
    print(machine())
    bench_players(args.players, args.seconds)
    bench_recorder(args.seconds)
    bench_mixer(args.seconds)
    bench_relay(args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
