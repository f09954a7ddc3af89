"""Time from asking for a long Russian answer to its first rendered audio (streaming).

Run: .venv/bin/python bench/bot/bench_first_audio.py [--rounds 5]
Cold cache each round (a fresh temporary directory); espeak-ng and warmed festival.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from pathlib import Path

from hotline.bot.normalize import Normalizer
from hotline.bot.prompt_cache import PromptCache
from hotline.bot.tts_engines import create_synthesizer

ANSWER = (
    "Чтобы записаться на приём к врачу, позвоните в регистратуру поликлиники по месту "
    "прикрепления или воспользуйтесь порталом государственных услуг. Вам понадобятся полис "
    "ОМС и СНИЛС. Если поликлиника не отвечает более 15 минут, сообщите об этом оператору "
    "линии 122, и мы передадим обращение в министерство здравоохранения. Запись открывается "
    "за 14 дней, приём ведётся с 8:00 до 20:00 по будням."
)


async def first_audio(engine: str, normalizer: Normalizer, rounds: int) -> list[float]:
    synth = create_synthesizer(engine)
    if engine == "festival":
        await synth.warm_up(2)  # type: ignore[attr-defined]
    times = []
    try:
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as tmp:
                cache = PromptCache(Path(tmp), synth, normalizer=normalizer)
                started = time.perf_counter()
                async for _chunk in cache.stream(ANSWER):
                    times.append(time.perf_counter() - started)
                    break
                await cache.aclose()
    finally:
        await synth.aclose()
    return times


async def main(rounds: int) -> None:
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, answer {len(ANSWER)} chars"
    )
    normalizer = Normalizer()
    for engine in ("espeak-ng", "festival"):
        times = sorted(await first_audio(engine, normalizer, rounds))
        print(
            f"{engine:10} first audio: min {times[0] * 1000:.0f} ms, median {times[len(times) // 2] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args().rounds))
